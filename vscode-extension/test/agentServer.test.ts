/**
 * The client code against a real `llm-agg serve` on loopback, with a scripted fake model.
 *
 * The chat part runs against the gateway core. The agent part needs issue 6's endpoints
 * (/v1/agents/code/invoke, /v1/agents/resume): while the server answers 404 there, that test
 * reports itself skipped with the reason, and runs as soon as the agent server is on the branch.
 */

import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { askOpenHands, invokeCodeAgent } from "../src/commands";
import { streamAnswer } from "../src/ask";
import { Gateway, type FetchLike } from "../src/gateway";
import { DEFAULTS, type Settings } from "../src/settings";
import { FakeEditor, fakeDocument, memorySecret } from "./fakes";
import {
  haveServer,
  resetUpstream,
  script,
  startStack,
  upstreamLog,
  type Stack,
} from "./integration/servers";

let stack: Stack;

beforeAll(async () => {
  if (haveServer) stack = await startStack();
}, 60_000);

afterAll(async () => {
  if (!stack) return;
  await Promise.all(stack.procs.map((p) => p.stop()));
  rmSync(stack.dataDir, { recursive: true, force: true });
});

beforeEach(async () => {
  if (stack) await resetUpstream(stack.upstream);
});

function settings(): Settings {
  return { ...DEFAULTS, baseUrl: stack.gateway, timeoutMs: 30_000 };
}

/** fetch, keeping each JSON request and answer for the assertions. */
function recording(): FetchLike & {
  exchanges: Array<{ path: string; sent: unknown; status: number; got: unknown }>;
} {
  const exchanges: Array<{ path: string; sent: unknown; status: number; got: unknown }> = [];
  const fn: FetchLike = async (url, init) => {
    const response = await fetch(url, init);
    if ((response.headers.get("content-type") ?? "").startsWith("application/json")) {
      const got = (await response.clone().json()) as unknown;
      exchanges.push({
        path: new URL(url).pathname,
        sent: JSON.parse(String(init.body)),
        status: response.status,
        got,
      });
    }
    return response;
  };
  return Object.assign(fn, { exchanges });
}

const NOT_YET = "NOT YET VERIFIED: this server has no /v1/agents/code/invoke (issue 6 not merged)";

/** Whether the server has the agent routes (404 until issue 6's app is mounted). */
async function agentServed(): Promise<boolean> {
  const probe = await fetch(`${stack.gateway}/v1/agents/code/invoke`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{}",
  });
  return probe.status !== 404;
}

