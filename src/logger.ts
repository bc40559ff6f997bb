/**
 * The logger: every line the tool prints goes through it, is masked, and is rendered for where it
 * goes: plain text for CI job pages (with GitLab sections or GitHub groups), colour on a terminal,
 * or one JSON object per line.
 *
 * @module
 */
import type { Secrets } from "./secrets.ts";

/** How a log line is marked. */
export type LogLevel = "info" | "success" | "warn" | "error" | "output" | "command";

/** One structured record, as the JSON format writes it. */
export type LogRecord =
  | { type: "log"; level: LogLevel; message: string; indent: number }
  | { type: "event_start"; event: string; title: string }
  | { type: "event_end"; event: string; status: "ok" | "failed"; duration_ms: number }
  | { type: "outcome"; [key: string]: unknown };

/** Where rendered lines go. */
export type Write = (text: string) => void;

/** The output format. */
export type LogFormat = "text" | "json";

/** Options of {@linkcode createLogger}. */
export interface LoggerOptions {
  /** Secret values to mask in every line. */
  secrets: Secrets;
  /** Where lines go. @default a synchronous write to stdout */
  write?: Write;
  /** Output format. @default "text" */
  format?: LogFormat;
  /** Whether to colour the text format. @default {@linkcode shouldUseColor} for stdout */
  color?: boolean;
  /** Whether the output is a terminal; elsewhere cursor and line-clearing codes are removed. @default stdout's */
  terminal?: boolean;
  /** CI system whose folding markers to write. @default none */
  folding?: "gitlab" | "github" | "none";
  /** Clock for section timestamps (GitLab wants unix seconds). @default Date.now */
  now?: () => number;
}

/** Whether to colour output: never with NO_COLOR, always with FORCE_COLOR, else on a terminal. */
export function shouldUseColor(
  isTerminal: boolean,
  env: Record<string, string | undefined>,
): boolean {
  if (env.NO_COLOR) return false;
  const force = env.FORCE_COLOR;
  if (force !== undefined && force !== "0" && force !== "false") return true;
  return isTerminal;
}

const ANSI = {
  bold: "\x1b[1m",
  dim: "\x1b[2m",
  red: "\x1b[31m",
  green: "\x1b[32m",
  yellow: "\x1b[33m",
  cyan: "\x1b[36m",
  reset: "\x1b[0m",
} as const;

/** Removes cursor-control, line-clearing and colour codes (as dax's progress output writes them). */
export function stripControlCodes(text: string, options: { keepColor?: boolean } = {}): string {
  // a carriage return redraws the line (progress counters): what follows the last one is what shows
  const redrawn = text.split("\n").map((line) => line.replace(/^[^]*\r(?=[^\r]+\r?$)/, "")).join(
    "\n",
  );
  // deno-lint-ignore no-control-regex
  const codes = /\x1b\[([0-9;?]*)([ -/]*)([@-~])|\x1b[@-Z\\-_]|\r(?!\n)/g;
  return redrawn.replace(
    codes,
    (code, _params, _mid, final) => options.keepColor && final === "m" ? code : "",
  );
}

/** A logger with a current indentation. Child loggers share the sink and the secrets. */
export class Logger {
  readonly #sink: Sink;
  readonly #depth: number;

  /** Use {@linkcode createLogger}. */
  constructor(sink: Sink, depth = 0) {
    this.#sink = sink;
    this.#depth = depth;
  }

  /** A logger whose lines are indented one more level; this one is unchanged. */
  indent(): Logger {
    return new Logger(this.#sink, this.#depth + 1);
  }

  /** A plain step. */
  info(message: string): void {
    this.#log("info", message);
  }

  /** A step that went well. */
  success(message: string): void {
    this.#log("success", message);
  }

  /** Something the user should know about that does not stop the run. */
  warn(message: string): void {
    this.#log("warn", message);
  }

  /** Something that failed. */
  error(message: string): void {
    this.#log("error", message);
  }

  /** A command about to run. */
  command(text: string): void {
    this.#log("command", text);
  }

  /** A line of a command's output. */
  output(line: string): void {
    this.#log("output", line);
  }

  /** Starts a foldable section for an event; the returned function ends it. */
  section(event: string, title: string): (status: "ok" | "failed") => void {
    const started = performance.now();
    this.#sink.write({ type: "event_start", event, title });
    return (status) => {
      const duration_ms = Math.round(performance.now() - started);
      this.#sink.write({ type: "event_end", event, status, duration_ms });
    };
  }

  /** Writes the run's outcome record (the JSON format prints it; text ignores it). */
  outcome(fields: Record<string, unknown>): void {
    this.#sink.write({ type: "outcome", ...fields });
  }

  /** Masks the registered secrets in `text`. */
  mask(text: string): string {
    return this.#sink.mask(text);
  }

  #log(level: LogLevel, message: string): void {
    for (const line of message.split("\n")) {
      this.#sink.write({ type: "log", level, message: line, indent: this.#depth });
    }
  }
}

/** Renders records and writes them, masking every string. */
interface Sink {
  write(record: LogRecord): void;
  mask(text: string): string;
}

/** Creates the run's logger. */
export function createLogger(options: LoggerOptions): Logger {
  const write = options.write ?? writeStdout;
  const secrets = options.secrets;
  const mask = (text: string) => secrets.mask(text);
  if (options.format === "json") {
    return new Logger({
      mask,
      write: (record) => write(JSON.stringify(cleanRecord(record, mask)) + "\n"),
    });
  }
  const color = options.color ?? shouldUseColor(Deno.stdout.isTerminal(), Deno.env.toObject());
  const render = textRenderer({
    color,
    terminal: options.terminal ?? Deno.stdout.isTerminal(),
    folding: options.folding ?? "none",
    now: options.now ?? Date.now,
  });
  return new Logger({ mask, write: (record) => write(mask(render(record))) });
}

function cleanRecord(record: LogRecord, mask: (text: string) => string): LogRecord {
  // masked before JSON escaping, which would hide a secret holding a quote or a backslash
  const clean = (value: unknown): unknown =>
    typeof value === "string"
      ? mask(stripControlCodes(value))
      : Array.isArray(value)
      ? value.map(clean)
      : value && typeof value === "object"
      ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, clean(v)]))
      : value;
  return clean(record) as LogRecord;
}

