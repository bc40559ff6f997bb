/**
 * Following a Heroku release after the push: finding the release the push created, releasing a
 * commit's slug again, and waiting until the release has succeeded or failed while its release
 * phase's output streams into the log.
 *
 * @module
 */
import { CommandError, DeployError, errorMessage } from "../../../src/errors.ts";
import type { HerokuApi, HerokuRelease } from "./api.ts";
import type { Logger } from "../../../src/logger.ts";
import { parseProcfile } from "../../../src/procfile.ts";
import { delay } from "../../../src/delay.ts";
import { LineSplitter, TailBuffer } from "../../../src/lines.ts";

// how often a pending release is asked about: quickly at first, then every few seconds
const POLL_MS = [250, 500, 1_000, 2_000, 3_000];
// Heroku creates the release while the push runs; allow for a slow API before calling it missing
const NEW_RELEASE_WAIT_MS = 60_000;
// releases scanned for a slug of the commit to release again
const RELEASE_SCAN = 20;

/** Finds the commit a slug was built from; each slug is asked about once. */
export type SlugCommits = (slugId: string) => Promise<string | null>;

/** The API's {@linkcode SlugCommits}, remembering each answer for the run of one search. */
export function slugCommits(api: HerokuApi, app: string): SlugCommits {
  const known = new Map<string, Promise<string | null>>();
  return (slugId) => {
    if (!known.has(slugId)) known.set(slugId, api.slugCommit(app, slugId));
    return known.get(slugId)!;
  };
}

/**
 * The release that belongs to `sha`: the newest of `releases` (newest first) whose slug was built
 * from it, after version `after`. Config-only releases reuse the previous slug, so "the newest
 * release" and "the release of this commit" differ; only the slug's commit tells.
 */
export async function releaseOfCommit(
  releases: readonly HerokuRelease[],
  sha: string,
  commitOf: SlugCommits,
  after = 0,
): Promise<HerokuRelease | undefined> {
  for (const release of releases) {
    if (release.version <= after || !release.slug) continue;
    if (await commitOf(release.slug.id) === sha) return release;
  }
  return undefined;
}

/** Waits for the release that the push of `sha` created (a version after `versionBefore`). */
export async function newRelease(
  api: HerokuApi,
  app: string,
  sha: string,
  versionBefore: number,
  signal: AbortSignal,
): Promise<HerokuRelease> {
  const deadline = Date.now() + NEW_RELEASE_WAIT_MS;
  const commitOf = slugCommits(api, app);
  for (let poll = 0;; poll++) {
    const releases = await api.latestReleases(app, 5);
    const release = await releaseOfCommit(releases, sha, commitOf, versionBefore);
    if (release) return release;
    if (Date.now() > deadline) {
      throw new DeployError(
        `The push of ${sha.slice(0, 7)} succeeded, but Heroku created no release of it within ${
          NEW_RELEASE_WAIT_MS / 1000
        }s`,
      );
    }
    await delay(POLL_MS[Math.min(poll, POLL_MS.length - 1)]!, signal);
  }
}

/** Creates a new release from the newest slug built from `sha` (like `heroku releases:retry`). */
export async function releaseAgain(
  api: HerokuApi,
  app: string,
  sha: string,
  logger: Logger,
): Promise<HerokuRelease> {
  const releases = await api.latestReleases(app, RELEASE_SCAN);
  const release = await releaseOfCommit(releases, sha, slugCommits(api, app));
  if (release?.slug) {
    logger.info(
      `Heroku's repo already has ${
        sha.slice(0, 7)
      } (release v${release.version}, ${release.status}), but the app does not run it: releasing it again`,
    );
    return await api.createRelease(
      app,
      release.slug.id,
      `Deploy of ${sha.slice(0, 7)}, again (v${release.version} ${release.status})`,
    );
  }
  throw new DeployError(
    `Heroku's repo already has ${
      sha.slice(0, 7)
    }, but no recent release was built from it: push a new commit`,
  );
}

/** How {@linkcode followRelease} waits. */
export interface FollowOptions {
  /** Receives the release phase's output and the messages. */
  logger: Logger;
  /** HEROKU_RELEASE_TIMEOUT in milliseconds, for the message. */
  timeoutMs: number;
  /** When to give up (ms since the epoch). @default now + timeoutMs */
  deadline?: number;
  /** The run's cancellation. */
  signal: AbortSignal;
  /** The Procfile's release command, for the failure. */
  releaseCommand: string | undefined;
  /**
   * Show the release phase's output. A push already showed it: Heroku's `git push` prints it as
   * `remote:` lines before it ends, so it is read again only for a failure's tail. @default true
   */
  showOutput?: boolean;
}

