/**
 * Pushing a commit to Dokku so that Dokku really deploys it: the history a shallow clone lacks is
 * fetched first (Dokku builds before it refuses a shallow push), the push's own output tells
 * whether Dokku deployed it, and a push that changed nothing (the branch was there already, after
 * a `git:sync` without a build) is deployed through a tag named like the branch.
 *
 * @module
 */
import type { Commit } from "../../../src/context.ts";
import { DeployError } from "../../../src/errors.ts";
import { type GitOptions, lsRemote, push } from "../../../src/git.ts";
import type { Runtime } from "../../../src/layer.ts";
import type { Logger } from "../../../src/logger.ts";
import { rebuildCommand } from "./commands.ts";
import { prepareShallowPush } from "./history.ts";
import { cancelBuild, deployedNow, type DokkuRun, type ServerState } from "./inspect.ts";
import { dokkuHas } from "./server.ts";

/** What {@linkcode deployCommit} needs from the provider. */
export interface DeployDeps {
  /** The run's services (shell, cwd, signal). */
  runtime: Runtime;
  /** The provider's logger. */
  logger: Logger;
  /** Runs Dokku commands. */
  dokku: DokkuRun;
  /** git's options, GIT_SSH_COMMAND for the server included. */
  git: () => Promise<GitOptions>;
  /** What `connect` learnt. */
  server: ServerState;
  /** APP_NAME. */
  app: string;
  /** The server's host, for messages. */
  host: string;
  /** The app's git URL. */
  url: string;
  /** FORCE_PUSH. */
  force: boolean;
  /** What the app ran before, null for a new app. */
  deployedBefore: string | null;
}

/** Pushes `commit` to the deploy branch and makes sure Dokku deployed it. */
export async function deployCommit(commit: Commit, d: DeployDeps): Promise<void> {
  const { server, logger, app, url, runtime, dokku, git, deployedBefore } = d;
  const { branch, version } = server;
  logger.info(`Pushing ${commit.shortSha} to ${d.host} (${app}, branch ${branch})`);
  // the push must extend the branch's commit, which may not be the deployed one
  let branchSha = deployedBefore;
  const shallow = (await runtime.shell.run(["git", "rev-parse", "--is-shallow-repository"], {
    cwd: runtime.cwd,
  })).stdout.trim() === "true";
  if (shallow) {
    branchSha = await lsRemote(url, `refs/heads/${branch}`, await git());
    await prepareShallowPush(branchSha, { shell: runtime.shell, cwd: runtime.cwd, logger });
  }
  // what git and Dokku print during the push, read as it streams (no extra round trip)
  let upToDate = false;
  let notDeployed = false;
  const watching = new Proxy(logger, {
    get(target, property) {
      if (property === "output") {
        return (line: string) => {
          if (/Everything up-to-date/.test(line)) upToDate = true;
          if (/WARNING: deploy did not complete/.test(line)) notDeployed = true;
          target.output(line);
        };
      }
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const pushTo = async (remoteSha: string | null) => {
    try {
      await push({
        ...await git(),
        logger: watching,
        url,
        sha: commit.sha,
        branch,
        remoteSha,
        force: d.force,
      });
    } catch (error: unknown) {
      if (runtime.signal.aborted) await cancelBuild(dokku, app, version, logger);
      throw error;
    }
  };
  await pushTo(branchSha);
  if (notDeployed) {
    throw new DeployError(
      `Dokku did not deploy ${commit.shortSha}: it says the push did not go to ${app}'s deploy branch`,
    );
  }
  if (!upToDate) return;
  // the push changed nothing: the branch was there already (a git:sync without a build), so
  // Dokku built nothing. A tag named like the deploy branch makes it build and record the
  // commit (>= 0.31.1); the tag is removed after (a deletion builds nothing)
  if (!dokkuHas(version, "deployFromTag")) {
    logger.info(
      `${branch} already pointed at ${commit.shortSha}, which Dokku had not deployed: ` +
        `rebuilding it (ps:rebuild; Dokku ${version} will not record it as deployed)`,
    );
    await dokku(rebuildCommand(app), { logger });
    return;
  }
  logger.info(
    `${branch} already pointed at ${commit.shortSha}, which Dokku had not deployed ` +
      `(a git:sync without --build?): pushing it as the tag ${branch}, which Dokku deploys`,
  );
  const env = { ...(await git()).env, GIT_TERMINAL_PROMPT: "0" };
  const tag = `refs/tags/${branch}`;
  try {
    await runtime.shell.run(["git", "push", "--force", url, `${commit.sha}:${tag}`], {
      cwd: runtime.cwd,
      env,
      logger,
    });
  } finally {
    await runtime.shell.run(["git", "push", "--quiet", url, `:${tag}`], {
      cwd: runtime.cwd,
      env,
      noThrow: true,
    });
  }
  if (server.deployed === undefined || await deployedNow(dokku, app) === commit.sha) return;
  throw new DeployError(
    `Dokku did not deploy ${commit.shortSha}: after the push, apps:report still names ` +
      `${(await deployedNow(dokku, app))?.slice(0, 7) ?? "no deploy"}`,
  );
}
