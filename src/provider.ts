/**
 * The provider contract: the only way layers reach the server. A provider file declares its name,
 * its variables, its capabilities and a handful of operations with {@linkcode defineProvider}; the
 * engine registers the configure and deploy handlers, decides between deploying, redeploying
 * (FORCE_DEPLOY) and skipping, and hands the provider its logger. The Rails, Sentry and notifier
 * layers see only {@linkcode Provider}, so they work unchanged on every provider.
 *
 * @example
 * ```ts
 * export default defineProvider({
 *   name: "plain",
 *   label: "Plain SSH",
 *   description: "Deploys to a plain SSH host",
 *   variables: z.object({ APP_NAME: variable(z.string(), { description: "The app" }) }),
 *   steps: {
 *     connect: "check the host",
 *     deploy: (app) => `copy the commit to ${app}`,
 *     redeploy: "restarting it",
 *   },
 *   create: ({ config }) => ({
 *     app: config.APP_NAME,
 *     connect: async () => {},
 *     deployedCommit: async () => null,
 *     deploy: async () => {},
 *     redeploy: async () => {},
 *     run: async () => ({ code: 0, stdout: "", stderr: "", tail: [] }),
 *     process: async () => {},
 *   }),
 * });
 * ```
 *
 * @module
 */
import type { z } from "zod";
import type { Commit, DeployContext } from "./context.ts";
import { ConfigError } from "./errors.ts";
import type { CoreConfig } from "./core_variables.ts";
import { defineLayer, type Layer, type Runtime } from "./layer.ts";
import type { Logger } from "./logger.ts";
import type { CommandOutput } from "./shell.ts";
import type { VariablesSchema } from "./variables.ts";
import { reviewVariables } from "./review.ts";
import { type ReviewHandle, type ReviewSpec, setUpReview } from "./review_engine.ts";

/** What {@linkcode Provider.process} can do to a process type. */
export type ProcessAction = "restart" | "stop" | "start";

/**
 * What a provider may be able to do beyond the required operations, each with what it means.
 * Adding a capability is one line here; a provider lists the ones it has.
 */
export const CAPABILITIES = {
  "release-phase": "runs the Procfile's release: process itself, during the deploy",
  "app-json-predeploy": "runs app.json's scripts.dokku.predeploy itself, during the deploy",
  "rollback": "puts back what ran before a deploy, or a named release (`deploy rollback`)",
  "release-history": "tells what runs now and when it was released (`deploy status`)",
  "app-creation":
    "creates an app from another one (its config, without deploying it) and destroys it",
  "review-apps": "deploys review apps: one app per branch, created from APP_NAME (deploy --review)",
} as const;

/** A capability a layer can ask a provider about. */
export type Capability = keyof typeof CAPABILITIES;

/** Options of {@linkcode Provider.run}. */
export interface ProviderRunOptions {
  /** Return a non-zero exit instead of throwing. @default false */
  noThrow?: boolean;
  /** Stream the output indented under the current step. @default true */
  stream?: boolean;
  /** Kill the one-off process after this many milliseconds. @default 30 minutes */
  timeoutMs?: number;
}

/** The provider as layers see it. */
export interface Provider {
  /** The provider's name, as DEPLOY_PROVIDER spells it. */
  readonly name: string;
  /** The platform's name in messages: "Heroku". */
  readonly label: string;
  /** The app on the provider. */
  readonly app: string;
  /** Whether the provider has a capability: ask this, never compare names. */
  supports(capability: Capability): boolean;
  /** The problem with a `deploy rollback --to` value, or undefined when it is well formed. */
  checkRollbackTo(to: string): string | undefined;
  /** The commit the app runs now, or null when it has none (a new app). */
  deployedCommit(): Promise<string | null>;
  /** Runs a one-off command in the app's environment (a new container or dyno). */
  run(cmd: readonly string[], options?: ProviderRunOptions): Promise<CommandOutput>;
  /**
   * Why `cmd` would not reach the program exactly through {@linkcode Provider.run}, one line per
   * refused word; empty or absent when it would. Ask it before anything touches the server.
   */
  commandProblems?(cmd: readonly string[]): string[];
  /** Restarts, stops or starts one process type. */
  process(type: string, action: ProcessAction): Promise<void>;
  /**
   * What the app ran before this run's deploy, to put back on failure; null when nothing can be
   * put back (a new app). Throws an {@linkcode UnsupportedError} without the `rollback` capability.
   */
  rollbackPoint(deployedBefore: string | null): Promise<RollbackTarget | null>;
  /** Resolves `deploy rollback --to VALUE`, or without it the release before the running one. */
  findRollback(to: string | undefined): Promise<RollbackTarget>;
  /** Puts `target` back (a new release of it); the app runs it afterwards. */
  rollback(target: RollbackTarget): Promise<Deployed>;
  /** What runs now. Throws an {@linkcode UnsupportedError} without `release-history`. */
  status(): Promise<ProviderStatus>;
  /** The review app of this run, with DEPLOY_REVIEW=true on a provider that has review apps. */
  readonly review?: ReviewHandle;
}

