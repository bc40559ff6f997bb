/**
 * The calls the Heroku provider makes to the Platform API, each with a zod schema of the fields it
 * reads. Everything goes through the shared {@linkcode HttpClient}: retries on 429 and 5xx,
 * timeouts, cancellation, and errors with Heroku's `id` and `message`.
 *
 * @module
 */
import { z } from "zod";
import { ConfigError } from "../../../src/errors.ts";
import { createHttpClient, type HttpClient, HttpError, type RetryInfo } from "../../../src/http.ts";
import type { Secrets } from "../../../src/secrets.ts";

/** The version-3 media type every call sends. */
export const HEROKU_ACCEPT = "application/vnd.heroku+json; version=3";

/** An app, as far as the provider reads it. */
export const appSchema = z.object({
  id: z.string(),
  name: z.string(),
  stack: z.object({ name: z.string() }).nullish(),
  region: z.object({ name: z.string() }).nullish(),
});
/** An app. */
export type HerokuApp = z.output<typeof appSchema>;

/** A release. */
export const releaseSchema = z.object({
  id: z.string(),
  version: z.number().int(),
  status: z.string(),
  current: z.boolean().optional(),
  description: z.string().nullish(),
  slug: z.object({ id: z.string() }).nullish(),
  output_stream_url: z.string().nullish(),
});
/** A release. */
export type HerokuRelease = z.output<typeof releaseSchema>;

/** A slug: what a build produced from one commit. */
export const slugSchema = z.object({ id: z.string(), commit: z.string().nullish() });

/** A dyno, as created. */
export const dynoSchema = z.object({
  id: z.string(),
  name: z.string(),
  attach_url: z.string().nullish(),
});

/** One process type of the formation. */
export const formationSchema = z.object({ type: z.string(), quantity: z.number().int() });

/** What creating a one-off dyno sends. */
export interface DynoCreate {
  /** The command string (run by a shell in the dyno). */
  command: string;
  /** Attach over rendezvous. */
  attach: boolean;
  /** Extra environment of the dyno. */
  env?: Record<string, string>;
  /** Seconds until Heroku kills the dyno. */
  time_to_live?: number;
  /** No pseudo-terminal. */
  force_no_tty?: boolean;
}

/** Options of {@linkcode createHerokuApi}. */
export interface HerokuApiOptions {
  /** HEROKU_API_URL. */
  apiUrl: string;
  /** HEROKU_API_KEY. */
  apiKey: string;
  /** The runtime's fetch. */
  fetch: typeof fetch;
  /** Masked in every message. */
  secrets: Secrets;
  /** The run's cancellation, asked at the start of each request. */
  signal?: AbortSignal | (() => AbortSignal);
  /** Told about each retry. */
  onRetry?: (info: RetryInfo) => void;
  /** Retry limits (tests shorten them). @default the HTTP client's */
  retry?: { attempts?: number; totalMs?: number; baseDelayMs?: number; maxDelayMs?: number };
}

/** The Platform API calls of the provider. */
export interface HerokuApi {
  /** GET /apps/{app}. */
  app(app: string): Promise<HerokuApp>;
  /** The newest releases, newest first (Range: version ..; max=N, order=desc). */
  latestReleases(app: string, max: number): Promise<HerokuRelease[]>;
  /** GET /apps/{app}/releases/{id}. */
  release(app: string, id: string): Promise<HerokuRelease>;
  /** POST /apps/{app}/releases: a new release of an existing slug (runs the release phase again). */
  createRelease(app: string, slugId: string, description: string): Promise<HerokuRelease>;
  /** The commit a slug was built from. */
  slugCommit(app: string, slugId: string): Promise<string | null>;
  /** POST /apps/{app}/dynos. */
  createDyno(app: string, dyno: DynoCreate): Promise<z.output<typeof dynoSchema>>;
  /** DELETE /apps/{app}/dynos: restarts every dyno. */
  restartAll(app: string): Promise<void>;
  /** DELETE /apps/{app}/formations/{type}: restarts one process type. */
  restartType(app: string, type: string): Promise<void>;
  /** POST /apps/{app}/formations/{type}/actions/stop. */
  stopType(app: string, type: string): Promise<void>;
  /** GET /apps/{app}/formation/{type}. */
  formation(app: string, type: string): Promise<z.output<typeof formationSchema>>;
  /** PATCH /apps/{app}/formation/{type}: sets the number of dynos. */
  scale(app: string, type: string, quantity: number): Promise<z.output<typeof formationSchema>>;
  /** GET output_stream_url (no API key: it is a URL of its own); the caller reads the body. */
  outputStream(url: string): Promise<Response>;
}

/** Creates the API client. */
export function createHerokuApi(options: HerokuApiOptions): HerokuApi {
  const base = options.apiUrl.replace(/\/+$/, "");
  const common = {
    fetch: options.fetch,
    secrets: options.secrets,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onRetry ? { onRetry: options.onRetry } : {}),
    ...(options.retry ? { retry: options.retry } : {}),
  };
  const http: HttpClient = createHttpClient({
    service: "Heroku API",
    baseUrl: base,
    headers: { Accept: HEROKU_ACCEPT, Authorization: `Bearer ${options.apiKey}` },
    ...common,
  });
  // the release output stream is served from a URL of its own: it never gets the API key
  const streams = createHttpClient({ service: "Heroku release output", ...common });
  const at = (app: string, ...rest: string[]) =>
    `/apps/${[app, ...rest].map(encodeURIComponent).join("/")}`;
  const empty = z.unknown();

  return {
    async app(app) {
      return (await http.json("GET", at(app), { schema: appSchema })).data;
    },
    async latestReleases(app, max) {
      const answer = await http.json("GET", at(app, "releases"), {
        headers: { Range: `version ..; max=${max}, order=desc` },
        schema: z.array(releaseSchema),
      });
      return answer.data;
    },
    async release(app, id) {
      return (await http.json("GET", at(app, "releases", id), { schema: releaseSchema })).data;
    },
    async createRelease(app, slugId, description) {
      const answer = await http.json("POST", at(app, "releases"), {
        body: { slug: slugId, description },
        schema: releaseSchema,
      });
      return answer.data;
    },
    async slugCommit(app, slugId) {
      return (await http.json("GET", at(app, "slugs", slugId), { schema: slugSchema })).data
        .commit ??
        null;
    },
    async createDyno(app, dyno) {
      return (await http.json("POST", at(app, "dynos"), { body: dyno, schema: dynoSchema })).data;
    },
    async restartAll(app) {
      await http.json("DELETE", at(app, "dynos"), { schema: empty });
    },
    async restartType(app, type) {
      await http.json("DELETE", at(app, "formations", type), { schema: empty });
    },
    async stopType(app, type) {
      await http.json("POST", `${at(app, "formations", type)}/actions/stop`, { schema: empty });
    },
    async formation(app, type) {
      return (await http.json("GET", at(app, "formation", type), { schema: formationSchema })).data;
    },
    async scale(app, type, quantity) {
      const answer = await http.json("PATCH", at(app, "formation", type), {
        body: { quantity },
        schema: formationSchema,
      });
      return answer.data;
    },
    async outputStream(url) {
      return await streams.raw("GET", url, { display: "GET output_stream_url" });
    },
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
