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
import { errorMessage } from "../../src/errors.ts";
import { isRailsApp } from "../../src/gemfile_lock.ts";
import { defineLayer } from "../../src/layer.ts";
import { hasReleasePhase, type Procfile, readProcfile, sidekiqTypes } from "../../src/procfile.ts";
import { commandText } from "../../src/shell.ts";
import { flag, variable } from "../../src/variables.ts";

/** The default migration command. */
export const MIGRATE_COMMAND = ["bundle", "exec", "rails", "db:migrate"] as const;

/**
 * Quiets every Sidekiq process of the app through Sidekiq's API (a flag in Redis that each process
 * reads on its next heartbeat). A one-off process can do this on any provider; a signal (TSTP)
 * cannot be sent to a Heroku dyno, nor through Dokku's SSH commands.
 */
export const QUIET_COMMAND = [
  "bundle",
  "exec",
  "rails",
  "runner",
  "Sidekiq::ProcessSet.new.each(&:quiet!)",
] as const;

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
    const state = (ctx: DeployContext): RailsState => (ctx.state.rails ??= {}) as RailsState;

    on("configure", { priority: 50, description: "read the Procfile" }, (ctx) => {
      if (workers.length === 0) ctx.logger.info("No Sidekiq process types in the Procfile");
      else {
        const from = config.SIDEKIQ_PROCESSES ? "SIDEKIQ_PROCESSES" : "the Procfile";
        ctx.logger.info(`Sidekiq process types (from ${from}): ${workers.join(", ")}`);
      }
    });

    if (config.SIDEKIQ_QUIET_ON_DEPLOY && workers.length > 0) {
      // right after the start message: the old code must not pick up new jobs during the push
      on("pre_deploy", { priority: 20, description: "quiet Sidekiq", soft: true }, async (ctx) => {
        if (ctx.deployedBefore === null) {
          ctx.logger.info("The app has no release yet: no Sidekiq runs the old code");
          return;
        }
        // quieting cannot be undone: from here on a failed deploy must restart these types
        state(ctx).quieted = [...workers];
        await ctx.provider.run(QUIET_COMMAND, { timeoutMs: 5 * 60_000 });
        ctx.logger.info(
          `Sidekiq quieted (${workers.join(", ")}): no new jobs start on the old code`,
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
              `The Procfile's release: process runs on ${ctx.provider.label} before the release: not migrating twice`,
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