/** A release or commit a rollback puts back. */
export interface RollbackTarget {
  /** The commit it runs, when known. */
  commit: string | null;
  /** The platform's name for it ("v41"), when it has one; Dokku names none. */
  release?: string;
  /** How it was found, for the log: "the release current before this deploy". */
  reason: string;
  /** The provider's own handle for it (Heroku's release id). @default none */
  id?: string;
}

/** What runs on the app now, as `deploy status` tells it. */
export interface ProviderStatus {
  /** The commit it runs, null when it runs none. */
  commit: string | null;
  /** The platform's release name ("v42"), when it has one. */
  release?: string;
  /** When it was released or deployed, ISO 8601, when the platform tells. */
  releasedAt?: string;
  /** Other facts worth showing, in display order: "Stack": "heroku-24". */
  details: Record<string, string>;
}

/** A command or capability this provider lacks: a user's mistake (exit 2). */
export class UnsupportedError extends ConfigError {
  override name = "UnsupportedError";
}

/** What a deploy hands back to the engine. */
export interface Deployed {
  /** The release the platform made (Heroku's `v42`), when it names one. */
  release?: string;
}

/** The operations of one run of a provider, made by {@linkcode ProviderSpec.create}. */
export interface ProviderOperations {
  /** The app on the provider. */
  app: string;
  /** Connects and checks the app and the credentials (the `configure` event). */
  connect(): Promise<void>;
  /** The commit the app runs now, or null when it has none (a new app). */
  deployedCommit(): Promise<string | null>;
  /** Deploys `commit`; `deployedBefore` is what the app ran before, null for a new app. */
  deploy(commit: Commit, deployedBefore: string | null): Promise<Deployed | void>;
  /** Deploys the commit the app already runs once more (FORCE_DEPLOY=true). */
  redeploy(commit: Commit): Promise<void>;
  /** Runs a one-off command in the app's environment, its output under the current step. */
  run(cmd: readonly string[], options: ProviderRunOptions): Promise<CommandOutput>;
  /** Why `cmd` would not reach the program exactly through `run`. @default none: it would */
  commandProblems?(cmd: readonly string[]): string[];
  /** Restarts, stops or starts one process type. */
  process(type: string, action: ProcessAction): Promise<void>;
  /** `rollback`: what ran before this run's deploy (captured by `connect`), or null for none. */
  rollbackPoint?(deployedBefore: string | null): Promise<RollbackTarget | null>;
  /** `rollback`: resolves `--to`, or without it the release before the running one. */
  findRollback?(to: string | undefined): Promise<RollbackTarget>;
  /** `rollback`: puts `target` back. */
  rollback?(target: RollbackTarget): Promise<Deployed | void>;
  /** `release-history`: what runs now. */
  status?(): Promise<ProviderStatus>;
}

/** The operations each capability needs a provider to have. */
const CAPABILITY_OPERATIONS: Partial<Record<Capability, (keyof ProviderOperations)[]>> = {
  "rollback": ["rollbackPoint", "findRollback", "rollback"],
  "release-history": ["status"],
};

/** A rollback target's name in messages: "v41 (abc1234)", "v41", or "abc1234". */
export function rollbackName(target: RollbackTarget): string {
  const sha = target.commit?.slice(0, 7);
  if (target.release) return sha ? `${target.release} (${sha})` : target.release;
  return sha ?? "the previous release";
}

/** What a provider's `create` receives. */
export interface ProviderInput<C> {
  /** The provider's own validated variables. */
  config: C;
  /** The run-wide settings (FORCE_PUSH...). */
  core: CoreConfig;
  /** The run's services. */
  runtime: Runtime;
  /** The provider's logger: its lines go under the step that is running. */
  logger: Logger;
}

/** What a provider file declares. */
export interface ProviderSpec<S extends VariablesSchema> {
  /** DEPLOY_PROVIDER's value for it. */
  name: string;
  /** The platform's name in messages: "Heroku". */
  label: string;
  /** One line for `deploy plan` and `--help`. */
  description: string;
  /** The variables it reads. */
  variables: S;
  /** What it can do beyond the required operations. @default none */
  capabilities?: readonly Capability[];
  /** With `rollback`: what `deploy rollback --to` accepts, checked before any server is touched. */
  rollbackTo?: { pattern: RegExp; expected: string };
  /** How `deploy plan` and the log name its steps. */
  steps: {
    /** The configure step: "connect and check the Dokku version". */
    connect: string;
    /** The deploy step: "push the commit to shop". */
    deploy(app: string): string;
    /** What FORCE_DEPLOY does to a running commit: "rebuilding it". */
    redeploy: string;
  };
  /** Makes the operations of one run. It touches no server: that starts with `connect`. */
  create(input: ProviderInput<z.output<S>>): ProviderOperations | Promise<ProviderOperations>;
  /**
   * Review apps (the "review-apps" and "app-creation" capabilities): the platform's name rule and
   * the operations that create, mark and destroy an app. Without it, `--review` exits 2.
   */
  review?: ReviewSpec<z.output<S>>;
}

