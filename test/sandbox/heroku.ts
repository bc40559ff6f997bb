/**
 * A local Heroku stand-in for tests and the demo: the Platform API endpoints the deploy tool uses,
 * real `git http-backend` behind basic auth (the password is the API key), and a rendezvous TLS
 * endpoint for one-off dynos, with a throwaway CA the client trusts through DENO_CERT.
 *
 * ```ts
 * await using heroku = await startHerokuStandin({ app: "shop" });
 * // HEROKU_API_URL=heroku.apiUrl HEROKU_GIT_URL=heroku.gitUrl HEROKU_API_KEY=heroku.apiKey
 * // DENO_CERT=heroku.certFile
 * heroku.setReleasePhase({ exitCode: 1, output: ["migration failed"] });
 * ```
 *
 * As on Heroku, `git push` lasts until the release phase ends: the pre-receive hook prints the
 * build, "Running release command...", the release command's output and "Waiting for release....
 * done" (or "failed"), and only then does git update the branch, which it does even when the
 * release phase failed (heroku/hatchet pull request #119: "When a deploy succeeds but the release
 * fails the git remote retains the contents of the `git push`"; heroku/hatchet
 * lib/hatchet/git_app.rb:33-42 at 05e4684 reads the release's status only after the push).
 * @module
 */
import { makeCert } from "./heroku_cert.ts";
import { type GitRequest, handleGit } from "./heroku_git.ts";
import {
  type ApiRequest,
  type AppState,
  type DynoRecord,
  Platform,
  type ReleasePhase,
} from "./heroku_platform.ts";
import { type RendezvousSession, startRendezvous } from "./heroku_rendezvous.ts";
import { ReviewApi } from "./heroku_review.ts";

export type { ApiRequest, DynoRecord, GitRequest, ReleasePhase, RendezvousSession };

/** Options of {@linkcode startHerokuStandin}. */
export interface HerokuStandinOptions {
  /** The app that exists. @default "sample-app" */
  app?: string;
  /** The API key the stand-in accepts. @default a random one */
  apiKey?: string;
  /** The app's stack. @default "heroku-24" */
  stack?: string;
  /** The app's region. @default "us" */
  region?: string;
}

/** One ref update a push asked for, as the pre-receive hook saw it. */
export interface HerokuPush {
  /** The app pushed to. */
  app: string;
  /** Old commit (zeros for a new branch). */
  before: string;
  /** New commit. */
  after: string;
  /** The ref, e.g. refs/heads/main. */
  ref: string;
  /** What the build did. */
  outcome: "accepted" | "rejected" | "ignored" | "deleted";
}

/** A release, as the tests look at it. */
export interface HerokuReleaseView {
  /** Version number. */
  version: number;
  /** pending, succeeded or failed. */
  status: string;
  /** The commit of its slug, null for config-only releases. */
  commit: string | null;
  /** Whether the app runs it. */
  current: boolean;
  /** Its description. */
  description: string;
}

/** Limits on the git server's next answers. */
export interface FailGitOptions {
  /** HTTP status to answer. @default 500 */
  status?: number;
  /** Only requests whose "METHOD /path?query" matches. @default every git request */
  match?: RegExp;
}

/** Limits on the API's next answers. */
export interface FailRequestsOptions {
  /** HTTP status to answer. @default 503 */
  status?: number;
  /** Only requests whose "METHOD /path" matches. @default every API request */
  match?: RegExp;
}

