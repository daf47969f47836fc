import { describe, expect, it } from "vitest";
import { SseParser } from "../src/sse";

function feedAll(pieces: string[]): Array<{ event: string; data: string }> {
  const parser = new SseParser();
  return [...pieces.flatMap((piece) => parser.feed(piece)), ...parser.end()];
}

describe("SSE parsing", () => {
  it("yields one event per blank-line-terminated block", () => {
    expect(feedAll(['data: {"a":1}\n\ndata: [DONE]\n\n'])).toEqual([
      { event: "message", data: '{"a":1}' },
      { event: "message", data: "[DONE]" },
    ]);
  });

  it("reassembles events split anywhere, even inside a CRLF", () => {
    const text = 'data: {"a":1}\r\n\r\ndata: {"b":2}\r\n\r\n';
    for (let cut = 1; cut < text.length; cut++) {
      expect(feedAll([text.slice(0, cut), text.slice(cut)])).toEqual([
        { event: "message", data: '{"a":1}' },
        { event: "message", data: '{"b":2}' },
      ]);
    }
  });

  it("reads one character at a time", () => {
    expect(feedAll([..."event: ping\ndata: x\n\n"])).toEqual([{ event: "ping", data: "x" }]);
  });

  it("joins multi-line data, ignores comments, unknown fields and empty events", () => {
    expect(feedAll([": keep-alive\n\nid: 7\nretry: 10\ndata: line1\ndata:line2\n\n\n"])).toEqual([
      { event: "message", data: "line1\nline2" },
    ]);
  });

  it("accepts bare CR line endings", () => {
    expect(feedAll(["data: a\r\rdata: b\r\r"])).toEqual([
      { event: "message", data: "a" },
      { event: "message", data: "b" },
    ]);
  });

  it("flushes a last event the stream did not terminate", () => {
    expect(feedAll(["data: tail"])).toEqual([{ event: "message", data: "tail" }]);
  });
});
