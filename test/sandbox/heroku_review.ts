/**
 * The stand-in's Platform API for review apps, modelled on heroku/platform-api schema.json
 * @ 4f4f592: creating apps (`POST /apps`, `POST /teams/apps`), deleting them (`DELETE /apps/{app}`),
 * config vars (`GET`/`PATCH /apps/{app}/config-vars`, a null value deletes a var), add-ons with the
 * `config_vars` they manage (`GET /apps/{app}/addons`), add-on attachments
 * (`GET /apps/{app}/addon-attachments`), and pipeline couplings (`GET /apps/{app}/pipeline-couplings`,
 * `POST /pipeline-couplings` with stage one of test, review, development, staging, production).
 * Installed into {@linkcode Platform} as an extra route; the rest of the stand-in is unchanged.
 *
 * @module
 */
import type { AppState, Platform } from "./heroku_platform.ts";

/** The schema's app name pattern. */
const APP_NAME = /^[a-z][a-z0-9-]{1,28}[a-z0-9]$/;
const STAGES = ["test", "review", "development", "staging", "production"];

/** An add-on of an app. */
export interface AddonState {
  /** The add-on's name (postgresql-curved-12345). */
  name: string;
  /** The config vars it manages on its owning app. */
  configVars: string[];
  /** The attachment's name on the app (DATABASE). */
  attachment: string;
}

/** A pipeline coupling. */
export interface CouplingState {
  /** The app coupled. */
  app: string;
  /** The pipeline's id. */
  pipeline: string;
  /** Its stage. */
  stage: string;
}

/** Options of {@linkcode installReviewApi}. */
export interface ReviewApiOptions {
  /** Makes the app's git repo and state directory (sync: the API handler answers at once). */
  createRepo(app: string): void;
  /** Removes them. */
  removeRepo(app: string): void;
}

/** The review-app state of the stand-in, for tests to set up and look at. */
export class ReviewApi {
  /** Config vars by app. */
  readonly config = new Map<string, Record<string, string>>();
  /** Team by app (absent: a personal app). */
  readonly teams = new Map<string, string>();
  /** Teams that exist. */
  readonly knownTeams = new Set<string>();
  /** Add-ons by app. */
  readonly addons = new Map<string, AddonState[]>();
  /** Every pipeline coupling. */
  readonly couplings: CouplingState[] = [];
  /** How many apps the account may have; creating one more is refused. @default unlimited */
  appLimit = Infinity;

  constructor(readonly platform: Platform, readonly options: ReviewApiOptions) {}

  /** Answers a review-app request, or undefined for the other routes. */
  route(method: string, parts: string[], body: unknown): Response | undefined {
    const input = (body ?? {}) as Record<string, unknown>;
    const route = `${method} ${parts.join("/")}`;
    switch (route) {
      case "POST apps":
        return this.#create(input, undefined);
      case "POST teams/apps":
        return this.#create(input, typeof input.team === "string" ? input.team : "");
      case "POST pipeline-couplings":
        return this.#couple(input);
    }
    if (parts[0] !== "apps" || parts[1] === undefined) return undefined;
    const app = this.platform.apps.get(parts[1]);
    if (!app) return undefined;
    switch (`${method} ${parts.slice(2).join("/")}`) {
      case "DELETE ":
        return this.#delete(app);
      case "GET ":
        return json(200, this.#appJson(app));
      case "GET config-vars":
        return json(200, this.config.get(app.name) ?? {});
      case "PATCH config-vars":
        return this.#patchConfig(app, input);
      case "GET addons":
        return json(
          200,
          (this.addons.get(app.name) ?? []).map((a) => ({
            id: crypto.randomUUID(),
            name: a.name,
            config_vars: a.configVars,
            app: { id: app.id, name: app.name },
            state: "provisioned",
          })),
        );
      case "GET addon-attachments":
        return json(
          200,
          (this.addons.get(app.name) ?? []).map((a) => ({
            id: crypto.randomUUID(),
            name: a.attachment,
            addon: { id: crypto.randomUUID(), name: a.name, app: { name: app.name } },
            app: { id: app.id, name: app.name },
          })),
        );
      case "GET pipeline-couplings": {
        const coupling = this.couplings.find((c) => c.app === app.name);
        return coupling
          ? json(200, {
            id: crypto.randomUUID(),
            app: { id: app.id },
            pipeline: { id: coupling.pipeline },
            stage: coupling.stage,
          })
          : error(404, "not_found", "Couldn't find that pipeline coupling.");
      }
    }
    return undefined;
  }

  /** The team field of an app's JSON. */
  team(app: string): { id: string; name: string } | null {
    const team = this.teams.get(app);
    return team ? { id: `team-${team}`, name: team } : null;
  }

  // the fields the schema's app definition lists that review apps read, the team among them
  #appJson(app: AppState) {
    const current = this.platform.current(app);
    return {
      id: app.id,
      name: app.name,
      stack: { id: `stack-${app.stack}`, name: app.stack },
      build_stack: { id: `stack-${app.stack}`, name: app.stack },
      region: { id: `region-${app.region}`, name: app.region },
      team: this.team(app.name),
      git_url: `https://git.heroku.com/${app.name}.git`,
      web_url: `https://${app.name}.herokuapp.com/`,
      maintenance: false,
      created_at: app.createdAt,
      released_at: current?.createdAt ?? null,
      current_release: current ? { id: current.id, version: current.version } : null,
    };
  }