function writeStdout(text: string): void {
  const bytes = new TextEncoder().encode(text);
  let written = 0;
  while (written < bytes.length) written += Deno.stdout.writeSync(bytes.subarray(written));
}

interface TextOptions {
  color: boolean;
  terminal: boolean;
  folding: "gitlab" | "github" | "none";
  now: () => number;
}

function textRenderer(options: TextOptions): (record: LogRecord) => string {
  const paint = (code: keyof typeof ANSI, text: string) =>
    options.color ? `${ANSI[code]}${text}${ANSI.reset}` : text;
  const sections: string[] = [];
  return (record) => {
    switch (record.type) {
      case "log": {
        const pad = "  ".repeat(record.indent);
        // command output may carry progress codes of its own; a CI page shows them as garbage
        const text = options.terminal
          ? record.message
          : stripControlCodes(record.message, { keepColor: options.color });
        switch (record.level) {
          case "info":
            return `${pad}${text}\n`;
          case "success":
            return `${pad}${paint("green", text)}\n`;
          case "warn":
            return `${pad}${paint("yellow", `warning: ${text}`)}\n`;
          case "error":
            return `${pad}${paint("red", `error: ${text}`)}\n`;
          case "command":
            return `${pad}${paint("dim", `$ ${text}`)}\n`;
          case "output":
            return `${pad}${paint("dim", "|")} ${text}\n`;
        }
        break;
      }
      case "event_start": {
        const heading = paint("bold", paint("cyan", `==> ${record.title}`));
        if (options.folding === "gitlab") {
          // GitLab's documented section markers; its job log renders and hides them
          const name = `deploy_${record.event}_${sections.length}`;
          sections.push(name);
          const time = Math.floor(options.now() / 1000);
          return `\x1b[0Ksection_start:${time}:${name}\r\x1b[0K${heading}\n`;
        }
        if (options.folding === "github") return `::group::${record.title}\n`;
        return `${heading}\n`;
      }
      case "event_end": {
        const seconds = (record.duration_ms / 1000).toFixed(1);
        const done = record.status === "ok"
          ? paint("dim", `  ${record.event} done in ${seconds}s`)
          : paint("red", `  ${record.event} failed after ${seconds}s`);
        if (options.folding === "gitlab") {
          const name = sections.pop() ?? `deploy_${record.event}`;
          const time = Math.floor(options.now() / 1000);
          return `${done}\n\x1b[0Ksection_end:${time}:${name}\r\x1b[0K\n`;
        }
        if (options.folding === "github") return `${done}\n::endgroup::\n`;
        return `${done}\n`;
      }
      case "outcome":
        return "";
    }
  };
}
