/**
 * The errors that cross layer boundaries. Each carries what the top level needs to report it: an
 * exit code, and for a failed command its masked text, exit code and output tail.
 *
 * @module
 */

/** A user's mistake in the configuration: reported without a stack trace, exit code 2. */
export class ConfigError extends Error {
  override name = "ConfigError";
  /** Exit code for a user's mistake. */
  readonly exitCode = 2;
  /** Every problem found, one line each. */
  readonly problems: readonly string[];

  constructor(problems: readonly string[] | string, options?: ErrorOptions) {
    const list = typeof problems === "string" ? [problems] : problems;
    super(
      list.length === 1
        ? list[0]!
        : `Invalid configuration (${list.length} problems):\n${
          list.map((p) => `  - ${p}`).join("\n")
        }`,
      options,
    );
    this.problems = list;
  }
}

/** Fields of a {@linkcode CommandError}. */
export interface CommandErrorOptions extends ErrorOptions {
  /** The command as text, secrets already masked. */
  command: string;
  /** The exit code, or null when the command was killed by a signal. */
  exitCode: number | null;
  /** The last lines of the command's output, secrets already masked. */
  output: readonly string[];
}

/** A command that exited non-zero. */
export class CommandError extends Error {
  override name = "CommandError";
  /** The command as text, secrets masked. */
  readonly command: string;
  /** The command's exit code, or null when it was killed. */
  readonly exitCode: number | null;
  /** The last lines of the command's output, secrets masked. */
  readonly output: readonly string[];

  constructor(message: string, options: CommandErrorOptions) {
    super(message, options);
    this.command = options.command;
    this.exitCode = options.exitCode;
    this.output = options.output;
  }
}

/** A deploy step that failed for a reason the user can act on (exit code 1, no stack trace). */
export class DeployError extends Error {
  override name = "DeployError";
  /** Exit code of a failed deploy. */
  readonly exitCode = 1;
}

/** Tells the event manager which layer and event an error came from. */
export class HandlerError extends Error {
  override name = "HandlerError";
  /** The event whose handler failed. */
  readonly event: string;
  /** The layer that registered the handler. */
  readonly layer: string;

  constructor(event: string, layer: string, cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.event = event;
    this.layer = layer;
  }
}

/** Raised inside a run that a signal (SIGINT, SIGTERM) cancelled. */
export class CancelledError extends Error {
  override name = "CancelledError";
  /** The signal that cancelled the run. */
  readonly signal: Deno.Signal;
  /** Exit code of a run a signal stopped: 128 + the signal's number, as shells report it. */
  readonly exitCode: number;

  constructor(signal: Deno.Signal) {
    super(`Cancelled by ${signal}`);
    this.signal = signal;
    this.exitCode = signal === "SIGINT" ? 130 : 143;
  }
}

/**
 * The process exit code for an error: the code carried by the first {@linkcode ConfigError} (2),
 * {@linkcode CancelledError} (130, 143) or {@linkcode DeployError} (1) in its cause chain, else 1.
 * A {@linkcode CommandError}'s `exitCode` is the command's, never the process's, so it is skipped.
 */
export function exitCodeOf(error: unknown): number {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 8; depth++) {
    if (e instanceof ConfigError || e instanceof CancelledError || e instanceof DeployError) {
      return e.exitCode;
    }
    e = e.cause;
  }
  return 1;
}

/** The message of any thrown value. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
