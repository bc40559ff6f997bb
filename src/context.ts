/**
 * The context every handler receives: what is being deployed, where, and the tools to do it.
 *
 * @module
 */
import type { Logger } from "./logger.ts";
import type { Provider, RollbackTarget } from "./provider.ts";
import type { Secrets } from "./secrets.ts";
import type { Shell } from "./shell.ts";
import type { CiInfo } from "./ci.ts";
import type { ReviewApp } from "./review.ts";

/** The events of a run, in order, and its endings. */
export const STAGES = ["configure", "pre_deploy", "deploy", "post_deploy"] as const;
/** The ways a run ends. */
export const ENDINGS = ["deploy_succeeded", "deploy_skipped", "deploy_failed"] as const;
/** Every event name. */
export const EVENTS = [...STAGES, ...ENDINGS] as const;

/** A stage of the run. */
export type Stage = typeof STAGES[number];
/** An ending of the run. */
export type Ending = typeof ENDINGS[number];
/** Any event. */
export type EventName = Stage | Ending;

/** The commit being deployed. */
export interface Commit {
  /** Full sha. */
  sha: string;
  /** Abbreviated sha (7 characters). */
  shortSha: string;
  /** First line of the message. */
  title: string;
  /** Author name. */
  author: string;
  /** Branch or tag the commit was built from, when known. */
  ref?: string;
}

/** What went wrong, for `deploy_failed` handlers. All text is masked. */
export interface FailureContext {
  /** Why the run failed: an error, or a signal that cancelled it. */
  reason: "error" | "cancelled";
  /** The event whose handler failed. */
  event: string;
  /** The layer whose handler failed. */
  layer: string;
  /** The error message. */
  message: string;
  /** The command that failed, when one did. */
  command?: string;
  /** Its exit code. */
  exitCode?: number | null;
  /** The last lines of its output. */
  output: readonly string[];
  /** The rollback that followed, when the new release was live and one was asked for. */
  rollback?: RollbackOutcome;
}

/** What an automatic rollback did. All text is masked. */
export interface RollbackOutcome {
  /** Whether the app runs what it ran before again. */
  ok: boolean;
  /** What was put back: "v41", or a short sha. */
  to: string;
  /** The commit put back, when known. */
  commit: string | null;
  /** Why the rollback itself failed, when it did. */
  error?: string;
}

/** The run's outcome, once it is known. */
export type Outcome = "succeeded" | "skipped" | "failed";

/** The duration of one event. */
export interface EventTiming {
  /** Event name. */
  event: EventName;
  /** Milliseconds it took. */
  ms: number;
  /** Whether its handlers all went well. */
  ok: boolean;
}

/** The one context object of a run. Layers keep their own state in `state`. */
export interface DeployContext {
  /** The app's name on the provider. */
  readonly app: string;
  /** The environment deployed to (CI_ENVIRONMENT_NAME, DEPLOY_ENVIRONMENT, or "production"). */
  readonly environment: string;
  /** The commit deployed. */
  readonly commit: Commit;
  /** CI metadata (pipeline, job, actor). */
  readonly ci: CiInfo;
  /** The provider handle. */
  readonly provider: Provider;
  /** The logger, indented for the current handler. */
  readonly logger: Logger;
  /** Runs commands. */
  readonly shell: Shell;
  /** The run's secrets; layers register values they learn. */
  readonly secrets: Secrets;
  /** The app's repository (the working directory). */
  readonly cwd: string;
  /** When the run started (ms since the epoch). */
  readonly startedAt: number;
  /** Whether FORCE_DEPLOY=true is set. */
  readonly forceDeploy: boolean;
  /** The commit the app ran before this run, once `configure` has asked the provider. */
  deployedBefore?: string | null;
  /** What went wrong, set before `deploy_failed` runs. */
  failure?: FailureContext;
  /** The release the provider made (Heroku's `v42`), when it names one. */
  release?: string;
  /** Set once the provider's deploy succeeded: the app runs the new release. */
  live?: boolean;
  /** `deploy rollback`: what the `deploy` event puts back instead of deploying the commit. */
  rollingBackTo?: RollbackTarget;
  /** The outcome, set before the ending event runs. */
  outcome?: Outcome;
  /** The review app deployed to (DEPLOY_REVIEW=true), once configure has made sure of it. */
  review?: ReviewApp;
  /** The durations of the events that ran so far. */
  readonly timings: EventTiming[];
  /** Per-layer state, keyed by layer name. */
  readonly state: Record<string, Record<string, unknown>>;
}
