import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { invokeCodeAgent, setGatewayKey } from "../src/commands";
import { DEFAULTS, type Settings } from "../src/settings";
import {
  FakeEditor,
  agentResponse,
  fakeDocument,
  json,
  memorySecret,
  scriptedFetch,
} from "./fakes";

let root: string;
let editor: FakeEditor;
let settings: Settings;

const agent = (fields: Record<string, unknown>) => agentResponse({ thread_id: "th-1", ...fields });

const toolCall = (id: string, name: string, args: unknown) => ({
  id,
  type: "function",
  function: { name, arguments: JSON.stringify(args) },
});

beforeEach(() => {
  root = realpathSync(mkdtempSync(join(tmpdir(), "oh-agent-")));
  writeFileSync(join(root, "main.py"), "def main():\n    pass\n");
  editor = new FakeEditor();
  editor.root = root;
  settings = { ...DEFAULTS, modelQuality: "best_quality" };
});

afterEach(() => rmSync(root, { recursive: true, force: true }));

function run(fetch: ReturnType<typeof scriptedFetch>, key?: string) {
  return invokeCodeAgent({ editor, settings: () => settings, secret: memorySecret(key), fetch });
}

describe("invokeCodeAgent", () => {
  it("runs client tools, applies an accepted write, and inserts the generated code", async () => {
    editor.answers = ["add a docstring to main"];
    editor.doc = fakeDocument({ selectionText: "def main():\n    pass\n", languageId: "python" });
    const fetch = scriptedFetch([
      json(
        agent({
          agent_status: "requires_client_tools",
          pending_tool_calls: [toolCall("c1", "read_file", { path: "main.py" })],
        }),
      ),
      json(
        agent({
          agent_status: "requires_client_tools",
          pending_tool_calls: [
            toolCall("c2", "write_file", {
              path: "main.py",
              content: 'def main():\n    """Entry."""\n',
            }),
          ],
        }),
      ),
      json(
        agent({
          agent_status: "completed",
          generated_code: '"""Entry."""',
          explanation: "Added a docstring.",
        }),
      ),
    ]);
    const outcome = await run(fetch, "gk-1");
    expect(outcome?.kind).toBe("completed");
    expect(fetch.sent.map((s) => s.url)).toEqual([
      "http://localhost:8000/v1/agents/code/invoke",
      "http://localhost:8000/v1/agents/resume",
      "http://localhost:8000/v1/agents/resume",
    ]);
    expect(fetch.sent[0].body).toEqual({
      instruction: "add a docstring to main",
      context: "def main():\n    pass\n",
      language: "python",
      project_directory: root,
      model_quality: "best_quality",
      confirm_writes: true,
    });
    expect(fetch.sent[0].headers.authorization).toBe("Bearer gk-1");
    expect(fetch.sent[1].body).toEqual({
      thread_id: "th-1",
      tool_results: [{ tool_call_id: "c1", output: "def main():\n    pass\n" }],
    });
    expect(editor.reviews).toEqual([
      {
        relPath: "main.py",
        oldText: "def main():\n    pass\n",
        newText: 'def main():\n    """Entry."""\n',
      },
    ]);
    expect(fetch.sent[2].body).toEqual({
      thread_id: "th-1",
      tool_results: [{ tool_call_id: "c2", output: "applied" }],
    });
    expect(readFileSync(join(root, "main.py"), "utf8")).toBe('def main():\n    """Entry."""\n');
    expect(editor.doc.inserted).toEqual(['"""Entry."""']);
    expect(editor.printed).toContain("Added a docstring.");
  });

  it("answers rejected and leaves the file alone when the diff is rejected", async () => {
    editor.answers = ["rewrite"];
    editor.acceptWrites = false;
    const fetch = scriptedFetch([
      json(
        agent({
          agent_status: "requires_client_tools",
          pending_tool_calls: [toolCall("w", "write_file", { path: "main.py", content: "x" })],
        }),
      ),
      json(agent({ agent_status: "completed", explanation: "Left it as it was." })),
    ]);
    await run(fetch);
    expect(fetch.sent[1].body).toEqual({
      thread_id: "th-1",
      tool_results: [{ tool_call_id: "w", output: "rejected" }],
    });
    expect(readFileSync(join(root, "main.py"), "utf8")).toBe("def main():\n    pass\n");
    expect(editor.infos).toEqual(["OpenHands: Left it as it was."]);
  });

  it("asks the human and resumes with the answer", async () => {
    editor.answers = ["make it faster", "use a cache"];
    const fetch = scriptedFetch([
      json(
        agent({
          agent_status: "requires_human_input",
          human_input_request: { tool_call_id: "h1", question_for_human: "Which approach?" },
        }),
      ),
      json(agent({ agent_status: "completed", generated_code: "cache = {}" })),
    ]);
    await run(fetch);
    expect(editor.prompts[1]).toBe("The agent asks: Which approach?");
    expect(fetch.sent[1].body).toEqual({
      thread_id: "th-1",
      tool_call_id: "h1",
      human_response: "use a cache",
    });
    expect(editor.untitled).toEqual(["cache = {}"]); // no editor open: shown in a new one
  });

  it("shows a long question (a write to approve) in full in the output, its first line in the box", async () => {
    editor.answers = ["tidy up", "yes"];
    const question =
      "Allow write_file on main.py?\n--- main.py\n+++ main.py\n-pass\n+return 1\nAnswer 'yes' to allow it.";
    const fetch = scriptedFetch([
      json(
        agent({
          agent_status: "requires_human_input",
          human_input_request: { tool_call_id: "a1", question_for_human: question },
        }),
      ),
      json(agent({ agent_status: "completed" })),
    ]);
    await run(fetch);
    expect(editor.prompts[1]).toBe("The agent asks: Allow write_file on main.py?");
    expect(editor.printed).toContain(question);
    expect(fetch.sent[1].body).toEqual({
      thread_id: "th-1",
      tool_call_id: "a1",
      human_response: "yes",
    });
  });

  it("lets server-side writes go unasked when confirmWrites is off", async () => {
    settings = { ...settings, confirmWrites: false };
    editor.answers = ["x"];
    const fetch = scriptedFetch([json(agent({ agent_status: "completed" }))]);
    await run(fetch);
    expect(fetch.sent[0].body).not.toHaveProperty("confirm_writes");
  });

  it("shows the generated code as a diff against the selection when set to", async () => {
    settings = { ...settings, completedAction: "diff" };
    editor.answers = ["refactor"];
    editor.doc = fakeDocument({ selectionText: "old()" });
    const fetch = scriptedFetch([
      json(agent({ agent_status: "completed", generated_code: "new()" })),
    ]);
    await run(fetch);
    expect(editor.doc.replaced).toEqual(["new()"]);
    expect(editor.doc.inserted).toEqual([]);
  });

  it("shows the error details of a failed run", async () => {
    editor.answers = ["do it"];
    const fetch = scriptedFetch([
      json(agent({ agent_status: "error", error_details: "no tool-capable model is available" })),
    ]);
    await run(fetch);
    expect(editor.errors).toEqual(["OpenHands agent failed: no tool-capable model is available"]);
    expect(editor.printed).toContain("thread th-1");
  });

  it("shows an HTTP refusal of resume plainly", async () => {
    editor.answers = ["do it"];
    const fetch = scriptedFetch([
      json(agent({ agent_status: "in_progress" })),
      json(
        {
          error: {
            message: "version conflict: the thread was resumed elsewhere",
            type: "conflict",
          },
        },
        409,
      ),
    ]);
    await run(fetch);
    expect(fetch.sent[1].body).toEqual({ thread_id: "th-1" });
    expect(editor.errors).toEqual([
      "OpenHands agent failed: version conflict: the thread was resumed elsewhere (HTTP 409)",
    ]);
  });

  it("cancelling aborts the HTTP request in flight", async () => {
    editor.answers = ["slow task"];
    let cancel = (): void => undefined;
    editor.onProgressStart = (c) => (cancel = c);
    let abortedRequest = false;
    const fetch = scriptedFetch([
      (_sent, signal) =>
        new Promise<Response>((_resolve, reject) => {
          signal.addEventListener("abort", () => {
            abortedRequest = true;
            reject(new DOMException("aborted", "AbortError"));
          });
          setTimeout(cancel, 10);
        }),
    ]);
    const outcome = await run(fetch);
    expect(outcome).toEqual({ kind: "cancelled", threadId: undefined });
    expect(abortedRequest).toBe(true);
    expect(editor.infos).toEqual(["OpenHands: the agent run was cancelled."]);
    expect(editor.errors).toEqual([]);
  });

  it("sends no project directory without a workspace, and tools say why they cannot run", async () => {
    editor.root = undefined;
    editor.answers = ["list"];
    const fetch = scriptedFetch([
      json(
        agent({
          agent_status: "requires_client_tools",
          pending_tool_calls: [toolCall("l", "list_files", {})],
        }),
      ),
      json(agent({ agent_status: "completed" })),
    ]);
    await run(fetch);
    expect(fetch.sent[0].body).not.toHaveProperty("project_directory");
    expect(fetch.sent[1].body).toEqual({
      thread_id: "th-1",
      tool_results: [
        { tool_call_id: "l", output: "error: no workspace folder is open in the editor" },
      ],
    });
  });
});

describe("setGatewayKey", () => {
  it("stores the key in secret storage, and an empty answer removes it", async () => {
    const secret = memorySecret();
    editor.answers = [" gk-new "];
    await setGatewayKey({ editor, settings: () => settings, secret });
    expect(secret.value).toBe("gk-new");
    editor.answers = [""];
    await setGatewayKey({ editor, settings: () => settings, secret });
    expect(secret.value).toBeUndefined();
  });
});
