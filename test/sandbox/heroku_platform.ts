/**
 * The stand-in's Platform API: the app, releases (with a release phase whose output streams from
 * `output_stream_url`), slugs, one-off dynos, dyno restarts and the formation. Shapes follow the
 * Platform API reference; only the fields the deploy tool reads, plus a few for realism.
 */

/** One recorded API request. */
export interface ApiRequest {
  /** HTTP method. */
  method: string;
  /** Path without the query. */
  path: string;
  /** Request headers, lower-case names. */
  headers: Record<string, string>;
  /** Parsed JSON body, when there was one. */
  body: unknown;
  /** The status the stand-in answered. */
  status: number;
  /** Arrival time, ms since the epoch. */
  at: number;
}

/** The release phase the stand-in simulates after each build. */
export interface ReleasePhase {
  /** Exit code of the release command. @default 0 */
  exitCode?: number;
  /** Lines it prints. @default a migration-like line */
  output?: string[];
  /** How long it runs, spread over its lines. @default 200 */
  durationMs?: number;
  /**
   * How long the release dyno takes to boot: until then `output_stream_url` answers 404, as the
   * Heroku CLI expects ("Release command not started yet", heroku/cli
   * src/commands/releases/output.ts:31 at c5fbf4b). @default 300
   */
  startDelayMs?: number;
}

/** A one-off dyno the stand-in started. */
export interface DynoRecord {
  /** `run.NNNN`. */
  name: string;
  /** The command string it was given (with any exit-status suffix). */
  command: string;
  /** The request body. */
  body: Record<string, unknown>;
  /** The rendezvous secret. */
  secret: string;
}

/** A slug: the build of one commit. */
export interface SlugState {
  /** uuid. */
  id: string;
  /** The commit built. */
  commit: string;
  /** Process types from the Procfile. */
  processTypes: Record<string, string>;
}

/** A release of an app. */
export interface ReleaseState {
  /** uuid. */
  id: string;
  /** 1, 2, ... */
  version: number;
  /** pending while the release phase runs. */
  status: "pending" | "succeeded" | "failed";
  /** What the release did. */
  description: string;
  /** The slug it runs, null for config-only releases. */
  slugId: string | null;
  /** ISO time. */
  createdAt: string;
  /** ISO time. */
  updatedAt: string;
  /** Release phase output; undefined when the release has no release phase. */
  output?: OutputStream;
  /** Whether the release dyno has started: before, its output stream answers 404. */
  started?: boolean;
}

/** One process type of the formation. */
export interface FormationState {
  /** uuid. */
  id: string;
  /** Process type. */
  type: string;
  /** Number of dynos. */
  quantity: number;
  /** Dyno size. */
  size: string;
  /** Its command. */
  command: string;
}

/** An app of the stand-in. */
export interface AppState {
  /** uuid. */
  id: string;
  /** Name. */
  name: string;
  /** Stack, e.g. heroku-24. */
  stack: string;
  /** Region, e.g. us. */
  region: string;
  /** Releases, oldest first. */
  releases: ReleaseState[];
  /** Slugs by id. */
  slugs: Map<string, SlugState>;
  /** Formation by type. */
  formation: Map<string, FormationState>;
  /** When it was created. */
  createdAt: string;
}

/** Text that grows while a process runs, readable as a stream by any number of readers. */
export class OutputStream {
  text = "";
  done = false;
  /** NUL keepalive bytes sent so far, to all readers. */
  keepalives = 0;
  #waiters: (() => void)[] = [];

  /** Appends text and wakes readers. */
  write(text: string): void {
    this.text += text;
    this.#wake();
  }

  /** Marks the end. */
  end(): void {
    this.done = true;
    this.#wake();
  }

