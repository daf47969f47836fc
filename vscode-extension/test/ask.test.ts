import { describe, expect, it } from "vitest";
import { askMessages, deltaText, excerpt, streamAnswer } from "../src/ask";
import { askOpenHands } from "../src/commands";
import { Gateway, GatewayError } from "../src/gateway";
import { DEFAULTS, type Settings } from "../src/settings";
import { FakeEditor, chunk, fakeDocument, memorySecret, scriptedFetch, sse } from "./fakes";

const never = new AbortController().signal;
const lines = (n: number): string =>
  Array.from({ length: n }, (_, i) => `line ${i + 1}`).join("\n") + "\n";

describe("excerpt", () => {
  it("keeps a text that fits", () => {
    expect(excerpt("short\n", 0, 100)).toBe("short\n");
  });

  it("cuts around the cursor at line boundaries and says what it left out", () => {
    const text = lines(100);
    const center = text.indexOf("line 50");
    const out = excerpt(text, center, 200);
    expect(out).toMatch(/^\[\.\.\. \d+ lines above omitted \.\.\.\]\n/);
    expect(out).toMatch(/\n\[\.\.\. \d+ lines below omitted \.\.\.\]$/);
    expect(out).toContain("line 50\n");
    const body = out.split("\n").slice(1, -1);
    expect(body.every((l) => /^line \d+$/.test(l))).toBe(true);
    expect(body.join("\n").length).toBeLessThanOrEqual(200);
  });

  it("starts at the top when the cursor is there", () => {
    const out = excerpt(lines(100), 0, 100);
    expect(out.startsWith("line 1\n")).toBe(true);
    expect(out).toContain("lines below omitted");
  });
});

describe("ask messages", () => {
  it("sends the question, the selection and the file, within the budget", () => {
    const doc = fakeDocument({ selectionText: "pass", text: lines(2000), cursorOffset: 5000 });
    const [system, user] = askMessages("  why?  ", doc, 3000);
    expect(system.role).toBe("system");
    expect(
      user.content.startsWith("why?\n\nSelected code from src/app.py:\n```python\npass\n```"),
    ).toBe(true);
    expect(user.content).toContain("The file src/app.py:");
    expect(user.content.length).toBeLessThan(3000 + 400);
  });

  it("sends only the question without an editor", () => {
    expect(askMessages("hello", undefined, 1000)[1].content).toBe("hello");
  });
});

describe("streaming the answer", () => {
  const settings: Settings = { ...DEFAULTS, modelQuality: "fastest", provider: "groq" };

  it("prints each piece as it arrives and names who answered", async () => {
    const fetch = scriptedFetch([
      sse(
        [
          chunk("Hel"),
          chunk("lo"),
          'data: {"choices":[],"usage":{"total_tokens":3}}\n\n',
          "data: [DONE]\n\n",
        ],
        {
          "x-llm-agg-provider": "groq",
          "x-llm-agg-model": "llama-3.1-8b-instant",
        },
      ),
    ]);
    const gateway = new Gateway({ baseUrl: "http://gw", timeoutMs: 1000, fetch });
    const printed: string[] = [];
    const result = await streamAnswer(
      gateway,
      settings,
      [],
      { append: (t) => printed.push(t) },
      never,
    );
    expect(printed).toEqual(["Hel", "lo"]);
    expect(result).toEqual({ text: "Hello", provider: "groq", model: "llama-3.1-8b-instant" });
    expect(fetch.sent[0].url).toBe("http://gw/v1/chat/completions");
    expect(fetch.sent[0].body).toEqual({
      model: "auto",
      messages: [],
      stream: true,
      model_quality: "fastest",
      provider: "groq",
    });
  });

  it("turns an SSE error event into a GatewayError after what came before", async () => {
    const fetch = scriptedFetch([
      sse([chunk("partial"), 'data: {"error":{"message":"upstream failed mid-stream"}}\n\n']),
    ]);
    const gateway = new Gateway({ baseUrl: "http://gw", timeoutMs: 1000, fetch });
    const printed: string[] = [];
    await expect(
      streamAnswer(gateway, DEFAULTS, [], { append: (t) => printed.push(t) }, never),
    ).rejects.toThrow(new GatewayError("upstream failed mid-stream"));
    expect(printed).toEqual(["partial"]);
  });

  it("does not take a stream that ends without [DONE] for a whole answer", async () => {
    const fetch = scriptedFetch([sse([chunk("cut")])]);
    const gateway = new Gateway({ baseUrl: "http://gw", timeoutMs: 1000, fetch });
    await expect(
      streamAnswer(gateway, DEFAULTS, [], { append: () => undefined }, never),
    ).rejects.toThrow(/stopped before/);
  });

  it("reads chunks without content (role, tool deltas) as nothing", () => {
    expect(deltaText('{"choices":[{"delta":{"role":"assistant"}}]}')).toBe("");
    expect(() => deltaText("not json")).toThrow(/malformed/);
  });
});

