/**
 * Heroku's review apps through the Platform API (heroku/platform-api schema.json @ 4f4f592):
 *
 * - the app is created in the parent's team (or HEROKU_TEAM) with `POST /teams/apps`, or as a
 *   personal app with `POST /apps`, in the parent's region and stack;
 * - the parent's config vars are copied (`GET` then `PATCH /apps/{app}/config-vars`) except those
 *   its add-ons manage: each add-on's `config_vars` ("config vars exposed to the owning app by this
 *   add-on", `GET /apps/{app}/addons`) and every var of an attachment's name
 *   (`GET /apps/{app}/addon-attachments`: `DATABASE` sets `DATABASE_URL`), so a review app never
 *   points at the parent's database;
 * - when the parent is in a pipeline (`GET /apps/{app}/pipeline-couplings`), the review app is
 *   coupled to it with stage `review` (`POST /pipeline-couplings`, stage enum test, review,
 *   development, staging, production). `POST /review-apps` is not used: it builds the app itself
 *   from a `source_blob` tarball, while this tool pushes the commit and follows its release.
 *
 * @module
 */
import { z } from "zod";
import { ConfigError } from "../../../src/errors.ts";
import { createHttpClient, HttpError } from "../../../src/http.ts";
import type { ProviderInput } from "../../../src/provider.ts";
import { REVIEW_MARK, type ReviewOperations } from "../../../src/review.ts";
import type { ReviewSpec } from "../../../src/review_engine.ts";
import { variable } from "../../../src/variables.ts";
import { HEROKU_ACCEPT } from "./api.ts";

/** Heroku's app name rule: the schema's `app.name` pattern `^[a-z][a-z0-9-]{1,28}[a-z0-9]$`. */
export const HEROKU_REVIEW_RULE = {
  maxLength: 30,
  pattern: /^[a-z][a-z0-9-]{1,28}[a-z0-9]$/,
  text: "expected 3 to 30 lowercase letters, digits and dashes, starting with a letter",
};

const variables = {
  HEROKU_TEAM: variable(
    z.string().regex(/^[a-z0-9-]+$/, { error: "expected a team name" }).optional(),
    {
      description: "Team of Heroku review apps (default: the parent app's team, else personal)",
      example: "acme",
    },
  ),
};

const appSchema = z.object({
  name: z.string(),
  web_url: z.string().nullish(),
  stack: z.object({ name: z.string() }).nullish(),
  region: z.object({ name: z.string() }).nullish(),
  team: z.object({ name: z.string() }).nullish(),
});
const configSchema = z.record(z.string(), z.string().nullable());
const addonsSchema = z.array(z.object({ config_vars: z.array(z.string()).nullish() }));
const attachmentsSchema = z.array(z.object({ name: z.string() }));
const couplingSchema = z.object({ pipeline: z.object({ id: z.string() }), stage: z.string() });

/** What the Heroku review operations need of the provider's variables. */
interface HerokuReviewConfig {
  HEROKU_API_KEY: string;
  HEROKU_API_URL: string;
  APP_NAME?: string | undefined;
  HEROKU_APP?: string | undefined;
  HEROKU_TEAM?: string | undefined;
}

/** The config vars of the parent a review app gets: all but those its add-ons manage. */
export function copiedConfig(
  config: Record<string, string | null>,
  addonVars: readonly string[],
  attachmentNames: readonly string[],
): Record<string, string> {
  const managed = new Set(addonVars);
  const copied: Record<string, string> = {};
  for (const [key, value] of Object.entries(config)) {
    if (value === null || managed.has(key) || key === REVIEW_MARK) continue;
    if (attachmentNames.some((name) => key.startsWith(`${name}_`))) continue;
    copied[key] = value;
  }
  return copied;
}

/** The Heroku provider's review apps. */
export function herokuReview<C extends HerokuReviewConfig>(): ReviewSpec<C> {
  return {
    rule: HEROKU_REVIEW_RULE,
    variables,
    parent: (config) => config.HEROKU_APP ?? config.APP_NAME!,
    target: (config, app) => ({ ...config, HEROKU_APP: app }),
    create: (input) => herokuReviewOperations(input),
  };
}

