/**
 * Rails: runs the migrations after the push (AUTO_MIGRATE_ON_DEPLOY=true), and quiets Sidekiq
 * before it, so that no new job starts on the old code. Quiet mode cannot be undone, so when the
 * deploy fails the quieted process types are restarted; a successful release restarts them anyway.
 * It reaches the app only through the provider (`run`, `process`), so it works on Dokku and Heroku.
 *
 * @module
 */
import { z } from "zod";
import type { DeployContext } from "../../src/context.ts";
import { ConfigError, errorMessage } from "../../src/errors.ts";
import { isRailsApp } from "./rails/gemfile_lock.ts";
import { defineLayer } from "../../src/layer.ts";
import { hasReleasePhase, type Procfile, readProcfile, sidekiqTypes } from "../../src/procfile.ts";
import { commandText } from "../../src/shell.ts";
import { flag, variable } from "../../src/variables.ts";

/** The default migration command. */
export const MIGRATE_COMMAND = ["bundle", "exec", "rails", "db:migrate"] as const;

// Ruby code for `ruby -e` that quiets every Sidekiq process (Process#quiet!, sidekiq/sidekiq
// lib/sidekiq/api.rb:1190: a flag in Redis each process reads on its next heartbeat) and prints how
// many it found. Written without spaces, quotes, parentheses or |, so that it reaches Ruby exactly
// through every provider: Dokku splits words, and herokuish's /exec evaluates them with bash again
// (`{...}` without a comma is no brace expansion). `_1` needs Ruby 2.7, as Sidekiq 7 does.
const QUIET_CODE = "-eSidekiq::ProcessSet.new.map{_1.quiet!}.size.display";

/**
 * Quiets Sidekiq without booting Rails: `require "sidekiq"` has not loaded `sidekiq/api` since
 * Sidekiq 3 (lib/sidekiq.rb requires no api), hence `-rsidekiq/api`. Sidekiq then finds Redis as its
 * own processes do without an initializer: REDIS_PROVIDER or REDIS_URL (lib/sidekiq/
 * redis_connection.rb:100-111), which is what Dokku's redis:link sets. `bundle exec` puts the app's
 * Sidekiq on the load path (a buildpack installs gems under vendor/bundle).
 */
export const QUIET_COMMAND = ["bundle", "exec", "ruby", "-rsidekiq/api", QUIET_CODE] as const;

/**
 * The same, after loading the app (`-r./config/environment`, a Rails boot): for an app whose own
 * code sets Sidekiq's Redis (`Sidekiq.configure_client`, `config.redis =`), which only its
 * initializers know. Without them the quiet would ask another Redis and find no process.
 */
export const QUIET_COMMAND_WITH_APP = [
  "bundle",
  "exec",
  "ruby",
  "-r./config/environment",
  "-rsidekiq/api",
  QUIET_CODE,
] as const;

/** Whether the app's Ruby configuration sets Sidekiq's Redis itself. */
export async function configuresSidekiqRedis(dir: string): Promise<boolean> {
  const files = ["config/application.rb", "config/environments/production.rb"];
  const walk = async (folder: string) => {
    try {
      for await (const entry of Deno.readDir(`${dir}/${folder}`)) {
        const path = `${folder}/${entry.name}`;
        if (entry.isDirectory) await walk(path);
        else if (entry.name.endsWith(".rb")) files.push(path);
      }
    } catch {
      // no such folder
    }
  };
  await walk("config/initializers");
  for (const file of files) {
    const text = await Deno.readTextFile(`${dir}/${file}`).catch(() => "");
    if (/Sidekiq\.configure_client|Sidekiq\.redis\s*=|config\.redis\s*=/.test(text)) return true;
  }
  return false;
}

/** Whether `app.json` has `scripts.dokku.predeploy` (run by Dokku during the deploy). */
export async function hasDokkuPredeploy(dir: string): Promise<boolean> {
  try {
    const json = JSON.parse(await Deno.readTextFile(`${dir}/app.json`));
    return typeof json?.scripts?.dokku?.predeploy === "string" &&
      json.scripts.dokku.predeploy !== "";
  } catch {
    return false;
  }
}

const PROCESS_TYPE = /^[A-Za-z0-9_-]+$/;

/** Splits a list of process types: commas or spaces. */
export function parseProcessTypes(value: string): string[] {
  return value.split(/[\s,]+/).filter(Boolean);
}

const variables = z.object({
  AUTO_MIGRATE_ON_DEPLOY: flag({
    description:
      "Run the migrations after the push (on Heroku a Procfile release: process does it)",
  }),
  RAILS_MIGRATE_COMMAND: variable(
    z.string().trim().min(1, { error: "expected a command" }).transform((v) => v.split(/\s+/))
      .optional(),
    {
      description: `The migration command, split on spaces (default: ${MIGRATE_COMMAND.join(" ")})`,
      example: "bin/rails db:migrate:with_data",
    },
  ),
  SIDEKIQ_QUIET_COMMAND: variable(
    z.string().trim().min(1, { error: "expected a command" }).transform((v) => v.split(/\s+/))
      .optional(),
    {
      description:
        "The command that quiets Sidekiq, split on spaces (default: bundle exec ruby -rsidekiq/api, " +
        "with -r./config/environment when the app configures Sidekiq's Redis itself)",
      example: "bin/quiet-sidekiq",
    },
  ),
  SIDEKIQ_QUIET_ON_DEPLOY: flag(
    { description: "Quiet Sidekiq before the push; restart its process types if the deploy fails" },
    true,
  ),
  SIDEKIQ_PROCESSES: variable(
    z.string().refine((v) => parseProcessTypes(v).every((t) => PROCESS_TYPE.test(t)), {
      error: "expected process types separated by commas, such as worker,mailers",
    }).transform(parseProcessTypes).optional(),
    {
      description: "The process types that run Sidekiq (default: detected from the Procfile)",
      example: "worker",
    },
  ),
});

