/**
 * Sentry: creates the release and associates its commits before the deploy, then finalizes it and
 * records the deploy after it, with the real `sentry-cli`. Soft: a failure warns and never fails
 * the deploy. The token reaches sentry-cli through its environment, never its arguments.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import type { DeployContext } from "../../src/context.ts";
import { errorMessage } from "../../src/errors.ts";
import { defineLayer, type Runtime } from "../../src/layer.ts";
import type { CommandOutput } from "../../src/shell.ts";
import { seconds, variable } from "../../src/variables.ts";

const variables = z.object({
  SENTRY_AUTH_TOKEN: variable(z.string({ error: "expected a Sentry auth token" }), {
    description: "Sentry auth token (releases scope); turns the Sentry layer on",
    secret: true,
  }),
  SENTRY_ORG: variable(z.string({ error: "expected the organization's slug" }), {
    description: "Sentry organization slug",
    example: "acme",
  }),
  SENTRY_PROJECT: variable(z.string({ error: "expected the project's slug" }), {
    description: "Sentry project slug",
    example: "shop",
  }),
  SENTRY_URL: variable(z.url({ error: "expected a URL" }).optional(), {
    description:
      "Sentry server, for self-hosted Sentry (default: the URL inside an organization token, else https://sentry.io/)",
    example: "https://sentry.example.com/",
  }),
  SENTRY_RELEASE: variable(z.string().optional(), {
    description: "Release name (default: the commit sha)",
    example: "shop@1.4.0",
  }),
  SENTRY_ENVIRONMENT: variable(z.string().optional(), {
    description:
      "Environment of the deploy (default: the deploy's environment), made a name Sentry accepts",
    example: "staging",
  }),
  SENTRY_REPOSITORY: variable(z.string().optional(), {
    description:
      "Repository name as Sentry shows it, for `set-commits --commit REPO@SHA` (default: the repository Sentry lists at the CI project's URL)",
    example: "Acme Corp / Shop",
  }),
  SENTRY_TIMEOUT: seconds(
    { description: "Seconds each sentry-cli command may take before it is stopped", example: "30" },
    60,
  ),
});

type SentryConfig = z.output<typeof variables>;

/** What the layer remembers during a run. */
interface SentryState extends Record<string, unknown> {
  /** Whether `releases new` succeeded; without a release the later steps are skipped. */
  created?: boolean;
}

/**
 * Sentry's rule for environment names: `Environment.is_valid_name` (getsentry/sentry
 * src/sentry/models/environment.py @ 003730da) accepts at most 64 characters (code points) without
 * "/", line feed, carriage return or form feed (`ENVIRONMENT_NAME_PATTERN = r"^[^\n\r\f\/]*$"`,
 * `ENVIRONMENT_NAME_MAX_LENGTH = 64` in src/sentry/constants.py), and its deploys endpoint
 * (src/sentry/releases/endpoints/release_deploys.py @ 53df3060) also refuses blank names and NUL
 * (Django REST framework's CharField, which trims surrounding whitespace first), answering 400.
 */
const ENVIRONMENT_MAX_LENGTH = 64;
const ENVIRONMENT_FORBIDDEN = /[\n\r\f/\0]/g;
/** Hex digits of the hash that ends a shortened environment name. */
const ENVIRONMENT_HASH_LENGTH = 8;

/**
 * The name Sentry will accept for a deploy environment, derived the same way every time: surrounding
 * whitespace trimmed (Sentry trims it too), each character Sentry refuses ("/", line breaks, NUL)
 * replaced by "-", so GitLab's `review/my-branch` becomes `review-my-branch`, and a name longer than
 * 64 characters cut to 55 and ended with "-" and 8 hex digits of the SHA-256 of the whole name, so
 * two long names that share a beginning stay apart. A blank name becomes "production".
 */
export function sentryEnvironment(name: string): string {
  const trimmed = name.trim();
  if (trimmed === "") return "production";
  const cleaned = trimmed.replace(ENVIRONMENT_FORBIDDEN, "-");
  const chars = [...cleaned];
  if (chars.length <= ENVIRONMENT_MAX_LENGTH) return cleaned;
  const hash = createHash("sha256").update(trimmed).digest("hex").slice(0, ENVIRONMENT_HASH_LENGTH);
  return `${chars.slice(0, ENVIRONMENT_MAX_LENGTH - ENVIRONMENT_HASH_LENGTH - 1).join("")}-${hash}`;
}

/** A row of `sentry-cli repos list`. */
export interface SentryRepository {
  /** The name Sentry gives it: the REPO of `--commit REPO@SHA`. */
  name: string;
  /** Its web URL, or undefined when Sentry has none. */
  url?: string;
}

