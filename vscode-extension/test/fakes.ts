/** Test doubles of the editor interface and of fetch. */

import type { ActiveDocument, EditorPort, Progress, SecretStore } from "../src/editor";
import type { FetchLike } from "../src/gateway";
import type { ProposedWrite } from "../src/tools/fileTools";

export class FakeEditor implements EditorPort {
  answers: Array<string | undefined> = [];
  prompts: string[] = [];
  reviews: ProposedWrite[] = [];
  acceptWrites = true;
  infos: string[] = [];
  errors: string[] = [];
  untitled: string[] = [];
  progress: string[] = [];
  printed = "";
  doc: (ActiveDocument & { inserted: string[]; replaced: string[] }) | undefined;
  root: string | undefined;
  /** Called once the task started, to cancel it from the test. */
  onProgressStart: ((cancel: () => void) => void) | undefined;

  output = {
    append: (text: string) => void (this.printed += text),
    appendLine: (text: string) => void (this.printed += `${text}\n`),
    show: () => undefined,
  };

  activeDocument(): ActiveDocument | undefined {
    return this.doc;
  }

  workspaceRoot(): string | undefined {
    return this.root;
  }

  async askText(prompt: string): Promise<string | undefined> {
    this.prompts.push(prompt);
    return this.answers.shift();
  }

  async reviewWrite(change: ProposedWrite): Promise<boolean> {
    this.reviews.push(change);
    return this.acceptWrites;
  }

  async openUntitled(text: string): Promise<void> {
    this.untitled.push(text);
  }

  info(message: string): void {
    this.infos.push(message);
  }

  error(message: string): void {
    this.errors.push(message);
  }

  async withProgress<T>(
    _title: string,
    task: (signal: AbortSignal, progress: Progress) => Promise<T>,
  ): Promise<T> {
    const controller = new AbortController();
    this.onProgressStart?.(() => controller.abort());
    return task(controller.signal, { report: (message) => this.progress.push(message) });
  }
}

export function fakeDocument(
  fields: Partial<ActiveDocument> = {},
  acceptReplacement = true,
): ActiveDocument & { inserted: string[]; replaced: string[] } {
  const inserted: string[] = [];
  const replaced: string[] = [];
  return {
    fileName: "src/app.py",
    languageId: "python",
    text: "def f():\n    pass\n",
    selectionText: "",
    cursorOffset: 0,
    inserted,
    replaced,
    insertAtCursor: async (text) => {
      inserted.push(text);
      return true;
    },
    reviewReplacement: async (text) => {
      if (acceptReplacement) replaced.push(text);
      return acceptReplacement;
    },
    ...fields,
  };
}

export function memorySecret(initial?: string): SecretStore & { value: string | undefined } {
  const store = {
    value: initial,
    get: async () => store.value,
    store: async (value: string) => void (store.value = value),
    delete: async () => void (store.value = undefined),
  };
  return store;
}

export interface Sent {
  url: string;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

/** A fetch that answers from a list of Responses (or functions making one) and records requests. */
export function scriptedFetch(
  answers: Array<Response | ((sent: Sent, signal: AbortSignal) => Promise<Response>)>,
): FetchLike & { sent: Sent[] } {
  const sent: Sent[] = [];
  const fn = async (url: string, init: RequestInit): Promise<Response> => {
    const record = {
      url,
      headers: init.headers as Record<string, string>,
      body: JSON.parse(String(init.body)) as Record<string, unknown>,
    };
    sent.push(record);
    const next = answers.shift();
    if (!next) throw new Error(`no scripted answer for ${url}`);
    return typeof next === "function" ? next(record, init.signal as AbortSignal) : next;
  };
  return Object.assign(fn, { sent });
}

export function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

/** An SSE response whose body arrives in the given pieces. */
export function sse(pieces: string[], headers: Record<string, string> = {}): Response {
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const piece of pieces) controller.enqueue(encoder.encode(piece));
      controller.close();
    },
  });
  return new Response(body, { headers: { "content-type": "text/event-stream", ...headers } });
}

export function chunk(content: string): string {
  return `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content } }] })}\n\n`;
}

/** An agent response with every field of the contract, the given ones overriding. */
export function agentResponse(fields: Record<string, unknown>): Record<string, unknown> {
  return {
    generated_code: null,
    explanation: null,
    human_input_request: null,
    pending_tool_calls: [],
    request_params: {},
    model_used: "groq/llama",
    error_details: null,
    thread_id: "t1",
    ...fields,
  };
}
