/**
 * Deploying one commit to Heroku: push it (the push lasts until the release phase ends, as on
 * Heroku), or release its slug again when Heroku's repo already has it, then follow the release
 * until it has succeeded or failed. HEROKU_RELEASE_TIMEOUT bounds the push and the wait together.
 *
 * @module
 */
import type { Commit } from "../../../src/context.ts";
import { CommandError, DeployError } from "../../../src/errors.ts";
import { type GitOptions, lsRemote, push } from "../../../src/git.ts";
import type { Logger } from "../../../src/logger.ts";
import type { HerokuApi, HerokuRelease } from "./api.ts";
import { followRelease, newRelease, releaseAgain, releaseCommand } from "./release.ts";

/** Options of {@linkcode deployCommit}. */
export interface DeployCommitOptions {
  /** The Platform API client. */
  api: HerokuApi;
  /** The app. */
  app: string;
  /** `<HEROKU_GIT_URL>/<app>.git`. */
  gitUrl: string;
  /** The branch Heroku builds. */
  branch: string;
  /** How git runs: shell, repository, and the environment that carries the API key. */
  git: Required<Pick<GitOptions, "shell" | "cwd" | "env">>;
  /** The step's logger. */
  logger: Logger;
  /** The run's cancellation. */
  signal: AbortSignal;
  /** HEROKU_RELEASE_TIMEOUT in milliseconds: the push and the wait for the release together. */
  timeoutMs: number;
  /** FORCE_PUSH. */
  force: boolean;
  /** The newest release's version before the deploy (0 for none). */
  versionBefore: number;
}

/** Pushes `commit` (or releases its slug again) and follows the release; returns the release. */
export async function deployCommit(
  commit: Commit,
  options: DeployCommitOptions,
): Promise<HerokuRelease> {
  const { api, app, logger } = options;
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  const follow = {
    logger,
    timeoutMs: options.timeoutMs,
    deadline,
    signal: options.signal,
    releaseCommand: await releaseCommand(options.git.cwd),
  };
  const remoteSha = await lsRemote(options.gitUrl, `refs/heads/${options.branch}`, options.git);
  if (remoteSha === commit.sha) {
    // the repo has the commit but the app does not run it (a failed release phase, a rollback):
    // a push would change nothing, so release the commit's slug again
    const release = await releaseAgain(api, app, commit.sha, logger);
    await followRelease(api, app, release, follow);
    return release;
  }
  logger.info(`Pushing ${commit.shortSha} to ${options.gitUrl} (branch ${options.branch})`);
  try {
    await push({
      ...options.git,
      logger,
      url: options.gitUrl,
      sha: commit.sha,
      branch: options.branch,
      remoteSha,
      force: options.force,
      timeoutMs: options.timeoutMs,
    });
  } catch (error: unknown) {
    throw pushProblem(error, commit, { started, timeoutMs: options.timeoutMs });
  }
  const release = await newRelease(api, app, commit.sha, options.versionBefore, options.signal);
  // the push printed the release phase's output already
  await followRelease(api, app, release, { ...follow, showOutput: false });
  return release;
}

/** What the push's failure means: the time limit, a failed build, or the error itself. */
export function pushProblem(
  error: unknown,
  commit: Commit,
  limit: { started: number; timeoutMs: number },
): unknown {
  if (!(error instanceof CommandError)) return error;
  if (error.exitCode === 124 && Date.now() - limit.started >= limit.timeoutMs) {
    return new DeployError(
      `The push of ${commit.shortSha} did not end within ${
        limit.timeoutMs / 1000
      }s (HEROKU_RELEASE_TIMEOUT), its build and release phase included. Heroku may still finish the release: see its releases`,
      { cause: error },
    );
  }
  if (error.output.some((l) => /Push rejected|pre-receive hook declined/.test(l))) {
    return new DeployError(`Heroku rejected the push of ${commit.shortSha}: the build failed`, {
      cause: error,
    });
  }
  return error;
}
