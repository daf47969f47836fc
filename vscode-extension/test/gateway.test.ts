import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cancelled, Gateway, GatewayError, baseUrlProblem } from "../src/gateway";

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

let server: Server;
let url: string;
let handler: Handler;
const received: Array<{ url?: string; headers: IncomingMessage["headers"]; body: string }> = [];
let closedConnections = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () => {
      received.push({ url: req.url, headers: req.headers, body });
      res.on("close", () => {
        if (!res.writableFinished) closedConnections += 1;
      });
      handler(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => {
  server.closeAllConnections();
  server.close();
});

const never = new AbortController().signal;

function gateway(apiKey?: string, timeoutMs = 5000): Gateway {
  return new Gateway({ baseUrl: `${url}/`, apiKey, timeoutMs });
}

describe("JSON calls", () => {
  it("posts JSON with the gateway key as a bearer token and decodes the answer", async () => {
    handler = (_req, res) => res.end(JSON.stringify({ ok: true }));
    expect(
      await gateway("gk-secret").postJson("/v1/agents/resume", { thread_id: "t" }, never),
    ).toEqual({ ok: true });
    const last = received.at(-1);
    expect(last?.url).toBe("/v1/agents/resume");
    expect(last?.headers.authorization).toBe("Bearer gk-secret");
    expect(JSON.parse(last?.body ?? "")).toEqual({ thread_id: "t" });
  });

  it("sends no authorization header without a key", async () => {
    handler = (_req, res) => res.end("{}");
    await gateway().postJson("/x", {}, never);
    expect(received.at(-1)?.headers.authorization).toBeUndefined();
  });

  it("turns an OpenAI-shaped error into its message and status", async () => {
    handler = (_req, res) => {
      res.statusCode = 404;
      res.end(
        JSON.stringify({
          error: {
            message: "no thread t9 for this key",
            type: "not_found",
            code: "thread_not_found",
          },
        }),
      );
    };
    const err = await gateway()
      .postJson("/v1/agents/resume", {}, never)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).message).toBe("no thread t9 for this key (HTTP 404)");
    expect((err as GatewayError).status).toBe(404);
    expect((err as GatewayError).code).toBe("thread_not_found");
  });

  it("names an unreachable gateway without leaking the key", async () => {
    const dead = new Gateway({
      baseUrl: "http://127.0.0.1:9",
      apiKey: "gk-secret",
      timeoutMs: 5000,
    });
    const err = (await dead.postJson("/x", {}, never).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(GatewayError);
    expect(err.message).toMatch(/^cannot reach http:\/\/127\.0\.0\.1:9/);
    expect(err.message).not.toContain("gk-secret");
  });

  it("aborts the HTTP request when cancelled", async () => {
    handler = () => undefined; // never answers
    const before = closedConnections;
    const controller = new AbortController();
    const pending = gateway().postJson("/slow", {}, controller.signal);
    setTimeout(() => controller.abort(), 50);
    await expect(pending).rejects.toBeInstanceOf(Cancelled);
    await expect.poll(() => closedConnections).toBe(before + 1);
  });

  it("gives up after its timeout with a message saying so", async () => {
    handler = () => undefined;
    const err = (await gateway(undefined, 100)
      .postJson("/slow", {}, never)
      .catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(GatewayError);
    expect(err.message).toContain("did not answer within");
  });
});

describe("streams", () => {
  it("yields events as they arrive, with the response headers", async () => {
    handler = (_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream", "x-llm-agg-provider": "groq" });
      res.write('data: {"n":1}\n\n');
      setTimeout(() => res.end('data: {"n":2}\n\ndata: [DONE]\n\n'), 30);
    };
    const { headers, events } = await gateway().postStream("/v1/chat/completions", {}, never);
    expect(headers.get("x-llm-agg-provider")).toBe("groq");
    const seen: string[] = [];
    for await (const event of events) seen.push(event.data);
    expect(seen).toEqual(['{"n":1}', '{"n":2}', "[DONE]"]);
    expect(received.at(-1)?.headers.accept).toBe("text/event-stream");
  });

  it("cancelling mid-stream closes the connection", async () => {
    handler = (_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write('data: {"n":1}\n\n'); // then nothing more: a slow model
    };
    const before = closedConnections;
    const controller = new AbortController();
    const { events } = await gateway().postStream("/v1/chat/completions", {}, controller.signal);
    const first = await events.next();
    expect(first.value).toEqual({ event: "message", data: '{"n":1}' });
    const second = events.next();
    controller.abort();
    await expect(second).rejects.toBeInstanceOf(Cancelled);
    await expect.poll(() => closedConnections).toBe(before + 1);
  });

  it("the timeout does not cut a long answer once it has started", async () => {
    handler = (_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write("data: a\n\n");
      setTimeout(() => res.end("data: b\n\n"), 200);
    };
    const { events } = await gateway(undefined, 100).postStream("/s", {}, never);
    const seen: string[] = [];
    for await (const event of events) seen.push(event.data);
    expect(seen).toEqual(["a", "b"]);
  });
});

describe("base URL checks", () => {
  it("accepts loopback http and any https, refuses a key over plain http elsewhere", () => {
    expect(baseUrlProblem("http://localhost:8000", true)).toBeUndefined();
    expect(baseUrlProblem("http://127.0.0.1:8000", true)).toBeUndefined();
    expect(
      baseUrlProblem("https://abc.execute-api.eu-west-1.amazonaws.com/prod", true),
    ).toBeUndefined();
    expect(baseUrlProblem("http://gateway.example.com", false)).toBeUndefined();
    expect(baseUrlProblem("http://gateway.example.com", true)).toContain("plain http");
    expect(baseUrlProblem("ftp://x", false)).toContain("http or https");
    expect(baseUrlProblem("not a url", false)).toContain("not a URL");
  });
});
