/**
 * The Heroku provider: pushes over HTTPS to `$HEROKU_GIT_URL/<app>.git` and talks to the Platform
 * API directly (no Heroku CLI). The push lasts until the release phase ends, as on Heroku; then the
 * new release is followed until it has `succeeded` or `failed`, so a failed release phase fails the
 * run, and HEROKU_RELEASE_TIMEOUT bounds the push and the wait together.
 *
 * @module
 */
import { z } from "zod";
import { configProblem, createHerokuApi, type HerokuRelease } from "./heroku/api.ts";
import { gitCredentialEnv } from "./heroku/credentials.ts";
import { defineProvider, type ProcessAction } from "../../src/provider.ts";
import { seconds, variable } from "../../src/variables.ts";
import { deployCommit } from "./heroku/deploy.ts";
import { currentRelease } from "./heroku/release.ts";
import { runOneOff } from "./heroku/run.ts";
import { createHistoryApi } from "./heroku/history.ts";
import {
  findHerokuRollback,
  HEROKU_ROLLBACK_TO,
  herokuRollback,
  herokuRollbackPoint,
} from "./heroku/rollback.ts";
import { herokuStatus } from "./heroku/status.ts";
import { herokuReview } from "./heroku/review.ts";

/** Heroku's rule for app names: lowercase letters, digits and dashes, starting with a letter. */
export const HEROKU_APP_NAME = /^[a-z][a-z0-9-]{1,28}[a-z0-9]$/;

/** The branch Heroku builds. */
export const HEROKU_BRANCH = "main";

const APP_NAME_RULE =
  "expected 3 to 30 lowercase letters, digits and dashes, starting with a letter";

const baseUrl = (what: string) =>
  z.string().regex(/^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/, {
    error: `expected the ${what}'s http(s) URL`,
  })
    .transform((url) => url.replace(/\/+$/, ""));

const variables = z.object({
  HEROKU_API_KEY: variable(
    z.string({ error: "expected a Heroku API key (heroku authorizations:create)" }).min(1),
    {
      description: "Heroku API key of a user with deploy access to the app",
      secret: true,
    },
  ),
  // checked below: only the name in use must follow Heroku's rule
  APP_NAME: variable(z.string().optional(), {
    description: "The Heroku app (HEROKU_APP overrides it)",
    example: "shop",
  }),
  HEROKU_APP: variable(z.string().regex(HEROKU_APP_NAME, { error: APP_NAME_RULE }).optional(), {
    description: "The Heroku app, when it differs from APP_NAME",
    example: "shop-staging",
  }),
  HEROKU_API_URL: variable(baseUrl("Platform API").default("https://api.heroku.com"), {
    description: "Base URL of the Heroku Platform API (a proxy, or a stand-in in tests)",
  }),
  HEROKU_GIT_URL: variable(baseUrl("Heroku git server").default("https://git.heroku.com"), {
    description: "Base URL of Heroku's git server; the app's repo is <url>/<app>.git",
  }),
  // Heroku stops a build after 15 minutes and a release phase after an hour (Dev Center: Slug
  // Compiler; Release Phase, "The release phase has a 1-hour timeout"): the default allows both
  HEROKU_RELEASE_TIMEOUT: seconds(
    {
      description:
        "Seconds the push (build and release phase: Heroku's push waits for both) and the release may take together",
    },
    4500,
  ),
})
  // `when`: report a missing app name together with the other problems, not after they are fixed
  .refine((vars) => vars.HEROKU_APP !== undefined || vars.APP_NAME !== undefined, {
    path: ["APP_NAME"],
    error: "expected the Heroku app's name in APP_NAME or HEROKU_APP",
    when: () => true,
  })
  .refine(
    (vars) =>
      vars.HEROKU_APP !== undefined || vars.APP_NAME === undefined ||
      HEROKU_APP_NAME.test(vars.APP_NAME),
    { path: ["APP_NAME"], error: APP_NAME_RULE, when: () => true },
  );

const RUN_TIMEOUT_MS = 30 * 60_000;
// releases scanned for the deployed commit
const RELEASE_SCAN = 20;

