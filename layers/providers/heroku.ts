/**
 * The Heroku provider: pushes over HTTPS to `$HEROKU_GIT_URL/<app>.git` and talks to the Platform
 * API directly (no Heroku CLI). After the push it follows the new release until it has `succeeded`
 * or `failed`, release phase included, so a failed release phase fails the run.
 *
 * @module
 */
import { z } from "zod";
import { CommandError, ConfigError, DeployError } from "../../src/errors.ts";
import { lsRemote, push } from "../../src/git.ts";
import { createHerokuApi, type HerokuRelease } from "./heroku/api.ts";
import { HttpError } from "../../src/http.ts";
import { defineLayer } from "../../src/layer.ts";
import type { ProcessAction, Provider } from "../../src/provider.ts";
import { variable } from "../../src/variables.ts";
import { followRelease, newRelease, releaseAgain, releaseCommand } from "./heroku/release.ts";
import { runOneOff } from "./heroku/run.ts";

/** Heroku's rule for app names: lowercase letters, digits and dashes, starting with a letter. */
export const HEROKU_APP_NAME = /^[a-z][a-z0-9-]{1,28}[a-z0-9]$/;

/** The branch Heroku builds. */
export const HEROKU_BRANCH = "main";

/** A Heroku provider handle: the {@linkcode Provider} interface plus scaling. */
export interface HerokuProvider extends Provider {
  /** Sets the number of dynos of a process type (PATCH /apps/{app}/formation/{type}). */
  scale(type: string, quantity: number): Promise<void>;
}

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
  HEROKU_RELEASE_TIMEOUT: variable(
    z.string().regex(/^[1-9]\d*$/, { error: "expected a number of seconds" }).default("3600")
      .transform(Number),
    { description: "Seconds to wait for a release (its release phase included) to finish" },
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

export default defineLayer({
  name: "heroku",
  kind: "provider",
  description:
    "Deploys to Heroku: git push over HTTPS, then follows the release through the Platform API",
  variables,
  enabled: ({ vars }) => vars.DEPLOY_PROVIDER === "heroku",
  setup({ config, core, on, runtime }) {
    const app = config.HEROKU_APP ?? config.APP_NAME!;
    const appVariable = config.HEROKU_APP ? "HEROKU_APP" : "APP_NAME";
    const apiKey = config.HEROKU_API_KEY;
    // retries are logged under the step that made the call
    let logger = runtime.logger;
    runtime.secrets.add(apiKey);
    const gitUrl = `${config.HEROKU_GIT_URL}/${app}.git`;
    const api = createHerokuApi({
      apiUrl: config.HEROKU_API_URL,
      apiKey,
      fetch: runtime.fetch,
      secrets: runtime.secrets,
      signal: runtime.signal,
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

    on("configure", { priority: 10, description: "check the API key and the app" }, async (ctx) => {
      logger = ctx.logger;
      const info = await api.app(app).catch((error: unknown) => {
        throw configProblem(error, app, appVariable);
      });
      const releases = await api.latestReleases(app, RELEASE_SCAN);
      // deployedCommit(), right after configure, reads the same list
      releasesAtStart = releases;
      versionBefore = releases[0]?.version ?? 0;
      const current = currentRelease(releases);
      const latest = releases[0];
      const newer = latest && latest !== current
        ? `; latest v${latest.version} is ${latest.status}`
        : "";
      ctx.logger.info(
        `App ${info.name}: stack ${info.stack?.name ?? "unknown"}, region ${
          info.region?.name ?? "unknown"
        }, current release ${current ? `v${current.version}` : "none"}${newer}`,
      );
    });

    on(
      "deploy",
      { priority: 100, description: `push the commit to ${app} and follow its release` },
      async (ctx) => {
        logger = ctx.logger;
        const sha = ctx.commit.sha;
        if (ctx.deployedBefore === sha) {
          ctx.logger.info(
            `${app} already runs ${ctx.commit.shortSha}; FORCE_DEPLOY=true: restarting its dynos`,
          );
          await api.restartAll(app);
          ctx.logger.success(`Restarted the dynos of ${app}`);
          return;
        }
        const remoteSha = await lsRemote(gitUrl, `refs/heads/${HEROKU_BRANCH}`, git);
        let release: HerokuRelease;
        if (remoteSha === sha) {
          // the repo has the commit but the app does not run it (a failed release phase, a rollback):
          // a push would change nothing, so release the commit's slug again
          release = await releaseAgain(api, app, sha, ctx.logger);
        } else {
          ctx.logger.info(`Pushing ${ctx.commit.shortSha} to ${gitUrl} (branch ${HEROKU_BRANCH})`);
          try {
            await push({
              ...git,
              logger: ctx.logger,
              url: gitUrl,
              sha,
              branch: HEROKU_BRANCH,
              remoteSha,
              force: core.FORCE_PUSH,
            });
          } catch (error: unknown) {
            if (
              error instanceof CommandError &&
              error.output.some((l) => /Push rejected|pre-receive hook declined/.test(l))
            ) {
              throw new DeployError(
                `Heroku rejected the push of ${ctx.commit.shortSha}: the build failed`,
                {
                  cause: error,
                },
              );
            }
            throw error;
          }
          release = await newRelease(api, app, sha, versionBefore, runtime.signal);
        }
        await followRelease(api, app, release, {
          logger: ctx.logger,
          timeoutMs: config.HEROKU_RELEASE_TIMEOUT * 1000,
          signal: runtime.signal,
          releaseCommand: await releaseCommand(runtime.cwd),
        });
        ctx.release = `v${release.version}`;
        ctx.logger.success(`Release v${release.version} of ${ctx.commit.shortSha} succeeded`);
      },
    );

    const provider: HerokuProvider = {
      name: "heroku",
      app,
      async deployedCommit() {
        // the current release's slug, not the git repo: a push whose release failed is not deployed
        const releases = releasesAtStart ?? await api.latestReleases(app, RELEASE_SCAN);
        releasesAtStart = undefined;
        const current = currentRelease(releases);
        if (!current?.slug) return null;
        return await api.slugCommit(app, current.slug.id);
      },
      async run(cmd, options = {}) {
        return await runOneOff(api, app, cmd, {
          logger: options.stream === false ? undefined : runtime.logger.indent().indent(),
          timeoutMs: options.timeoutMs ?? RUN_TIMEOUT_MS,
          noThrow: options.noThrow ?? false,
          signal: runtime.signal,
          mask: (text) => runtime.secrets.mask(text),
        });
      },
      async process(type: string, action: ProcessAction) {
        const logger = runtime.logger.indent().indent();
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
      async scale(type, quantity) {
        await api.scale(app, type, quantity);
        runtime.logger.indent().indent().info(`Scaled ${type} of ${app} to ${quantity}`);
      },
    };
    return provider;
  },
});

/** The release the app runs: the one marked current, else the newest that succeeded. */
export function currentRelease(releases: readonly HerokuRelease[]): HerokuRelease | undefined {
  return releases.find((r) => r.current) ?? releases.find((r) => r.status === "succeeded");
}

/** The environment that hands git the API key through a credential helper, never an argv. */
export function gitCredentialEnv(apiKey: string): Record<string, string> {
  return {
    // GIT_CONFIG_COUNT config outranks the user's files: the empty helper drops any stored ones
    GIT_CONFIG_COUNT: "2",
    GIT_CONFIG_KEY_0: "credential.helper",
    GIT_CONFIG_VALUE_0: "",
    GIT_CONFIG_KEY_1: "credential.helper",
    GIT_CONFIG_VALUE_1:
      '!f() { test "$1" = get || exit 0; echo username=heroku; echo "password=$HEROKU_API_KEY"; }; f',
    HEROKU_API_KEY: apiKey,
  };
}

/** Turns a refused `GET /apps/{app}` into a user's mistake that names the variable (exit code 2). */
export function configProblem(error: unknown, app: string, appVariable: string): unknown {
  if (!(error instanceof HttpError)) return error;
  const said = `${error.status}${error.serviceId ? ` ${error.serviceId}` : ""}${
    error.serviceMessage ? `: ${error.serviceMessage}` : ""
  }`;
  switch (error.status) {
    case 401:
      return new ConfigError(
        `HEROKU_API_KEY was refused by the Heroku API (${said}): check the key`,
        {
          cause: error,
        },
      );
    case 403:
      return new ConfigError(
        `HEROKU_API_KEY has no access to the app "${app}" (${said}): give its user deploy access`,
        { cause: error },
      );
    case 404:
      return new ConfigError(
        `${appVariable}: no Heroku app "${app}" (${said}). This tool never creates apps: create it, or fix the name`,
        { cause: error },
      );
  }
  return error;
}
