/** Server-sent events framing (the WHATWG rules the gateway's streams follow), fed in pieces. */

export interface SseEvent {
  event: string;
  data: string;
}

/**
 * Incremental parser: `feed` takes decoded text as it arrives and returns the events it
 * completed; `end` flushes an event the stream closed without a blank line after.
 */
export class SseParser {
  private buffer = "";
  private data: string[] = [];
  private event = "";
  // A "\r" at the end of one piece may be the first half of a "\r\n" split across pieces.
  private pendingCr = false;

  feed(text: string): SseEvent[] {
    if (this.pendingCr && text.startsWith("\n")) text = text.slice(1);
    this.pendingCr = false;
    this.buffer += text;
    const out: SseEvent[] = [];
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      if (!match) break;
      if (match[0] === "\r" && match.index === this.buffer.length - 1) this.pendingCr = true;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      const event = this.line(line);
      if (event) out.push(event);
    }
    return out;
  }

  end(): SseEvent[] {
    const out: SseEvent[] = [];
    if (this.buffer) {
      const event = this.line(this.buffer);
      this.buffer = "";
      if (event) out.push(event);
    }
    const last = this.dispatch();
    if (last) out.push(last);
    return out;
  }

  private line(line: string): SseEvent | undefined {
    if (line === "") return this.dispatch();
    if (line.startsWith(":")) return undefined;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.event = value;
    return undefined;
  }

  private dispatch(): SseEvent | undefined {
    if (this.data.length === 0) {
      this.event = "";
      return undefined;
    }
    const event = { event: this.event || "message", data: this.data.join("\n") };
    this.data = [];
    this.event = "";
    return event;
  }
}
