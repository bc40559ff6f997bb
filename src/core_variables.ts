/**
 * The run-wide variables, read whatever the layers: which provider, which layers, and the force
 * switches.
 *
 * @module
 */
import { z } from "zod";
import { flag, variable } from "./variables.ts";

/** The run-wide variables. */
export const coreVariables = z.object({
  DEPLOY_PROVIDER: variable(z.string().optional(), {
    description: "Where to deploy: dokku or heroku (each image presets it; --provider overrides)",
    example: "dokku",
  }),
  DEPLOY_LAYERS: variable(z.string().optional(), {
    description: "Force layers on or off, comma separated: rails,-sentry",
    example: "-rails",
  }),
  DEPLOY_ENVIRONMENT: variable(z.string().optional(), {
    description:
      "Environment name for notifications (default: CI_ENVIRONMENT_NAME, else production)",
    example: "staging",
  }),
  FORCE_DEPLOY: flag({
    description:
      "Deploy even when the app already runs this commit (Dokku rebuilds, Heroku restarts)",
  }),
  DEPLOY_REVIEW: flag({
    description: "Deploy to the branch's review app, created from APP_NAME when missing (--review)",
  }),
  FORCE_PUSH: flag({ description: "Push with --force when the server's branch has diverged" }),
  DEPLOY_ROLLBACK_ON_FAILURE: flag({
    description:
      "When a step fails after the new release went live, put back what ran before (migrations stay)",
  }),
  DEPLOY_LOG_FORMAT: variable(
    z.enum(["text", "json"], { error: "expected text or json" }).default("text"),
    { description: "Log format: text, or json with one object per line (--log-format)" },
  ),
});

/** The validated run-wide settings. */
export type CoreConfig = z.output<typeof coreVariables>;
