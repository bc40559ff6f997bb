/**
 * The shell concern: every external command runs through a {@linkcode Shell}. Commands are argument
 * arrays (dax escapes each one), their output streams into the logger line by line, and a failure
 * carries the masked command text, its exit code and the tail of its output.
 *
 * @module
 */
import { CommandBuilder, KillController } from "dax";
import { CommandError } from "./errors.ts";
import type { Logger } from "./logger.ts";
import { LineSplitter, shownLine, TAIL_LINES, TailBuffer } from "./lines.ts";
import type { Secrets } from "./secrets.ts";

export { TAIL_LINES };

/** Options of {@linkcode Shell.run}. */
export interface RunOptions {
  /** Extra environment variables for the command. @default none */
  env?: Record<string, string>;
  /** Working directory. @default the current one */
  cwd?: string;
  /** Text written to the command's stdin. @default no stdin */
  stdin?: string;
  /** Logger that receives the command line and each output line. @default quiet */
  logger?: Logger;
  /** Text that stands for the command in logs and errors. @default the quoted argv */
  display?: string;
  /** Return a non-zero exit instead of throwing {@linkcode CommandError}. @default false */
  noThrow?: boolean;
  /** Kill the command after this many milliseconds. @default no limit */
  timeoutMs?: number;
  /**
   * Send stdout and stderr to /dev/null: for a command that leaves a background process holding
   * them (ssh -f), whose pipes would otherwise never close. @default false
   */
  discardOutput?: boolean;
}

/** What a finished command left. */
export interface CommandOutput {
  /** Exit code (128 + signal number when killed). */
  code: number;
  /** Everything it wrote to stdout. */
  stdout: string;
  /** Everything it wrote to stderr. */
  stderr: string;
  /** Its last output lines (stdout and stderr, in order), masked. */
  tail: string[];
  /** With `noThrow`, the masked error a failure would have thrown. @default none: it succeeded */
  error?: CommandError;
}

/** Runs external commands. Tests hand in a recording one. */
export interface Shell {
  /** Runs `cmd` (an argument array, never a shell string). */
  run(cmd: readonly string[], options?: RunOptions): Promise<CommandOutput>;
  /** Kills the commands running now; commands started later run normally. */
  cancel(): void;
}

/** Options of {@linkcode createShell}. */
export interface ShellOptions {
  /** Secrets to mask in command text and output. */
  secrets: Secrets;
  /**
   * Variables that commands do not inherit (SSH_PRIVATE_KEY...); a command that needs one gets it
   * through its own `env`. @default none
   */
  withhold?: readonly string[];
}

/** Quotes one argument for display the way a POSIX shell would read it back. */
export function quoteArg(arg: string): string {
  if (/^[\w@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replaceAll("'", `'"'"'`)}'`;
}

/** The display text of an argument array. */
export function commandText(cmd: readonly string[]): string {
  return cmd.map(quoteArg).join(" ");
}

/** Creates the dax-backed shell. */
export function createShell(options: ShellOptions): Shell {
  let killer = new KillController();
  let cancelled = Promise.withResolvers<void>();
  const { secrets } = options;
  const withheld = Object.fromEntries((options.withhold ?? []).map((name) => [name, undefined]));
  return {
    cancel() {
      killer.kill("SIGTERM");
      cancelled.resolve();
      killer = new KillController();
      cancelled = Promise.withResolvers<void>();
    },
    async run(cmd, runOptions = {}) {
      const display = secrets.mask(runOptions.display ?? commandText(cmd));
      runOptions.logger?.command(display);
      const tail = new TailBuffer(TAIL_LINES);
      const onLine = (line: string) => {
        tail.push(secrets.mask(line));
        runOptions.logger?.output(line);
      };
      const out = lineSink(onLine);
      const err = lineSink(onLine);
      let builder = new CommandBuilder()
        .command([...cmd])
        .noThrow()
        .printCommand(false)
        .signal(killer.signal)
        .env({ ...withheld, ...runOptions.env });
      builder = runOptions.discardOutput
        ? builder.stdout("null").stderr("null")
        : builder.stdout(out.writable).stderr(err.writable);
      if (runOptions.cwd) builder = builder.cwd(runOptions.cwd);
      builder = runOptions.stdin === undefined
        ? builder.stdin("null")
        : builder.stdinText(runOptions.stdin);
      if (runOptions.timeoutMs) builder = builder.timeout(runOptions.timeoutMs);
      let killed = false;
      const cancel = cancelled.promise.then(() => killed = true);
      const finished = await untilKilled(builder.spawn(), cancel.then(() => {}));
      // a command killed by cancel() failed, whatever its exit code says
      const result = killed && finished.code === 0 ? { code: 143 } : finished;
      out.splitter.end();
      err.splitter.end();
      const output: CommandOutput = {
        code: result.code,
        stdout: out.splitter.text,
        stderr: err.splitter.text,
        tail: tail.lines(),
      };
      if (result.code === 0) return output;
      output.error = new CommandError(`Command failed with exit code ${result.code}: ${display}`, {
        command: display,
        exitCode: result.code,
        output: output.tail,
      });
      if (!runOptions.noThrow) throw output.error;
      return output;
    },
  };
}

// after a kill, how long to wait for a command's pipes to close
const KILL_GRACE_MS = 1_000;

/**
 * The command's result, or, once cancelled, a killed result after a grace period: a grandchild
 * (`sh -c 'sleep 9'`, git's ssh) can keep the pipes open after the command itself was killed.
 */
async function untilKilled(
  child: Promise<{ code: number }>,
  cancelled: Promise<void>,
): Promise<{ code: number }> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const killed = cancelled.then(() =>
    new Promise<{ code: number }>((resolve) => {
      timer = setTimeout(() => resolve({ code: 143 }), KILL_GRACE_MS);
    })
  );
  child.catch(() => {});
  try {
    return await Promise.race([child, killed]);
  } finally {
    clearTimeout(timer);
  }
}

/** A byte sink that collects text and calls back once per complete, cleaned line. */
function lineSink(onLine: (line: string) => void) {
  // git pads "remote:" lines with blanks to overwrite what was there
  const splitter = new LineSplitter((raw) => onLine(shownLine(raw).trimEnd()));
  return {
    splitter,
    writable: new WritableStream<Uint8Array>({ write: (chunk) => splitter.push(chunk) }),
  };
}