  /**
   * A byte stream of everything written so far and later, ending with {@linkcode end}. After
   * `keepaliveMs` of silence it sends a NUL byte, as Heroku's stream service (busl) does so that
   * the router does not cut an idle connection (heroku/busl pull requests #99 and #100: "sends an
   * empty byte to the response every second", "it adds null bytes into the data").
   */
  readable(keepaliveMs: number | null = 1_000): ReadableStream<Uint8Array> {
    let sent = 0;
    const encoder = new TextEncoder();
    return new ReadableStream({
      pull: async (controller) => {
        if (sent === this.text.length && !this.done) {
          let timer: ReturnType<typeof setTimeout> | undefined;
          let woken!: () => void;
          const idle = await Promise.race([
            new Promise<boolean>((resolve) => {
              woken = () => resolve(false);
              this.#waiters.push(woken);
            }),
            new Promise<boolean>((resolve) => {
              if (keepaliveMs !== null) timer = setTimeout(() => resolve(true), keepaliveMs);
            }),
          ]);
          clearTimeout(timer);
          this.#waiters = this.#waiters.filter((w) => w !== woken);
          if (idle) {
            this.keepalives++;
            controller.enqueue(new Uint8Array([0]));
            return;
          }
        }
        if (sent < this.text.length) {
          controller.enqueue(encoder.encode(this.text.slice(sent)));
          sent = this.text.length;
        } else if (this.done) {
          controller.close();
        }
      },
    });
  }

  #wake() {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}

/** A request failure the test asked for. */
export interface InjectedFailure {
  /** Answers left to fail. */
  remaining: number;
  /** HTTP status. */
  status: number;
  /** Only requests whose "METHOD /path" matches. @default every request */
  match?: RegExp;
}

/** What the API handler needs from the rest of the stand-in. */
export interface PlatformDeps {
  /** The API key requests must carry. */
  apiKey: string;
  /** The API's own base URL, for output_stream_url. */
  apiUrl: () => string;
  /** The rendezvous endpoint, `rendezvous://127.0.0.1:PORT`. */
  rendezvousUrl: () => string;
  /** Starts nothing; registers the dyno for the rendezvous server. */
  onDyno: (app: AppState, dyno: DynoRecord) => void;
  /** Base URL of the release output service, a host of its own (release-output.heroku.com). */
  streamUrl: () => string;
}

/** The stand-in's Platform API state and request handler. */
export class Platform {
  readonly apps = new Map<string, AppState>();
  readonly requests: ApiRequest[] = [];
  readonly dynos: DynoRecord[] = [];
  readonly failures: InjectedFailure[] = [];
  releasePhase: ReleasePhase | null = null;
  /** Silence before the output stream sends a NUL byte (busl sends one every second). */
  keepaliveMs = 1_000;
  /** Routes of other files (heroku_review.ts), asked first after authentication. */
  readonly extraRoutes:
    ((method: string, parts: string[], body: unknown) => Response | undefined)[] = [];
  #timers = new Set<ReturnType<typeof setTimeout>>();
  #dynoNumber = 1000;

  constructor(readonly deps: PlatformDeps) {}

  /** Creates an app with Heroku's first two config-only releases. */
  createApp(name: string, stack: string, region: string): AppState {
    const now = new Date().toISOString();
    const app: AppState = {
      id: crypto.randomUUID(),
      name,
      stack,
      region,
      releases: [],
      slugs: new Map(),
      formation: new Map(),
      createdAt: now,
    };
    this.apps.set(name, app);
    this.#addRelease(app, "Initial release", null, "succeeded");
    this.#addRelease(app, "Enable Logplex by user@example.com", null, "succeeded");
    return app;
  }

  /** The release the app runs: the newest succeeded one. */
  current(app: AppState): ReleaseState | undefined {
    return app.releases.findLast((r) => r.status === "succeeded");
  }

  /** Records a build of `commit` and creates its release (pending while the release phase runs). */
  release(app: AppState, commit: string, procfile: string | null): ReleaseState {
    const processTypes: Record<string, string> = {};
    for (const line of (procfile ?? "web: bundle exec puma").split("\n")) {
      const match = line.match(/^([A-Za-z0-9_-]+):\s*(.*)$/);
      if (match) processTypes[match[1]!] = match[2]!;
    }
    const slug: SlugState = { id: crypto.randomUUID(), commit, processTypes };
    app.slugs.set(slug.id, slug);
    for (const [type, command] of Object.entries(processTypes)) {
      if (type === "release") continue;
      const existing = app.formation.get(type);
      if (existing) existing.command = command;
      else {
        app.formation.set(type, {
          id: crypto.randomUUID(),
          type,
          quantity: type === "web" ? 1 : 0,
          size: "Basic",
          command,
        });
      }
    }
    const phase = this.releasePhase ?? ("release" in processTypes ? {} : null);
    return this.#deploy(app, slug, `Deploy ${commit.slice(0, 8)}`, phase);
  }