/**
 * Reads the table `sentry-cli repos list` prints (sentry-cli 2.58.6 src/commands/repos/list.rs: columns
 * Name, Provider, URL, "-" for no URL; prettytable's FORMAT_NO_LINESEP_WITH_TITLE, cells between
 * "| " and " |"). Sentry's names never hold " | " (GitHub and GitLab refuse "|" in names).
 */
export function parseRepositoryList(stdout: string): SentryRepository[] {
  const rows = stdout.split("\n").map((line) => line.trim()).filter((line) =>
    line.startsWith("| ") && line.endsWith(" |")
  );
  return rows.slice(1).map((row) => {
    const [name = "", , url = "-"] = row.slice(2, -2).split(" | ").map((cell) => cell.trim());
    return url === "-" ? { name } : { name, url };
  });
}

/**
 * The Sentry name of the repository whose web URL is `projectUrl`, compared the way sentry-cli's
 * `--auto` compares a remote with a repository's URL (sentry-cli 2.58.6 src/utils/vcs.rs, `VcsUrl::parse`:
 * host without port, path without ".git", both lowercased).
 */
export function repositoryForUrl(
  repositories: readonly SentryRepository[],
  projectUrl: string,
): string | undefined {
  const key = urlKey(projectUrl);
  if (!key) return undefined;
  return repositories.find((repo) => repo.url && urlKey(repo.url) === key)?.name;
}

function urlKey(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    const path = parsed.pathname.replace(/\/+$/, "").replace(/\.git$/, "");
    return `${parsed.hostname}${path}`.toLowerCase();
  } catch {
    return undefined;
  }
}

/** Options of {@linkcode deployArgs}. */
export interface DeployArgsOptions {
  /** The environment, already a name Sentry accepts. */
  environment: string;
  /** When the deploy started, in seconds since the epoch. */
  started: number;
  /** When it finished, in seconds since the epoch. */
  finished: number;
  /** A page about the deploy (the CI job). @default none */
  url?: string;
}

/** The arguments of `sentry-cli deploys new` for a deploy of `release`. */
export function deployArgs(release: string, options: DeployArgsOptions): string[] {
  // `deploys new --release X` is sentry-cli 2's command; `releases deploys X new` survives only as a
  // hidden alias (sentry-cli 2.58.6 src/commands/releases/mod.rs: "Backward compatibility with
  // `releases deploys <VERSION>` commands", `.hide(true)`)
  const args = ["deploys", "new", "--release", release, "-e", options.environment];
  args.push("--started", String(options.started), "--finished", String(options.finished));
  if (options.url) args.push("--url", options.url);
  return args;
}

export default defineLayer({
  name: "sentry",
  kind: "third_party",
  description: "Sentry: creates and finalizes the release and records the deploy (sentry-cli)",
  variables,
  enabled: ({ vars }) => Boolean(vars.SENTRY_AUTH_TOKEN),
  setup({ config, on, runtime }) {
    const state = (ctx: DeployContext): SentryState => (ctx.state.sentry ??= {}) as SentryState;
    const version = (ctx: DeployContext) => config.SENTRY_RELEASE ?? ctx.commit.sha;
    const cli = sentryCli(config, runtime);

    on(
      "pre_deploy",
      { priority: 50, description: "create the release", soft: true },
      async (ctx) => {
        const release = version(ctx);
        await cli(ctx, ["releases", "new", release]);
        state(ctx).created = true;
        await setCommits(ctx, cli, { release, repository: config.SENTRY_REPOSITORY });
      },
    );

    on(
      "post_deploy",
      { priority: 100, description: "finalize the release", soft: true },
      async (ctx) => {
        if (!state(ctx).created) {
          ctx.logger.info("No Sentry release was created: nothing to finalize");
          return;
        }
        const release = version(ctx);
        const wanted = config.SENTRY_ENVIRONMENT ?? ctx.environment;
        const environment = sentryEnvironment(wanted);
        if (environment !== wanted) {
          ctx.logger.info(
            `Sentry refuses the environment name "${wanted}" (it allows no "/" or line break, ` +
              `and at most ${ENVIRONMENT_MAX_LENGTH} characters): recording the deploy as "${environment}"`,
          );
        }
        await cli(ctx, ["releases", "finalize", release]);
        const url = ctx.ci.jobUrl ?? ctx.ci.pipelineUrl;
        await cli(
          ctx,
          deployArgs(release, {
            environment,
            started: Math.floor(ctx.startedAt / 1000),
            finished: Math.floor(Date.now() / 1000),
            ...(url ? { url } : {}),
          }),
        );
      },
    );
  },
});

type Cli = (
  ctx: DeployContext,
  args: string[],
  options?: { noThrow?: boolean },
) => Promise<CommandOutput>;

