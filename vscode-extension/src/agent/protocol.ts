/** The coding agent's wire format (issue 6's public contract), and checks on what comes back. */

export const AGENT_STATUSES = [
  "completed",
  "requires_human_input",
  "requires_client_tools",
  "in_progress",
  "error",
] as const;
export type AgentStatus = (typeof AGENT_STATUSES)[number];

export interface InvokeRequest {
  instruction: string;
  context?: string;
  language?: string;
  project_directory?: string;
  thread_id?: string;
  model_quality?: string;
  provider?: string;
  model?: string;
  /** Server-run writes wait for the user's "yes" (a requires_human_input with the diff). */
  confirm_writes?: boolean;
}

export interface ToolResult {
  tool_call_id: string;
  output: string;
}

/** A human's answer, client tool results, or (after `in_progress`) just "go on". */
export type ResumeRequest =
  | { thread_id: string; tool_call_id: string; human_response: string }
  | { thread_id: string; tool_results: ToolResult[] }
  | { thread_id: string };

/** An OpenAI-style tool call the server wants the client to run. */
export interface ToolCall {
  id: string;
  name: string;
  /** Decoded arguments, or the decoding error to answer the model with. */
  args: Record<string, unknown> | { invalid: string };
}

export interface HumanInputRequest {
  tool_call_id: string;
  question_for_human: string;
}

export interface AgentResponse {
  agent_status: AgentStatus;
  thread_id: string | null;
  generated_code: string | null;
  explanation: string | null;
  human_input_request: HumanInputRequest | null;
  pending_tool_calls: ToolCall[];
  model_used: string | null;
  error_details: string | null;
}

/** The answer did not have the agent response's shape: a server or proxy problem. */
export class ProtocolError extends Error {
  constructor(message: string) {
    super(`unexpected answer from the agent endpoint: ${message}`);
    this.name = "ProtocolError";
  }
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function optString(obj: Json, key: string): string | null {
  const value = obj[key];
  if (value === undefined || value === null) return null;
  if (typeof value === "string") return value;
  // error_details and the like may come as structured data; keep it readable.
  return JSON.stringify(value);
}

function toolCall(raw: unknown): ToolCall {
  if (!isObject(raw) || typeof raw.id !== "string") {
    throw new ProtocolError("a pending tool call has no id");
  }
  const fn = isObject(raw.function) ? raw.function : raw;
  if (typeof fn.name !== "string") throw new ProtocolError(`tool call ${raw.id} has no name`);
  const rawArgs = fn.arguments;
  let args: ToolCall["args"];
  if (isObject(rawArgs)) {
    args = rawArgs;
  } else if (rawArgs === undefined || rawArgs === null || rawArgs === "") {
    args = {};
  } else if (typeof rawArgs === "string") {
    try {
      const parsed = JSON.parse(rawArgs) as unknown;
      args = isObject(parsed) ? parsed : { invalid: "arguments must be a JSON object" };
    } catch {
      args = { invalid: "arguments are not valid JSON" };
    }
  } else {
    args = { invalid: "arguments must be a JSON object" };
  }
  return { id: raw.id, name: fn.name, args };
}

function humanInput(raw: unknown): HumanInputRequest | null {
  if (raw === undefined || raw === null) return null;
  if (!isObject(raw) || typeof raw.tool_call_id !== "string") {
    throw new ProtocolError("human_input_request has no tool_call_id");
  }
  const question = raw.question_for_human;
  return {
    tool_call_id: raw.tool_call_id,
    question_for_human: typeof question === "string" ? question : "The agent asks for input.",
  };
}

export function parseAgentResponse(raw: unknown): AgentResponse {
  if (!isObject(raw)) throw new ProtocolError("not a JSON object");
  const status = raw.agent_status;
  if (typeof status !== "string" || !(AGENT_STATUSES as readonly string[]).includes(status)) {
    throw new ProtocolError(`unknown agent_status ${JSON.stringify(status)}`);
  }
  const pending = raw.pending_tool_calls;
  if (pending !== undefined && pending !== null && !Array.isArray(pending)) {
    throw new ProtocolError("pending_tool_calls is not a list");
  }
  return {
    agent_status: status as AgentStatus,
    thread_id: optString(raw, "thread_id"),
    generated_code: optString(raw, "generated_code"),
    explanation: optString(raw, "explanation"),
    human_input_request: humanInput(raw.human_input_request),
    pending_tool_calls: (pending ?? []).map(toolCall),
    model_used: optString(raw, "model_used"),
    error_details: optString(raw, "error_details"),
  };
}
