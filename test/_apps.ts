/**
 * Shared pieces of the health check, rollback and status tests: an app's health server on
 * loopback whose answers a test scripts, and the variables of a deploy to each sandbox.
 *
 * @module
 */
import type { DokkuSandbox } from "./sandbox/dokku.ts";
import type { HerokuStandin } from "./sandbox/heroku.ts";

/** One answer of the health server. */
export interface HealthAnswer {
  /** HTTP status. @default 200 */
  status?: number;
  /** Body. @default "OK" */
  body?: string;
  /** Extra headers (Location...). @default none */
  headers?: Record<string, string>;
}

/** A request the health server received. */
export interface HealthRequest {
  /** Path and query. */
  path: string;
  /** The Authorization header, when there was one. */
  authorization: string | null;
  /** Arrival time, ms since the epoch. */
  at: number;
}

/** A running health server; `await using` stops it. */
export interface HealthServer extends AsyncDisposable {
  /** `http://127.0.0.1:PORT`. */
  origin: string;
  /** What it received so far. */
  requests(): HealthRequest[];
  /** Stops it. */
  stop(): Promise<void>;
}

/**
 * Starts a health server on a port the OS chooses. `answer` gets the number of the request (from
 * 1) and its path, and returns what to answer.
 */
export function startHealthServer(
  answer: (n: number, path: string) => HealthAnswer | Promise<HealthAnswer>,
): HealthServer {
  const received: HealthRequest[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    const path = url.pathname + url.search;
    received.push({ path, authorization: req.headers.get("authorization"), at: Date.now() });
    const a = await answer(received.length, path);
    return new Response(a.body ?? "OK", { status: a.status ?? 200, headers: a.headers ?? {} });
  });
  let stopped: Promise<void> | undefined;
  const stop = () => stopped ??= server.shutdown();
  return {
    origin: `http://127.0.0.1:${server.addr.port}`,
    requests: () => [...received],
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/** Variables of a deploy to the Dokku sandbox's app "shop", with strict host-key checking. */
export function dokkuEnv(
  sandbox: DokkuSandbox,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    DEPLOY_PROVIDER: "dokku",
    DOKKU_HOST: sandbox.dokkuHost,
    APP_NAME: "shop",
    SSH_PRIVATE_KEY: sandbox.privateKey,
    SSH_KNOWN_HOSTS: sandbox.knownHosts,
    // the sandbox starts without the app: the first deploy creates it, as a user would opt in to
    DOKKU_CREATE_APP: "true",
    ...extra,
  };
}

/** Variables of a deploy to the Heroku stand-in's app. */
export function herokuEnv(
  heroku: HerokuStandin,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    DEPLOY_PROVIDER: "heroku",
    APP_NAME: heroku.app,
    HEROKU_API_KEY: heroku.apiKey,
    HEROKU_API_URL: heroku.apiUrl,
    HEROKU_GIT_URL: heroku.gitUrl,
    DENO_CERT: heroku.certFile,
    ...extra,
  };
}

/** The JSON records of a run with `--log-format json`. */
export function records(stdout: string): Record<string, unknown>[] {
  return stdout.split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line));
}

/** The outcome record of a run with `--log-format json`. */
export function outcomeOf(stdout: string): Record<string, unknown> {
  const outcome = records(stdout).find((r) => r.type === "outcome");
  if (!outcome) throw new Error(`No outcome record in:\n${stdout}`);
  return outcome;
}
