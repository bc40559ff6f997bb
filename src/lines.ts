/**
 * Output as lines: one splitter that turns a stream of bytes or text into lines, and one buffer
 * that keeps the last lines of an output for a failure's message. The shell, Heroku's release
 * output and rendezvous sessions all read through these.
 *
 * @example
 * ```ts
 * const tail = new TailBuffer(20);
 * const splitter = new LineSplitter((line) => tail.push(line));
 * splitter.push(new TextEncoder().encode("one\ntw"));
 * splitter.end(); // "one", then "tw"
 * ```
 *
 * @module
 */

/** How many output lines a failure keeps. */
export const TAIL_LINES = 20;

/** Keeps the last `size` lines. */
export class TailBuffer {
  #lines: string[] = [];

  constructor(readonly size: number = TAIL_LINES) {}

  /** Adds a line, dropping the oldest beyond `size`. */
  push(line: string): void {
    this.#lines.push(line);
    if (this.#lines.length > this.size) this.#lines.shift();
  }

  /** The lines kept, oldest first. */
  lines(): string[] {
    return [...this.#lines];
  }
}

/**
 * The line a terminal would show for one raw line: a final `\r` (a `\r\n` line end) is dropped,
 * and a lone `\r` redraws the line (progress counters), so only what the last one ends with stays.
 */
export function shownLine(raw: string): string {
  return raw.replace(/\r$/, "").split("\r").pop() ?? "";
}

/** Splits bytes or text into lines; calls back once per complete line, and once at the end. */
export class LineSplitter {
  /** Everything taken so far, as text. */
  text = "";
  #pending = "";
  #decoder = new TextDecoder();

  constructor(readonly onLine: (raw: string) => void) {}

  /** Takes the next chunk; bytes are decoded as UTF-8, across chunk boundaries. */
  push(chunk: Uint8Array | string): void {
    this.#take(typeof chunk === "string" ? chunk : this.#decoder.decode(chunk, { stream: true }));
  }

  /** Ends the stream: what is left after the last newline is a line too. */
  end(): void {
    this.#take(this.#decoder.decode());
    if (this.#pending !== "") this.onLine(this.#pending);
    this.#pending = "";
  }

  #take(text: string) {
    this.text += text;
    const parts = (this.#pending + text).split("\n");
    this.#pending = parts.pop() ?? "";
    for (const part of parts) this.onLine(part);
  }
}