/** A running stand-in; `await using` stops it. */
export interface HerokuStandin extends AsyncDisposable {
  /** The app that exists. */
  app: string;
  /** Base URL of the Platform API (HEROKU_API_URL). */
  apiUrl: string;
  /** Base URL of the git server (HEROKU_GIT_URL). */
  gitUrl: string;
  /** The accepted API key (HEROKU_API_KEY). */
  apiKey: string;
  /** PEM file of the CA that signed the rendezvous certificate (DENO_CERT). */
  certFile: string;
  /** Temporary directory holding repos, certificates and fake binaries; removed by stop(). */
  stateDir: string;
  /** Every API request, in order. */
  requests(): ApiRequest[];
  /** Every git HTTP request, in order. */
  gitRequests(): GitRequest[];
  /** Every request to an output_stream_url (a host of its own), in order. */
  streamRequests(): ApiRequest[];
  /** How many NUL keepalive bytes the output streams sent. */
  streamKeepalives(): number;
  /** Every ref update pushed, in order. */
  pushes(): Promise<HerokuPush[]>;
  /** The one-off dynos created. */
  dynos(): DynoRecord[];
  /** The finished rendezvous sessions. */
  sessions(): RendezvousSession[];
  /** The app's releases, oldest first. */
  releases(): HerokuReleaseView[];
  /** The commit of the app's current release, null when it runs none. */
  deployedCommit(): string | null;
  /** The commit of a branch of the app's git repo, null when it has none. */
  gitHead(branch?: string): Promise<string | null>;
  /** Makes the next build fail, with `message` in its output. */
  failNextBuild(message?: string): Promise<void>;
  /** Makes every build take `seconds` longer (to look at processes while a push runs). */
  setBuildDelay(seconds: number): Promise<void>;
  /** Sets the release phase of the next releases; null: only when the Procfile declares one. */
  setReleasePhase(phase: ReleasePhase | null): void;
  /** Makes the next `count` API requests (matching `options.match`) fail. */
  failRequests(count: number, options?: FailRequestsOptions): void;
  /** Makes the next `count` git requests (matching `options.match`) fail. */
  failGit(count: number, options?: FailGitOptions): void;
  /**
   * Changes config vars: a release of the slug the app runs, its release phase included;
   * resolves when the release has succeeded or failed.
   */
  setConfig(...names: string[]): Promise<void>;
  /** Sets how long the output stream stays silent before it sends a NUL byte. @default 1000 */
  setStreamKeepalive(ms: number): void;
  /**
   * Makes rendezvous close the TCP connection without TLS close_notify once a session's output
   * is sent, as Heroku's rendezvous may.
   */
  setRendezvousAbruptClose(abrupt: boolean): void;
  /** Writes an executable script to the directory first on PATH for one-off dynos. */
  fakeBin(name: string, script: string): Promise<void>;
  /** Review apps: created apps, config vars, teams, add-ons, pipeline couplings. */
  review: ReviewApi;
  /** Stops the servers and removes the state directory; safe to call twice. */
  stop(): Promise<void>;
}

const HOOK_SCRIPT = new URL("./heroku_hook.sh", import.meta.url).pathname;

/** Starts the stand-in on free loopback ports. */
export async function startHerokuStandin(
  options: HerokuStandinOptions = {},
): Promise<HerokuStandin> {
  const stateDir = await Deno.makeTempDir({ prefix: "heroku_standin_" });
  try {
    return await setUp(stateDir, options);
  } catch (e: unknown) {
    await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    throw e;
  }
}

