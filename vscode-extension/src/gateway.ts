/** The HTTP client of the gateway: JSON calls and SSE streams, both abortable, errors made plain. */

import { SseParser, type SseEvent } from "./sse";

export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

export interface GatewayOptions {
  baseUrl: string;
  apiKey?: string;
  timeoutMs: number;
  fetch?: FetchLike;
}

/** A failure the user should read: the gateway's own message, or why it could not be reached. */
export class GatewayError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    readonly code?: string,
  ) {
    super(message);
    this.name = "GatewayError";
  }
}

/** The user cancelled; not an error to show. */
export class Cancelled extends Error {
  constructor() {
    super("cancelled");
    this.name = "Cancelled";
  }
}

export interface StreamResponse {
  headers: Headers;
  events: AsyncGenerator<SseEvent>;
}

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

/** Why this base URL cannot be used, or undefined when it can. */
export function baseUrlProblem(baseUrl: string, hasKey: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    return `openhands.api.baseUrl is not a URL: ${baseUrl}`;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return `openhands.api.baseUrl must be http or https, not ${url.protocol}`;
  }
  // A gateway key sent in clear text to another machine is a key given away.
  if (hasKey && url.protocol === "http:" && !LOOPBACK.has(url.hostname)) {
    return `refusing to send the gateway key over plain http to ${url.hostname}; use https`;
  }
  return undefined;
}

export class Gateway {
  private readonly baseUrl: string;
  private readonly fetch: FetchLike;

  constructor(private readonly options: GatewayOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.fetch = options.fetch ?? ((url, init) => fetch(url, init));
  }

  /** POST a JSON body and return the decoded JSON answer. */
  async postJson(path: string, body: unknown, signal: AbortSignal): Promise<unknown> {
    const call = this.start(signal);
    try {
      const response = await this.send(path, body, call, false);
      return await raceAbort(response.json() as Promise<unknown>, call.controller.signal);
    } catch (err) {
      throw this.translate(err, call);
    } finally {
      call.done();
    }
  }

  /** POST a streaming request; the answer's events are read as they arrive. */
  async postStream(path: string, body: unknown, signal: AbortSignal): Promise<StreamResponse> {
    const call = this.start(signal);
    let response: Response;
    try {
      response = await this.send(path, body, call, true);
    } catch (err) {
      call.done();
      throw this.translate(err, call);
    }
    call.stopTimer(); // the timeout covers waiting for the answer, not reading a long one
    const reader = response.body?.getReader();
    if (!reader) {
      call.done();
      throw new GatewayError("the gateway sent an empty stream");
    }
    return { headers: response.headers, events: this.events(reader, call) };
  }

  private start(signal: AbortSignal): Call {
    return new Call(signal, this.options.timeoutMs);
  }

  private async send(path: string, body: unknown, call: Call, stream: boolean): Promise<Response> {
    if (call.user.aborted) throw new Cancelled();
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (stream) headers.accept = "text/event-stream";
    if (this.options.apiKey) headers.authorization = `Bearer ${this.options.apiKey}`;
    const response = await this.fetch(this.baseUrl + path, {
      method: "POST",
      headers,
      body: JSON.stringify(body),
      signal: call.controller.signal,
    });
    if (!response.ok) throw await errorFrom(response);
    return response;
  }

  private async *events(
    reader: ReadableStreamDefaultReader<Uint8Array>,
    call: Call,
  ): AsyncGenerator<SseEvent> {
    const decoder = new TextDecoder();
    const parser = new SseParser();
    try {
      for (;;) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await raceAbort(reader.read(), call.controller.signal);
        } catch (err) {
          throw this.translate(err, call);
        }
        if (chunk.done) break;
        yield* parser.feed(decoder.decode(chunk.value, { stream: true }));
      }
      yield* parser.feed(decoder.decode());
      yield* parser.end();
    } finally {
      // Stopping early (cancel, error event) must close the connection, not leave it open.
      call.done();
      await reader.cancel().catch(() => undefined);
    }
  }

  private translate(err: unknown, call: Call): Error {
    if (err instanceof GatewayError) return err;
    if (call.user.aborted) return new Cancelled();
    if (call.timedOut) {
      const seconds = Math.round(this.options.timeoutMs / 1000);
      return new GatewayError(`${this.baseUrl} did not answer within ${seconds} s`);
    }
    if (err instanceof Cancelled) return err;
    return new GatewayError(`cannot reach ${this.baseUrl}: ${describe(err)}`);
  }
}

/** One request's abort wiring: the user's cancel and the request's own timeout. */
class Call {
  readonly controller = new AbortController();
  timedOut = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly onAbort = (): void => this.controller.abort();

  constructor(
    readonly user: AbortSignal,
    timeoutMs: number,
  ) {
    user.addEventListener("abort", this.onAbort, { once: true });
    if (timeoutMs > 0) {
      this.timer = setTimeout(() => {
        this.timedOut = true;
        this.controller.abort();
      }, timeoutMs);
    }
  }

  stopTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  done(): void {
    this.stopTimer();
    this.user.removeEventListener("abort", this.onAbort);
  }
}

/** Settle with `work`, or reject as soon as `signal` aborts (a body read may not notice). */
function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    work.catch(() => undefined); // its rejection (the abort) is expected, not "unhandled"
    return Promise.reject(new Cancelled());
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new Cancelled());
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    if (cause instanceof Error && cause.message) return cause.message;
    return err.message;
  }
  return String(err);
}

/** The gateway's OpenAI-shaped error (`{error: {message, type, code}}`) as a GatewayError. */
export async function errorFrom(response: Response): Promise<GatewayError> {
  const text = await response.text().catch(() => "");
  let message = "";
  let code: string | undefined;
  try {
    const parsed = JSON.parse(text) as unknown;
    const error = (parsed as { error?: unknown }).error;
    if (error && typeof error === "object") {
      const fields = error as { message?: unknown; code?: unknown };
      if (typeof fields.message === "string") message = fields.message;
      if (typeof fields.code === "string") code = fields.code;
    } else if (typeof (parsed as { detail?: unknown }).detail === "string") {
      message = (parsed as { detail: string }).detail;
    }
  } catch {
    message = text.slice(0, 200);
  }
  return new GatewayError(
    `${message || response.statusText || "request failed"} (HTTP ${response.status})`,
    response.status,
    code,
  );
}
