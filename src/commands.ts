/**
 * What `deploy`, `deploy check` and `deploy plan` do, between the CLI's parsed flags and the
 * runner: read the settings, plan the layers, build the context, handle signals, and clean up.
 *
 * @module
 */
import { ciFromEnv } from "./ci.ts";
import { parseConfigFile } from "./config_file.ts";
import { mergeSettings } from "./config.ts";
import { coreVariables } from "./core_variables.ts";
import type { DeployContext, EventName } from "./context.ts";
import { EVENTS } from "./context.ts";
import { CancelledError, ConfigError, exitCodeOf } from "./errors.ts";
import { currentBranch, readCommit } from "./git.ts";
import { createRuntime, type RunControl } from "./runtime.ts";
import { createLogger, type Logger, shouldUseColor } from "./logger.ts";
import { type AnyLayer, type Plan, planRun } from "./plan.ts";
import { runDeploy, setUpLayers } from "./runner.ts";
import { type Provider, rollbackName, UnsupportedError } from "./provider.ts";
import { printStatus } from "./status.ts";
import { Secrets } from "./secrets.ts";
import { createShell } from "./shell.ts";
import { isSecret } from "./variables.ts";
import { writeCiReport } from "./ci_report.ts";
import { destroyReview, reviewEnvironment, writeReviewDotenv } from "./review_command.ts";

/** The flags every command takes. */
export interface CommandFlags {
  /** --provider */
  provider?: string;
  /** --layers */
  layers?: string;
  /** --environment */
  environment?: string;
  /** --force */
  force?: boolean;
  /** --force-push */
  forcePush?: boolean;
  /** --config */
  config?: string;
  /** --log-format */
  logFormat?: string;
  /** `deploy rollback --to` */
  to?: string;
  /** --review */
  review?: boolean;
}

/** The process around a command; tests hand in their own. */
export interface Io {
  /** The environment. */
  env: Record<string, string | undefined>;
  /** The app's repository. */
  cwd: string;
  /** Writes to stdout. */
  write: (text: string) => void;
  /** Writes to stderr. */
  writeError: (text: string) => void;
  /** Whether stdout is a terminal. */
  isTerminal: boolean;
  /** Ends the process at once (a second signal). */
  exit: (code: number) => never;
  /** Whether to listen for SIGINT and SIGTERM. */
  handleSignals: boolean;
}

/** The commands {@linkcode runCommand} runs. */
export type CommandName = "deploy" | "check" | "plan" | "rollback" | "status" | "destroy";

