import { execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ToolCall } from "../src/agent/protocol";
import { ClientTools, DEFAULT_LIMITS, type ProposedWrite } from "../src/tools/fileTools";
import { Sandbox } from "../src/tools/sandbox";

let base: string;
let root: string;
let reviews: ProposedWrite[];
let accept: boolean;
let tools: ClientTools;
const signal = new AbortController().signal;

function call(name: string, args: Record<string, unknown>): ToolCall {
  return { id: "c1", name, args };
}

beforeEach(async () => {
  base = realpathSync(mkdtempSync(join(tmpdir(), "oh-tools-")));
  root = join(base, "root");
  mkdirSync(join(root, "src", "pkg"), { recursive: true });
  mkdirSync(join(root, ".git"));
  mkdirSync(join(root, "node_modules", "dep"), { recursive: true });
  mkdirSync(join(base, "outside"));
  writeFileSync(join(root, "src", "main.py"), "def main():\n    return 'TODO: greet'\n");
  writeFileSync(join(root, "src", "pkg", "util.py"), "# todo later\n");
  writeFileSync(join(root, "README.md"), "# Demo\n");
  writeFileSync(join(root, ".env"), "TODO_TOKEN=secret\n");
  writeFileSync(join(root, ".git", "HEAD"), "ref: todo\n");
  writeFileSync(join(root, "node_modules", "dep", "index.js"), "// todo\n");
  writeFileSync(join(root, ".gitignore"), "node_modules/\n");
  writeFileSync(join(root, "image.bin"), Buffer.from([0x89, 0x50, 0x00, 0x01]));
  writeFileSync(join(root, "big.txt"), "x".repeat(300));
  writeFileSync(join(base, "outside", "notes.txt"), "todo outside\n");
  symlinkSync(join(base, "outside"), join(root, "outdir"));
  symlinkSync(join(root, "src", "main.py"), join(root, "main-link.py"));
  reviews = [];
  accept = true;
  tools = new ClientTools(
    await Sandbox.open(root),
    {
      review: async (change) => {
        reviews.push(change);
        return accept;
      },
    },
    { ...DEFAULT_LIMITS, readBytes: 200 },
  );
});

afterEach(() => {
  expect(readFileSync(join(base, "outside", "notes.txt"), "utf8")).toBe("todo outside\n");
  rmSync(base, { recursive: true, force: true });
});

describe("read_file", () => {
  it("returns a text file's content", async () => {
    expect(await tools.run(call("read_file", { path: "src/main.py" }), signal)).toBe(
      "def main():\n    return 'TODO: greet'\n",
    );
  });

  it("refuses binary files, files over the size cap, directories and fifos", async () => {
    expect(await tools.run(call("read_file", { path: "image.bin" }), signal)).toBe(
      "error: image.bin is a binary file",
    );
    expect(await tools.run(call("read_file", { path: "big.txt" }), signal)).toContain(
      "over the 200-byte limit",
    );
    expect(await tools.run(call("read_file", { path: "src" }), signal)).toBe(
      "error: src is not a regular file",
    );
    execFileSync("mkfifo", [join(root, "pipe")]);
    expect(await tools.run(call("read_file", { path: "pipe" }), signal)).toBe(
      "error: pipe is not a regular file",
    );
  });

  it("answers the model with an error for escapes, secrets and bad arguments", async () => {
    expect(await tools.run(call("read_file", { path: "outdir/notes.txt" }), signal)).toContain(
      "outside the workspace",
    );
    expect(await tools.run(call("read_file", { path: ".env" }), signal)).toContain(
      ".env may hold secrets",
    );
    expect(await tools.run(call("read_file", {}), signal)).toBe(
      'error: argument "path" must be a non-empty string',
    );
    expect(
      await tools.run(
        { id: "c", name: "read_file", args: { invalid: "arguments are not valid JSON" } },
        signal,
      ),
    ).toBe("error: invalid arguments: arguments are not valid JSON");
    expect(await tools.run(call("delete_everything", {}), signal)).toBe(
      "error: unknown tool delete_everything",
    );
  });

  it("says so when no workspace folder is open", async () => {
    const none = new ClientTools(undefined, { review: async () => true });
    expect(await none.run(call("read_file", { path: "a" }), signal)).toBe(
      "error: no workspace folder is open in the editor",
    );
  });
});

