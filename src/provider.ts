/**
 * The provider interface: the only way layers reach the server. Dokku and Heroku implement it, so
 * the Rails, Sentry and notifier layers work unchanged on either.
 *
 * @module
 */
import type { CommandOutput } from "./shell.ts";

/** What {@linkcode Provider.process} can do to a process type. */
export type ProcessAction = "restart" | "stop" | "start";

/** Options of {@linkcode Provider.run}. */
export interface ProviderRunOptions {
  /** Return a non-zero exit instead of throwing. @default false */
  noThrow?: boolean;
  /** Stream the output indented under the current step. @default true */
  stream?: boolean;
  /** Kill the one-off process after this many milliseconds. @default 30 minutes */
  timeoutMs?: number;
}

/** A deploy target. */
export interface Provider {
  /** The provider's name, as DEPLOY_PROVIDER spells it. */
  readonly name: string;
  /** The app on the provider. */
  readonly app: string;
  /** The commit the app runs now, or null when it has none (a new app). */
  deployedCommit(): Promise<string | null>;
  /** Runs a one-off command in the app's environment (a new container or dyno). */
  run(cmd: readonly string[], options?: ProviderRunOptions): Promise<CommandOutput>;
  /** Restarts, stops or starts one process type. */
  process(type: string, action: ProcessAction): Promise<void>;
}