/** Runs one command and returns its exit code. */
export async function runCommand(
  command: CommandName,
  flags: CommandFlags,
  layers: readonly AnyLayer[],
  io: Io,
): Promise<number> {
  const secrets = new Secrets();
  const plan = await loadPlan(flags, layers, io, secrets);
  if (command === "destroy" && !plan.core.DEPLOY_REVIEW) {
    throw new ConfigError(
      "deploy destroy removes review apps only: add --review (or DEPLOY_REVIEW=true)",
    );
  }
  const format = plan.core.DEPLOY_LOG_FORMAT;
  const logger = createLogger({
    secrets,
    // `deploy status --log-format json` prints one object on stdout: its log goes to stderr
    write: command === "status" && format === "json" ? io.writeError : io.write,
    format,
    color: format === "text" && shouldUseColor(io.isTerminal, io.env),
    terminal: io.isTerminal,
    folding: io.env.GITLAB_CI ? "gitlab" : io.env.GITHUB_ACTIONS ? "github" : "none",
  });
  const withhold = layers.flatMap((layer) =>
    Object.keys(layer.variables.shape).filter((name) => isSecret(layer.variables, name))
  );
  const shell = createShell({ secrets, withhold });
  const run = createRuntime({ shell, logger, secrets, cwd: io.cwd, env: io.env });
  const { runtime } = run;
  const { events, provider } = await setUpLayers(plan, runtime);
  if (command === "plan") {
    printPlan(plan, events.handlers.bind(events), io.write, provider);
    return 0;
  }
  if (command === "rollback" && !provider.supports("rollback")) {
    throw new UnsupportedError(
      `deploy rollback is not supported for the ${provider.label} provider`,
    );
  }
  const toProblem = command === "rollback" && flags.to !== undefined
    ? provider.checkRollbackTo(flags.to)
    : undefined;
  if (toProblem) throw new ConfigError(secrets.mask(toProblem));
  if (command === "status") {
    try {
      return await printStatus(provider, {
        environment: plan.core.DEPLOY_ENVIRONMENT ?? ciFromEnv(io.env).environment ?? "production",
        cwd: io.cwd,
        shell,
        secrets,
        logger,
        format,
        write: io.write,
      });
    } finally {
      await run.cleanUp();
    }
  }
  if (command === "destroy") {
    try {
      return await destroyReview(provider, { logger, env: io.env, format });
    } finally {
      await run.cleanUp();
    }
  }
  const stopSignals = io.handleSignals ? onSignals({ run, logger, io }) : () => {};
  try {
    const ci = ciFromEnv(io.env);
    const commit = await readCommit(ci.sha ?? "HEAD", { shell, cwd: io.cwd }).catch(
      (error: unknown) => {
        throw new ConfigError(
          `Cannot read the commit to deploy in ${io.cwd}: ${
            error instanceof Error ? error.message : error
          }; run deploy inside the app's git repository`,
        );
      },
    );
    commit.ref = ci.ref ?? await currentBranch({ shell, cwd: io.cwd });
    if (ci.title) commit.title = ci.title;
    const ctx: DeployContext = {
      app: provider.app,
      environment: plan.core.DEPLOY_ENVIRONMENT ?? ci.environment ??
        (provider.review ? reviewEnvironment(io.env, commit.ref) : "production"),
      commit,
      ci,
      provider,
      logger,
      shell,
      secrets,
      cwd: io.cwd,
      startedAt: Date.now(),
      forceDeploy: plan.core.FORCE_DEPLOY,
      timings: [],
      state: Object.fromEntries(plan.layers.map((l) => [l.name, {}])),
    };
    logger.info(
      `deploy: ${ctx.commit.shortSha} "${ctx.commit.title}" to ${ctx.app} (${ctx.environment}) on ${provider.name}` +
        `, layers: ${plan.layers.map((l) => l.name).join(", ")}`,
    );
    if (plan.core.DEPLOY_ROLLBACK_ON_FAILURE && !provider.supports("rollback")) {
      logger.warn(
        `DEPLOY_ROLLBACK_ON_FAILURE=true does nothing: rollback is not supported for the ${provider.label} provider`,
      );
    }
    const result = await runDeploy(events, ctx, {
      mode: command === "check" ? "check" : command === "rollback" ? "rollback" : "deploy",
      signal: runtime.signal,
      rollbackOnFailure: plan.core.DEPLOY_ROLLBACK_ON_FAILURE && provider.supports("rollback"),
      ...(flags.to !== undefined ? { rollbackTo: flags.to } : {}),
    });
    logger.outcome({
      status: result.outcome,
      exit_code: result.exitCode,
      app: ctx.app,
      environment: ctx.environment,
      sha: ctx.commit.sha,
      duration_ms: Date.now() - ctx.startedAt,
      ...(ctx.failure ? { failure: ctx.failure } : {}),
      ...(ctx.rollingBackTo ? { rolled_back_to: rollbackName(ctx.rollingBackTo) } : {}),
      ...(ctx.review
        ? {
          review_app: { parent: ctx.review.parent, created: ctx.review.created },
          url: ctx.review.url,
        }
        : {}),
    });
    if (command === "deploy" && ctx.review) {
      await writeReviewDotenv(ctx.review, { env: io.env, cwd: io.cwd, logger });
    }
    if (command === "deploy" || command === "rollback") {
      await writeCiReport(ctx, result, {
        env: io.env,
        write: io.write,
        writeError: io.writeError,
        format,
      }).catch(() => {});
    }
    return result.exitCode;
  } finally {
    stopSignals();
    await run.cleanUp();
  }
}

