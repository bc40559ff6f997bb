/**
 * Dokku's review apps: the commands as argv (tested without a server) and the operations that run
 * them over SSH. A review app is a clone of the parent made without deploying it, as
 * dokku/ci-docker-image's `review-apps:create` does (bin/dokku-deploy line 97 @ 6415f72:
 * `apps:clone --skip-deploy --ignore-existing APP REVIEW_APP`), then marked and configured with
 * `config:set --no-restart`, and given the REVIEW_APP_DOMAIN domain when one is set.
 *
 * @module
 */
import { z } from "zod";
import { CommandError } from "../../../src/errors.ts";
import type { ProviderInput } from "../../../src/provider.ts";
import { REVIEW_MARK, type ReviewOperations } from "../../../src/review.ts";
import type { ReviewSpec } from "../../../src/review_engine.ts";
import { commandText, type RunOptions } from "../../../src/shell.ts";
import { SshSession, type SshTarget } from "../../../src/ssh.ts";
import { variable } from "../../../src/variables.ts";
import { sshCommandText } from "./commands.ts";

/**
 * Dokku's app name rule (dokku/dokku plugins/common/common.go `IsValidAppName` @ 33896f5:
 * `^[a-z0-9][a-z0-9.-]*$`). Dokku sets no length limit; review names stop at 63 characters so that
 * the default vhost `<app>.<global domain>` stays a valid DNS label.
 */
export const DOKKU_REVIEW_RULE = {
  maxLength: 63,
  pattern: /^[a-z0-9][a-z0-9.-]*$/,
  text:
    "expected at most 63 lowercase letters, digits, dots and dashes, starting with a letter or digit",
};

/** `apps:exists APP`: exits non-zero when the app does not exist (plugins/apps/subcommands.go). */
export function existsCommand(app: string): string[] {
  return ["apps:exists", app];
}

/**
 * `apps:clone --skip-deploy PARENT APP`: a new app with the parent's config, git repo and
 * properties, not deployed (plugins/apps/subcommands.go `CommandClone` @ 33896f5). Without
 * `--ignore-existing`: the tool checks first, and an app that appeared meanwhile is a refusal.
 */
export function cloneCommand(parent: string, app: string): string[] {
  return ["apps:clone", "--skip-deploy", parent, app];
}

/**
 * `--quiet config:set --no-restart APP KEY=VALUE...` (plugins/config/src/subcommands/subcommands.go).
 * `--quiet` keeps Dokku from echoing the values (plugins/config/config.go prints them unless
 * DOKKU_QUIET_OUTPUT is set); they are masked anyway.
 */
export function configSetCommand(app: string, vars: Record<string, string>): string[] {
  return [
    "--quiet",
    "config:set",
    "--no-restart",
    app,
    ...Object.entries(vars).map(([k, v]) => `${k}=${v}`),
  ];
}

/** `config:get APP KEY`: the value, or exit 1 when the key is unset. */
export function configGetCommand(app: string, key: string): string[] {
  return ["config:get", app, key];
}

/** `domains:set APP DOMAIN` (plugins/domains/subcommands/set @ 33896f5). */
export function domainsSetCommand(app: string, domain: string): string[] {
  return ["domains:set", app, domain];
}

/**
 * `apps:destroy --force APP`: no confirmation (plugins/apps/src/subcommands/subcommands.go line 36
 * declares the flag; dokku-deploy line 72 passes it as the global `--force` instead).
 */
export function destroyCommand(app: string): string[] {
  return ["apps:destroy", "--force", app];
}

/** `url APP`: the app's first URL (plugins/00_dokku-standard/subcommands/url). */
export function urlCommand(app: string): string[] {
  return ["url", app];
}

/** REVIEW_APP_DOMAIN's pattern with `{app}` replaced. */
export function reviewDomain(pattern: string, app: string): string {
  return pattern.replaceAll("{app}", app);
}

const variables = {
  REVIEW_APP_DOMAIN: variable(
    z.string().regex(/^[a-z0-9.{}-]*\{app\}[a-z0-9.{}-]*$/, {
      error: "expected a domain holding {app}, such as {app}.review.example.com",
    }).optional(),
    {
      description: "Domain of Dokku review apps, {app} being the app's name",
      example: "{app}.review.example.com",
    },
  ),
};

/** What the Dokku review operations need of the provider's variables. */
interface DokkuReviewConfig {
  DOKKU_HOST: SshTarget;
  APP_NAME: string;
  SSH_PRIVATE_KEY?: string | undefined;
  SSH_KNOWN_HOSTS?: string | undefined;
  REVIEW_APP_DOMAIN?: string | undefined;
}

const TIMEOUT_MS = 5 * 60_000;

/** The Dokku provider's review apps. */
export function dokkuReview<C extends DokkuReviewConfig>(): ReviewSpec<C> {
  return {
    rule: DOKKU_REVIEW_RULE,
    variables,
    parent: (config) => config.APP_NAME,
    target: (config, app) => ({ ...config, APP_NAME: app }),
    create: (input) => dokkuReviewOperations(input),
  };
}

function dokkuReviewOperations<C extends DokkuReviewConfig>(
  { config, runtime, logger }: ProviderInput<C>,
): ReviewOperations {
  const target = config.DOKKU_HOST;
  let session: Promise<SshSession> | undefined;
  const ssh = () =>
    session ??= SshSession.open(runtime.shell, {
      privateKey: config.SSH_PRIVATE_KEY,
      knownHosts: config.SSH_KNOWN_HOSTS,
    }).then((opened) => {
      runtime.defer(() => opened.close(), () => opened.closeNow());
      return opened;
    });
  const dokku = async (args: string[], options: RunOptions = {}) => {
    const argv = (await ssh()).command(target, sshCommandText(args));
    // ssh reads options after the destination too: `--` keeps `--quiet config:set` a command
    argv.splice(argv.length - 1, 0, "--");
    return await runtime.shell.run(argv, {
      timeoutMs: TIMEOUT_MS,
      ...options,
      display: options.display ?? `dokku ${commandText(args)}`,
    });
  };
  return {
    async exists(app) {
      const result = await dokku(existsCommand(app), { noThrow: true });
      if (result.code === 0) return true;
      if (result.tail.some((line) => /does not exist/.test(line))) return false;
      throw result.error ?? new CommandError(`dokku apps:exists ${app} failed`, {
        command: `dokku apps:exists ${app}`,
        exitCode: result.code,
        output: result.tail,
      });
    },
    async create({ parent, app }) {
      await dokku(cloneCommand(parent, app), { logger });
    },
    async configure({ app, vars }) {
      // the values are secrets (REVIEW_APP_CONFIG): the log names the keys only
      await dokku(configSetCommand(app, vars), {
        logger,
        display: `dokku config:set --no-restart ${app} ${Object.keys(vars).join(" ")}`,
      });
      if (config.REVIEW_APP_DOMAIN) {
        await dokku(domainsSetCommand(app, reviewDomain(config.REVIEW_APP_DOMAIN, app)), {
          logger,
        });
      }
    },
    async mark(app) {
      const result = await dokku(configGetCommand(app, REVIEW_MARK), { noThrow: true });
      const value = result.stdout.trim();
      return result.code === 0 && value ? value : null;
    },
    async destroy(app) {
      await dokku(destroyCommand(app), { logger });
    },
    async url(app) {
      const result = await dokku(urlCommand(app), { noThrow: true });
      const url = result.stdout.trim().split("\n")[0]?.trim();
      return result.code === 0 && url ? url : null;
    },
  };
}