async function setUp(stateDir: string, options: HerokuStandinOptions): Promise<HerokuStandin> {
  const appName = options.app ?? "sample-app";
  const apiKey = options.apiKey ?? `HRKU-${crypto.randomUUID()}`;
  const token = crypto.randomUUID();
  const path = (name: string) => `${stateDir}/${name}`;
  for (const dir of ["bin", "repos", "apps", "certs", `apps/${appName}`]) {
    await Deno.mkdir(path(dir));
  }
  await Deno.writeTextFile(path("pushes.log"), "");
  await Deno.writeTextFile(path("token"), token);
  await Deno.writeTextFile(path(`apps/${appName}/stack`), options.stack ?? "heroku-24");
  await createRepo(path(`repos/${appName}.git`), stateDir, appName);
  const cert = await makeCert(path("certs"));

  const gitRequests: GitRequest[] = [];
  const streamRequests: ApiRequest[] = [];
  const gitFailures: { remaining: number; status: number; match?: RegExp }[] = [];
  let apiUrl = "";
  let streamUrl = "";
  const rendezvous = startRendezvous({
    cert: cert.cert,
    key: cert.key,
    binDir: path("bin"),
    cwd: (app) => path(`apps/${app}/slug`),
  });
  const platform = new Platform({
    apiKey,
    apiUrl: () => apiUrl,
    rendezvousUrl: () => `rendezvous://127.0.0.1:${rendezvous.port}`,
    onDyno: (app: AppState, dyno) => rendezvous.register(app.name, dyno),
    streamUrl: () => streamUrl,
  });
  const app = platform.createApp(appName, options.stack ?? "heroku-24", options.region ?? "us");
  const review = new ReviewApi(platform, {
    createRepo: (name) =>
      createRepoSync(path(`repos/${name}.git`), stateDir, name, path(`apps/${name}`)),
    removeRepo: (name) => {
      for (const dir of [`repos/${name}.git`, `apps/${name}`]) {
        Deno.removeSync(path(dir), { recursive: true });
      }
    },
  });
  platform.extraRoutes.push((method, parts, body) => review.route(method, parts, body));

  const api = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    const url = new URL(request.url);
    const build = url.pathname.match(/^\/_standin\/apps\/([\w-]+)\/builds$/);
    if (build) return internalBuild(request, url, build[1]!);
    const wait = url.pathname.match(/^\/_standin\/apps\/([\w-]+)\/releases\/(\d+)\/wait$/);
    if (wait) return internalWait(request, wait[1]!, Number(wait[2]));
    return platform.handle(request);
  });
  apiUrl = `http://127.0.0.1:${api.addr.port}`;

  // output_stream_url is served by a host of its own (release-output.heroku.com in the Platform
  // API schema's example), which must never see the API key
  const streams = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    const url = new URL(request.url);
    const headers: Record<string, string> = {};
    request.headers.forEach((value, name) => headers[name] = value);
    const match = url.pathname.match(/^\/streams\/([\w-]+)$/);
    const response = match && request.method === "GET"
      ? platform.outputStream(match[1]!)
      : new Response("Not found\n", { status: 404 });
    streamRequests.push({
      method: request.method,
      path: url.pathname,
      headers,
      body: undefined,
      status: response.status,
      at: Date.now(),
    });
    return response;
  });
  streamUrl = `http://127.0.0.1:${streams.addr.port}`;
  await Deno.writeTextFile(path("api_port"), String(api.addr.port));

  // what the pre-receive hook calls to create the slug and release before the push completes
  async function internalBuild(request: Request, url: URL, name: string): Promise<Response> {
    const procfile = await request.text();
    const target = platform.apps.get(name);
    const commit = url.searchParams.get("commit") ?? "";
    if (
      request.headers.get("x-standin-token") !== token || !target || !/^[0-9a-f]{40}$/.test(commit)
    ) {
      return new Response("refused", { status: 403 });
    }
    const release = platform.release(target, commit, procfile.trim() === "" ? null : procfile);
    const phase = release.output ? " release" : "";
    return new Response(`${release.version}${phase}`, { status: 201 });
  }

  // what the hook reads while the push waits for the release phase: the release command's output,
  // then a last line "\u0001 STATUS" (the output without keepalives: Heroku's push shows none)
  function internalWait(request: Request, name: string, version: number): Response {
    const release = platform.apps.get(name)?.releases.find((r) => r.version === version);
    if (request.headers.get("x-standin-token") !== token || !release?.output) {
      return new Response("refused", { status: 403 });
    }
    const output = release.output.readable(null).getReader();
    const encoder = new TextEncoder();
    let last = 10;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { done, value } = await output.read();
        if (!done) {
          last = value.at(-1) ?? last;
          return controller.enqueue(value);
        }
        const newline = last === 10 ? "" : "\n";
        controller.enqueue(encoder.encode(`${newline}\u0001 ${release.status}\n`));
        controller.close();
      },
      cancel: () => output.cancel(),
    });
    return new Response(body, { headers: { "content-type": "text/plain" } });
  }

  const git = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (request) =>
      handleGit(request, {
        reposDir: path("repos"),
        apiKey,
        exists: (name) => platform.apps.has(name),
        record: (entry) => gitRequests.push(entry),
        failure: (line) => {
          const failure = gitFailures.find((f) =>
            f.remaining > 0 && (!f.match || f.match.test(line))
          );
          if (!failure) return undefined;
          failure.remaining--;
          return failure.status;
        },
      }),
  );

  let stopped: Promise<void> | undefined;
  const stop = () =>
    stopped ??= (async () => {
      platform.close();
      for (const release of app.releases) release.output?.end();
      await rendezvous.close();
      await Promise.allSettled([api.shutdown(), git.shutdown(), streams.shutdown()]);
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    })();

  return {
    app: appName,
    apiUrl,
    gitUrl: `http://127.0.0.1:${git.addr.port}`,
    apiKey,
    certFile: cert.caFile,
    stateDir,
    requests: () => [...platform.requests],
    gitRequests: () => [...gitRequests],
    streamRequests: () => [...streamRequests],
    streamKeepalives: () =>
      app.releases.reduce((sum, release) => sum + (release.output?.keepalives ?? 0), 0),
    pushes: async () => parsePushes(await Deno.readTextFile(path("pushes.log"))),
    dynos: () => [...platform.dynos],
    sessions: () => [...rendezvous.sessions],
    releases: () =>
      app.releases.map((r) => ({
        version: r.version,
        status: r.status,
        commit: r.slugId ? app.slugs.get(r.slugId)?.commit ?? null : null,
        current: platform.current(app)?.id === r.id,
        description: r.description,
      })),
    deployedCommit: () => {
      const slugId = platform.current(app)?.slugId;
      return slugId ? app.slugs.get(slugId)?.commit ?? null : null;
    },
    gitHead: (branch = "main") => revParse(path(`repos/${appName}.git`), `refs/heads/${branch}`),
    failNextBuild: (message = "") =>
      Deno.writeTextFile(path(`apps/${appName}/fail_next_build`), message),
    setBuildDelay: (seconds) =>
      Deno.writeTextFile(path(`apps/${appName}/build_delay`), seconds > 0 ? String(seconds) : ""),
    setReleasePhase: (phase) => {
      platform.releasePhase = phase;
    },
    failRequests: (count, failOptions = {}) => {
      platform.failures.push({
        remaining: count,
        status: failOptions.status ?? 503,
        ...(failOptions.match ? { match: failOptions.match } : {}),
      });
    },
    failGit: (count, failOptions = {}) => {
      gitFailures.push({
        remaining: count,
        status: failOptions.status ?? 500,
        ...(failOptions.match ? { match: failOptions.match } : {}),
      });
    },
    setConfig: async (...names) => {
      const release = platform.setConfig(app, names);
      while (release.status === "pending") await new Promise((r) => setTimeout(r, 20));
    },
    setStreamKeepalive: (ms) => {
      platform.keepaliveMs = ms;
    },
    setRendezvousAbruptClose: (abrupt) => {
      rendezvous.abruptClose = abrupt;
    },
    fakeBin: async (name, script) => {
      if (!/^[\w.-]+$/.test(name)) throw new TypeError(`Cannot use "${name}" as a binary name`);
      const text = script.startsWith("#!") ? script : `#!/bin/sh\n${script}`;
      const file = path(`bin/${name}`);
      await Deno.writeTextFile(file, text.endsWith("\n") ? text : `${text}\n`);
      await Deno.chmod(file, 0o755);
    },
    review,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

async function createRepo(repo: string, stateDir: string, app: string): Promise<void> {
  await git(["init", "-q", "--bare", "--initial-branch=main", repo]);
  // Heroku rejects nothing but failed builds; git's receive-pack defaults would refuse less anyway
  await git(["--git-dir", repo, "config", "http.receivepack", "true"]);
  const hook = `${repo}/hooks/pre-receive`;
  await Deno.writeTextFile(
    hook,
    `#!/usr/bin/env bash\nexec /usr/bin/env bash ${shellQuote(HOOK_SCRIPT)} ${
      shellQuote(stateDir)
    } ${shellQuote(app)}\n`,
  );
  await Deno.chmod(hook, 0o755);
}

/** {@linkcode createRepo} for an app the API creates while it answers (review apps). */
function createRepoSync(repo: string, stateDir: string, app: string, appDir: string): void {
  Deno.mkdirSync(appDir, { recursive: true });
  for (
    const args of [
      ["init", "-q", "--bare", "--initial-branch=main", repo],
      ["--git-dir", repo, "config", "http.receivepack", "true"],
    ]
  ) {
    const out = new Deno.Command("git", { args, stdout: "null", stderr: "piped" }).outputSync();
    if (!out.success) throw new Error(`git ${args.join(" ")} failed`);
  }
  Deno.writeTextFileSync(
    `${repo}/hooks/pre-receive`,
    `#!/usr/bin/env bash\nexec /usr/bin/env bash ${shellQuote(HOOK_SCRIPT)} ${
      shellQuote(stateDir)
    } ${shellQuote(app)}\n`,
  );
  Deno.chmodSync(`${repo}/hooks/pre-receive`, 0o755);
}

function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'"'"'`)}'`;
}

function parsePushes(text: string): HerokuPush[] {
  return text.split("\n").filter((line) => line !== "").map((line) => {
    const [app = "", before = "", after = "", ref = "", outcome = ""] = line.split("\t");
    return { app, before, after, ref, outcome: outcome as HerokuPush["outcome"] };
  });
}

async function revParse(gitDir: string, ref: string): Promise<string | null> {
  const out = await new Deno.Command("git", {
    args: ["--git-dir", gitDir, "rev-parse", "--verify", "--quiet", `${ref}^{commit}`],
    stdout: "piped",
    stderr: "null",
  }).output();
  return out.success ? new TextDecoder().decode(out.stdout).trim() : null;
}

async function git(args: string[]): Promise<void> {
  const out = await new Deno.Command("git", { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`git ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
}
