/**
 * Enough of Sentry's web API for the real `sentry-cli` 2 to run `releases new`, `releases
 * set-commits` (--auto, --commit, --ignore-missing, --local), `releases finalize`, `repos list`
 * and `deploys new`, with SENTRY_URL (or an organization token's URL) pointing here. Records every
 * request, and refuses what real Sentry refuses: deploy environments it cannot store, and refs
 * naming a repository the organization does not have.
 *
 * ```ts
 * await using sentry = await startSentryApi({ repos: [{ name: "acme/shop", url: "..." }] });
 * // SENTRY_URL = sentry.url
 * assert.deepEqual(sentry.actions().map((a) => a.kind), ["release", "commits", "finalize", "deploy"]);
 * ```
 * @module
 */

/** How the API answers: normally, with 500 to everything, or never (until stop). */
export type SentryApiMode = "ok" | "500" | "hang";

/** A repository the organization has connected (what `GET /organizations/ORG/repos/` lists). */
export interface SentryRepo {
  /**
   * Name as Sentry shows it: the REPO of `--commit REPO@SHA`. Sentry's GitHub integration names a
   * repository by its full name, "acme/shop" (getsentry/sentry
   * src/sentry/integrations/github/repository.py, `build_repository_config`: `"name":
   * data["identifier"]`); its GitLab integration by GitLab's `name_with_namespace`, the display
   * names, "Acme Corp / Shop" (src/sentry/integrations/gitlab/repository.py,
   * `get_repository_data`: `"name": project["name_with_namespace"]`).
   */
  name: string;
  /**
   * The repository's web URL (GitLab's `web_url`, `https://github.com/NAME` on GitHub), which
   * `--auto` matches against the git remote.
   */
  url: string;
  /** Provider id and name. @default GitLab's: { id: "integrations:gitlab", name: "GitLab" } */
  provider?: { id: string; name: string };
}

/** Options of {@linkcode startSentryApi}. */
export interface SentryApiOptions {
  /** How to answer. @default "ok" */
  mode?: SentryApiMode;
  /** The organization's connected repositories. @default none */
  repos?: SentryRepo[];
  /**
   * The last commit of the previous release, as `previous-with-commits` reports it; a sha missing
   * from a shallow clone makes `set-commits` fail unless `--ignore-missing` is given.
   * @default no previous release
   */
  previousCommit?: string;
}

/** One request received. */
export interface SentryRequest {
  /** HTTP method. */
  method: string;
  /** Path below the host, e.g. "/api/0/organizations/acme/releases/abc/deploys/". */
  path: string;
  /** The Authorization header. */
  authorization: string | null;
  /** Parsed JSON body, or undefined. */
  body: unknown;
  /** Arrival time, ms since the epoch. */
  at: number;
}

/** What a request did to a release, in sentry-cli's terms. */
export interface SentryAction {
  /** "release": created; "commits": commits or refs set; "finalize": released; "deploy": deploy created. */
  kind: "release" | "commits" | "finalize" | "deploy";
  /** The organization slug. */
  org: string;
  /** The release version. */
  version: string;
  /** The request body. */
  body: Record<string, unknown>;
  /** Arrival time, ms since the epoch. */
  at: number;
}

/** A running fake Sentry; `await using` stops it. */
export interface SentryApi extends AsyncDisposable {
  /** Base URL for SENTRY_URL, with the trailing slash. */
  url: string;
  /** Every request, in order. */
  requests(): SentryRequest[];
  /** The requests that changed a release, in order. */
  actions(): SentryAction[];
  /** Changes how later requests are answered. */
  setMode(mode: SentryApiMode): void;
  /** Answers held requests and closes the server; safe to call twice. */
  stop(): Promise<void>;
}