/**
 * Associates commits with the release, trying each way until one works:
 * 1. `--auto`, when the clone has its history: sentry-cli finds the repository whose URL matches
 *    the git remote, else walks the local history back to the previous release's commit.
 * 2. `--commit REPO@SHA`, with REPO the repository's name in Sentry: SENTRY_REPOSITORY, else the
 *    repository `sentry-cli repos list` shows at the CI project's URL. Sentry names a GitLab
 *    repository by GitLab's `name_with_namespace`, "Group / Project" with the display names
 *    (getsentry/sentry src/sentry/integrations/gitlab/repository.py, `get_repository_data`), so
 *    CI_PROJECT_PATH never matches. sentry-cli checks REPO against the organization's repositories
 *    ignoring case, then sends it as given (sentry-cli 2.58.6 src/commands/releases/set_commits.rs;
 *    REPO holds no "@" or "#", `CommitSpec::parse` in src/utils/vcs.rs), and Sentry looks it up
 *    exactly (`Release.set_refs`, src/sentry/models/release.py), so the name is used as listed.
 * 3. `--auto --ignore-missing`, which falls back to the local commits when the previous release's
 *    commit is not in a shallow clone's history.
 */
async function setCommits(
  ctx: DeployContext,
  cli: Cli,
  options: { release: string; repository: string | undefined },
): Promise<void> {
  const base = ["releases", "set-commits", options.release];
  const works = async (args: string[]) => (await cli(ctx, args, { noThrow: true })).code === 0;
  if (!await isShallow(ctx)) {
    if (await works([...base, "--auto"])) return;
    ctx.logger.info("Trying the next way of associating commits");
  }
  const repository = options.repository ?? await repositoryAtProjectUrl(ctx, cli);
  if (repository) {
    if (await works([...base, "--commit", `${repository}@${ctx.commit.sha}`])) return;
    ctx.logger.info("Trying the next way of associating commits");
  }
  if (await works([...base, "--auto", "--ignore-missing"])) return;
  ctx.logger.warn("Sentry: could not associate commits with the release");
}

/** Sentry's name for the repository at the CI project's web URL, from `sentry-cli repos list`. */
async function repositoryAtProjectUrl(
  ctx: DeployContext,
  cli: Cli,
): Promise<string | undefined> {
  const projectUrl = ctx.ci.projectUrl;
  if (!projectUrl) return undefined;
  const out = await cli(ctx, ["repos", "list"], { noThrow: true });
  if (out.code !== 0) return undefined;
  const name = repositoryForUrl(parseRepositoryList(out.stdout), projectUrl);
  if (name) {
    ctx.logger.info(`Sentry names the repository at ${projectUrl} "${name}"`);
  } else {
    ctx.logger.info(
      `No repository in Sentry has the URL ${projectUrl}; SENTRY_REPOSITORY can name it as Sentry shows it`,
    );
  }
  return name;
}

function sentryCli(config: SentryConfig, runtime: Runtime): Cli {
  const env: Record<string, string> = {
    SENTRY_AUTH_TOKEN: config.SENTRY_AUTH_TOKEN,
    SENTRY_ORG: config.SENTRY_ORG,
    SENTRY_PROJECT: config.SENTRY_PROJECT,
    // keep Rust backtraces and update checks out of the CI log
    RUST_BACKTRACE: "0",
    RUST_LIB_BACKTRACE: "0",
    SENTRY_DISABLE_UPDATE_CHECK: "true",
  };
  // Without SENTRY_URL, sentry-cli takes the URL inside an organization token, else sentry.io;
  // a URL given beside such a token that differs from it only earns a warning (sentry-cli 2.58.6
  // src/config.rs, `Config::from_file` and `warn_about_conflicting_urls`)
  if (config.SENTRY_URL) env.SENTRY_URL = config.SENTRY_URL;
  return async (ctx, args, options = {}) => {
    try {
      return await runtime.shell.run(["sentry-cli", ...args], {
        env,
        cwd: ctx.cwd,
        logger: ctx.logger,
        noThrow: options.noThrow ?? false,
        timeoutMs: config.SENTRY_TIMEOUT * 1000,
      });
    } catch (e: unknown) {
      throw new Error(`sentry-cli ${args.slice(0, 2).join(" ")} failed: ${errorMessage(e)}`, {
        cause: e,
      });
    }
  };
}

async function isShallow(ctx: DeployContext): Promise<boolean> {
  const out = await ctx.shell.run(["git", "rev-parse", "--is-shallow-repository"], {
    cwd: ctx.cwd,
    noThrow: true,
  });
  return out.stdout.trim() === "true";
}