/** What the layer remembers during a run. */
interface RailsState extends Record<string, unknown> {
  /** Process types quieted in this run, restarted if the deploy fails. */
  quieted?: string[];
}

export default defineLayer({
  name: "rails",
  kind: "application",
  description: "Rails: quiets Sidekiq before the push, runs the migrations after it",
  variables,
  enabled: ({ cwd }) => isRailsApp(cwd),
  async setup({ config, on, runtime }) {
    const procfile: Procfile = await readProcfile(runtime.cwd);
    const detected = sidekiqTypes(procfile);
    const workers = config.SIDEKIQ_PROCESSES ?? detected;
    const migrate = config.RAILS_MIGRATE_COMMAND ?? [...MIGRATE_COMMAND];
    const quiet = config.SIDEKIQ_QUIET_COMMAND ??
      [...(await configuresSidekiqRedis(runtime.cwd) ? QUIET_COMMAND_WITH_APP : QUIET_COMMAND)];
    const predeploy = await hasDokkuPredeploy(runtime.cwd);
    const quieting = config.SIDEKIQ_QUIET_ON_DEPLOY && workers.length > 0;
    const state = (ctx: DeployContext): RailsState => (ctx.state.rails ??= {}) as RailsState;

    // before the provider connects (priority 10): a command the provider would not pass on
    // exactly is refused before anything touches the server
    on("configure", { priority: 5, description: "check the commands it will run" }, (ctx) => {
      const commands: [string, string[]][] = [];
      if (quieting) {
        commands.push([
          config.SIDEKIQ_QUIET_COMMAND ? "SIDEKIQ_QUIET_COMMAND" : "the Sidekiq quiet command",
          quiet,
        ]);
      }
      if (config.AUTO_MIGRATE_ON_DEPLOY) {
        commands.push([
          config.RAILS_MIGRATE_COMMAND ? "RAILS_MIGRATE_COMMAND" : "the migration command",
          migrate,
        ]);
      }
      const problems = commands.flatMap(([name, cmd]) =>
        (ctx.provider.commandProblems?.(cmd) ?? []).map((p) =>
          `${name}: cannot send ${p} (${ctx.provider.label} would change it)`
        )
      );
      if (problems.length > 0) throw new ConfigError(problems.join("\n"));
    });

    on("configure", { priority: 50, description: "read the Procfile" }, (ctx) => {
      if (workers.length === 0) ctx.logger.info("No Sidekiq process types in the Procfile");
      else {
        const from = config.SIDEKIQ_PROCESSES ? "SIDEKIQ_PROCESSES" : "the Procfile";
        ctx.logger.info(`Sidekiq process types (from ${from}): ${workers.join(", ")}`);
      }
    });

    if (quieting) {
      // right after the start message: the old code must not pick up new jobs during the push
      on("pre_deploy", { priority: 20, description: "quiet Sidekiq", soft: true }, async (ctx) => {
        if (ctx.deployedBefore === null) {
          ctx.logger.info("The app has no release yet: no Sidekiq runs the old code");
          return;
        }
        // quieting cannot be undone: from here on a failed deploy must restart these types
        state(ctx).quieted = [...workers];
        // a failure throws: the handler is soft, so it is a warning, and "quieted" is not said
        const { stdout } = await ctx.provider.run(quiet, { timeoutMs: 5 * 60_000 });
        const found = config.SIDEKIQ_QUIET_COMMAND
          ? undefined
          : stdout.trim().split("\n").at(-1)?.match(/^\d+$/)?.[0];
        if (found === "0") {
          ctx.logger.warn(
            "Sidekiq quiet found no Sidekiq process in Redis: nothing was quieted (is the app's " +
              "Redis REDIS_URL, or set in an initializer this tool did not find? See SIDEKIQ_QUIET_COMMAND)",
          );
          return;
        }
        ctx.logger.info(
          `Sidekiq quieted (${found ? `${found} processes, ` : ""}${workers.join(", ")}): ` +
            "no new jobs start on the old code",
        );
      });
      on(
        "deploy_failed",
        { priority: 10, description: "restart the quieted Sidekiq process types" },
        async (ctx) => {
          for (const type of state(ctx).quieted ?? []) {
            try {
              await ctx.provider.process(type, "restart");
              ctx.logger.info(`Restarted ${type}`);
            } catch (e: unknown) {
              ctx.logger.warn(`Cannot restart ${type}: ${errorMessage(e)}`);
            }
          }
        },
      );
    }

    if (config.AUTO_MIGRATE_ON_DEPLOY) {
      on(
        "post_deploy",
        { priority: 20, description: `run ${commandText(migrate)}` },
        async (ctx) => {
          if (ctx.provider.supports("release-phase") && hasReleasePhase(procfile)) {
            ctx.logger.info(
              `The Procfile's release: process runs on ${ctx.provider.label} during the deploy: not migrating twice`,
            );
            return;
          }
          if (ctx.provider.supports("app-json-predeploy") && predeploy) {
            ctx.logger.info(
              `app.json's scripts.dokku.predeploy runs on ${ctx.provider.label} during the deploy: not migrating twice`,
            );
            return;
          }
          await ctx.provider.run(migrate);
          ctx.logger.success("Migrations done");
        },
      );
    }
  },
});
