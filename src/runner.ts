/**
 * Running a deploy: `configure → pre_deploy → deploy → post_deploy → deploy_succeeded`, or
 * `deploy_skipped` when the app already runs the commit, or `deploy_failed` when anything fails.
 *
 * @module
 */
import {
  type DeployContext,
  type Ending,
  type FailureContext,
  type Outcome,
  type RollbackOutcome,
  type Stage,
  STAGES,
} from "./context.ts";
import { CancelledError, CommandError, errorMessage, exitCodeOf, HandlerError } from "./errors.ts";
import { EventManager } from "./event_manager.ts";
import type { Runtime } from "./layer.ts";
import type { Plan } from "./plan.ts";
import { readCommit } from "./git.ts";
import { type Provider, rollbackName, type RollbackTarget } from "./provider.ts";
import type { Secrets } from "./secrets.ts";
import { TAIL_LINES } from "./shell.ts";

/** Headings of the events in the log. */
const TITLES: Record<Stage | Ending, string> = {
  configure: "Configure",
  pre_deploy: "Pre-deploy",
  deploy: "Deploy",
  post_deploy: "Post-deploy",
  deploy_succeeded: "Deploy succeeded",
  deploy_skipped: "Deploy skipped",
  deploy_failed: "Deploy failed",
};

/** The layers of a run, set up: their handlers registered and the provider made. */
export interface SetUp {
  /** The handlers. */
  events: EventManager;
  /** The provider handle. */
  provider: Provider;
}

/** Runs every enabled layer's setup. Setup registers handlers and touches no server. */
export async function setUpLayers(plan: Plan, runtime: Runtime): Promise<SetUp> {
  const events = new EventManager();
  let provider: Provider | undefined;
  for (const layer of plan.layers) {
    const made = await layer.setup({
      config: plan.configs.get(layer.name),
      core: plan.core,
      on: events.forLayer(layer.name),
      runtime,
    });
    if (layer === plan.provider) provider = made ?? undefined;
  }
  if (!provider) throw new TypeError(`Provider layer ${plan.provider.name} made no provider`);
  return { events, provider };
}

/** How a run ended. */
export interface RunResult {
  /** The outcome. */
  outcome: Outcome;
  /** The process exit code: 0, 1, 2 for bad input, 130/143 when cancelled. */
  exitCode: number;
}

/** Options of {@linkcode runDeploy}. */
export interface RunDeployOptions {
  /**
   * `check` runs `configure` only; `rollback` runs every event, with the provider putting back
   * the previous release (or `rollbackTo`) instead of deploying the commit. @default "deploy"
   */
  mode?: "deploy" | "check" | "rollback";
  /** `deploy rollback --to`: the release or commit to put back. @default the previous one */
  rollbackTo?: string;
  /**
   * DEPLOY_ROLLBACK_ON_FAILURE: when a step fails after the new release went live, put back what
   * ran before, then run `deploy_failed`. @default false
   */
  rollbackOnFailure?: boolean;
  /** Aborted with a {@linkcode CancelledError} when a signal cancels the run. */
  signal?: AbortSignal;
}