/** Reads deploy.yml and the environment, and plans the layers: exits 2 on any problem. */
async function loadPlan(
  flags: CommandFlags,
  layers: readonly AnyLayer[],
  io: Io,
  secrets: Secrets,
): Promise<Plan> {
  const flagVars: Record<string, string | undefined> = {
    DEPLOY_PROVIDER: flags.provider,
    DEPLOY_LAYERS: flags.layers,
    DEPLOY_ENVIRONMENT: flags.environment,
    FORCE_DEPLOY: flags.force ? "true" : undefined,
    FORCE_PUSH: flags.forcePush ? "true" : undefined,
    DEPLOY_REVIEW: flags.review ? "true" : undefined,
    DEPLOY_LOG_FORMAT: flags.logFormat,
  };
  const known = new Set<string>(Object.keys(coreVariables.shape));
  const secretNames = new Set<string>();
  for (const layer of layers) {
    for (const name of Object.keys(layer.variables.shape)) {
      known.add(name);
      if (isSecret(layer.variables, name)) secretNames.add(name);
    }
  }
  const path = flags.config ?? "deploy.yml";
  const fullPath = path.startsWith("/") ? path : `${io.cwd}/${path}`;
  let file;
  const text = await Deno.readTextFile(fullPath).catch((error: unknown) => {
    if (error instanceof Deno.errors.NotFound && !flags.config) return undefined;
    throw new ConfigError(`Cannot read ${path}: ${error instanceof Error ? error.message : error}`);
  });
  if (text !== undefined) {
    file = parseConfigFile(text, {
      name: path,
      known,
      secrets: secretNames,
      environment: flags.environment ??
        (io.env.DEPLOY_ENVIRONMENT || io.env.CI_ENVIRONMENT_NAME || undefined),
    });
  }
  const settings = mergeSettings({ flags: flagVars, env: io.env, file });
  return await planRun(layers, settings, { cwd: io.cwd, secrets });
}

function printPlan(
  plan: Plan,
  handlers: (
    event: EventName,
  ) => { layer: string; priority: number; description: string; soft: boolean }[],
  write: (text: string) => void,
  provider: Provider,
) {
  const lines = [
    `Provider: ${plan.provider.name}`,
    `Layers: ${plan.layers.map((l) => `${l.name} (${l.kind})`).join(", ")}`,
    "",
  ];
  for (const event of EVENTS) {
    const list = handlers(event);
    lines.push(`${event}${list.length ? "" : ": (no handlers)"}`);
    for (const h of list) {
      lines.push(
        `  ${String(h.priority).padStart(4)}  ${h.layer}: ${h.description}${
          h.soft ? " (soft)" : ""
        }`,
      );
    }
  }
  if (plan.core.DEPLOY_ROLLBACK_ON_FAILURE) {
    lines.push(
      provider.supports("rollback")
        ? `rollback (when a step fails after the new release went live, before deploy_failed)\n` +
          `     -  ${provider.name}: put back what ran before (migrations are not reversed)`
        : `rollback: DEPLOY_ROLLBACK_ON_FAILURE is set, but unsupported for the ${provider.label} provider`,
    );
  }
  write(lines.join("\n") + "\n");
}

interface SignalTargets {
  run: RunControl;
  logger: Logger;
  io: Io;
}

/** Cancels the run on the first SIGINT/SIGTERM; a second one cleans up what it can and exits. */
function onSignals({ run, logger, io }: SignalTargets): () => void {
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  const listeners = signals.map((signal) => {
    const listener = () => {
      if (run.runtime.signal.aborted) {
        run.cleanUpNow();
        io.exit(exitCodeOf(new CancelledError(signal)));
      }
      logger.warn(`Received ${signal}: stopping the running command, then running deploy_failed`);
      run.cancel(signal);
    };
    Deno.addSignalListener(signal, listener);
    return () => Deno.removeSignalListener(signal, listener);
  });
  return () => listeners.forEach((remove) => remove());
}
