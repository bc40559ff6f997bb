/**
 * The Platform API calls behind Heroku's rollback and `deploy status`: releases with the fields
 * those read (`created_at`, `eligible_for_rollback`), one release by version or id, and the
 * rollback itself. They go through the shared {@linkcode createHttpClient}, like `api.ts`.
 *
 * @module
 */
import { z } from "zod";
import { createHttpClient, type HttpClient } from "../../../src/http.ts";
import { HEROKU_ACCEPT, type HerokuApiOptions, releaseSchema } from "./api.ts";

/** A release, with the fields a rollback and the status read. */
export const historyReleaseSchema = releaseSchema.extend({
  created_at: z.string().nullish(),
  // heroku/platform-api schema.json (4f4f592), definitions.release.properties: "indicates if
  // this release is eligible for rollback"; absent from older answers, so only `false` excludes
  eligible_for_rollback: z.boolean().nullish(),
  user: z.object({ email: z.string() }).nullish(),
});
/** A release, as the history reads it. */
export type HistoryRelease = z.output<typeof historyReleaseSchema>;

/** The calls of the history. */
export interface HerokuHistoryApi {
  /** The newest releases, newest first. */
  releases(app: string, max: number): Promise<HistoryRelease[]>;
  /** GET /apps/{app}/releases/{id_or_version}. */
  release(app: string, idOrVersion: string): Promise<HistoryRelease>;
  /** POST /apps/{app}/releases with `release`: a new release of that release's slug and config. */
  rollback(app: string, releaseId: string): Promise<HistoryRelease>;
}

/** Creates the history's client, with the provider's API options. */
export function createHistoryApi(options: HerokuApiOptions): HerokuHistoryApi {
  const http: HttpClient = createHttpClient({
    service: "Heroku API",
    baseUrl: options.apiUrl.replace(/\/+$/, ""),
    headers: { Accept: HEROKU_ACCEPT, Authorization: `Bearer ${options.apiKey}` },
    fetch: options.fetch,
    secrets: options.secrets,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onRetry ? { onRetry: options.onRetry } : {}),
    ...(options.retry ? { retry: options.retry } : {}),
  });
  const at = (app: string, ...rest: string[]) =>
    `/apps/${[app, ...rest].map(encodeURIComponent).join("/")}`;
  return {
    async releases(app, max) {
      const answer = await http.json("GET", at(app, "releases"), {
        headers: { Range: `version ..; max=${max}, order=desc` },
        schema: z.array(historyReleaseSchema),
      });
      return answer.data;
    },
    async release(app, idOrVersion) {
      const answer = await http.json("GET", at(app, "releases", idOrVersion), {
        schema: historyReleaseSchema,
      });
      return answer.data;
    },
    async rollback(app, releaseId) {
      // heroku/platform-api schema.json (4f4f592) lines 12654-12676: the release "Rollback" link,
      // POST /apps/{app}/releases with the required `release` (a release id); heroku/cli
      // src/commands/releases/rollback.ts (c5fbf4b) lines 34-41 sends exactly this body
      const answer = await http.json("POST", at(app, "releases"), {
        body: { release: releaseId },
        schema: historyReleaseSchema,
      });
      return answer.data;
    },
  };
}

/** The release the app runs: the one marked current, else the newest that succeeded. */
export function runningRelease<T extends { current?: boolean; status: string }>(
  releases: readonly T[],
): T | undefined {
  return releases.find((r) => r.current) ?? releases.find((r) => r.status === "succeeded");
}
