/**
 * Making a run's {@linkcode Runtime}: its services, its cancellation (a signal for the stages and a
 * bounded one for the undo work after a cancel), and the cleanups it runs at the end. The CLI makes
 * one per command; tests make their own with the same function.
 *
 * @module
 */
import { CancelledError } from "./errors.ts";
import { type Runtime, serviceRegistry } from "./layer.ts";
import type { Logger } from "./logger.ts";
import type { Secrets } from "./secrets.ts";
import type { Shell } from "./shell.ts";

/** How long the undo work of a cancelled run (`deploy_failed`) may take. */
export const UNDO_TIMEOUT_MS = 2 * 60_000;

/** Options of {@linkcode createRuntime}. */
export interface RuntimeOptions {
  /** Runs commands. */
  shell: Shell;
  /** The run's logger. */
  logger: Logger;
  /** The run's secrets. */
  secrets: Secrets;
  /** The app's repository. */
  cwd: string;
  /** The process environment. @default none */
  env?: Readonly<Record<string, string | undefined>>;
  /** The HTTP client. @default globalThis.fetch */
  fetch?: typeof fetch;
  /** The undo work's time limit after a cancel. @default {@linkcode UNDO_TIMEOUT_MS} */
  undoTimeoutMs?: number;
}

/** A runtime and the controls its owner keeps. */
export interface RunControl {
  /** What the layers receive. */
  runtime: Runtime;
  /** Cancels the run: aborts its signal and kills the running commands. */
  cancel(signal: Deno.Signal): void;
  /** Runs the deferred cleanups, newest first; a failing one does not stop the others. */
  cleanUp(): Promise<void>;
  /** Runs the synchronous part of the cleanups, for a process about to exit at once. */
  cleanUpNow(): void;
}

/** Makes the runtime of one run. */
export function createRuntime(options: RuntimeOptions): RunControl {
  const controller = new AbortController();
  const cleanups: (() => void | Promise<void>)[] = [];
  const cleanupsNow: (() => void)[] = [];
  let undo: AbortSignal | undefined;
  const runtime: Runtime = {
    shell: options.shell,
    logger: options.logger,
    secrets: options.secrets,
    cwd: options.cwd,
    env: options.env ?? {},
    signal: controller.signal,
    undoSignal: () => {
      if (!controller.signal.aborted) return controller.signal;
      undo ??= AbortSignal.timeout(options.undoTimeoutMs ?? UNDO_TIMEOUT_MS);
      return undo;
    },
    defer: (cleanup, now) => {
      cleanups.push(cleanup);
      if (now) cleanupsNow.push(now);
    },
    fetch: options.fetch ?? globalThis.fetch,
    service: serviceRegistry(),
  };
  return {
    runtime,
    cancel(signal) {
      controller.abort(new CancelledError(signal));
      options.shell.cancel();
    },
    async cleanUp() {
      for (const cleanup of cleanups.splice(0).reverse()) {
        try {
          await cleanup();
        } catch {
          // a failed cleanup must not keep the others from running
        }
      }
    },
    cleanUpNow() {
      for (const cleanup of cleanupsNow.splice(0)) cleanup();
    },
  };
}