describe("askOpenHands command", () => {
  it("streams into the output channel with the key from secret storage", async () => {
    const editor = new FakeEditor();
    editor.answers = ["What does f do?"];
    editor.doc = fakeDocument({ selectionText: "def f(): pass" });
    const fetch = scriptedFetch([sse([chunk("It "), chunk("passes."), "data: [DONE]\n\n"])]);
    await askOpenHands({ editor, settings: () => DEFAULTS, secret: memorySecret("gk-1"), fetch });
    expect(editor.printed).toContain("> What does f do?");
    expect(editor.printed).toContain("It passes.");
    expect(fetch.sent[0].headers.authorization).toBe("Bearer gk-1");
    expect(editor.errors).toEqual([]);
  });

  it("shows a clear error for a gateway refusal", async () => {
    const editor = new FakeEditor();
    editor.answers = ["q"];
    const fetch = scriptedFetch([
      new Response(
        JSON.stringify({ error: { message: "invalid gateway key", type: "authentication_error" } }),
        { status: 401 },
      ),
    ]);
    await askOpenHands({ editor, settings: () => DEFAULTS, secret: memorySecret("bad"), fetch });
    expect(editor.errors).toEqual(["OpenHands: invalid gateway key (HTTP 401)"]);
  });

  it("stops streaming when cancelled and says so", async () => {
    const editor = new FakeEditor();
    editor.answers = ["q"];
    let cancel = (): void => undefined;
    editor.onProgressStart = (c) => (cancel = c);
    const encoder = new TextEncoder();
    let cancelledByClient = false;
    const fetch = scriptedFetch([
      async () =>
        new Response(
          new ReadableStream<Uint8Array>({
            start(controller) {
              controller.enqueue(encoder.encode(chunk("first ")));
              setTimeout(cancel, 20); // the user presses Cancel while the model is still writing
            },
            cancel() {
              cancelledByClient = true;
            },
          }),
          { headers: { "content-type": "text/event-stream" } },
        ),
    ]);
    await askOpenHands({ editor, settings: () => DEFAULTS, secret: memorySecret(), fetch });
    expect(editor.printed).toContain("first ");
    expect(editor.printed).toContain("[cancelled]");
    expect(editor.errors).toEqual([]);
    expect(cancelledByClient).toBe(true);
  });

  it("does nothing when the question box is dismissed", async () => {
    const editor = new FakeEditor();
    editor.answers = [undefined];
    const fetch = scriptedFetch([]);
    await askOpenHands({ editor, settings: () => DEFAULTS, secret: memorySecret(), fetch });
    expect(fetch.sent).toEqual([]);
  });

  it("refuses to send the key over plain http to another host", async () => {
    const editor = new FakeEditor();
    editor.answers = ["q"];
    const fetch = scriptedFetch([]);
    await askOpenHands({
      editor,
      settings: () => ({ ...DEFAULTS, baseUrl: "http://gw.example.com" }),
      secret: memorySecret("k"),
      fetch,
    });
    expect(fetch.sent).toEqual([]);
    expect(editor.errors[0]).toContain("plain http");
  });
});