export default defineProvider({
  name: "heroku",
  label: "Heroku",
  description:
    "Deploys to Heroku: git push over HTTPS, then follows the release through the Platform API",
  variables,
  // Heroku runs the Procfile's release: process before it releases
  capabilities: ["release-phase", "rollback", "release-history", "app-creation", "review-apps"],
  rollbackTo: { pattern: HEROKU_ROLLBACK_TO, expected: "a release as v123, 123, or a release id" },
  review: herokuReview<z.output<typeof variables>>(),
  steps: {
    connect: "check the API key and the app",
    deploy: (app) => `push the commit to ${app} and follow its release`,
    redeploy: "restarting its dynos",
  },
  create({ config, core, runtime, logger }) {
    const app = config.HEROKU_APP ?? config.APP_NAME!;
    const appVariable = config.HEROKU_APP ? "HEROKU_APP" : "APP_NAME";
    const apiKey = config.HEROKU_API_KEY;
    runtime.secrets.add(apiKey);
    const gitUrl = `${config.HEROKU_GIT_URL}/${app}.git`;
    const api = createHerokuApi({
      apiUrl: config.HEROKU_API_URL,
      apiKey,
      fetch: runtime.fetch,
      secrets: runtime.secrets,
      // a cancelled run still restarts the workers it quieted
      signal: runtime.undoSignal,
      onRetry: (info) =>
        logger.warn(
          `Heroku API ${info.request} answered ${info.reason}: retrying in ${
            (info.delayMs / 1000).toFixed(1)
          }s`,
        ),
    });
    const git = {
      shell: runtime.shell,
      cwd: runtime.cwd,
      // git asks this helper for the password; the key stays in the environment, never in an argv
      env: gitCredentialEnv(apiKey),
    };
    let versionBefore = 0;
    let releasesAtStart: HerokuRelease[] | undefined;
    let releaseBefore: HerokuRelease | undefined;
    const history = createHistoryApi({
      apiUrl: config.HEROKU_API_URL,
      apiKey,
      fetch: runtime.fetch,
      secrets: runtime.secrets,
      signal: runtime.undoSignal,
    });
    const rollbackDeps = {
      api,
      history,
      app,
      logger,
      timeoutMs: config.HEROKU_RELEASE_TIMEOUT * 1000,
      signal: runtime.undoSignal,
    };

    return {
      app,
      async connect() {
        const info = await api.app(app).catch((error: unknown) => {
          throw configProblem(error, app, appVariable);
        });
        const releases = await api.latestReleases(app, RELEASE_SCAN);
        // deployedCommit(), right after configure, reads the same list
        releasesAtStart = releases;
        versionBefore = releases[0]?.version ?? 0;
        const current = currentRelease(releases);
        releaseBefore = current;
        const latest = releases[0];
        const newer = latest && latest !== current
          ? `; latest v${latest.version} is ${latest.status}`
          : "";
        logger.info(
          `App ${info.name}: stack ${info.stack?.name ?? "unknown"}, region ${
            info.region?.name ?? "unknown"
          }, current release ${current ? `v${current.version}` : "none"}${newer}`,
        );
      },
      async deployedCommit() {
        // the current release's slug, not the git repo: a push whose release failed is not deployed
        const releases = releasesAtStart ?? await api.latestReleases(app, RELEASE_SCAN);
        releasesAtStart = undefined;
        const current = currentRelease(releases);
        if (!current?.slug) return null;
        return await api.slugCommit(app, current.slug.id);
      },
      async deploy(commit) {
        const release = await deployCommit(commit, {
          api,
          app,
          gitUrl,
          branch: HEROKU_BRANCH,
          git,
          logger,
          signal: runtime.signal,
          timeoutMs: config.HEROKU_RELEASE_TIMEOUT * 1000,
          force: core.FORCE_PUSH,
          versionBefore,
        });
        logger.success(`Release v${release.version} of ${commit.shortSha} succeeded`);
        return { release: `v${release.version}` };
      },
      async redeploy() {
        await api.restartAll(app);
        logger.success(`Restarted the dynos of ${app}`);
      },
      async run(cmd, options) {
        return await runOneOff(api, app, cmd, {
          logger: options.stream === false ? undefined : logger,
          timeoutMs: options.timeoutMs ?? RUN_TIMEOUT_MS,
          noThrow: options.noThrow ?? false,
          signal: runtime.undoSignal(),
          mask: (text) => runtime.secrets.mask(text),
        });
      },
      async process(type: string, action: ProcessAction) {
        if (action === "restart") {
          await api.restartType(app, type);
        } else if (action === "stop") {
          await api.stopType(app, type);
        } else {
          const formation = await api.formation(app, type);
          if (formation.quantity === 0) await api.scale(app, type, 1);
          else await api.restartType(app, type);
        }
        logger.info(`${action}: ${type} dynos of ${app}`);
      },
      rollbackPoint: (deployedBefore) =>
        Promise.resolve(herokuRollbackPoint(releaseBefore, deployedBefore)),
      findRollback: (to) => findHerokuRollback(rollbackDeps, to),
      rollback: (target) => herokuRollback(rollbackDeps, target),
      status: () => herokuStatus(api, history, app),
    };
  },
});
