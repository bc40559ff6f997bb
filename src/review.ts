/**
 * Review apps: one app per merge request, derived from the app (the parent) and the branch. This
 * file holds what every provider shares: the naming rule, REVIEW_APP_CONFIG, the mark, and the
 * two flows (make sure the review app exists before the deploy; destroy it). A provider brings the
 * platform's side as {@linkcode ReviewSpec} in a file of its own (`dokku/review.ts`,
 * `heroku/review.ts`).
 *
 * @example
 * ```ts
 * reviewAppName("shop", "feature/Login", { maxLength: 30, pattern: /^[a-z][a-z0-9-]*$/ });
 * // "shop-feature-login"
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import { CommandError, ConfigError, DeployError, errorMessage } from "./errors.ts";
import type { Logger } from "./logger.ts";
import type { Secrets } from "./secrets.ts";
import { variable } from "./variables.ts";

/**
 * The config variable that marks a review app, set when the tool creates it: its value names the
 * parent. `deploy destroy --review` destroys only apps that carry it.
 */
export const REVIEW_MARK = "DEPLOY_REVIEW_PARENT";

/** The variables every provider with review apps reads. */
export const reviewVariables = {
  REVIEW_APP_NAME: variable(z.string().optional(), {
    description: "The review app's name (default: APP_NAME and the branch, cut to fit)",
    example: "shop-login",
  }),
  REVIEW_APP_CONFIG: variable(
    z.string().optional().superRefine((value, ctx) => {
      if (value === undefined) return;
      const problems = parseReviewConfig(value).problems;
      // the value is a secret: name the bad entries by position only
      if (problems.length) ctx.addIssue({ code: "custom", message: problems.join("; ") });
    }),
    {
      description:
        "Config set on the review app on top of the parent's: KEY=VALUE pairs, comma separated",
      example: "RAILS_ENV=staging,DATABASE_URL=postgres://...",
      secret: true,
    },
  ),
};

/** A platform's rule for app names. */
export interface NameRule {
  /** The longest name. */
  maxLength: number;
  /** The whole name must match. */
  pattern: RegExp;
  /** The rule in words, for errors. */
  text: string;
}

/** Hex digits of the hash that ends a cut name. */
const HASH_LENGTH = 6;

/** Lowercase letters, digits and single dashes: the part of a name a branch gives. */
export function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "");
}

/**
 * The review app of `parent` for `branch`: `<parent>-<branch slug>` when it fits the rule, else cut
 * and ended with a short hash of the branch, so two branches never share an app. Throws a
 * ConfigError when no name fits (a parent too long to leave room for the hash).
 */
export function reviewAppName(parent: string, branch: string, rule: NameRule): string {
  const whole = slug(branch) ? `${parent}-${slug(branch)}` : parent;
  if (whole !== parent && whole.length <= rule.maxLength && rule.pattern.test(whole)) return whole;
  const hash = createHash("sha256").update(branch).digest("hex").slice(0, HASH_LENGTH);
  const head = whole.slice(0, rule.maxLength - HASH_LENGTH - 1).replace(/[^a-z0-9]+$/, "");
  const name = `${head}-${hash}`;
  if (!head || !rule.pattern.test(name)) {
    throw new ConfigError(
      `Cannot derive a review app name from APP_NAME "${parent}" and branch "${branch}" (${rule.text}): set REVIEW_APP_NAME`,
    );
  }
  return name;
}

/**
 * The branch a review app is for, from CI: the merge request's source branch (GitHub's
 * GITHUB_HEAD_REF on pull_request events, GitLab's CI_MERGE_REQUEST_SOURCE_BRANCH_NAME), else the
 * pipeline's ref (CI_COMMIT_REF_SLUG, CI_COMMIT_REF_NAME, GITHUB_REF_NAME); undefined outside CI.
 */