/** Runs the events of one deploy and returns how it ended. It never throws for a failed deploy. */
export async function runDeploy(
  events: EventManager,
  ctx: DeployContext,
  options: RunDeployOptions = {},
): Promise<RunResult> {
  const signal = options.signal;
  const stage = async (event: Stage) => {
    // an event without handlers is noise on a CI page, except configure, which asks the provider
    if (event !== "configure" && events.handlers(event).length === 0) return;
    const end = ctx.logger.section(event, TITLES[event]);
    const started = performance.now();
    let ok = false;
    try {
      await events.emit(event, ctx, { signal });
      if (event === "configure") await learnDeployedCommit(ctx, signal);
      if (event === "configure" && options.mode === "rollback") {
        await chooseRollback(ctx, options.rollbackTo, signal);
      }
      // a signal during the stage's last handler still cancels the run
      if (signal?.aborted) throw new HandlerError(event, "deploy", signal.reason);
      ok = true;
    } finally {
      ctx.timings.push({ event, ms: Math.round(performance.now() - started), ok });
      end(ok ? "ok" : "failed");
    }
  };
  const ending = async (event: Ending) => {
    if (events.handlers(event).length === 0) return;
    const end = ctx.logger.section(event, TITLES[event]);
    const started = performance.now();
    await events.emit(event, ctx, { isolate: true });
    ctx.timings.push({ event, ms: Math.round(performance.now() - started), ok: true });
    end("ok");
  };
  try {
    await stage("configure");
    if (options.mode === "check") {
      ctx.logger.success("Configuration and connection are fine");
      return { outcome: "succeeded", exitCode: 0 };
    }
    const rollbackDone = ctx.rollingBackTo && ctx.rollingBackTo.release === undefined &&
      ctx.deployedBefore === ctx.commit.sha;
    if (rollbackDone) {
      ctx.outcome = "skipped";
      ctx.logger.info(`${ctx.app} already runs ${ctx.commit.shortSha}: nothing to roll back`);
      await ending("deploy_skipped");
      return { outcome: "skipped", exitCode: 0 };
    }
    if (!ctx.rollingBackTo && ctx.deployedBefore === ctx.commit.sha && !ctx.forceDeploy) {
      ctx.outcome = "skipped";
      ctx.logger.info(
        `${ctx.app} already runs ${ctx.commit.shortSha}: nothing to deploy (FORCE_DEPLOY=true deploys anyway)`,
      );
      await ending("deploy_skipped");
      return { outcome: "skipped", exitCode: 0 };
    }
    for (const event of STAGES.slice(1)) await stage(event);
    ctx.outcome = "succeeded";
    await ending("deploy_succeeded");
    ctx.logger.success(
      ctx.rollingBackTo
        ? `Rolled back ${ctx.app} to ${rollbackName(ctx.rollingBackTo)}`
        : `Deployed ${ctx.commit.shortSha} to ${ctx.app}`,
    );
    return { outcome: "succeeded", exitCode: 0 };
  } catch (error: unknown) {
    ctx.failure = failureContext(error, ctx.secrets);
    ctx.outcome = "failed";
    ctx.logger.error(failureSummary(ctx.failure, options.mode ?? "deploy"));
    const rollback = (options.rollbackOnFailure ?? false) &&
      (options.mode ?? "deploy") === "deploy";
    if (rollback && ctx.live && ctx.failure.reason === "error") {
      const end = ctx.logger.section("rollback", "Rollback");
      ctx.failure.rollback = await rollBack(ctx);
      end(ctx.failure.rollback.ok ? "ok" : "failed");
    } else if (rollback && ctx.live) {
      ctx.logger.warn("Cancelled: not rolling back (a second signal would cut a rollback short)");
    } else if (rollback) {
      ctx.logger.info(`Not rolling back: ${ctx.app} still runs what it ran before`);
    }
    if (ctx.failure.rollback?.ok) {
      // the retry hint below is about the new release, which no longer runs
    } else if (ctx.failure.event === "post_deploy" || ctx.failure.event === "deploy_succeeded") {
      // the server already runs the commit, so a plain retry would skip what failed
      ctx.logger.warn(
        `${ctx.app} already runs ${ctx.commit.shortSha}: a retry of this job would skip it; ` +
          "re-run with FORCE_DEPLOY=true to run every step again",
      );
    }
    // `check` deploys nothing, so there is no failed deploy to announce or undo
    if (options.mode !== "check") await ending("deploy_failed");
    return { outcome: "failed", exitCode: exitCodeOf(error) };
  }
}

