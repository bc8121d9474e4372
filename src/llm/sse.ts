/**
 * A small Server-Sent Events parser for model streams: bytes in, `(event, data)` pairs out,
 * following the WHATWG rules (lines end in CR LF, LF or CR, even split across reads; one space
 * after the colon is optional; `:` starts a comment; a blank line dispatches), plus what model
 * servers send besides:
 *
 * - llama.cpp before late 2025 sends a stream error as an `error: {…}` field line, not `data:`;
 *   it is reported as an event of type `error` (tools/server/server.cpp, `server_sent_event(sink,
 *   "error", …)`).
 * - Some servers put a bare JSON object (an error) in a `text/event-stream` body. Lines that are
 *   not SSE fields are gathered and reported as an event of type `raw`.
 *
 * Allocation per event is the decoded text and the data string; events go out through two
 * reused arrays, not one object each.
 *
 * @module
 */

/** The fields that mean something here; any other `name: value` line is not SSE, so it is raw. */
const FIELDS = new Set(["data", "event", "id", "retry", "error"]);

/** Collects events from a byte stream, one read at a time. */
export class SseParser {
  /** Event types of the events found by the last {@link push} or {@link end}. */
  readonly types: string[] = [];
  /** Their data, line by line joined with `\n`. */
  readonly datas: string[] = [];
  #decoder = new TextDecoder();
  #buffer = "";
  /** The last read ended with CR: an LF at the start of the next belongs to it. */
  #pendingCR = false;
  #type = "";
  #data: string | undefined;
  #raw: string | undefined;
  /** Bytes seen so far (for error messages about bodies that are not event streams). */
  bytes = 0;

  /** Parses one read; the events it completed are in {@link types} / {@link datas}. */
  push(chunk: Uint8Array): void {
    this.types.length = 0;
    this.datas.length = 0;
    this.bytes += chunk.byteLength;
    let text = this.#decoder.decode(chunk, { stream: true });
    if (this.#pendingCR && text.charCodeAt(0) === 10) text = text.slice(1);
    this.#pendingCR = false;
    this.#buffer = this.#buffer ? this.#buffer + text : text;
    this.#lines(false);
  }

  /** The body ended: flushes what is left (a last event without its blank line counts). */
  end(): void {
    this.types.length = 0;
    this.datas.length = 0;
    this.#buffer += this.#decoder.decode();
    this.#lines(true);
    this.#dispatch();
  }

  #lines(final: boolean): void {
    const buffer = this.#buffer;
    let start = 0;
    const length = buffer.length;
    while (start < length) {
      let end = start;
      let code = 0;
      while (end < length) {
        code = buffer.charCodeAt(end);
        if (code === 10 || code === 13) break;
        end++;
      }
      if (end === length) {
        if (!final) break; // an unterminated line: wait for the rest
        this.#line(buffer.slice(start, end));
        start = end;
        break;
      }
      this.#line(buffer.slice(start, end));
      start = end + 1;
      if (code === 13) {
        if (start < length) {
          if (buffer.charCodeAt(start) === 10) start++;
        } else {
          this.#pendingCR = true;
        }
      }
    }
    this.#buffer = start === 0 ? buffer : buffer.slice(start);
  }

  #line(line: string): void {
    if (line === "") {
      this.#dispatch();
      return;
    }
    if (line.charCodeAt(0) === 58) return; // ":" a comment (keep-alives: ": OPENROUTER PROCESSING")
    const colon = line.indexOf(":");
    const name = colon < 0 ? line : line.slice(0, colon);
    if (!FIELDS.has(name)) {
      this.#raw = this.#raw === undefined ? line : `${this.#raw}\n${line}`;
      return;
    }
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    if (name === "data") {
      this.#data = this.#data === undefined ? value : `${this.#data}\n${value}`;
    } else if (name === "event") {
      this.#type = value;
    } else if (name === "error") {
      this.#type = "error";
      this.#data = this.#data === undefined ? value : `${this.#data}\n${value}`;
    }
  }

  #dispatch(): void {
    if (this.#raw !== undefined) {
      this.types.push("raw");
      this.datas.push(this.#raw);
      this.#raw = undefined;
    }
    if (this.#data !== undefined) {
      this.types.push(this.#type);
      this.datas.push(this.#data);
    }
    this.#data = undefined;
    this.#type = "";
  }
}
