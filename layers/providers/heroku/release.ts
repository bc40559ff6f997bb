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
import { TAIL_LINES } from "../../../src/shell.ts";

// how often a pending release is asked about: quickly at first, then every few seconds
const POLL_MS = [250, 500, 1_000, 2_000, 3_000];
// Heroku creates the release while the push runs; allow for a slow API before calling it missing
const NEW_RELEASE_WAIT_MS = 60_000;
// releases scanned for a slug of the commit to release again
const RELEASE_SCAN = 20;

/** Waits for the release that the push of `sha` created (a version after `versionBefore`). */
export async function newRelease(
  api: HerokuApi,
  app: string,
  sha: string,
  versionBefore: number,
  signal: AbortSignal,
): Promise<HerokuRelease> {
  const deadline = Date.now() + NEW_RELEASE_WAIT_MS;
  for (let poll = 0;; poll++) {
    const releases = await api.latestReleases(app, 5);
    for (const release of releases) {
      if (release.version <= versionBefore || !release.slug) continue;
      if (await api.slugCommit(app, release.slug.id) === sha) return release;
    }
    if (Date.now() > deadline) {
      throw new DeployError(
        `The push of ${sha.slice(0, 7)} succeeded, but Heroku created no release of it within ${
          NEW_RELEASE_WAIT_MS / 1000
        }s`,
      );
    }
    await sleep(POLL_MS[Math.min(poll, POLL_MS.length - 1)]!, signal);
  }
}

/** Creates a new release from the newest slug built from `sha` (like `heroku releases:retry`). */
export async function releaseAgain(
  api: HerokuApi,
  app: string,
  sha: string,
  logger: Logger,
): Promise<HerokuRelease> {
  for (const release of await api.latestReleases(app, RELEASE_SCAN)) {
    if (!release.slug || await api.slugCommit(app, release.slug.id) !== sha) continue;
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
  logger: Logger;
  timeoutMs: number;
  signal: AbortSignal;
  releaseCommand: string | undefined;
}

/** Follows a release until it has succeeded or failed, streaming its release phase's output. */
export async function followRelease(
  api: HerokuApi,
  app: string,
  first: HerokuRelease,
  options: FollowOptions,
): Promise<void> {
  const { logger } = options;
  const deadline = Date.now() + options.timeoutMs;
  const tail: string[] = [];
  let release = first;
  let streamed = false;
  let announced = false;
  const stream = async () => {
    if (streamed || !release.output_stream_url) return;
    if (!announced) logger.info(`Release v${release.version}: release phase output`);
    announced = true;
    streamed = await streamOutput(
      api,
      release.output_stream_url,
      deadline,
      options.signal,
      (line) => {
        logger.output(line);
        tail.push(logger.mask(line));
        if (tail.length > TAIL_LINES) tail.shift();
      },
    );
  };
  for (let poll = 0; release.status === "pending"; poll++) {
    // the output is for the reader: failing to show it must not fail a release that succeeds
    await stream().catch((error: unknown) => {
      streamed = true;
      logger.warn(`Cannot show the release phase's output: ${errorMessage(error)}`);
    });
    if (Date.now() > deadline) {
      throw new DeployError(
        `Release v${release.version} still pending after ${
          options.timeoutMs / 1000
        }s (HEROKU_RELEASE_TIMEOUT)`,
      );
    }
    await sleep(POLL_MS[Math.min(poll, POLL_MS.length - 1)]!, options.signal);
    release = await api.release(app, release.id);
  }
  if (release.status === "succeeded") {
    // a release phase that ended before we looked: its output is still worth showing
    await stream().catch((error: unknown) =>
      logger.warn(`Cannot show the release phase's output: ${errorMessage(error)}`)
    );
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
      output: tail,
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
    // the release command has not started yet: the caller asks again later
    await response.body?.cancel();
    return false;
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
  let pending = "";
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      const parts = (pending + value).split("\n");
      pending = parts.pop() ?? "";
      for (const part of parts) onLine(part.replace(/\r$/, ""));
    }
    if (pending !== "") onLine(pending);
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

/** Waits `ms`, or until the signal aborts (then throws its reason). */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** The release the app runs: the one marked current, else the newest that succeeded. */
export function currentRelease(releases: readonly HerokuRelease[]): HerokuRelease | undefined {
  return releases.find((r) => r.current) ?? releases.find((r) => r.status === "succeeded");
}
