/**
 * How the provider contract runs review apps: with DEPLOY_REVIEW=true, `defineProvider` asks
 * {@linkcode setUpReview} for the review app's name and config before it makes the provider's
 * operations, so every operation (and every later layer) works on the review app unchanged. A
 * `configure` handler that runs before the provider connects creates the app when it is missing.
 *
 * @module
 */
import type { z } from "zod";
import { ConfigError } from "./errors.ts";
import type { CoreConfig } from "./core_variables.ts";
import type { On } from "./event_manager.ts";
import { currentBranch } from "./git.ts";
import type { Logger } from "./logger.ts";
import type { ProviderInput } from "./provider.ts";
import {
  type DestroyOutcome,
  destroyReviewApp,
  ensureReviewApp,
  maskReviewConfig,
  type NameRule,
  parseReviewConfig,
  reviewAppName,
  reviewBranch,
  type ReviewOperations,
} from "./review.ts";

/** When the review app is made sure of: in configure, before the provider connects (10). */
export const REVIEW_PRIORITY = 5;

/** A provider's review apps, as its file declares them (`layers/providers/<name>/review.ts`). */
export interface ReviewSpec<C> {
  /** The platform's rule for app names. */
  rule: NameRule;
  /** Variables of this platform's review apps only (REVIEW_APP_DOMAIN, HEROKU_TEAM). */
  // deno-lint-ignore no-explicit-any
  variables: Record<string, z.ZodType<any, string | undefined>>;
  /** The parent app: the app the variables name. */
  parent(config: C): string;
  /** The provider's variables with the app replaced by the review app. */
  target(config: C, app: string): C;
  /** Makes the review operations of one run (on the parent's variables); touches no server. */
  create(input: ProviderInput<C>): ReviewOperations;
}

/** The review app of a run, as the `destroy` command sees it. */
export interface ReviewHandle {
  /** The parent app. */
  readonly parent: string;
  /** The review app. */
  readonly app: string;
  /** Destroys the review app, when it carries the mark naming the parent. */
  destroy(logger: Logger): Promise<DestroyOutcome>;
}

/** What {@linkcode setUpReview} hands `defineProvider`. */
export interface ReviewSetUp<C> {
  /** The provider's variables, aimed at the review app. */
  config: C;
  /** The run-wide settings of the review app's deploy. */
  core: CoreConfig;
  /** Whether this run created the review app (it runs nothing yet, whatever its git repo holds). */
  fresh(): boolean;
  /** For `deploy destroy --review`. */
  handle: ReviewHandle;
}

/** What the provider needs to know of its spec. */
interface ReviewProvider<C> {
  name: string;
  label: string;
  review?: ReviewSpec<C>;
}

/**
 * With DEPLOY_REVIEW=true: the review app's name, the variables that aim the provider at it, and
 * the configure handler that creates it. Undefined without DEPLOY_REVIEW; a ConfigError (exit 2)
 * for a provider without review apps, an invalid REVIEW_APP_NAME, or no branch to name it after.
 */
export async function setUpReview<C>(
  spec: ReviewProvider<C>,
  input: ProviderInput<C>,
  on: On,
): Promise<ReviewSetUp<C> | undefined> {
  if (!input.core.DEPLOY_REVIEW) return undefined;
  const review = spec.review;
  if (!review) {
    throw new ConfigError(
      `DEPLOY_REVIEW: the ${spec.name} provider (${spec.label}) has no review apps`,
    );
  }
  const { config, runtime } = input;
  const vars = config as Record<string, unknown>;
  const parent = review.parent(config);
  const rule = review.rule;
  let app: string;
  if (typeof vars.REVIEW_APP_NAME === "string") {
    app = vars.REVIEW_APP_NAME;
    if (app.length > rule.maxLength || !rule.pattern.test(app)) {
      throw new ConfigError(`REVIEW_APP_NAME: ${rule.text}, found "${app}"`);
    }
  } else {
    const branch = reviewBranch(runtime.env) ??
      await currentBranch({ shell: runtime.shell, cwd: runtime.cwd }).catch(() => undefined);
    if (!branch) {
      throw new ConfigError(
        "DEPLOY_REVIEW: cannot tell the branch (no CI branch variable, a detached HEAD): set REVIEW_APP_NAME",
      );
    }
    app = reviewAppName(parent, branch, rule);
  }
  if (app === parent) {
    throw new ConfigError(`REVIEW_APP_NAME: "${app}" is the parent app (APP_NAME) itself`);
  }
  const reviewConfig = parseReviewConfig(
    typeof vars.REVIEW_APP_CONFIG === "string" ? vars.REVIEW_APP_CONFIG : "",
  );
  maskReviewConfig(reviewConfig, runtime.secrets);
  const ops = review.create(input);
  const target = { parent, app };
  let created = false;
  on("configure", {
    priority: REVIEW_PRIORITY,
    description: `create review app ${app} from ${parent} when it is missing`,
  }, async (ctx) => {
    ctx.review = await ensureReviewApp(ops, target, {
      logger: ctx.logger,
      label: spec.label,
      config: reviewConfig.vars,
    });
    created = ctx.review.created;
  });
  return {
    config: review.target(config, app),
    // a review app follows its branch, which may be rebased, and a Dokku clone starts with the
    // parent's branch, which the review branch need not contain: its pushes always overwrite
    core: { ...input.core, FORCE_PUSH: true },
    fresh: () => created,
    handle: {
      parent,
      app,
      destroy: (logger) => destroyReviewApp(ops, target, { logger, label: spec.label }),
    },
  };
}