export function reviewBranch(
  env: Readonly<Record<string, string | undefined>>,
): string | undefined {
  for (
    const name of [
      "GITHUB_HEAD_REF",
      "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME",
      "CI_COMMIT_REF_SLUG",
      "CI_COMMIT_REF_NAME",
      "GITHUB_REF_NAME",
    ]
  ) {
    const value = env[name]?.trim();
    if (value) return value;
  }
  return undefined;
}

/** REVIEW_APP_CONFIG parsed. */
export interface ReviewConfig {
  /** The pairs, in order. */
  vars: Record<string, string>;
  /** What is wrong, without any value (the variable is a secret). */
  problems: string[];
}

/** Parses `KEY=VALUE,KEY=VALUE`; a value may hold `=` but not `,`. */
export function parseReviewConfig(text: string): ReviewConfig {
  const vars: Record<string, string> = {};
  const problems: string[] = [];
  text.split(",").forEach((entry, index) => {
    if (entry.trim() === "") return;
    const at = entry.indexOf("=");
    const key = at < 0 ? "" : entry.slice(0, at).trim();
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
      problems.push(`entry ${index + 1}: expected KEY=VALUE with a KEY of letters, digits and _`);
      return;
    }
    if (key === REVIEW_MARK) problems.push(`entry ${index + 1}: ${REVIEW_MARK} is the tool's mark`);
    vars[key] = entry.slice(at + 1);
  });
  return { vars, problems };
}

/** Registers every value of REVIEW_APP_CONFIG as a secret, so no output shows one. */
export function maskReviewConfig(config: ReviewConfig, secrets: Secrets): void {
  for (const value of Object.values(config.vars)) secrets.add(value);
}

/** What a provider's review operations are asked to create. */
export interface ReviewCreate {
  /** The parent app. */
  parent: string;
  /** The review app. */
  app: string;
}

/** What a provider's review operations are asked to configure on a new review app. */
export interface ReviewConfigure extends ReviewCreate {
  /** Config set on top of what came from the parent, the mark included. */
  vars: Record<string, string>;
}

/** The platform's side of review apps, made per run by {@linkcode ReviewSpec.create}. */
export interface ReviewOperations {
  /** Whether an app exists (and the credentials reach it). */
  exists(app: string): Promise<boolean>;
  /**
   * Creates `app` from `parent`: without deploying anything, with the parent's config (what the
   * platform lets the tool copy). A refusal of the platform throws; nothing was created then.
   */
  create(target: ReviewCreate): Promise<void>;
  /** Sets `vars` (REVIEW_APP_CONFIG and the mark) and what else the new app needs (domains). */
  configure(target: ReviewConfigure): Promise<void>;
  /** The value of the app's {@linkcode REVIEW_MARK}, null when it has none. */
  mark(app: string): Promise<string | null>;
  /** Destroys the app. */
  destroy(app: string): Promise<void>;
  /** The app's web address, when the platform knows one. */
  url(app: string): Promise<string | null>;
}

/** How a review app came to be in this run. */
export interface ReviewApp {
  /** The parent app. */
  parent: string;
  /** The review app. */
  app: string;
  /** Whether this run created it. */
  created: boolean;
  /** Its web address, when known. */
  url?: string;
}

/** Options of {@linkcode ensureReviewApp} and {@linkcode destroyReviewApp}. */
export interface ReviewFlowOptions {
  /** Where the steps are told. */
  logger: Logger;
  /** The platform's name in messages. */
  label: string;
  /** REVIEW_APP_CONFIG, parsed. @default none */
  config?: Record<string, string>;
}

/**
 * Makes sure the review app exists before the deploy: reuses it when it carries the mark naming
 * the parent, refuses an app of that name without it (exit 2), else creates it from the parent and
 * configures it. A review app this run created and then failed to configure is destroyed again.
 */