function herokuReviewOperations<C extends HerokuReviewConfig>(
  { config, runtime, logger }: ProviderInput<C>,
): ReviewOperations {
  runtime.secrets.add(config.HEROKU_API_KEY);
  const http = createHttpClient({
    service: "Heroku API",
    baseUrl: config.HEROKU_API_URL,
    headers: { Accept: HEROKU_ACCEPT, Authorization: `Bearer ${config.HEROKU_API_KEY}` },
    fetch: runtime.fetch,
    secrets: runtime.secrets,
    signal: runtime.undoSignal,
  });
  const at = (app: string, ...rest: string[]) =>
    `/apps/${[app, ...rest].map(encodeURIComponent).join("/")}`;
  const app = async (name: string) =>
    (await http.json("GET", at(name), { schema: appSchema })).data;
  const notFound = (error: unknown) => error instanceof HttpError && error.status === 404;
  return {
    async exists(name) {
      try {
        await app(name);
        return true;
      } catch (error: unknown) {
        if (notFound(error)) return false;
        // Heroku answers 403 for an app of another account or team: the name is taken
        if (error instanceof HttpError && error.status === 403) {
          throw new ConfigError(
            `Heroku app "${name}" exists but HEROKU_API_KEY has no access to it (another account or team has the name): set REVIEW_APP_NAME`,
            { cause: error },
          );
        }
        throw error;
      }
    },
    async create({ parent, app: name }) {
      const info = await app(parent);
      const team = config.HEROKU_TEAM ?? info.team?.name;
      const body = {
        name,
        ...(info.region ? { region: info.region.name } : {}),
        ...(info.stack ? { stack: info.stack.name } : {}),
      };
      if (team) {
        await http.json("POST", "/teams/apps", { body: { ...body, team }, schema: appSchema });
        logger.info(`Created ${name} in team ${team} (${body.region ?? "default region"})`);
      } else {
        await http.json("POST", "/apps", { body, schema: appSchema });
        logger.info(`Created ${name} (${body.region ?? "default region"})`);
      }
    },
    async configure({ parent, app: name, vars }) {
      const [parentConfig, addons, attachments] = await Promise.all([
        http.json("GET", at(parent, "config-vars"), { schema: configSchema }),
        http.json("GET", at(parent, "addons"), { schema: addonsSchema }),
        http.json("GET", at(parent, "addon-attachments"), { schema: attachmentsSchema }),
      ]);
      const copied = copiedConfig(
        parentConfig.data,
        addons.data.flatMap((addon) => addon.config_vars ?? []),
        attachments.data.map((attachment) => attachment.name),
      );
      const skipped = Object.keys(parentConfig.data).length - Object.keys(copied).length;
      await http.json("PATCH", at(name, "config-vars"), {
        body: { ...copied, ...vars },
        schema: configSchema,
      });
      // the values are secrets: the log names counts and keys only
      logger.info(
        `Copied ${
          Object.keys(copied).length
        } config vars of ${parent} (${skipped} managed by add-ons left out), set ${
          Object.keys(vars).join(", ")
        }`,
      );
      let coupling: z.output<typeof couplingSchema> | undefined;
      try {
        coupling = (await http.json("GET", at(parent, "pipeline-couplings"), {
          schema: couplingSchema,
        })).data;
      } catch (error: unknown) {
        if (!notFound(error)) throw error;
      }
      if (coupling) {
        await http.json("POST", "/pipeline-couplings", {
          body: { app: name, pipeline: coupling.pipeline.id, stage: "review" },
          schema: z.unknown(),
        });
        logger.info(`Coupled ${name} to the pipeline of ${parent} as a review app`);
      }
    },
    async mark(name) {
      const vars = (await http.json("GET", at(name, "config-vars"), { schema: configSchema })).data;
      return vars[REVIEW_MARK] || null;
    },
    async destroy(name) {
      await http.json("DELETE", at(name), { schema: z.unknown() });
    },
    async url(name) {
      return (await app(name)).web_url?.replace(/\/+$/, "") || null;
    },
  };
}
