/**
 * The git concern, shared by the providers: what the server runs (`ls-remote`), pushing a commit
 * (with shallow-clone handling and FORCE_PUSH), and reading the commit being deployed.
 *
 * @module
 */
import type { Commit } from "./context.ts";
import { CommandError, DeployError } from "./errors.ts";
import type { Logger } from "./logger.ts";
import type { Shell } from "./shell.ts";

/** How git commands run. */
export interface GitOptions {
  /** Runs the commands. */
  shell: Shell;
  /** The repository. */
  cwd: string;
  /** Extra environment (GIT_SSH_COMMAND, credentials). @default none */
  env?: Record<string, string>;
  /** Receives the commands and their output. @default quiet */
  logger?: Logger;
}

/** The sha of `ref` on the remote at `url`, or null when the remote has no such ref. */
export async function lsRemote(
  url: string,
  ref: string,
  options: GitOptions,
): Promise<string | null> {
  const { stdout } = await git(["ls-remote", url, ref], { ...options, logger: undefined });
  const line = stdout.split("\n").find((l) => l.endsWith(`\t${ref}`));
  return line?.split("\t")[0] ?? null;
}

/** Options of {@linkcode push}. */
export interface PushOptions extends GitOptions {
  /** Where to push. */
  url: string;
  /** The commit to push. */
  sha: string;
  /** The branch to update on the remote. */
  branch: string;
  /** What the remote's branch points at now (from {@linkcode lsRemote}), null when it has none. */
  remoteSha: string | null;
  /** Push with --force (FORCE_PUSH=true). @default false */
  force?: boolean;
  /** The name of the variable that turns force on, for the rejection message. @default "FORCE_PUSH" */
  forceVariable?: string;
}

// deepen a shallow clone this far, step by step, before fetching the rest of the commit's history
const DEEPEN_STEPS = [50, 500, 5000];

/**
 * Pushes `sha` to `refs/heads/<branch>`. A shallow clone is deepened until the remote's commit is
 * an ancestor of `sha` (present is not enough: another branch may have brought it in without the
 * history between), and unshallowed only when the remote lacks the history (a new app). A
 * non-fast-forward rejection names FORCE_PUSH only when the remote's branch really diverged.
 */
export async function push(options: PushOptions): Promise<void> {
  if (await isShallow(options)) {
    if (options.remoteSha) await deepenUntilAncestor(options.remoteSha, options);
    // a server without any of this history needs all of it: a shallow push would be refused there,
    // after Dokku had built it once already
    else await unshallow(options);
  }
  const args = [
    "push",
    ...(options.force ? ["--force"] : []),
    options.url,
    `${options.sha}:refs/heads/${options.branch}`,
  ];
  let result = await git(args, { ...options, noThrow: true });
  // the server lacked more history than its branch showed (a ref deleted under it)
  if (
    result.code !== 0 && /shallow update not allowed/.test(result.output) &&
    await isShallow(options)
  ) {
    await unshallow(options);
    result = await git(args, { ...options, noThrow: true });
  }
  if (result.code === 0) return;
  if (/\[rejected\].*\((fetch first|non-fast-forward)\)/.test(result.output)) {
    throw await rejection(options, result);
  }
  throw result.error;
}

// a rejected push: a diverged branch (FORCE_PUSH), or a branch that moved since ls-remote
async function rejection(options: PushOptions, result: GitResult): Promise<DeployError> {
  const short = options.sha.slice(0, 7);
  if (options.remoteSha && await isAncestor(options.remoteSha, options.sha, options)) {
    return new DeployError(
      `The server's ${options.branch} branch moved while ${short} was being pushed ` +
        `(another deploy?): run the deploy again`,
      { cause: result.error },
    );
  }
  const variable = options.forceVariable ?? "FORCE_PUSH";
  return new DeployError(
    `The server's ${options.branch} branch has commits that ${short} does not contain ` +
      `(non-fast-forward). Deploy a commit that contains them, or set ${variable}=true to overwrite them`,
    { cause: result.error },
  );
}

/** Reads the commit `rev` (sha, short sha, title, author). */
export async function readCommit(rev: string, options: GitOptions): Promise<Commit> {
  const { stdout } = await git(["log", "-1", "--format=%H%x00%h%x00%s%x00%an", rev, "--"], options);
  const [sha = rev, , title = "", author = ""] = stdout.trim().split("\0");
  return { sha, shortSha: sha.slice(0, 7), title, author };
}

