/**
 * Sentry: creates the release and associates its commits before the deploy, then finalizes it and
 * records the deploy after it, with the real `sentry-cli`. Soft: a failure warns and never fails
 * the deploy. The token reaches sentry-cli through its environment, never its arguments.
 *
 * @module
 */
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
  SENTRY_URL: variable(z.url({ error: "expected a URL" }).default("https://sentry.io/"), {
    description: "Sentry server, for self-hosted Sentry",
  }),
  SENTRY_RELEASE: variable(z.string().optional(), {
    description: "Release name (default: the commit sha)",
    example: "shop@1.4.0",
  }),
  SENTRY_ENVIRONMENT: variable(z.string().optional(), {
    description: "Environment of the deploy (default: CI_ENVIRONMENT_NAME, else production)",
    example: "staging",
  }),
  SENTRY_REPOSITORY: variable(z.string().optional(), {
    description:
      "Repository name in Sentry, for `set-commits --commit REPO@SHA` when `--auto` cannot work (default: CI_PROJECT_PATH or GITHUB_REPOSITORY)",
    example: "acme/shop",
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
 * The ways of associating commits, tried in order until one works. `--auto` needs full history
 * and a remote Sentry knows; a shallow CI clone has neither, so it is skipped there. `--commit`
 * needs the repository's name in Sentry. `--ignore-missing` lets sentry-cli fall back to the local
 * commits when the previous release's commit is not in the (shallow) history.
 */
export function setCommitsAttempts(
  options: { version: string; sha: string; shallow: boolean; repository?: string },
): string[][] {
  const base = ["releases", "set-commits", options.version];
  const attempts: string[][] = [];
  if (!options.shallow) attempts.push([...base, "--auto"]);
  if (options.repository) {
    attempts.push([...base, "--commit", `${options.repository}@${options.sha}`]);
  }
  attempts.push([...base, "--auto", "--ignore-missing"]);
  return attempts;
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
        const attempts = setCommitsAttempts({
          version: release,
          sha: ctx.commit.sha,
          shallow: await isShallow(ctx),
          ...repository(config, runtime),
        });
        for (const [i, args] of attempts.entries()) {
          const out = await cli(ctx, args, { noThrow: true });
          if (out.code === 0) return;
          if (i < attempts.length - 1) {
            ctx.logger.info("Trying the next way of associating commits");
          }
        }
        ctx.logger.warn("Sentry: could not associate commits with the release");
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
        const environment = config.SENTRY_ENVIRONMENT ?? ctx.environment;
        await cli(ctx, ["releases", "finalize", release]);
        const deploy = ["releases", "deploys", release, "new", "-e", environment];
        deploy.push("--started", String(Math.floor(ctx.startedAt / 1000)));
        deploy.push("--finished", String(Math.floor(Date.now() / 1000)));
        const url = ctx.ci.jobUrl ?? ctx.ci.pipelineUrl;
        if (url) deploy.push("--url", url);
        await cli(ctx, deploy);
      },
    );
  },
});

function repository(config: SentryConfig, runtime: Runtime): { repository?: string } {
  const name = config.SENTRY_REPOSITORY ?? runtime.env.CI_PROJECT_PATH ??
    runtime.env.GITHUB_REPOSITORY;
  return name ? { repository: name } : {};
}

type Cli = (
  ctx: DeployContext,
  args: string[],
  options?: { noThrow?: boolean },
) => Promise<CommandOutput>;

function sentryCli(config: SentryConfig, runtime: Runtime): Cli {
  const env = {
    SENTRY_AUTH_TOKEN: config.SENTRY_AUTH_TOKEN,
    SENTRY_URL: config.SENTRY_URL,
    SENTRY_ORG: config.SENTRY_ORG,
    SENTRY_PROJECT: config.SENTRY_PROJECT,
    // keep Rust backtraces and update checks out of the CI log
    RUST_BACKTRACE: "0",
    RUST_LIB_BACKTRACE: "0",
    SENTRY_DISABLE_UPDATE_CHECK: "true",
  };
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