  #create(input: Record<string, unknown>, team: string | undefined): Response {
    const name = typeof input.name === "string" ? input.name : "";
    if (!APP_NAME.test(name)) {
      return error(
        422,
        "invalid_params",
        "Name must start with a letter, end with a letter or digit and can only contain lowercase letters, digits, and dashes.",
      );
    }
    if (this.platform.apps.has(name)) return error(422, "invalid_params", "Name is already taken");
    if (team !== undefined && !this.knownTeams.has(team)) {
      return error(404, "not_found", "Couldn't find that team.", "team");
    }
    if (this.platform.apps.size >= this.appLimit) {
      return error(
        422,
        "invalid_params",
        `You've reached the limit of ${this.appLimit} apps for unverified accounts. Delete some apps or add a credit card to verify your account.`,
      );
    }
    const stack = typeof input.stack === "string" ? input.stack : "heroku-24";
    const region = typeof input.region === "string" ? input.region : "us";
    this.options.createRepo(name);
    const app = this.platform.createApp(name, stack, region);
    if (team) this.teams.set(name, team);
    return json(201, this.#appJson(app));
  }

  #delete(app: AppState): Response {
    this.platform.apps.delete(app.name);
    this.config.delete(app.name);
    this.teams.delete(app.name);
    this.addons.delete(app.name);
    for (let i = this.couplings.length - 1; i >= 0; i--) {
      if (this.couplings[i]!.app === app.name) this.couplings.splice(i, 1);
    }
    this.options.removeRepo(app.name);
    return json(200, { id: app.id, name: app.name });
  }

  #patchConfig(app: AppState, input: Record<string, unknown>): Response {
    const config = { ...this.config.get(app.name) };
    for (const [key, value] of Object.entries(input)) {
      if (!/^\w+$/.test(key) || (value !== null && typeof value !== "string")) {
        return error(422, "invalid_params", `Invalid config var ${key}.`);
      }
      if (value === null) delete config[key];
      else config[key] = value;
    }
    this.config.set(app.name, config);
    return json(200, config);
  }

  #couple(input: Record<string, unknown>): Response {
    const app = typeof input.app === "string" ? this.platform.apps.get(input.app) : undefined;
    if (!app) return error(404, "not_found", "Couldn't find that app.", "app");
    if (typeof input.pipeline !== "string" || !STAGES.includes(String(input.stage))) {
      return error(422, "invalid_params", "Invalid pipeline or stage.");
    }
    if (this.couplings.some((c) => c.app === app.name)) {
      return error(422, "invalid_params", "App is already coupled to a pipeline.");
    }
    const coupling = { app: app.name, pipeline: input.pipeline, stage: String(input.stage) };
    this.couplings.push(coupling);
    return json(201, {
      id: crypto.randomUUID(),
      app: { id: app.id },
      pipeline: { id: coupling.pipeline },
      stage: coupling.stage,
    });
  }
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", "request-id": crypto.randomUUID() },
  });
}

function error(status: number, id: string, message: string, resource?: string): Response {
  return json(status, resource ? { id, message, resource } : { id, message });
}