  /**
   * A config-var change: a new release of the slug the app runs, its release phase included.
   * Heroku's releases reuse the current slug for every change that is not a build ("Set X config
   * vars", add-ons), so the newest release's slug need not be the newest build (Platform API
   * schema.json, release `slug`: "slug running in this release"; Dev Center, Release Phase: "A
   * change to the value of a config var" creates a release and runs the release command).
   */
  setConfig(app: AppState, names: string[]): ReleaseState {
    const slug = this.current(app)?.slugId ? app.slugs.get(this.current(app)!.slugId!) : undefined;
    const description = `Set ${names.join(", ")} config vars`;
    if (!slug) return this.#addRelease(app, description, null, "succeeded");
    const phase = this.releasePhase ?? ("release" in slug.processTypes ? {} : null);
    return this.#deploy(app, slug, description, phase);
  }

  /** Stops the release-phase timers. */
  close(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }

  #deploy(app: AppState, slug: SlugState, description: string, phase: ReleasePhase | null) {
    if (!phase) return this.#addRelease(app, description, slug.id, "succeeded");
    const release = this.#addRelease(app, description, slug.id, "pending");
    const output = new OutputStream();
    release.output = output;
    const lines = phase.output ?? ["Migrating to CreateWidgets (20260101000000)", "== migrated"];
    const exitCode = phase.exitCode ?? 0;
    const step = (phase.durationMs ?? 200) / (lines.length + 1);
    let index = 0;
    const tick = () => {
      if (index < lines.length) {
        output.write(`${lines[index++]}\n`);
        this.#later(tick, step);
        return;
      }
      release.status = exitCode === 0 ? "succeeded" : "failed";
      release.updatedAt = new Date().toISOString();
      output.end();
    };
    // the release dyno boots, its stream exists, then the command prints its lines
    this.#later(() => {
      release.started = true;
      this.#later(tick, step);
    }, phase.startDelayMs ?? 300);
    return release;
  }

  #later(fn: () => void, ms: number) {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      fn();
    }, ms);
    this.#timers.add(timer);
  }

  #addRelease(
    app: AppState,
    description: string,
    slugId: string | null,
    status: ReleaseState["status"],
  ): ReleaseState {
    const now = new Date().toISOString();
    const release: ReleaseState = {
      id: crypto.randomUUID(),
      version: app.releases.length + 1,
      status,
      description,
      slugId,
      createdAt: now,
      updatedAt: now,
    };
    app.releases.push(release);
    return release;
  }

  /** Answers one API request and records it. */
  async handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const headers: Record<string, string> = {};
    request.headers.forEach((value, name) => headers[name] = value);
    const text = request.method === "GET" ? "" : await request.text();
    let body: unknown = undefined;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = text;
    }
    const response = this.#route(request.method, url, headers, body);
    this.requests.push({
      method: request.method,
      path: url.pathname,
      headers,
      body,
      status: response.status,
      at: Date.now(),
    });
    return response;
  }

  #route(method: string, url: URL, headers: Record<string, string>, body: unknown): Response {
    const path = url.pathname;
    const failure = this.failures.find((f) =>
      f.remaining > 0 && (!f.match || f.match.test(`${method} ${path}`))
    );
    if (failure) {
      failure.remaining--;
      const id = failure.status === 429 ? "rate_limit" : "service_unavailable";
      return error(failure.status, id, "The service is temporarily unavailable.");
    }
    if (!/^application\/vnd\.heroku\+json; version=3(\.\w+)?$/.test(headers.accept ?? "")) {
      return error(
        400,
        "bad_request",
        "Please specify a version along with Heroku's API MIME type. For example, `Accept: application/vnd.heroku+json; version=3`.",
      );
    }
    if (headers.authorization !== `Bearer ${this.deps.apiKey}`) {
      return error(401, "unauthorized", "Invalid credentials provided.");
    }
    const parts = path.split("/").filter((p) => p !== "").map(decodeURIComponent);
    for (const extra of this.extraRoutes) {
      const answer = extra(method, parts, body);
      if (answer) return answer;
    }
    if (parts[0] !== "apps" || parts[1] === undefined) {
      return error(404, "not_found", "The requested API endpoint was not found.");
    }
    const app = this.apps.get(parts[1]);
    if (!app) return error(404, "not_found", "Couldn't find that app.", "app");
    const rest = parts.slice(2);
    const route = `${method} ${rest.map((p, i) => i === 1 ? ":" : p).join("/")}`;
    const arg = rest[1];
    const input = (body ?? {}) as Record<string, unknown>;
    switch (route) {
      case "GET ":
        return json(200, this.#appJson(app));
      case "GET releases":
        return this.#releaseList(app, headers.range);
      case "GET releases/:":
        return this.#release(app, arg!);
      case "POST releases":
        return this.#createRelease(app, input);
      case "GET slugs/:": {
        const slug = app.slugs.get(arg!);
        return slug
          ? json(200, this.#slugJson(app, slug))
          : error(404, "not_found", "Couldn't find that slug.", "slug");
      }
      case "POST dynos":
        return this.#createDyno(app, input);
      case "DELETE dynos":
        return json(202, {});
      case "DELETE dynos/:":
      case "POST dynos/:/actions/stop":
        return json(202, {});
      case "DELETE formations/:":
      case "POST formations/:/actions/stop":
        return app.formation.has(arg!)
          ? json(202, {})
          : error(404, "not_found", "Couldn't find that formation.", "formation");
      case "GET formation":
        return json(200, [...app.formation.values()].map((f) => this.#formationJson(app, f)));
      case "GET formation/:":
      case "PATCH formation/:": {
        const formation = app.formation.get(arg!);
        if (!formation) {
          return error(404, "not_found", "Couldn't find that formation.", "formation");
        }
        if (method === "PATCH") {
          if (typeof input.quantity === "number") formation.quantity = input.quantity;
          if (typeof input.size === "string") formation.size = input.size;
        }
        return json(200, this.#formationJson(app, formation));
      }
    }
    return error(404, "not_found", "The requested API endpoint was not found.");
  }

  #appJson(app: AppState) {
    const current = this.current(app);
    return {
      id: app.id,
      name: app.name,
      stack: { id: crypto.randomUUID(), name: app.stack },
      build_stack: { id: crypto.randomUUID(), name: app.stack },
      region: { id: crypto.randomUUID(), name: app.region },
      git_url: `https://git.heroku.com/${app.name}.git`,
      web_url: `https://${app.name}.herokuapp.com/`,
      maintenance: false,
      owner: { email: "owner@example.com", id: crypto.randomUUID() },
      created_at: app.createdAt,
      released_at: current?.createdAt ?? null,
      updated_at: current?.updatedAt ?? app.createdAt,
      current_release: current ? { id: current.id, version: current.version } : null,
    };
  }

  #releaseJson(app: AppState, release: ReleaseState) {
    return {
      id: release.id,
      version: release.version,
      status: release.status,
      current: this.current(app)?.id === release.id,
      description: release.description,
      slug: release.slugId ? { id: release.slugId } : null,
      output_stream_url: release.output ? `${this.deps.streamUrl()}/streams/${release.id}` : null,
      app: { id: app.id, name: app.name },
      user: { email: "deployer@example.com", id: crypto.randomUUID() },
      addon_plan_names: [],
      eligible_for_rollback: release.status === "succeeded" && release.slugId !== null,
      created_at: release.createdAt,
      updated_at: release.updatedAt,
    };
  }

  #slugJson(app: AppState, slug: SlugState) {
    return {
      id: slug.id,
      commit: slug.commit,
      commit_description: "",
      process_types: slug.processTypes,
      stack: { id: crypto.randomUUID(), name: app.stack },
      size: 44_154_880,
      buildpack_provided_description: "Ruby/Rails",
      created_at: new Date().toISOString(),
    };
  }

  #formationJson(app: AppState, f: FormationState) {
    return { ...f, app: { id: app.id, name: app.name }, updated_at: new Date().toISOString() };
  }

  // Range: version ..; max=10, order=desc (Heroku's ranges); 206 and Next-Range when truncated
  #releaseList(app: AppState, range: string | undefined): Response {
    const match = (range ?? "version ..").match(/^(id|version)\s+([^;]*?)\s*(?:;\s*(.*))?$/);
    if (!match) return error(400, "bad_request", `Invalid Range header "${range}".`);
    const options = Object.fromEntries(
      (match[3] ?? "").split(",").map((o) => o.trim().split("=")).filter((o) => o.length === 2),
    );
    const max = Math.min(Number(options.max ?? 200), 1000);
    const desc = options.order === "desc";
    let list = [...app.releases];
    if (desc) list.reverse();
    const [start] = (match[2] ?? "..").split("..");
    if (start && /^\d+$/.test(start)) {
      list = list.filter((r) => desc ? r.version <= Number(start) : r.version >= Number(start));
    }
    const page = list.slice(0, max);
    const headers: Record<string, string> = {};
    if (list.length > max) {
      headers["Next-Range"] = `version ]${page.at(-1)!.version}..; max=${max}, order=${
        desc ? "desc" : "asc"
      }`;
    }
    return json(list.length > max ? 206 : 200, page.map((r) => this.#releaseJson(app, r)), headers);
  }

  #release(app: AppState, idOrVersion: string): Response {
    const release = app.releases.find((r) =>
      r.id === idOrVersion || String(r.version) === idOrVersion
    );
    if (!release) return error(404, "not_found", "Couldn't find that release.", "release");
    return json(200, this.#releaseJson(app, release));
  }

  #createRelease(app: AppState, input: Record<string, unknown>): Response {
    if (input.release !== undefined) return this.#rollback(app, input);
    const slug = app.slugs.get(String(input.slug ?? ""));
    if (!slug) return error(422, "invalid_params", "Couldn't find that slug.");
    const phase = this.releasePhase ?? ("release" in slug.processTypes ? {} : null);
    const description = typeof input.description === "string" ? input.description : "Deploy";
    return json(201, this.#releaseJson(app, this.#deploy(app, slug, description, phase)));
  }

  // The "Rollback" link of heroku/platform-api schema.json (4f4f592, lines 12654-12676): POST
  // /apps/{app}/releases with a release id makes a new release of that release's slug (and config
  // vars, not modelled here), described "Rollback to vN" as `heroku releases` lists it; the release
  // phase runs again (heroku/cli src/commands/releases/rollback.ts, c5fbf4b, lines 42-51 stream it)
  #rollback(app: AppState, input: Record<string, unknown>): Response {
    const target = app.releases.find((r) => r.id === input.release);
    if (!target) return error(404, "not_found", "Couldn't find that release.", "release");
    const slug = target.slugId ? app.slugs.get(target.slugId) : undefined;
    // how Heroku refuses an ineligible release is not documented: a 422 like other bad params
    if (!slug || target.status !== "succeeded") {
      return error(422, "invalid_params", `Release v${target.version} cannot be rolled back to.`);
    }
    const phase = this.releasePhase ?? ("release" in slug.processTypes ? {} : null);
    const release = this.#deploy(app, slug, `Rollback to v${target.version}`, phase);
    return json(201, this.#releaseJson(app, release));
  }

  #createDyno(app: AppState, input: Record<string, unknown>): Response {
    if (typeof input.command !== "string" || input.command === "") {
      return error(422, "invalid_params", "Command can't be blank.");
    }
    const name = `run.${++this.#dynoNumber}`;
    const secret = crypto.randomUUID().replaceAll("-", "");
    const dyno: DynoRecord = { name, command: input.command, body: input, secret };
    this.dynos.push(dyno);
    if (input.attach === true) this.deps.onDyno(app, dyno);
    const current = this.current(app);
    const now = new Date().toISOString();
    return json(201, {
      id: crypto.randomUUID(),
      name,
      type: "run",
      state: "starting",
      size: typeof input.size === "string" ? input.size : "Basic",
      command: input.command,
      attach_url: input.attach === true ? `${this.deps.rendezvousUrl()}/${secret}` : null,
      app: { id: app.id, name: app.name },
      release: current ? { id: current.id, version: current.version } : null,
      created_at: now,
      updated_at: now,
    });
  }

  /**
   * GET output_stream_url: 404 until the release dyno started (the Heroku CLI retries or warns on
   * it: heroku/cli src/lib/container/streamer.ts:15 and src/commands/releases/output.ts:31 at
   * c5fbf4b), then the output so far and what follows, NUL keepalives in silences, until the
   * release command exits; a stream that ended without any output answers 204 No Content.
   */
  outputStream(id: string): Response {
    for (const app of this.apps.values()) {
      const release = app.releases.find((r) => r.id === id);
      if (!release?.output || !release.started) continue;
      if (release.output.done && release.output.text === "") {
        return new Response(null, { status: 204 });
      }
      return new Response(release.output.readable(this.keepaliveMs), {
        headers: { "content-type": "text/plain; charset=utf-8" },
      });
    }
    return new Response("Not found\n", { status: 404 });
  }
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", "request-id": crypto.randomUUID(), ...headers },
  });
}

function error(status: number, id: string, message: string, resource?: string): Response {
  return json(status, resource ? { id, message, resource } : { id, message });
}