describe.skipIf(!haveServer)("against a real llm-agg serve", () => {
  describe("ask", () => {
    it("streams the model's answer through the gateway into the output", async () => {
      const editor = new FakeEditor();
      editor.answers = ["What is this?"];
      editor.doc = fakeDocument({ selectionText: "x = 1" });
      await askOpenHands({ editor, settings, secret: memorySecret() });
      expect(editor.errors).toEqual([]);
      // The fake model answers "Hello from groq: <the user message>" word by word.
      expect(editor.printed).toContain("Hello from groq: What is this?");
      expect(editor.printed).toMatch(/\(answered by groq \/ [^)]+\)/);
      const sent = (await upstreamLog(stack.upstream)).requests[0].body;
      expect(sent.stream).toBe(true);
      expect(JSON.stringify(sent.messages)).toContain("x = 1");
    });

    it("cancelling stops the stream and the gateway's call to the model", async () => {
      await script(stack.upstream, [], { stream_delay: 0.3 });
      const gateway = new Gateway({ baseUrl: stack.gateway, timeoutMs: 30_000 });
      const controller = new AbortController();
      const pieces: string[] = [];
      const answer = streamAnswer(
        gateway,
        settings(),
        [{ role: "user", content: "a long answer" }],
        {
          append: (text) => {
            pieces.push(text);
            controller.abort();
          },
        },
        controller.signal,
      );
      await expect(answer).rejects.toMatchObject({ name: "Cancelled" });
      expect(pieces).toHaveLength(1);
      await expect
        .poll(async () => (await upstreamLog(stack.upstream)).disconnects, { timeout: 5000 })
        .toBe(1);
    });
  });

  describe("agent", () => {
    let workspace: string;
    beforeEach(() => {
      workspace = realpathSync(mkdtempSync(join(tmpdir(), "oh-it-ws-")));
      writeFileSync(join(workspace, "main.py"), "def main():\n    pass\n");
      writeFileSync(join(workspace, ".env"), "TOKEN=never-sent\n");
    });

    it("invoke → client tools → diff accepted → completed", async (ctx) => {
      if (!(await agentServed())) {
        rmSync(workspace, { recursive: true, force: true });
        ctx.skip(NOT_YET);
      }
      const newText = 'def main():\n    """Run the program."""\n';
      await script(stack.upstream, [
        toolCalls(["read_file", { path: "main.py" }]),
        toolCalls(["write_file", { path: "main.py", content: newText }]),
        toolCalls(["submit_code", { code: newText, explanation: "Added a docstring to main." }]),
      ]);
      const editor = new FakeEditor();
      editor.root = workspace;
      editor.answers = ["Add a docstring to main in main.py"];
      editor.doc = fakeDocument({ selectionText: "" });
      const recorder = recording();
      const outcome = await invokeCodeAgent({
        editor,
        settings,
        secret: memorySecret(),
        fetch: recorder,
      });

      expect(editor.errors).toEqual([]);
      expect(outcome?.kind).toBe("completed");
      const statuses = recorder.exchanges.map(
        (e) => (e.got as { agent_status?: string }).agent_status,
      );
      expect(statuses).toEqual(["requires_client_tools", "requires_client_tools", "completed"]);
      expect(recorder.exchanges.map((e) => e.path)).toEqual([
        "/v1/agents/code/invoke",
        "/v1/agents/resume",
        "/v1/agents/resume",
      ]);
      expect(recorder.exchanges[0].sent).toMatchObject({ project_directory: workspace });
      const results = recorder.exchanges
        .slice(1)
        .map((e) => (e.sent as { tool_results: unknown }).tool_results);
      expect(results[0]).toEqual([
        { tool_call_id: expect.any(String), output: "def main():\n    pass\n" },
      ]);
      expect(results[1]).toEqual([{ tool_call_id: expect.any(String), output: "applied" }]);
      expect(editor.reviews).toEqual([
        { relPath: "main.py", oldText: "def main():\n    pass\n", newText },
      ]);
      expect(readFileSync(join(workspace, "main.py"), "utf8")).toBe(newText);
      expect(editor.doc.inserted).toEqual([newText]);
      expect(editor.printed).toContain("Added a docstring to main.");
      // The model saw the client's tool output, and never the secret next to it.
      const toModel = JSON.stringify(
        (await upstreamLog(stack.upstream)).requests.map((r) => r.body.messages),
      );
      expect(toModel).toContain("applied");
      expect(toModel).not.toContain("never-sent");
      rmSync(workspace, { recursive: true, force: true });
    });

    it("a server that reaches the workspace writes only after the user's yes", async (ctx) => {
      rmSync(workspace, { recursive: true, force: true });
      if (!(await agentServed())) ctx.skip(NOT_YET);
      const local = mkdtempSync(join(stack.serverRoot, "ws-"));
      writeFileSync(join(local, "main.py"), "def main():\n    pass\n");
      const newText = "def main():\n    return 0\n";
      await script(stack.upstream, [
        toolCalls(["write_file", { path: "main.py", content: newText }]),
        toolCalls(["submit_code", { code: newText, explanation: "main returns 0." }]),
      ]);
      const editor = new FakeEditor();
      editor.root = local;
      editor.answers = ["Make main return 0", "yes"];
      const recorder = recording();
      const outcome = await invokeCodeAgent({
        editor,
        settings,
        secret: memorySecret(),
        fetch: recorder,
      });
      expect(editor.errors).toEqual([]);
      expect(outcome?.kind).toBe("completed");
      const statuses = recorder.exchanges.map(
        (e) => (e.got as { agent_status?: string }).agent_status,
      );
      expect(statuses).toEqual(["requires_human_input", "completed"]);
      expect(recorder.exchanges[0].sent).toMatchObject({
        project_directory: local,
        confirm_writes: true,
      });
      // The approval question carried the change; the server, not the client, wrote the file.
      expect(editor.printed).toContain("return 0");
      expect(editor.reviews).toEqual([]);
      expect(readFileSync(join(local, "main.py"), "utf8")).toBe(newText);
    });

    it("asks the human the agent's question and resumes with the answer", async (ctx) => {
      rmSync(workspace, { recursive: true, force: true });
      if (!(await agentServed())) ctx.skip(NOT_YET);
      await script(stack.upstream, [
        toolCalls(["ask_human_for_input", { question: "Tabs or spaces?" }]),
        toolCalls(["submit_code", { code: "x = 1", explanation: "Used spaces." }]),
      ]);
      const editor = new FakeEditor();
      editor.answers = ["Write x = 1", "spaces"];
      const recorder = recording();
      const outcome = await invokeCodeAgent({
        editor,
        settings,
        secret: memorySecret(),
        fetch: recorder,
      });
      expect(editor.errors).toEqual([]);
      expect(outcome?.kind).toBe("completed");
      expect(editor.prompts[1]).toBe("The agent asks: Tabs or spaces?");
      const statuses = recorder.exchanges.map(
        (e) => (e.got as { agent_status?: string }).agent_status,
      );
      expect(statuses).toEqual(["requires_human_input", "completed"]);
      expect(recorder.exchanges[1].sent).toMatchObject({ human_response: "spaces" });
      const toModel = JSON.stringify(
        (await upstreamLog(stack.upstream)).requests.at(-1)?.body.messages,
      );
      expect(toModel).toContain("spaces");
      expect(editor.untitled).toEqual(["x = 1"]);
    });
  });
});

let callNumber = 0;

/** A scripted model answer that calls the given tools. */
function toolCalls(...calls: Array<[string, Record<string, unknown>]>): {
  body: Record<string, unknown>;
} {
  const toolCallsList = calls.map(([name, args]) => ({
    id: `call_${++callNumber}`,
    type: "function",
    function: { name, arguments: JSON.stringify(args) },
  }));
  return {
    body: {
      id: `chatcmpl-${callNumber}`,
      object: "chat.completion",
      created: 1,
      model: "fake-model",
      choices: [
        {
          index: 0,
          message: { role: "assistant", content: null, tool_calls: toolCallsList },
          finish_reason: "tool_calls",
        },
      ],
      usage: { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 },
    },
  };
}
