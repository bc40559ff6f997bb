/**
 * Recording test doubles: a {@linkcode Shell} that runs nothing and answers from a function, and a
 * {@linkcode Provider} that records what layers ask of it. Both fail the way the real ones do (a
 * non-zero exit throws a {@linkcode CommandError} unless `noThrow`), so code under test takes the
 * same paths as against a real server.
 *
 * @module
 */
import { CommandError } from "../src/errors.ts";
import {
  type Capability,
  type ProcessAction,
  type Provider,
  UnsupportedError,
} from "../src/provider.ts";
import {
  type CommandOutput,
  commandText,
  type RunOptions,
  type Shell,
  TAIL_LINES,
} from "../src/shell.ts";

/** What a double answers for one command: exit code and output. */
export interface Answer {
  /** Exit code. @default 0 */
  code?: number;
  /** Standard output. @default "" */
  stdout?: string;
  /** Output lines (they become stdout when `stdout` is not given, and the tail). @default none */
  lines?: readonly string[];
}

/** Answers a command, or undefined for a silent success. */
export type Answerer = (cmd: string[], options: RunOptions) => Answer | undefined;

/** One command the shell was asked to run. */
export interface ShellCall {
  /** The argv. */
  cmd: string[];
  /** The options it was run with. */
  options: RunOptions;
}

/** A shell that records every command and runs none. */
export interface RecordingShell extends Shell {
  /** Every command, in order. */
  readonly calls: ShellCall[];
  /** Every argv, in order. */
  readonly ran: string[][];
  /** Every command as display text (unmasked), in order. */
  texts(): string[];
  /** How often {@linkcode Shell.cancel} was called. */
  cancelled: number;
}

/** A recording shell; `answer` decides each command's result (default: success, no output). */
export function recordingShell(answer: Answerer = () => undefined): RecordingShell {
  const calls: ShellCall[] = [];
  const shell: RecordingShell = {
    calls,
    get ran() {
      return calls.map((call) => call.cmd);
    },
    texts: () => calls.map((call) => commandText(call.cmd)),
    cancelled: 0,
    cancel() {
      shell.cancelled++;
    },
    run(cmd, options = {}) {
      calls.push({ cmd: [...cmd], options });
      // like the real shell, but without masking, so that the caller's own masking is tested
      const display = options.display ?? commandText(cmd);
      return settle(display, answer([...cmd], options) ?? {}, options.noThrow ?? false);
    },
  };
  return shell;
}

/** A table answerer: the first key found in a command's text gives its answer. */
export function answerTable(table: Record<string, Answer>): Answerer {
  return (cmd) => Object.entries(table).find(([key]) => commandText(cmd).includes(key))?.[1];
}

/** One thing a layer asked of the provider. */
export type ProviderCall =
  | { kind: "deployedCommit" }
  | { kind: "run"; cmd: string[] }
  | { kind: "process"; type: string; action: ProcessAction };

/** Options of {@linkcode recordingProvider}. */
export interface RecordingProviderOptions {
  /** The provider's name. @default "dokku" */
  name?: string;
  /** The provider's label. @default the name */
  label?: string;
  /** Its capabilities. @default none */
  capabilities?: readonly Capability[];
  /** What `deployedCommit` answers; an Error is thrown. @default null */
  deployed?: string | null | Error;
  /** Answers `run`. @default success, no output */
  onRun?: (cmd: string[]) => Answer | undefined;
}

/** A provider that records what it was asked. */
export type RecordingProvider = Provider & { readonly calls: ProviderCall[] };

/** A recording provider for the app "shop". */
export function recordingProvider(options: RecordingProviderOptions = {}): RecordingProvider {
  const calls: ProviderCall[] = [];
  const name = options.name ?? "dokku";
  return {
    name,
    label: options.label ?? name,
    app: "shop",
    calls,
    supports: (capability) => options.capabilities?.includes(capability) ?? false,
    deployedCommit() {
      calls.push({ kind: "deployedCommit" });
      const deployed = options.deployed ?? null;
      return deployed instanceof Error ? Promise.reject(deployed) : Promise.resolve(deployed);
    },
    run(cmd, runOptions = {}) {
      calls.push({ kind: "run", cmd: [...cmd] });
      const display = `${name} run shop ${commandText(cmd)}`;
      return settle(display, options.onRun?.([...cmd]) ?? {}, runOptions.noThrow ?? false);
    },
    process(type, action) {
      calls.push({ kind: "process", type, action });
      return Promise.resolve();
    },
    // no rollback or release history: the engine's "unsupported" paths
    checkRollbackTo: () => undefined,
    rollbackPoint: () => Promise.reject(new UnsupportedError("Rollback is not supported")),
    findRollback: () => Promise.reject(new UnsupportedError("Rollback is not supported")),
    rollback: () => Promise.reject(new UnsupportedError("Rollback is not supported")),
    status: () => Promise.reject(new UnsupportedError("deploy status is not supported")),
  };
}

function settle(display: string, answer: Answer, noThrow: boolean): Promise<CommandOutput> {
  const code = answer.code ?? 0;
  const lines = [...(answer.lines ?? [])];
  const stdout = answer.stdout ?? lines.map((line) => `${line}\n`).join("");
  const tail = lines.length ? lines : stdout.split("\n").filter(Boolean);
  const output: CommandOutput = { code, stdout, stderr: "", tail };
  if (code === 0) return Promise.resolve(output);
  output.error = new CommandError(`Command failed with exit code ${code}: ${display}`, {
    command: display,
    exitCode: code,
    output: tail.slice(-TAIL_LINES),
  });
  return noThrow ? Promise.resolve(output) : Promise.reject(output.error);
}
