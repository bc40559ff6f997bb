/**
 * Rolling a Heroku app back through the Platform API, as `heroku releases:rollback` does: a new
 * release made from an earlier release's slug and config vars (add-ons stay as they are). Only a
 * release that succeeded is a target. The new release is followed like a deploy's, release phase
 * included, so a rollback whose release fails fails too.
 *
 * @module
 */
import { ConfigError, DeployError } from "../../../src/errors.ts";
import { HttpError } from "../../../src/http.ts";
import type { Logger } from "../../../src/logger.ts";
import type { Deployed, RollbackTarget } from "../../../src/provider.ts";
import type { HerokuApi, HerokuRelease } from "./api.ts";
import { type HerokuHistoryApi, type HistoryRelease, runningRelease } from "./history.ts";
import { followRelease } from "./release.ts";

/** What `deploy rollback --to` accepts on Heroku: `v123`, `123`, or a release id (a uuid). */
export const HEROKU_ROLLBACK_TO =
  /^(v?\d+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i;

// releases scanned for the one before the current one
const RELEASE_SCAN = 20;

/** What the rollback functions need from the provider. */
export interface HerokuRollbackDeps {
  /** The provider's API client (slugs, release polling, output stream). */
  api: HerokuApi;
  /** The history's client (releases with their eligibility, the rollback call). */
  history: HerokuHistoryApi;
  /** The app. */
  app: string;
  /** The provider's logger. */
  logger: Logger;
  /** HEROKU_RELEASE_TIMEOUT in milliseconds. */
  timeoutMs: number;
  /** The signal of the work (the undo signal after a cancel). */
  signal: () => AbortSignal;
}

/**
 * After a failed deploy: the release that was current when `configure` looked, when it had
 * succeeded; null otherwise (a new app, or nothing succeeded before).
 */
export function herokuRollbackPoint(
  before: HerokuRelease | undefined,
  deployedBefore: string | null,
): RollbackTarget | null {
  if (!before || before.status !== "succeeded" || !before.slug) return null;
  return {
    commit: deployedBefore,
    release: `v${before.version}`,
    id: before.id,
    reason: "the release current before this deploy",
  };
}

/** `deploy rollback [--to v123|ID]`: the release to roll back to, only one that succeeded. */
export async function findHerokuRollback(
  deps: HerokuRollbackDeps,
  to: string | undefined,
): Promise<RollbackTarget> {
  const { app, history } = deps;
  let release: HistoryRelease;
  let reason: string;
  if (to !== undefined) {
    if (!HEROKU_ROLLBACK_TO.test(to)) {
      throw new ConfigError(`--to "${to}": expected a release as v123, 123, or a release id`);
    }
    // heroku/cli src/lib/releases/releases.ts (c5fbf4b) lines 16-19: "v123" is asked as "123"
    const key = /^v\d+$/i.test(to) ? to.slice(1) : to;
    try {
      release = await history.release(app, key);
    } catch (error: unknown) {
      if (error instanceof HttpError && error.status === 404) {
        throw new ConfigError(`--to ${to}: ${app} has no such release`, { cause: error });
      }
      throw error;
    }
    reason = `the release given with --to`;
  } else {
    const releases = await history.releases(app, RELEASE_SCAN);
    const current = runningRelease(releases);
    // heroku/cli src/lib/releases/releases.ts (c5fbf4b) line 39: the eligible release before the
    // current one
    const previous = releases.find((r) =>
      (!current || r.version < current.version) && r.status === "succeeded" && r.slug &&
      r.eligible_for_rollback !== false
    );
    if (!previous) {
      throw new ConfigError(
        `${app} has no succeeded release with code before ${
          current ? `v${current.version}` : "its first"
        } to roll back to`,
      );
    }
    release = previous;
    reason = `the release before ${current ? `v${current.version}` : "the latest"}`;
  }
  if (release.status !== "succeeded") {
    throw new ConfigError(
      `Cannot roll back to v${release.version}: its status is ${release.status}, and only a succeeded release can run again`,
    );
  }
  if (!release.slug || release.eligible_for_rollback === false) {
    throw new ConfigError(
      `Cannot roll back to v${release.version}: Heroku says it is not eligible`,
    );
  }
  const commit = await deps.api.slugCommit(app, release.slug.id);
  return { commit, release: `v${release.version}`, id: release.id, reason };
}

/** Creates the rollback release and follows it until it has succeeded. */
export async function herokuRollback(
  deps: HerokuRollbackDeps,
  target: RollbackTarget,
): Promise<Deployed> {
  if (!target.id) throw new DeployError(`Cannot roll back to ${target.release}: no release id`);
  deps.logger.info(
    `Creating a release of ${deps.app} from ${target.release}: its code and config vars (add-ons stay as they are)`,
  );
  const created = await deps.history.rollback(deps.app, target.id);
  await followRelease(deps.api, deps.app, created, {
    logger: deps.logger,
    timeoutMs: deps.timeoutMs,
    signal: deps.signal(),
    releaseCommand: undefined,
  });
  deps.logger.info(`Release v${created.version} runs ${target.release}'s code again`);
  return { release: `v${created.version}` };
}
