// Server-sent events from a fetch() response: yields each event's parsed JSON data and stops
// at "data: [DONE]". An {"error": …} event (a stream that broke after its first byte) is
// thrown, never taken for a clean end.

import { ApiError } from "./api.js";

export async function* events(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      // Wait for the rest of a "\r\n" split between two reads before cutting lines.
      const ready = buffer.endsWith("\r") ? buffer.length - 1 : buffer.length;
      const text = buffer.slice(0, ready).replace(/\r\n?/g, "\n");
      const blocks = text.split("\n\n");
      buffer = blocks.pop() + buffer.slice(ready);
      for (const block of blocks) {
        const data = block
          .split("\n")
          .filter((line) => line.startsWith("data:"))
          .map((line) => line.slice(5).replace(/^ /, ""))
          .join("\n");
        if (!data) continue;
        if (data === "[DONE]") return;
        const event = JSON.parse(data);
        if (event.error) throw new ApiError(0, event.error);
        yield event;
      }
    }
  } finally {
    reader.releaseLock();
  }
  throw new ApiError(0, { message: "The stream ended before it was complete." });
}