const ORG_RELEASES = /^\/api\/0\/organizations\/([^/]+)\/releases\/$/;
const PROJECT_RELEASES = /^\/api\/0\/projects\/([^/]+)\/([^/]+)\/releases\/$/;
const ORG_RELEASE = /^\/api\/0\/organizations\/([^/]+)\/releases\/([^/]+)\/$/;
const PROJECT_RELEASE = /^\/api\/0\/projects\/([^/]+)\/([^/]+)\/releases\/([^/]+)\/$/;
const PREVIOUS = /^\/api\/0\/organizations\/([^/]+)\/releases\/([^/]+)\/previous-with-commits\/$/;
const DEPLOYS = /^\/api\/0\/organizations\/([^/]+)\/releases\/([^/]+)\/deploys\/$/;
const REPOS = /^\/api\/0\/organizations\/([^/]+)\/repos\/$/;

/**
 * Sentry's rule for environment names: `Environment.is_valid_name` (getsentry/sentry
 * src/sentry/models/environment.py @ 003730da) accepts at most `ENVIRONMENT_NAME_MAX_LENGTH` = 64
 * characters matching `ENVIRONMENT_NAME_PATTERN` = `^[^\n\r\f\/]*$` (src/sentry/constants.py).
 */
const ENVIRONMENT_NAME_PATTERN = /^[^\n\r\f/]*$/;
const ENVIRONMENT_NAME_MAX_LENGTH = 64;

/**
 * The errors real Sentry gives a deploy's `environment`, in the order it checks. The deploys
 * endpoint (getsentry/sentry src/sentry/releases/endpoints/release_deploys.py @ 53df3060) validates
 * with Django REST framework: `environment = serializers.CharField(max_length=64)` (required, no
 * blank, surrounding whitespace trimmed, no NUL, at most 64 characters), then
 * `validate_environment` raises "Invalid value for environment" when `Environment.is_valid_name`
 * refuses it; `post` answers `Response(serializer.errors, status=400)`.
 */
export function environmentErrors(value: unknown): string[] {
  if (value === undefined) return ["This field is required."];
  if (value === null) return ["This field may not be null."];
  if (typeof value !== "string" && typeof value !== "number") return ["Not a valid string."];
  const name = String(value).trim();
  if (name === "") return ["This field may not be blank."];
  const errors: string[] = [];
  // DRF counts characters (code points), not UTF-16 units
  if ([...name].length > ENVIRONMENT_NAME_MAX_LENGTH) {
    errors.push(`Ensure this field has no more than ${ENVIRONMENT_NAME_MAX_LENGTH} characters.`);
  }
  if (name.includes("\0")) errors.push("Null characters are not allowed.");
  if (errors.length > 0) return errors;
  // Python's `$` also matches before a final newline; the trim above has removed it already
  if (!ENVIRONMENT_NAME_PATTERN.test(name)) return ["Invalid value for environment"];
  return [];
}