describe("write_file", () => {
  it("shows the change and writes it only when accepted", async () => {
    const output = await tools.run(
      call("write_file", { path: "src/main.py", content: "def main():\n    return 'hi'\n" }),
      signal,
    );
    expect(output).toBe("applied");
    expect(reviews).toEqual([
      {
        relPath: "src/main.py",
        oldText: "def main():\n    return 'TODO: greet'\n",
        newText: "def main():\n    return 'hi'\n",
      },
    ]);
    expect(readFileSync(join(root, "src", "main.py"), "utf8")).toBe(
      "def main():\n    return 'hi'\n",
    );
  });

  it("leaves the file as it was when rejected", async () => {
    accept = false;
    expect(
      await tools.run(call("write_file", { path: "src/main.py", content: "gone" }), signal),
    ).toBe("rejected");
    expect(readFileSync(join(root, "src", "main.py"), "utf8")).toContain("TODO");
  });

  it("creates a new file in new directories, reviewed as a file with no old text", async () => {
    expect(
      await tools.run(
        call("write_file", { path: "docs/api/index.md", content: "# API\n" }),
        signal,
      ),
    ).toBe("applied");
    expect(reviews[0].oldText).toBeUndefined();
    expect(readFileSync(join(root, "docs", "api", "index.md"), "utf8")).toBe("# API\n");
  });

  it("keeps the file's mode and leaves no temporary file behind", async () => {
    execFileSync("chmod", ["755", join(root, "src", "main.py")]);
    await tools.run(call("write_file", { path: "src/main.py", content: "x\n" }), signal);
    expect(statSync(join(root, "src", "main.py")).mode & 0o777).toBe(0o755);
    expect(execFileSync("ls", ["-a", join(root, "src")]).toString()).not.toContain(".tmp");
  });

  it("writes through a symlink inside the workspace to its real target", async () => {
    expect(
      await tools.run(call("write_file", { path: "main-link.py", content: "y\n" }), signal),
    ).toBe("applied");
    expect(readFileSync(join(root, "src", "main.py"), "utf8")).toBe("y\n");
  });

  it("refuses writes that escape, touch secrets, or are too large, without asking", async () => {
    expect(
      await tools.run(call("write_file", { path: "outdir/new.txt", content: "x" }), signal),
    ).toContain("outside the workspace");
    expect(existsSync(join(base, "outside", "new.txt"))).toBe(false);
    expect(
      await tools.run(call("write_file", { path: ".git/hooks/pre-commit", content: "x" }), signal),
    ).toContain(".git/");
    expect(
      await tools.run(call("write_file", { path: "image.bin", content: "x" }), signal),
    ).toContain("binary");
    const huge = "x".repeat(DEFAULT_LIMITS.writeBytes + 1);
    expect(
      await tools.run(call("write_file", { path: "huge.txt", content: huge }), signal),
    ).toContain("byte limit");
    expect(await tools.run(call("write_file", { path: "a.txt" }), signal)).toContain('"content"');
    expect(reviews).toEqual([]);
  });

  it("does not write when a symlink out replaced the target during the review", async () => {
    tools = new ClientTools(await Sandbox.open(root), {
      review: async () => {
        rmSync(join(root, "README.md"));
        symlinkSync(join(base, "outside", "notes.txt"), join(root, "README.md"));
        return true;
      },
    });
    expect(
      await tools.run(call("write_file", { path: "README.md", content: "pwned" }), signal),
    ).toContain("outside the workspace");
  });
});

describe("list_files", () => {
  it("lists one directory, marking directories and links inside, hiding secrets, ignored files and links out", async () => {
    const output = await tools.run(call("list_files", {}), signal);
    expect(output.split("\n")).toEqual([
      ".gitignore",
      "README.md",
      "big.txt",
      "image.bin",
      "main-link.py@",
      "src/",
    ]);
  });

  it("lists recursively when asked, below a subdirectory too", async () => {
    expect((await tools.run(call("list_files", { recursive: true }), signal)).split("\n")).toEqual([
      ".gitignore",
      "README.md",
      "big.txt",
      "image.bin",
      "main-link.py@",
      "src/",
      "src/main.py",
      "src/pkg/",
      "src/pkg/util.py",
    ]);
    expect(await tools.run(call("list_files", { path: "src/pkg" }), signal)).toBe(
      "src/pkg/util.py",
    );
    expect(await tools.run(call("list_files", { path: "." }), signal)).toContain("src/");
  });

  it("lists a skipped-by-size directory like node_modules without walking into it", async () => {
    writeFileSync(join(root, ".gitignore"), "");
    const fresh = new ClientTools(await Sandbox.open(root), { review: async () => true });
    const lines = (await fresh.run(call("list_files", { recursive: true }), signal)).split("\n");
    expect(lines).toContain("node_modules/");
    expect(lines.some((line) => line.startsWith("node_modules/dep"))).toBe(false);
  });

  it("stops at the entry cap and says so", async () => {
    const capped = new ClientTools(
      await Sandbox.open(root),
      { review: async () => true },
      { ...DEFAULT_LIMITS, listEntries: 2 },
    );
    expect(await capped.run(call("list_files", {}), signal)).toBe(
      ".gitignore\nREADME.md\n(stopped after 2 entries: list a subdirectory)",
    );
  });

  it("refuses to list outside or a file", async () => {
    expect(await tools.run(call("list_files", { path: "outdir" }), signal)).toContain(
      "outside the workspace",
    );
    expect(await tools.run(call("list_files", { path: "README.md" }), signal)).toBe(
      "error: README.md is not a directory",
    );
  });
});

describe("search_files", () => {
  it("finds the exact text in readable files, not in secrets, ignored files or outside", async () => {
    expect(await tools.run(call("search_files", { query: "TODO" }), signal)).toBe(
      "src/main.py:2: return 'TODO: greet'",
    );
    expect(await tools.run(call("search_files", { query: "todo" }), signal)).toBe(
      "src/pkg/util.py:1: # todo later",
    );
  });

  it("searches below a path or in one file, and says when nothing matched", async () => {
    expect(await tools.run(call("search_files", { query: "def", path: "src" }), signal)).toBe(
      "src/main.py:1: def main():",
    );
    expect(
      await tools.run(call("search_files", { query: "# ", path: "src/pkg/util.py" }), signal),
    ).toBe("src/pkg/util.py:1: # todo later");
    expect(await tools.run(call("search_files", { query: "nothing like this" }), signal)).toBe(
      'No line contains "nothing like this".',
    );
    expect(await tools.run(call("search_files", { query: "" }), signal)).toContain('"query"');
  });

  it("stops at the match cap", async () => {
    writeFileSync(join(root, "many.txt"), "hit\n".repeat(50));
    const capped = new ClientTools(
      await Sandbox.open(root),
      { review: async () => true },
      { ...DEFAULT_LIMITS, searchMatches: 3 },
    );
    const lines = (await capped.run(call("search_files", { query: "hit" }), signal)).split("\n");
    expect(lines).toEqual([
      "many.txt:1: hit",
      "many.txt:2: hit",
      "many.txt:3: hit",
      "(stopped after 3 matches)",
    ]);
  });
});
