import { describe, expect, it } from "vitest";
import type { InvokeRequest, ResumeRequest, ToolCall } from "../src/agent/protocol";
import { runAgent, type AgentHandlers, type AgentTransport } from "../src/agent/session";
import { Cancelled, GatewayError } from "../src/gateway";
import { agentResponse } from "./fakes";

const response = agentResponse;

/** A server that answers invoke with the first answer and each resume with the next one. */
function scripted(
  answers: unknown[],
): AgentTransport & { sent: Array<InvokeRequest | ResumeRequest> } {
  const sent: Array<InvokeRequest | ResumeRequest> = [];
  const next = async (body: InvokeRequest | ResumeRequest): Promise<unknown> => {
    sent.push(body);
    const answer = answers.shift();
    if (answer instanceof Error) throw answer;
    if (answer === undefined) throw new Error("the test server has no more answers");
    return answer;
  };
  return { sent, invoke: next, resume: next };
}

function handlers(
  overrides: Partial<AgentHandlers> = {},
): AgentHandlers & { ran: ToolCall[]; asked: string[] } {
  const ran: ToolCall[] = [];
  const asked: string[] = [];
  return {
    ran,
    asked,
    askHuman: async (question) => {
      asked.push(question);
      return "yes, go on";
    },
    runTool: async (call) => {
      ran.push(call);
      return `output of ${call.name}`;
    },
    progress: () => undefined,
    ...overrides,
  };
}

const request: InvokeRequest = { instruction: "add docstrings", project_directory: "/ws" };
const signal = new AbortController().signal;

