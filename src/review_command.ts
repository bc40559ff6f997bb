/**
 * What the commands do for review apps beyond a deploy: `deploy destroy --review`, the review
 * environment's name, and the GitLab dotenv artifact that hands the review app's URL to
 * `environment:url`.
 *
 * @module
 */
import { ConfigError, errorMessage, exitCodeOf } from "./errors.ts";
import type { Logger } from "./logger.ts";
import type { Provider } from "./provider.ts";
import { type ReviewApp, reviewBranch } from "./review.ts";

/**
 * The file the GitLab template lists under `artifacts:reports:dotenv`: `DEPLOY_REVIEW_URL` for
 * `environment:url`, and `DEPLOY_REVIEW_APP`. GitLab reads such a file once the job ends
 * (https://docs.gitlab.com/ci/environments/#set-a-dynamic-environment-url).
 */
export const REVIEW_DOTENV = "deploy.env";

/** The environment of a review deploy: `review/<branch>`, as GitLab names review environments. */
export function reviewEnvironment(
  env: Readonly<Record<string, string | undefined>>,
  ref: string | undefined,
): string {
  return `review/${reviewBranch(env) ?? ref ?? "unknown"}`;
}

/** Options of {@linkcode writeReviewDotenv}. */
export interface ReviewDotenvOptions {
  /** The environment (GITLAB_CI). */
  env: Readonly<Record<string, string | undefined>>;
  /** The app's repository: the job's working directory, where artifacts paths start. */
  cwd: string;
  /** Told when the file cannot be written. */
  logger: Logger;
}

/** On GitLab CI, writes the dotenv artifact with the review app's name and URL. */
export async function writeReviewDotenv(
  review: ReviewApp,
  options: ReviewDotenvOptions,
): Promise<void> {
  if (!options.env.GITLAB_CI) return;
  // GitLab's dotenv values are single lines; neither a name nor a URL holds a newline
  const text = `DEPLOY_REVIEW_APP=${review.app}\nDEPLOY_REVIEW_URL=${review.url ?? ""}\n`;
  await Deno.writeTextFile(`${options.cwd}/${REVIEW_DOTENV}`, text).catch((error: unknown) =>
    options.logger.warn(`Cannot write ${REVIEW_DOTENV}: ${errorMessage(error)}`)
  );
}

/** Options of {@linkcode destroyReview}. */
export interface DestroyReviewOptions {
  /** The run's logger. */
  logger: Logger;
  /** The environment (GITHUB_OUTPUT, GITHUB_STEP_SUMMARY). */
  env: Readonly<Record<string, string | undefined>>;
  /** The log format. */
  format: "text" | "json";
}

/**
 * `deploy destroy --review`: destroys the branch's review app and returns the exit code. A
 * refusal (no mark, the parent) is a ConfigError, thrown for the CLI to report with exit 2.
 */
export async function destroyReview(
  provider: Provider,
  options: DestroyReviewOptions,
): Promise<number> {
  const { logger } = options;
  const review = provider.review;
  if (!review) {
    throw new ConfigError(`DEPLOY_REVIEW: the ${provider.name} provider has no review apps`);
  }
  logger.info(`deploy destroy: review app ${review.app} of ${review.parent} on ${provider.name}`);
  let status: string;
  let code = 0;
  try {
    status = await review.destroy(logger);
  } catch (error: unknown) {
    if (error instanceof ConfigError) throw error;
    logger.error(`Destroy failed: ${errorMessage(error)}`);
    status = "failed";
    code = exitCodeOf(error);
  }
  logger.outcome({
    status,
    exit_code: code,
    app: review.app,
    review_app: { parent: review.parent },
  });
  await writeDestroyReport(status, review.app, options.env).catch(() => {});
  return code;
}

async function writeDestroyReport(
  status: string,
  app: string,
  env: Readonly<Record<string, string | undefined>>,
): Promise<void> {
  if (!env.GITHUB_ACTIONS) return;
  if (env.GITHUB_OUTPUT) {
    await Deno.writeTextFile(env.GITHUB_OUTPUT, `status=${status}\nurl=\n`, { append: true });
  }
  if (env.GITHUB_STEP_SUMMARY) {
    const icon = status === "failed" ? "❌" : "🗑️";
    await Deno.writeTextFile(
      env.GITHUB_STEP_SUMMARY,
      `### ${icon} deploy destroy: review app ${app} ${status}\n\n`,
      { append: true },
    );
  }
}
