/** `openhands.askOpenHands`: a question with the code around it, answered as a stream. */

import { GatewayError, type Gateway } from "./gateway";
import type { ActiveDocument, Output } from "./editor";
import { routing, type Settings } from "./settings";

export interface ChatMessage {
  role: "system" | "user";
  content: string;
}

const SYSTEM =
  "You are a coding assistant inside VS Code. Answer the question about the user's code " +
  "concisely; use fenced code blocks for code.";

/**
 * The part of `text` around `center` that fits `budget` characters, cut at line boundaries,
 * with a note of what was left out (so the model knows it sees an excerpt).
 */
export function excerpt(text: string, center: number, budget: number): string {
  if (text.length <= budget) return text;
  if (budget <= 0) return "";
  let start = Math.max(0, Math.min(center - Math.floor(budget / 2), text.length - budget));
  let end = start + budget;
  // Snap inward to whole lines, unless that would leave nothing.
  const lineStart = start === 0 ? 0 : text.indexOf("\n", start) + 1;
  const lineEnd = end >= text.length ? text.length : text.lastIndexOf("\n", end);
  if (lineStart > 0 && lineEnd > lineStart) {
    start = lineStart;
    end = lineEnd;
  } else if (lineEnd > start) {
    end = lineEnd;
  }
  const above = countLines(text.slice(0, start));
  const below = countLines(text.slice(end));
  return [
    above ? `[... ${above} lines above omitted ...]\n` : "",
    text.slice(start, end),
    below ? `\n[... ${below} lines below omitted ...]` : "",
  ].join("");
}

function countLines(text: string): number {
  if (!text.trim()) return 0;
  return text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
}

/** The selection first, then as much of the file around the cursor as the budget leaves. */
export function askMessages(
  question: string,
  doc: ActiveDocument | undefined,
  budget: number,
): ChatMessage[] {
  const parts = [question.trim()];
  if (doc) {
    const fence = "```" + (doc.languageId || "");
    const selection = excerpt(doc.selectionText, 0, budget);
    if (selection)
      parts.push(`Selected code from ${doc.fileName}:\n${fence}\n${selection}\n\`\`\``);
    const left = budget - selection.length;
    if (left > 200 && doc.text && doc.text !== doc.selectionText) {
      const file = excerpt(doc.text, doc.cursorOffset, left);
      parts.push(`The file ${doc.fileName}:\n${fence}\n${file}\n\`\`\``);
    }
  }
  return [
    { role: "system", content: SYSTEM },
    { role: "user", content: parts.join("\n\n") },
  ];
}

export interface AskResult {
  text: string;
  provider?: string;
  model?: string;
}

/** Streams the answer into `out` as it arrives; throws GatewayError or Cancelled. */
export async function streamAnswer(
  gateway: Gateway,
  settings: Settings,
  messages: ChatMessage[],
  out: Pick<Output, "append">,
  signal: AbortSignal,
): Promise<AskResult> {
  const { model, ...route } = routing(settings);
  const body = { model: model ?? "auto", messages, stream: true, ...route };
  const { headers, events } = await gateway.postStream("/v1/chat/completions", body, signal);
  let text = "";
  for await (const event of events) {
    if (event.data === "[DONE]") {
      return {
        text,
        provider: headers.get("x-llm-agg-provider") ?? undefined,
        model: headers.get("x-llm-agg-model") ?? undefined,
      };
    }
    const piece = deltaText(event.data);
    if (piece) {
      text += piece;
      out.append(piece);
    }
  }
  throw new GatewayError("the answer stopped before it was complete");
}

/** The content of one chunk; an error event becomes a GatewayError. */
export function deltaText(data: string): string {
  let chunk: unknown;
  try {
    chunk = JSON.parse(data);
  } catch {
    throw new GatewayError(`the gateway sent a malformed event: ${data.slice(0, 80)}`);
  }
  const { error, choices } = chunk as { error?: { message?: unknown }; choices?: unknown };
  if (error) {
    const message = typeof error.message === "string" ? error.message : "stream error";
    throw new GatewayError(message);
  }
  if (!Array.isArray(choices) || choices.length === 0) return "";
  const delta = (choices[0] as { delta?: { content?: unknown } }).delta;
  return typeof delta?.content === "string" ? delta.content : "";
}