/** `deploy rollback`: finds what to put back, and makes the run's commit that one. */
async function chooseRollback(
  ctx: DeployContext,
  to: string | undefined,
  signal?: AbortSignal,
): Promise<void> {
  try {
    const target = await ctx.provider.findRollback(to);
    ctx.rollingBackTo = target;
    if (target.commit) {
      // the title and author, when the local history has the commit
      const known = await readCommit(target.commit, { shell: ctx.shell, cwd: ctx.cwd })
        .catch(() => undefined);
      Object.assign(ctx.commit, {
        sha: target.commit,
        shortSha: target.commit.slice(0, 7),
        title: known?.title ?? `Rollback to ${rollbackName(target)}`,
        author: known?.author ?? "unknown",
      });
    }
    ctx.logger.info(`Rolling back ${ctx.app} to ${rollbackName(target)}: ${target.reason}`);
  } catch (error: unknown) {
    throw new HandlerError("configure", ctx.provider.name, signal?.aborted ? signal.reason : error);
  }
}

/** Puts back what ran before the deploy; never throws: the outcome says how it went. */
async function rollBack(ctx: DeployContext): Promise<RollbackOutcome> {
  const logger = ctx.logger.indent();
  let target: RollbackTarget | null = null;
  try {
    target = await ctx.provider.rollbackPoint(ctx.deployedBefore ?? null);
    if (!target) {
      logger.warn(`Cannot roll back: ${ctx.app} ran nothing before this deploy`);
      return { ok: false, to: "nothing", commit: null, error: "nothing ran before this deploy" };
    }
    logger.info(
      `Rolling back ${ctx.app} to ${rollbackName(target)}, ${target.reason}. ` +
        "Migrations are not reversed: the database keeps the new schema",
    );
    await ctx.provider.rollback(target);
    logger.success(`Rolled back ${ctx.app} to ${rollbackName(target)}`);
    return { ok: true, to: ctx.secrets.mask(rollbackName(target)), commit: target.commit };
  } catch (error: unknown) {
    const message = ctx.secrets.mask(errorMessage(error));
    logger.error(`Rollback failed: ${message}`);
    return {
      ok: false,
      to: target ? ctx.secrets.mask(rollbackName(target)) : "the previous release",
      commit: target?.commit ?? null,
      error: message,
    };
  }
}

async function learnDeployedCommit(ctx: DeployContext, signal?: AbortSignal): Promise<void> {
  try {
    ctx.deployedBefore = await ctx.provider.deployedCommit();
  } catch (error: unknown) {
    throw new HandlerError("configure", ctx.provider.name, signal?.aborted ? signal.reason : error);
  }
}

/** The failure context of an error: where it happened, and the failed command, all masked. */
export function failureContext(error: unknown, secrets: Secrets): FailureContext {
  const where = error instanceof HandlerError ? error : undefined;
  const cause = where ? where.cause : error;
  const failure: FailureContext = {
    reason: cause instanceof CancelledError ? "cancelled" : "error",
    event: where?.event ?? "configure",
    layer: where?.layer ?? "deploy",
    message: secrets.mask(errorMessage(cause)),
    output: [],
  };
  const command = findCause(cause, CommandError);
  if (command) {
    failure.command = secrets.mask(command.command);
    failure.exitCode = command.exitCode;
    failure.output = command.output.slice(-TAIL_LINES).map((line) => secrets.mask(line));
  }
  return failure;
}

function failureSummary(failure: FailureContext, mode: "deploy" | "check" | "rollback"): string {
  const what = mode === "check"
    ? "Check failed"
    : mode === "rollback"
    ? "Rollback failed"
    : "Deploy failed";
  const head = failure.reason === "cancelled"
    ? `${what}: ${failure.message.replace(/^C/, "c")} during ${failure.event} (${failure.layer})`
    : `${what}: ${failure.layer} failed during ${failure.event}: ${failure.message}`;
  return failure.command && !failure.message.includes(failure.command)
    ? `${head}\ncommand: ${failure.command}${exitCodeText(failure.exitCode)}`
    : head;
}

// Heroku's release phase reports no exit code
function exitCodeText(code: number | null | undefined): string {
  return code === null || code === undefined ? "" : ` (exit code ${code})`;
}

// deno-lint-ignore no-explicit-any
function findCause<T>(error: unknown, type: new (...args: any[]) => T): T | undefined {
  for (let e: unknown = error, depth = 0; e && depth < 5; depth++) {
    if (e instanceof type) return e;
    e = e instanceof Error ? e.cause : undefined;
  }
  return undefined;
}
