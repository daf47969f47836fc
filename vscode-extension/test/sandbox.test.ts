import {
  mkdtempSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Refused, Sandbox, isWithin } from "../src/tools/sandbox";

let base: string;
let root: string;
let sandbox: Sandbox;
let outsideBefore: Record<string, string>;

function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    try {
      out[name] = readFileSync(join(dir, name), "latin1");
    } catch {
      out[name] = "<dir>";
    }
  }
  return out;
}

beforeAll(async () => {
  base = realpathSync(mkdtempSync(join(tmpdir(), "oh-sandbox-")));
  root = join(base, "root");
  mkdirSync(join(root, "src"), { recursive: true });
  mkdirSync(join(root, ".git"));
  mkdirSync(join(root, "build"));
  mkdirSync(join(base, "root_evil"));
  mkdirSync(join(base, "outside"));
  writeFileSync(join(root, "src", "main.py"), "print('hi')\n");
  writeFileSync(join(root, ".git", "config"), "[core]\n");
  writeFileSync(join(root, ".env"), "TOKEN=1\n");
  writeFileSync(join(root, "build", "out.js"), "x\n");
  writeFileSync(join(root, ".gitignore"), "build/\n*.log\n");
  writeFileSync(join(base, "root_evil", "secret.txt"), "evil\n");
  writeFileSync(join(base, "outside", "secret.txt"), "outside\n");
  symlinkSync(join(base, "root_evil"), join(root, "evil_dir"));
  symlinkSync(join(base, "outside", "secret.txt"), join(root, "escape.txt"));
  symlinkSync(join(base, "outside"), join(root, "outdir"));
  symlinkSync(join(base, "outside", "not-yet.txt"), join(root, "dangling.txt"));
  symlinkSync(join(root, "src", "main.py"), join(root, "inside-link.py"));
  symlinkSync(join(root, ".env"), join(root, "notes.txt"));
  symlinkSync("/dev/null", join(root, "devnull"));
  outsideBefore = { ...snapshot(join(base, "outside")), ...snapshot(join(base, "root_evil")) };
  sandbox = await Sandbox.open(root);
});

afterAll(() => {
  // Outside the root nothing was read into being, written or created.
  expect({ ...snapshot(join(base, "outside")), ...snapshot(join(base, "root_evil")) }).toEqual(
    outsideBefore,
  );
  rmSync(base, { recursive: true, force: true });
});

async function refusal(path: unknown, mayBeMissing = false): Promise<string> {
  try {
    await sandbox.resolve(path, mayBeMissing);
  } catch (err) {
    if (err instanceof Refused) return err.message;
    throw err;
  }
  throw new Error(`${String(path)} was not refused`);
}

describe("isWithin compares components, not string prefixes", () => {
  it("does not take /root_evil for a child of /root (CVE-2025-53110)", () => {
    expect(isWithin("/work/root", "/work/root_evil/secret.txt")).toBe(false);
    expect(isWithin("/work/root", "/work/root")).toBe(true);
    expect(isWithin("/work/root", "/work/root/a/b")).toBe(true);
    expect(isWithin("/work/root/", "/work/root")).toBe(true);
    expect(isWithin("/work/root", "/work")).toBe(false);
  });
});

describe("sandbox resolve", () => {
  it("resolves a plain file inside the root to its real path", async () => {
    const resolved = await sandbox.resolve("src/main.py");
    expect(resolved).toEqual({
      abs: join(root, "src", "main.py"),
      rel: "src/main.py",
      exists: true,
    });
  });

  it("refuses .. even when it would land back inside", async () => {
    expect(await refusal("src/../src/main.py")).toContain("'..'");
    expect(await refusal("../root_evil/secret.txt")).toContain("'..'");
  });

  it("refuses absolute paths, including ones inside the root", async () => {
    expect(await refusal(join(root, "src", "main.py"))).toContain("absolute");
    expect(await refusal(join(base, "root_evil", "secret.txt"))).toContain("absolute");
  });

  it("refuses a symlink into the sibling /root_evil directory (CVE-2025-53110)", async () => {
    expect(await refusal("evil_dir/secret.txt")).toContain("outside the workspace");
    expect(await refusal("evil_dir/new.txt", true)).toContain("outside the workspace");
  });

  it("refuses a symlink inside the root that points outside (CVE-2025-53109)", async () => {
    expect(await refusal("escape.txt")).toContain("outside the workspace");
    expect(await refusal("escape.txt", true)).toContain("outside the workspace");
  });

  it("refuses a not-yet-existing target below a symlinked directory leading out (CVE-2025-53109)", async () => {
    expect(await refusal("outdir/new-file.txt", true)).toContain("outside the workspace");
    expect(await refusal("outdir/deeper/new-file.txt", true)).toContain("outside the workspace");
  });

  it("refuses a dangling symlink, whose target would be created outside", async () => {
    expect(await refusal("dangling.txt", true)).toContain("broken symlink");
  });

  it("refuses a symlink to a device", async () => {
    expect(await refusal("devnull")).toContain("outside the workspace");
  });

  it("follows a symlink that stays inside the root", async () => {
    expect((await sandbox.resolve("inside-link.py")).rel).toBe("src/main.py");
  });

  it("refuses secrets by name, and by the name of a symlink's target", async () => {
    expect(await refusal(".env")).toContain(".env");
    expect(await refusal(".git/config")).toContain(".git/");
    expect(await refusal("config/.env.production", true)).toContain("secrets");
    expect(await refusal("keys/server.pem", true)).toContain("key");
    expect(await refusal("id_ed25519", true)).toContain("secrets");
    expect(await refusal("notes.txt")).toContain(".env");
  });

  it("refuses what .gitignore ignores", async () => {
    expect(await refusal("build/out.js")).toContain(".gitignore");
    expect(await refusal("build", false)).toContain(".gitignore");
    expect(await refusal("logs/today.log", true)).toContain(".gitignore");
  });

  it("allows a new file in new directories inside the root", async () => {
    const resolved = await sandbox.resolve("pkg/sub/new.py", true);
    expect(resolved).toEqual({
      abs: join(root, "pkg", "sub", "new.py"),
      rel: "pkg/sub/new.py",
      exists: false,
    });
  });

  it("refuses a missing path when reading, and a path through a file", async () => {
    expect(await refusal("nope.py")).toContain("does not exist");
    expect(await refusal("src/main.py/x", true)).toContain("not a directory");
  });

  it("refuses paths that are not usable strings", async () => {
    expect(await refusal(42)).toContain("string");
    expect(await refusal("a\0b")).toContain("NUL");
    expect(await refusal("a/".repeat(3000))).toContain("too long");
  });

  it("accepts a workspace opened through a symlinked path", async () => {
    const link = join(base, "root-link");
    symlinkSync(root, link);
    const viaLink = await Sandbox.open(link);
    expect(viaLink.root).toBe(root);
    expect((await viaLink.resolve("src/main.py")).abs).toBe(join(root, "src", "main.py"));
    rmSync(link);
  });
});
