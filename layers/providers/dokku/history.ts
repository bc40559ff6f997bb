/**
 * Making a shallow clone's history sufficient before the first push to Dokku. Dokku's pre-receive
 * hook builds and deploys before git checks the push (git's receive-pack feeds the hook every ref,
 * the refused ones too), so a push that git then refuses with "shallow update not allowed" has
 * already been deployed once, and a retry deploys it twice (issue 9, behaviour 10).
 *
 * A push is accepted when every shallow root of the clone is a commit the server has: here, an
 * ancestor of the branch the push updates. Otherwise the whole history is fetched first.
 * @module
 */
import { DeployError } from "../../../src/errors.ts";
import type { Shell } from "../../../src/shell.ts";
import type { Logger } from "../../../src/logger.ts";

/** Where the repository is and how to run git. */
export interface HistoryOptions {
  /** Runs git. */
  shell: Shell;
  /** The repository. */
  cwd: string;
  /** Says what is fetched. */
  logger: Logger;
}

/**
 * The shallow roots of the clone that `serverSha` does not contain (all of them when the server's
 * branch is null or unknown here); empty for a complete clone.
 */
export async function rootsMissingOnServer(
  serverSha: string | null,
  options: HistoryOptions,
): Promise<string[]> {
  const git = (args: string[]) =>
    options.shell.run(["git", ...args], { cwd: options.cwd, noThrow: true });
  const shallowFile = (await git(["rev-parse", "--git-path", "shallow"])).stdout.trim();
  let roots: string[] = [];
  try {
    roots = (await Deno.readTextFile(`${options.cwd}/${shallowFile}`)).split("\n").filter(Boolean);
  } catch {
    return []; // no shallow file: a complete clone
  }
  if (serverSha === null || (await git(["cat-file", "-e", `${serverSha}^{commit}`])).code !== 0) {
    return roots;
  }
  const missing: string[] = [];
  for (const root of roots) {
    if ((await git(["merge-base", "--is-ancestor", root, serverSha])).code !== 0) {
      missing.push(root);
    }
  }
  return missing;
}

// deepen this far, step by step, before fetching the whole history
const DEEPEN_STEPS = [50, 500, 5000];

/**
 * Makes a shallow clone's history sufficient for a push onto `serverSha` (the server branch's
 * commit, null when it has none): deepens step by step until every shallow root is in the history
 * of `serverSha`, then, if some still is not, fetches the whole history. Nothing happens for a
 * complete clone.
 */
export async function prepareShallowPush(
  serverSha: string | null,
  options: HistoryOptions,
): Promise<void> {
  const git = (args: string[]) =>
    options.shell.run(["git", ...args], { cwd: options.cwd, noThrow: true });
  if ((await git(["rev-parse", "--is-shallow-repository"])).stdout.trim() !== "true") return;
  if (serverSha !== null) {
    for (const depth of DEEPEN_STEPS) {
      if ((await rootsMissingOnServer(serverSha, options)).length === 0) return;
      options.logger.info(
        `Shallow clone: fetching ${depth} more commits to reach the deployed ${
          serverSha.slice(0, 7)
        }`,
      );
      await git(["fetch", "--quiet", `--deepen=${depth}`, await remoteOf(options)]);
    }
  }
  if ((await rootsMissingOnServer(serverSha, options)).length > 0) await unshallow(options);
}

async function remoteOf(options: HistoryOptions): Promise<string> {
  const remotes = (await options.shell.run(["git", "remote"], { cwd: options.cwd })).stdout
    .split("\n").filter(Boolean);
  const remote = remotes.includes("origin") ? "origin" : remotes[0];
  if (!remote) {
    throw new DeployError(
      "This is a shallow clone without a remote to fetch its history from: clone it fully (GIT_DEPTH: 0)",
    );
  }
  return remote;
}

/** Fetches the whole history from the clone's own remote ("origin", else the first one). */
export async function unshallow(options: HistoryOptions): Promise<void> {
  options.logger.info(
    "Shallow clone: Dokku lacks part of this history, fetching all of it before the push " +
      "(a shallow push would be built, then refused)",
  );
  await options.shell.run(["git", "fetch", "--unshallow", "--quiet", await remoteOf(options)], {
    cwd: options.cwd,
    env: { GIT_TERMINAL_PROMPT: "0" },
  });
}
