/**
 * Heroku's rendezvous protocol, which attaches to a one-off dyno the way `heroku run` does: open a
 * TLS connection to the dyno's `attach_url` (`rendezvous://host:port/SECRET`), send the secret and
 * "\r\n", skip the server's first line ("rendezvous"), then read the command's output. The command
 * was sent with a suffix that prints its exit status behind a U+FFFF marker, which is how the exit
 * status comes back over a stream that has none.
 *
 * @module
 */
import { LineSplitter, shownLine } from "../../../src/lines.ts";

/** The marker the exit-status suffix prints, as the Heroku CLI's `run --exit-code` does. */
export const EXIT_MARKER = "\uFFFF heroku-command-exit-status";

// the CLI's older suffix printed no colon; accept both
const MARKER_LINE = /\uFFFF heroku-command-exit-status:? (\d+)\s*$/;

/**
 * The command string with the suffix that reports its exit status, spelled as the Heroku CLI
 * spells it, a space before the `;` included: it keeps the command's first word a bare process
 * type that Heroku's runtime can resolve (heroku/cli src/lib/run/dyno.ts:129-130 at c5fbf4b).
 */
export function withExitStatus(command: string): string {
  return `${command} ; echo "${EXIT_MARKER}: $?"`;
}

/** Where to attach: host, port and the dyno's secret. */
export interface AttachTarget {
  /** Host name. */
  hostname: string;
  /** TLS port. */
  port: number;
  /** The secret that names the dyno. */
  secret: string;
}

/** Parses `rendezvous://host:port/SECRET`; null for anything else. */
export function parseAttachUrl(url: string): AttachTarget | null {
  const match = url.match(/^rendezvous:\/\/([^/:\s]+|\[[0-9A-Fa-f:.]+\]):(\d{1,5})\/(\S+)$/);
  if (!match) return null;
  const port = Number(match[2]);
  if (port < 1 || port > 65535) return null;
  return { hostname: match[1]!.replace(/^\[|\]$/g, ""), port, secret: match[3]! };
}

/** Options of {@linkcode attach}. */
export interface AttachOptions {
  /** Called with each output line (the marker removed). @default nothing */
  onLine?: (line: string) => void;
  /** Closes the connection after this many milliseconds. @default 30 minutes */
  timeoutMs?: number;
  /** Closes the connection when aborted; its reason is thrown. @default none */
  signal?: AbortSignal;
  /** Extra CA certificates (PEM) to trust. @default the system's and DENO_CERT */
  caCerts?: string[];
}

/** What an attached session returned. */
export interface AttachResult {
  /** The command's exit status; null when the stream ended without one. */
  exitCode: number | null;
  /** The output lines, marker removed. */
  lines: string[];
  /** Whether the time limit cut the session. */
  timedOut: boolean;
}

/** Splits the byte stream of a session into output lines and the exit status. */
export class SessionReader {
  #greeted = false;
  #lines = new LineSplitter((raw) => this.#line(shownLine(raw)));
  exitCode: number | null = null;
  readonly lines: string[] = [];

  constructor(readonly onLine: (line: string) => void = () => {}) {}

  /** Takes the next bytes. */
  push(chunk: Uint8Array): void {
    this.#lines.push(chunk);
  }

  /** Takes what is left at the end of the stream. */
  end(): void {
    this.#lines.end();
  }

  // a terminal ends lines with \r\n, and a lone \r redraws the line: shownLine keeps what it shows
  #line(line: string) {
    if (!this.#greeted) {
      // the server's greeting; the Heroku CLI discards it too
      this.#greeted = true;
      if (line.trim() === "rendezvous") return;
    }
    const marker = line.match(MARKER_LINE);
    if (marker) {
      this.exitCode = Number(marker[1]);
      // output that did not end with a newline precedes the marker on its line
      const before = line.slice(0, marker.index);
      if (before !== "") this.#emit(before);
      return;
    }
    this.#emit(line);
  }

  #emit(line: string) {
    this.lines.push(line);
    this.onLine(line);
  }
}

/** Attaches to a dyno and reads its output until it exits, the time limit, or the signal. */
export async function attach(
  target: AttachTarget,
  options: AttachOptions = {},
): Promise<AttachResult> {
  options.signal?.throwIfAborted();
  const conn = await Deno.connectTls({
    hostname: target.hostname,
    port: target.port,
    ...(options.caCerts ? { caCerts: options.caCerts } : {}),
  });
  let timedOut = false;
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    try {
      conn.close();
    } catch {
      // already closed
    }
  };
  const timer = setTimeout(() => {
    timedOut = true;
    close();
  }, options.timeoutMs ?? 30 * 60_000);
  const onAbort = () => close();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const reader = new SessionReader(options.onLine);
  try {
    await conn.write(new TextEncoder().encode(`${target.secret}\r\n`));
    const buffer = new Uint8Array(16 * 1024);
    while (true) {
      let n: number | null;
      try {
        n = await conn.read(buffer);
      } catch (error: unknown) {
        // closing the connection ourselves (time limit, signal) ends the read with an error
        if (closed) break;
        // rendezvous may close TCP without TLS close_notify; the Heroku CLI, on Node's TLS, takes
        // that for an ordinary end (heroku/cli src/lib/run/dyno.ts:419-425 at c5fbf4b), and the
        // exit-status marker, not the close, says whether the command finished
        if (error instanceof Deno.errors.UnexpectedEof) break;
        throw error;
      }
      if (n === null) break;
      reader.push(buffer.slice(0, n));
    }
    reader.end();
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
    close();
  }
  if (options.signal?.aborted) throw options.signal.reason;
  return { exitCode: reader.exitCode, lines: reader.lines, timedOut };
}