describe("agent state machine", () => {
  it("returns the completed response from the invoke at once", async () => {
    const server = scripted([response({ agent_status: "completed", generated_code: "x = 1" })]);
    const outcome = await runAgent(request, server, handlers(), signal);
    expect(outcome.kind).toBe("completed");
    expect(outcome.kind === "completed" && outcome.response.generated_code).toBe("x = 1");
    expect(server.sent).toEqual([request]);
  });

  it("answers a human input request and resumes with the answer for that tool call", async () => {
    const server = scripted([
      response({
        agent_status: "requires_human_input",
        human_input_request: { tool_call_id: "call_h", question_for_human: "Overwrite main.py?" },
      }),
      response({ agent_status: "completed", generated_code: "done" }),
    ]);
    const h = handlers();
    const outcome = await runAgent(request, server, h, signal);
    expect(h.asked).toEqual(["Overwrite main.py?"]);
    expect(server.sent[1]).toEqual({
      thread_id: "t1",
      tool_call_id: "call_h",
      human_response: "yes, go on",
    });
    expect(outcome.kind).toBe("completed");
  });

  it("runs every pending client tool in order and resumes with all results", async () => {
    const server = scripted([
      response({
        agent_status: "requires_client_tools",
        pending_tool_calls: [
          {
            id: "c1",
            type: "function",
            function: { name: "read_file", arguments: '{"path": "a.py"}' },
          },
          { id: "c2", type: "function", function: { name: "list_files", arguments: "{}" } },
        ],
      }),
      response({ agent_status: "completed" }),
    ]);
    const h = handlers();
    await runAgent(request, server, h, signal);
    expect(h.ran.map((c) => [c.id, c.name, c.args])).toEqual([
      ["c1", "read_file", { path: "a.py" }],
      ["c2", "list_files", {}],
    ]);
    expect(server.sent[1]).toEqual({
      thread_id: "t1",
      tool_results: [
        { tool_call_id: "c1", output: "output of read_file" },
        { tool_call_id: "c2", output: "output of list_files" },
      ],
    });
  });

  it("passes tool arguments that are not valid JSON to the tool as invalid, not as a crash", async () => {
    const server = scripted([
      response({
        agent_status: "requires_client_tools",
        pending_tool_calls: [
          { id: "c1", type: "function", function: { name: "read_file", arguments: "{oops" } },
        ],
      }),
      response({ agent_status: "completed" }),
    ]);
    const h = handlers();
    await runAgent(request, server, h, signal);
    expect(h.ran[0].args).toEqual({ invalid: "arguments are not valid JSON" });
  });

  it("resumes with only the thread id while the agent is in progress", async () => {
    const server = scripted([
      response({ agent_status: "in_progress" }),
      response({ agent_status: "in_progress" }),
      response({ agent_status: "completed" }),
    ]);
    const outcome = await runAgent(request, server, handlers(), signal);
    expect(server.sent.slice(1)).toEqual([{ thread_id: "t1" }, { thread_id: "t1" }]);
    expect(outcome.kind).toBe("completed");
  });

  it("reports the error details of an error status", async () => {
    const server = scripted([
      response({
        agent_status: "requires_client_tools",
        pending_tool_calls: [
          { id: "c", type: "function", function: { name: "list_files", arguments: "{}" } },
        ],
      }),
      response({ agent_status: "error", error_details: "step limit of 12 reached" }),
    ]);
    const outcome = await runAgent(request, server, handlers(), signal);
    expect(outcome).toMatchObject({ kind: "error", message: "step limit of 12 reached" });
  });

  it("keeps the thread id the server minted for later resumes", async () => {
    const server = scripted([
      response({ agent_status: "in_progress", thread_id: "minted" }),
      response({ agent_status: "in_progress", thread_id: null }),
      response({ agent_status: "completed" }),
    ]);
    await runAgent({ instruction: "x" }, server, handlers(), signal);
    expect(server.sent.slice(1)).toEqual([{ thread_id: "minted" }, { thread_id: "minted" }]);
  });

  it("turns an unknown status into an error naming it", async () => {
    const server = scripted([response({ agent_status: "thinking" })]);
    const outcome = await runAgent(request, server, handlers(), signal);
    expect(outcome.kind).toBe("error");
    expect(outcome.kind === "error" && outcome.message).toContain(
      'unknown agent_status "thinking"',
    );
  });

  it("refuses a pause without a thread id, since it could never be resumed", async () => {
    const server = scripted([response({ agent_status: "in_progress", thread_id: null })]);
    const outcome = await runAgent({ instruction: "x" }, server, handlers(), signal);
    expect(outcome.kind === "error" && outcome.message).toContain("without a thread_id");
  });

  it("refuses requires_human_input without the question", async () => {
    const server = scripted([response({ agent_status: "requires_human_input" })]);
    const outcome = await runAgent(request, server, handlers(), signal);
    expect(outcome.kind === "error" && outcome.message).toContain("without human_input_request");
  });

  it("stops when the human dismisses the question, keeping the thread id", async () => {
    const server = scripted([
      response({
        agent_status: "requires_human_input",
        human_input_request: { tool_call_id: "h", question_for_human: "?" },
      }),
    ]);
    const outcome = await runAgent(
      request,
      server,
      handlers({ askHuman: async () => undefined }),
      signal,
    );
    expect(outcome).toEqual({ kind: "cancelled", threadId: "t1" });
    expect(server.sent).toHaveLength(1);
  });

  it("reports a gateway failure during resume as an error", async () => {
    const server = scripted([
      response({ agent_status: "in_progress" }),
      new GatewayError("thread not found (HTTP 404)", 404),
    ]);
    const outcome = await runAgent(request, server, handlers(), signal);
    expect(outcome).toEqual({ kind: "error", message: "thread not found (HTTP 404)" });
  });

  it("is cancelled between tool calls when the signal aborts", async () => {
    const controller = new AbortController();
    const server = scripted([
      response({
        agent_status: "requires_client_tools",
        pending_tool_calls: [
          { id: "c1", type: "function", function: { name: "read_file", arguments: "{}" } },
          { id: "c2", type: "function", function: { name: "read_file", arguments: "{}" } },
        ],
      }),
    ]);
    const h = handlers({
      runTool: async () => {
        controller.abort();
        return "x";
      },
    });
    const outcome = await runAgent(request, server, h, controller.signal);
    expect(outcome).toEqual({ kind: "cancelled", threadId: "t1" });
    expect(server.sent).toHaveLength(1);
  });

  it("reports a cancelled request as cancelled, not as an error", async () => {
    const server = scripted([new Cancelled()]);
    const outcome = await runAgent(request, server, handlers(), signal);
    expect(outcome.kind).toBe("cancelled");
  });

  it("stops a server that never stops pausing", async () => {
    const answers = Array.from({ length: 10 }, () => response({ agent_status: "in_progress" }));
    const outcome = await runAgent(request, scripted(answers), handlers(), signal, 5);
    expect(outcome.kind === "error" && outcome.message).toContain("paused 5 times");
  });
});