/** When the engine's provider handlers run: first in configure, and the deploy itself. */
export const PROVIDER_PRIORITIES = { connect: 10, deploy: 100 } as const;

/**
 * Declares a provider layer. Its setup registers the engine's two handlers: `configure` connects,
 * and `deploy` deploys the commit, or redeploys it when the app already runs it (only reached with
 * FORCE_DEPLOY, since the runner skips otherwise). It returns the {@linkcode Provider} handle.
 */
export function defineProvider<S extends VariablesSchema>(spec: ProviderSpec<S>): Layer<S> {
  const capabilities = new Set(spec.capabilities ?? []);
  if (capabilities.has("review-apps") !== (spec.review !== undefined)) {
    throw new TypeError(
      `Provider ${spec.name}: the review-apps capability goes with a review spec`,
    );
  }
  return defineLayer({
    name: spec.name,
    kind: "provider",
    description: spec.description,
    // review apps add their variables (REVIEW_APP_NAME...); safeExtend keeps the refinements
    variables: (spec.review
      ? spec.variables.safeExtend({ ...reviewVariables, ...spec.review.variables })
      : spec.variables) as S,
    enabled: ({ vars }) =>
      vars.DEPLOY_PROVIDER === spec.name,
    async setup({ config, core, on, runtime }): Promise<Provider> {
      // the provider writes under the handler's line, as a handler's own ctx.logger does
      const logger = runtime.logger.indent().indent();
      const review = await setUpReview(spec, { config, core, runtime, logger }, on);
      const ops = await spec.create({
        config: review?.config ?? config,
        core: review?.core ?? core,
        runtime,
        logger,
      });
      const { app } = ops;
      for (const capability of capabilities) {
        for (const operation of CAPABILITY_OPERATIONS[capability] ?? []) {
          if (!ops[operation]) {
            throw new TypeError(`Provider ${spec.name} has ${capability} but no ${operation}()`);
          }
        }
      }
      const needs = <T>(capability: Capability, what: string, op: T | undefined): T => {
        if (!capabilities.has(capability) || op === undefined) {
          throw new UnsupportedError(`${what} is not supported for the ${spec.label} provider`);
        }
        return op;
      };
      on(
        "configure",
        { priority: PROVIDER_PRIORITIES.connect, description: spec.steps.connect },
        () => ops.connect(),
      );
      on(
        "deploy",
        {
          priority: PROVIDER_PRIORITIES.deploy,
          description: spec.steps.deploy(app),
        },
        async (ctx) => {
          if (ctx.rollingBackTo) {
            await rollBack(ctx, ctx.rollingBackTo);
            return;
          }
          // a review app cloned in this run holds commits in its repo but has built none of them
          if (review?.fresh() && await ops.deployedCommit() === ctx.commit.sha) {
            ctx.logger.info(
              `${app} is new and holds ${ctx.commit.shortSha}: ${spec.steps.redeploy}`,
            );
            await ops.redeploy(ctx.commit);
            return;
          }
          if (ctx.deployedBefore === ctx.commit.sha) {
            ctx.logger.info(
              `${app} already runs ${ctx.commit.shortSha}; FORCE_DEPLOY=true: ${spec.steps.redeploy}`,
            );
            await ops.redeploy(ctx.commit);
            return;
          }
          const deployed = await ops.deploy(ctx.commit, ctx.deployedBefore ?? null);
          // from here on the app runs the new release: a failure may put back what ran before
          ctx.live = true;
          if (deployed?.release) ctx.release = deployed.release;
        },
      );
      const rollBack = async (ctx: DeployContext, target: RollbackTarget) => {
        const done = await needs("rollback", "Rollback", ops.rollback?.bind(ops))(target);
        ctx.live = true;
        if (done?.release) ctx.release = done.release;
      };
      return {
        name: spec.name,
        label: spec.label,
        app,
        supports: (capability) => capabilities.has(capability),
        checkRollbackTo: (to) =>
          spec.rollbackTo && !spec.rollbackTo.pattern.test(to)
            ? `--to "${to}": expected ${spec.rollbackTo.expected}`
            : undefined,
        deployedCommit: () => review?.fresh() ? Promise.resolve(null) : ops.deployedCommit(),
        run: (cmd, options = {}) => ops.run(cmd, options),
        commandProblems: (cmd) => ops.commandProblems?.(cmd) ?? [],
        process: (type, action) => ops.process(type, action),
        rollbackPoint: (deployedBefore) =>
          needs("rollback", "Rollback", ops.rollbackPoint?.bind(ops))(deployedBefore),
        findRollback: (to) => needs("rollback", "deploy rollback", ops.findRollback?.bind(ops))(to),
        rollback: async (target) => {
          const done = await needs("rollback", "Rollback", ops.rollback?.bind(ops))(target);
          return done ?? {};
        },
        status: () => needs("release-history", "deploy status", ops.status?.bind(ops))(),
        ...(review ? { review: review.handle } : {}),
      };
    },
  });
}