/** Follows a release until it has succeeded or failed, streaming its release phase's output. */
export async function followRelease(
  api: HerokuApi,
  app: string,
  first: HerokuRelease,
  options: FollowOptions,
): Promise<void> {
  const { logger } = options;
  const show = options.showOutput ?? true;
  const deadline = options.deadline ?? Date.now() + options.timeoutMs;
  const tail = new TailBuffer();
  let release = first;
  let streamed = false;
  let announced = false;
  const stream = async () => {
    if (streamed || !release.output_stream_url) return;
    if (show && !announced) logger.info(`Release v${release.version}: release phase output`);
    announced = true;
    streamed = await streamOutput(
      api,
      release.output_stream_url,
      deadline,
      options.signal,
      (line) => {
        if (show) logger.output(line);
        tail.push(logger.mask(line));
      },
    );
  };
  for (let poll = 0; release.status === "pending"; poll++) {
    // the output is for the reader: failing to show it must not fail a release that succeeds
    if (show) {
      await stream().catch((error: unknown) => {
        streamed = true;
        logger.warn(`Cannot show the release phase's output: ${errorMessage(error)}`);
      });
    }
    if (Date.now() > deadline) {
      throw new DeployError(
        `Release v${release.version} still pending after ${
          options.timeoutMs / 1000
        }s (HEROKU_RELEASE_TIMEOUT)`,
      );
    }
    await delay(POLL_MS[Math.min(poll, POLL_MS.length - 1)]!, options.signal);
    release = await api.release(app, release.id);
  }
  if (release.status === "succeeded") {
    // a release phase that ended before we looked: its output is still worth showing
    if (show) {
      await stream().catch((error: unknown) =>
        logger.warn(`Cannot show the release phase's output: ${errorMessage(error)}`)
      );
    }
    return;
  }
  // the output of a release that failed fast may not have been read yet
  await stream().catch((error: unknown) =>
    logger.warn(`Cannot show the release phase's output: ${errorMessage(error)}`)
  );
  const what = release.output_stream_url
    ? "its release phase failed"
    : `its status is ${release.status}`;
  throw new CommandError(
    `Release v${release.version} failed: ${what}; the app still runs the previous release`,
    {
      command: options.releaseCommand
        ? `release: ${options.releaseCommand}`
        : `release v${release.version}`,
      exitCode: null,
      output: tail.lines(),
    },
  );
}

/** Reads a release's output stream line by line; false when it is not available (yet). */
export async function streamOutput(
  api: HerokuApi,
  url: string,
  deadline: number,
  signal: AbortSignal,
  onLine: (line: string) => void,
): Promise<boolean> {
  const response = await api.outputStream(url);
  if (response.status === 404) {
    // the release command has not started yet: the caller asks again later (the Heroku CLI
    // retries a 404 too: heroku/cli src/lib/container/streamer.ts:15 at c5fbf4b)
    await response.body?.cancel();
    return false;
  }
  if (response.status === 204) {
    // the stream has ended, and holds nothing
    await response.body?.cancel();
    return true;
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new DeployError(
      `Cannot read the release phase's output: ${response.status} from output_stream_url`,
    );
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const timer = setTimeout(
    () => reader.cancel().catch(() => {}),
    Math.max(0, deadline - Date.now()),
  );
  const onAbort = () => reader.cancel().catch(() => {});
  signal.addEventListener("abort", onAbort, { once: true });
  const lines = new LineSplitter((raw) => onLine(raw.replace(/\r$/, "")));
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      // Heroku's stream service sends NUL bytes to keep a silent connection open (heroku/busl
      // pull requests #99 and #100): they are not output
      lines.push(value.replaceAll("\0", ""));
    }
    lines.end();
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", onAbort);
  }
  signal.throwIfAborted();
  return true;
}

/** The Procfile's `release:` command, for messages; undefined when there is none. */
export async function releaseCommand(cwd: string): Promise<string | undefined> {
  try {
    return parseProcfile(await Deno.readTextFile(`${cwd}/Procfile`)).types.get("release");
  } catch {
    return undefined;
  }
}

/** The release the app runs: the one marked current, else the newest that succeeded. */
export function currentRelease(releases: readonly HerokuRelease[]): HerokuRelease | undefined {
  return releases.find((r) => r.current) ?? releases.find((r) => r.status === "succeeded");
}
