/**
 * Rolling a Dokku app back. Dokku keeps no release history: it builds whatever is pushed to the
 * deploy branch of the app's repository. So a rollback pushes an earlier commit to that branch
 * with --force, and Dokku builds it again (a full rebuild, as long as a deploy takes).
 *
 * What is "the previous commit": after a failed deploy, the commit the app ran before it (known
 * from `configure`). For `deploy rollback` without `--to`, the first parent of the commit the app
 * runs, read from the server's deploy branch: the commit before it in that branch's history,
 * which may never have been deployed on its own when several commits were pushed at once.
 *
 * @module
 */
import { ConfigError } from "../../../src/errors.ts";
import { type GitOptions, lsRemote, push } from "../../../src/git.ts";
import type { Logger } from "../../../src/logger.ts";
import type { RollbackTarget } from "../../../src/provider.ts";

/** What `deploy rollback --to` accepts on Dokku: a commit sha, abbreviated to 7 or more digits. */
export const DOKKU_ROLLBACK_TO = /^[0-9a-f]{7,40}$/;

/** What the rollback functions need from the provider. */
export interface DokkuRollbackDeps {
  /** git's options, GIT_SSH_COMMAND for the server included. */
  git: () => Promise<GitOptions>;
  /** The app's git URL on the server. */
  url: string;
  /** DOKKU_BRANCH. */
  branch: string;
  /** The app. */
  app: string;
  /** The provider's logger. */
  logger: Logger;
}

/** After a failed deploy: the commit the app ran before it, or null for a new app. */
export function dokkuRollbackPoint(deployedBefore: string | null): RollbackTarget | null {
  return deployedBefore
    ? { commit: deployedBefore, reason: "the commit it ran before this deploy" }
    : null;
}

/** `deploy rollback [--to SHA]`: the commit to deploy again. */
export async function findDokkuRollback(
  deps: DokkuRollbackDeps,
  to: string | undefined,
): Promise<RollbackTarget> {
  const git = await deps.git();
  const ref = `refs/heads/${deps.branch}`;
  if (to !== undefined) {
    if (!DOKKU_ROLLBACK_TO.test(to)) {
      throw new ConfigError(`--to "${to}": expected a commit sha (7 to 40 hex digits)`);
    }
    let sha = await revParse(git, to);
    if (!sha) {
      // not in this clone (a shallow one): the server's branch may have it in its history
      await fetchBranch(git, deps.url, ref);
      sha = await revParse(git, to);
    }
    if (!sha) {
      throw new ConfigError(
        `--to ${to}: no such commit in the local history or on ${deps.app}'s ${deps.branch} branch`,
      );
    }
    return { commit: sha, reason: `the commit given with --to` };
  }
  const running = await lsRemote(deps.url, ref, git);
  if (!running) {
    throw new ConfigError(`${deps.app} runs nothing yet: there is nothing to roll back to`);
  }
  await fetchBranch(git, deps.url, ref);
  const parent = await revParse(git, `${running}^1`);
  if (!parent) {
    throw new ConfigError(
      `Cannot find the commit before ${running.slice(0, 7)} on ${deps.app}'s ${deps.branch} ` +
        "branch (its first commit, or a shallow history): name one with --to SHA",
    );
  }
  return {
    commit: parent,
    reason: `the commit before ${
      running.slice(0, 7)
    } on the ${deps.branch} branch (its first parent)`,
  };
}

/** Pushes the target commit to the deploy branch with --force: Dokku rebuilds it. */
export async function dokkuRollback(
  deps: DokkuRollbackDeps,
  target: RollbackTarget,
): Promise<void> {
  const sha = target.commit;
  if (!sha) throw new ConfigError("Cannot roll back a Dokku app to a release without a commit");
  const git = await deps.git();
  const ref = `refs/heads/${deps.branch}`;
  if (!await revParse(git, sha)) await fetchBranch(git, deps.url, ref);
  const remoteSha = await lsRemote(deps.url, ref, git);
  deps.logger.info(
    `Pushing ${
      sha.slice(0, 7)
    } to ${deps.app} (branch ${deps.branch}, forced): Dokku rebuilds it, ` +
      "which takes as long as a deploy",
  );
  await push({
    ...git,
    logger: deps.logger,
    url: deps.url,
    sha,
    branch: deps.branch,
    remoteSha,
    // going back is a non-fast-forward update by nature
    force: true,
  });
}

/** The full sha of `rev`, or null when the local repository lacks it. */
async function revParse(git: GitOptions, rev: string): Promise<string | null> {
  const result = await git.shell.run(
    ["git", "rev-parse", "--verify", "--quiet", `${rev}^{commit}`],
    {
      cwd: git.cwd,
      noThrow: true,
    },
  );
  const sha = result.stdout.trim();
  return result.code === 0 && /^[0-9a-f]{40}$/.test(sha) ? sha : null;
}

/** Fetches the server's deploy branch into FETCH_HEAD (no local ref changes). */
async function fetchBranch(git: GitOptions, url: string, ref: string): Promise<void> {
  await git.shell.run(["git", "fetch", "--quiet", "--no-tags", url, ref], {
    cwd: git.cwd,
    env: { GIT_TERMINAL_PROMPT: "0", ...git.env },
    noThrow: true,
  });
}
