/** The client side of an agent run: invoke, then answer every pause until it ends. */

import { Cancelled, GatewayError } from "../gateway";
import {
  ProtocolError,
  parseAgentResponse,
  type AgentResponse,
  type InvokeRequest,
  type ResumeRequest,
  type ToolCall,
  type ToolResult,
} from "./protocol";

export interface AgentTransport {
  invoke(body: InvokeRequest, signal: AbortSignal): Promise<unknown>;
  resume(body: ResumeRequest, signal: AbortSignal): Promise<unknown>;
}

export interface AgentHandlers {
  /** The human's answer, or undefined when they dismissed the question. */
  askHuman(question: string, signal: AbortSignal): Promise<string | undefined>;
  /** Runs one client tool; failures come back as text for the model, never as a throw. */
  runTool(call: ToolCall, signal: AbortSignal): Promise<string>;
  progress(message: string): void;
}

export type AgentOutcome =
  | { kind: "completed"; response: AgentResponse }
  | { kind: "error"; message: string; response?: AgentResponse }
  | { kind: "cancelled"; threadId?: string };

/** Enough rounds for any honest run; a server that keeps pausing forever is stopped here. */
export const MAX_ROUNDS = 100;

export async function runAgent(
  request: InvokeRequest,
  transport: AgentTransport,
  handlers: AgentHandlers,
  signal: AbortSignal,
  maxRounds = MAX_ROUNDS,
): Promise<AgentOutcome> {
  let threadId: string | undefined = request.thread_id;
  try {
    handlers.progress("asking the agent");
    let response = parseAgentResponse(await transport.invoke(request, signal));
    for (let round = 1; ; round++) {
      threadId = response.thread_id ?? threadId;
      const next = await nextStep(response, threadId, handlers, signal);
      if ("kind" in next) return next;
      if (round >= maxRounds) {
        return {
          kind: "error",
          message: `the agent paused ${maxRounds} times without finishing; stopped`,
          response,
        };
      }
      response = parseAgentResponse(await transport.resume(next, signal));
    }
  } catch (err) {
    if (err instanceof Cancelled || signal.aborted) return { kind: "cancelled", threadId };
    if (err instanceof GatewayError || err instanceof ProtocolError) {
      return { kind: "error", message: err.message };
    }
    throw err;
  }
}

/** What to send next for this response, or how the run ended. */
async function nextStep(
  response: AgentResponse,
  threadId: string | undefined,
  handlers: AgentHandlers,
  signal: AbortSignal,
): Promise<ResumeRequest | AgentOutcome> {
  switch (response.agent_status) {
    case "completed":
      return { kind: "completed", response };
    case "error":
      return {
        kind: "error",
        message: response.error_details ?? "the agent failed without saying why",
        response,
      };
    default:
      break;
  }
  if (!threadId) {
    throw new ProtocolError(`agent_status ${response.agent_status} came without a thread_id`);
  }
  switch (response.agent_status) {
    case "requires_human_input": {
      const request = response.human_input_request;
      if (!request) throw new ProtocolError("requires_human_input without human_input_request");
      handlers.progress("waiting for your answer");
      const answer = await handlers.askHuman(request.question_for_human, signal);
      if (answer === undefined) return { kind: "cancelled", threadId };
      return { thread_id: threadId, tool_call_id: request.tool_call_id, human_response: answer };
    }
    case "requires_client_tools": {
      if (response.pending_tool_calls.length === 0) {
        throw new ProtocolError("requires_client_tools without pending_tool_calls");
      }
      const results: ToolResult[] = [];
      // One at a time: a write waits for the user's decision before the next call runs.
      for (const call of response.pending_tool_calls) {
        if (signal.aborted) throw new Cancelled();
        handlers.progress(`running ${call.name}`);
        results.push({ tool_call_id: call.id, output: await handlers.runTool(call, signal) });
      }
      return { thread_id: threadId, tool_results: results };
    }
    default:
      // in_progress: the server checkpointed to stay inside its time budget; ask it to go on.
      handlers.progress("the agent is still working");
      return { thread_id: threadId };
  }
}