export async function ensureReviewApp(
  ops: ReviewOperations,
  target: ReviewCreate,
  options: ReviewFlowOptions,
): Promise<ReviewApp> {
  const { parent, app } = target;
  const { logger, label } = options;
  if (await ops.exists(app)) {
    const mark = await ops.mark(app);
    if (mark !== parent) throw notOurs(app, parent, mark, "deploy to");
    logger.info(`Review app ${app} of ${parent} exists: deploying to it`);
    return { parent, app, created: false, ...await urlOf(ops, app) };
  }
  if (!await ops.exists(parent)) {
    throw new ConfigError(`APP_NAME: no ${label} app "${parent}" to create the review app from`);
  }
  logger.info(`Creating review app ${app} from ${parent}`);
  await ops.create(target).catch((error: unknown) => {
    throw refused(error, app, label);
  });
  try {
    await ops.configure({ ...target, vars: { ...options.config, [REVIEW_MARK]: parent } });
  } catch (error: unknown) {
    logger.error(`Configuring review app ${app} failed (${reason(error)}): destroying it again`);
    await ops.destroy(app).then(
      () => logger.info(`Destroyed ${app}, created by this run`),
      (undo: unknown) =>
        logger.error(`Cannot destroy ${app}: ${errorMessage(undo)}; destroy it by hand`),
    );
    throw new DeployError(`Cannot configure the new review app ${app}: ${reason(error)}`, {
      cause: error,
    });
  }
  logger.success(`Created review app ${app} from ${parent}`);
  return { parent, app, created: true, ...await urlOf(ops, app) };
}

/** How a destroy ended. */
export type DestroyOutcome = "destroyed" | "gone";

/**
 * Destroys the review app, only when it carries the mark naming the parent; never the parent.
 * An app already gone is a success with a note.
 */
export async function destroyReviewApp(
  ops: ReviewOperations,
  target: ReviewCreate,
  options: ReviewFlowOptions,
): Promise<DestroyOutcome> {
  const { parent, app } = target;
  if (app === parent) {
    throw new ConfigError(
      `Refusing to destroy "${app}": it is the parent app (APP_NAME), not a review app`,
    );
  }
  if (!await ops.exists(app)) {
    options.logger.info(`Review app ${app} does not exist: nothing to destroy`);
    return "gone";
  }
  const mark = await ops.mark(app);
  if (mark !== parent) throw notOurs(app, parent, mark, "destroy");
  options.logger.info(`Destroying review app ${app} of ${parent}`);
  await ops.destroy(app);
  options.logger.success(`Destroyed review app ${app}`);
  return "destroyed";
}

function notOurs(app: string, parent: string, mark: string | null, what: string): ConfigError {
  return new ConfigError(
    mark === null
      ? `Refusing to ${what} "${app}": it exists but is not a review app created by deploy (no ${REVIEW_MARK} config var); choose another REVIEW_APP_NAME`
      : `Refusing to ${what} "${app}": it is a review app of "${mark}", not of "${parent}"`,
  );
}

/** A creation the platform refused: a taken name is the user's to fix (exit 2), the rest exit 1. */
function refused(error: unknown, app: string, label: string): Error {
  const message = reason(error);
  if (/already taken|already exists|name is taken/i.test(message)) {
    return new ConfigError(
      `${label} refused to create review app "${app}": ${message}; set REVIEW_APP_NAME to another name`,
      { cause: error },
    );
  }
  return new DeployError(`${label} refused to create review app "${app}": ${message}`, {
    cause: error,
  });
}

/** An error's message, and for a failed command the server's last word (` !     Name is taken`). */
function reason(error: unknown): string {
  const said = error instanceof CommandError
    ? error.output.map((line) => line.replace(/^\s*!\s+/, "").trim()).filter(Boolean).at(-1)
    : undefined;
  return said ? `${said} (${errorMessage(error)})` : errorMessage(error);
}

async function urlOf(ops: ReviewOperations, app: string): Promise<{ url?: string }> {
  const url = await ops.url(app).catch(() => null);
  return url ? { url } : {};
}