/** The branch checked out, or undefined on a detached HEAD. */
export async function currentBranch(options: GitOptions): Promise<string | undefined> {
  const { stdout } = await git(["rev-parse", "--abbrev-ref", "HEAD"], {
    ...options,
    noThrow: true,
  });
  const branch = stdout.trim();
  return branch && branch !== "HEAD" ? branch : undefined;
}

async function isShallow(options: GitOptions): Promise<boolean> {
  const { stdout } = await git(["rev-parse", "--is-shallow-repository"], {
    ...options,
    logger: undefined,
  });
  return stdout.trim() === "true";
}

async function unshallow(options: PushOptions): Promise<void> {
  options.logger?.info("Shallow clone: the server lacks this history, fetching all of it");
  const remote = await fetchRemote(options);
  await fetchFrom(remote, ["--unshallow"], options);
}

/** Whether `ancestor` is `sha` or one of its ancestors in the history this clone holds. */
async function isAncestor(ancestor: string, sha: string, options: GitOptions): Promise<boolean> {
  // exit 1: not an ancestor; 128: unknown commit. A shallow boundary hides older parents, so a
  // commit that another branch brought in is not an ancestor until the history between arrives.
  const { code } = await git(["merge-base", "--is-ancestor", ancestor, sha], {
    ...options,
    logger: undefined,
    noThrow: true,
  });
  return code === 0;
}

async function deepenUntilAncestor(remoteSha: string, options: PushOptions): Promise<void> {
  if (await isAncestor(remoteSha, options.sha, options)) return;
  const remote = await fetchRemote(options);
  for (const depth of DEEPEN_STEPS) {
    options.logger?.info(
      `Shallow clone: fetching ${depth} more commits to reach the deployed ${
        remoteSha.slice(0, 7)
      }`,
    );
    await fetchFrom(remote, [`--deepen=${depth}`], options);
    if (await isAncestor(remoteSha, options.sha, options)) return;
  }
  // still not reached: with the whole history of the commit, a rejected push means a diverged
  // branch, and only then is FORCE_PUSH the advice
  if (!await isShallow(options)) return;
  options.logger?.info(
    `Shallow clone: ${remoteSha.slice(0, 7)} is not within ${
      DEEPEN_STEPS.at(-1)
    } commits, fetching the rest of the history`,
  );
  await fetchFrom(remote, ["--unshallow"], options);
}

/**
 * Fetches `flags` (a deepening) for the commit being deployed only. The clone's refspec
 * (`+refs/heads/*:refs/remotes/origin/*`, which GitLab Runner and actions/checkout configure) would
 * fetch every branch, each with its own shallow history. A server that refuses a commit that is not
 * a branch tip (uploadpack.allowReachableSHA1InWant off) gets the refspec's fetch instead.
 */
async function fetchFrom(remote: string, flags: string[], options: PushOptions): Promise<void> {
  const bySha = await git(
    ["fetch", "--quiet", "--no-tags", ...flags, remote, options.sha],
    { ...originOptions(options), noThrow: true },
  );
  if (bySha.code === 0) return;
  options.logger?.info(
    `The remote ${remote} does not serve ${
      options.sha.slice(0, 7)
    } by itself, fetching its branches`,
  );
  await git(["fetch", "--quiet", ...flags, remote], originOptions(options));
}

// history comes from the clone's own remote, which the provider's SSH key or credentials are not for
function originOptions(options: GitOptions): GitOptions {
  return { ...options, env: undefined };
}

async function fetchRemote(options: GitOptions): Promise<string> {
  const { stdout } = await git(["remote"], { ...options, logger: undefined });
  const remotes = stdout.split("\n").filter(Boolean);
  const remote = remotes.includes("origin") ? "origin" : remotes[0];
  if (!remote) {
    throw new DeployError(
      "This is a shallow clone without a remote to fetch its history from: clone it fully (GIT_DEPTH: 0)",
    );
  }
  return remote;
}

interface GitResult {
  code: number;
  stdout: string;
  output: string;
  error?: CommandError;
}

async function git(
  args: string[],
  options: GitOptions & { noThrow?: boolean },
): Promise<GitResult> {
  const result = await options.shell.run(["git", ...args], {
    cwd: options.cwd,
    env: { GIT_TERMINAL_PROMPT: "0", ...options.env },
    logger: options.logger,
    noThrow: options.noThrow,
  });
  return {
    code: result.code,
    stdout: result.stdout,
    output: result.stdout + result.stderr,
    // the shell's masked command text and output, under a message that names the git command
    ...(result.error
      ? {
        error: new CommandError(`git ${args[0]} failed with exit code ${result.code}`, {
          command: result.error.command,
          exitCode: result.code,
          output: result.error.output,
          cause: result.error,
        }),
      }
      : {}),
  };
}