/** Starts the fake API on 127.0.0.1, port chosen by the OS. */
export function startSentryApi(options: SentryApiOptions = {}): Promise<SentryApi> {
  let mode: SentryApiMode = options.mode ?? "ok";
  const repos = options.repos ?? [];
  const requests: SentryRequest[] = [];
  const actions: SentryAction[] = [];
  const releases = new Map<string, Record<string, unknown>>();
  const release = Promise.withResolvers<void>();
  const controller = new AbortController();
  const { promise: listening, resolve: onListen } = Promise.withResolvers<number>();

  const releaseInfo = (version: string) => {
    const existing = releases.get(version);
    if (existing) return existing;
    const created = {
      version,
      shortVersion: version.slice(0, 12),
      url: null,
      dateCreated: new Date().toISOString(),
      dateReleased: null,
      lastEvent: null,
      newGroups: 0,
      projects: [],
      lastCommit: null,
    };
    releases.set(version, created);
    return created;
  };
  const record = (kind: SentryAction["kind"], org: string, version: string, body: unknown) =>
    actions.push({
      kind,
      org,
      version: decodeURIComponent(version),
      body: (body ?? {}) as Record<string, unknown>,
      at: Date.now(),
    });

  const answer = (method: string, path: string, body: unknown): Response => {
    let m: RegExpMatchArray | null;
    const json = body as Record<string, unknown> | undefined;
    if (method === "GET" && (m = path.match(REPOS))) {
      return Response.json(repos.map((repo, i) => ({
        id: String(i + 1),
        name: repo.name,
        url: repo.url,
        provider: repo.provider ?? { id: "integrations:gitlab", name: "GitLab" },
        status: "active",
        dateCreated: "2026-01-01T00:00:00Z",
      })));
    }
    if (
      method === "POST" && ((m = path.match(PROJECT_RELEASES)) || (m = path.match(ORG_RELEASES)))
    ) {
      const version = String(json?.version ?? "");
      record("release", m[1]!, version, body);
      const info = releaseInfo(version);
      info.projects = ((json?.projects as string[] | undefined) ?? []).map((slug) => ({
        slug,
        name: slug,
      }));
      return Response.json(info, { status: 201 });
    }
    if (method === "GET" && (m = path.match(PREVIOUS))) {
      if (!options.previousCommit) return Response.json({});
      return Response.json({
        version: "previous",
        url: null,
        dateCreated: "2026-01-01T00:00:00Z",
        lastCommit: { id: options.previousCommit },
      });
    }
    if (method === "PUT" && ((m = path.match(ORG_RELEASE)) || (m = path.match(PROJECT_RELEASE)))) {
      const [org, version] = m.length === 3 ? [m[1]!, m[2]!] : [m[1]!, m[3]!];
      const decoded = decodeURIComponent(version);
      if (!releases.has(decoded)) return Response.json({ detail: "Not found" }, { status: 404 });
      const refs = json?.refs as { repository?: unknown }[] | undefined;
      if (refs && refs.length > 0) {
        // `Release.set_refs` looks the names up exactly (`Repository.objects.filter(name__in=
        // names)`) and raises InvalidRepository, which the release details endpoint answers with
        // `Response({"refs": [str(e)]}, status=400)` (getsentry/sentry src/sentry/models/release.py
        // @ 36272e8c; src/sentry/releases/endpoints/organization_release_details.py @ 35f4b67a)
        const names = new Set(refs.map((r) => String(r.repository)));
        const unknown = [...names].filter((name) => !repos.some((repo) => repo.name === name));
        if (unknown.length > 0) {
          return Response.json({ refs: [`Invalid repository names: ${unknown.join(",")}`] }, {
            status: 400,
          });
        }
      }
      const kind = json?.refs || json?.commits ? "commits" : "finalize";
      record(kind, org, version, body);
      const info = releaseInfo(decoded);
      if (json?.dateReleased) info.dateReleased = json.dateReleased;
      return Response.json(info);
    }
    if (method === "POST" && (m = path.match(DEPLOYS))) {
      if (!releases.has(decodeURIComponent(m[2]!))) {
        return Response.json({ detail: "Not found" }, { status: 404 });
      }
      const errors = environmentErrors(json?.environment);
      if (errors.length > 0) return Response.json({ environment: errors }, { status: 400 });
      record("deploy", m[1]!, m[2]!, body);
      return Response.json({ id: "1", ...(json ?? {}) }, { status: 201 });
    }
    return Response.json({ detail: "Not found" }, { status: 404 });
  };

  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    signal: controller.signal,
    onListen: ({ port }) => onListen(port),
  }, async (request) => {
    const text = await request.text();
    const url = new URL(request.url);
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    requests.push({
      method: request.method,
      path: url.pathname,
      authorization: request.headers.get("authorization"),
      body,
      at: Date.now(),
    });
    if (mode === "hang") {
      await release.promise;
      return new Response("stopped", { status: 503 });
    }
    if (mode === "500") return Response.json({ detail: "Internal Error" }, { status: 500 });
    return answer(request.method, url.pathname, body);
  });

  let stopped: Promise<void> | undefined;
  const stop = () =>
    stopped ??= (async () => {
      release.resolve();
      controller.abort();
      await server.finished;
    })();
  return listening.then((port) => ({
    url: `http://127.0.0.1:${port}/`,
    requests: () => [...requests],
    actions: () => [...actions],
    setMode: (next) => {
      mode = next;
    },
    stop,
    [Symbol.asyncDispose]: stop,
  }));
}
