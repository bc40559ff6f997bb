/**
 * The stand-in's git server: real `git http-backend` (smart HTTP) run as a CGI per request, behind
 * basic auth whose password must be the API key, as on git.heroku.com.
 */

/** One recorded git HTTP request. */
export interface GitRequest {
  /** HTTP method. */
  method: string;
  /** Path, e.g. /app.git/git-receive-pack. */
  path: string;
  /** The `service` query parameter, when present. */
  service: string | null;
  /** The basic-auth user name, when credentials were sent. */
  user: string | null;
  /** Whether the credentials were accepted. */
  authorized: boolean;
  /** The status answered. */
  status: number;
  /** Arrival time, ms since the epoch. */
  at: number;
}

/** Options of {@linkcode handleGit}. */
export interface GitHandlerOptions {
  /** Directory holding `<app>.git` bare repositories. */
  reposDir: string;
  /** The password git must send. */
  apiKey: string;
  /** Whether an app exists. */
  exists: (app: string) => boolean;
  /** Where to record the request. */
  record: (request: GitRequest) => void;
  /** A status to answer instead of serving the request ("METHOD /path?query"). @default none */
  failure?: (request: string) => number | undefined;
}

/** Answers one smart-HTTP git request. */
export async function handleGit(request: Request, options: GitHandlerOptions): Promise<Response> {
  const url = new URL(request.url);
  const entry: GitRequest = {
    method: request.method,
    path: url.pathname,
    service: url.searchParams.get("service"),
    user: null,
    authorized: false,
    status: 0,
    at: Date.now(),
  };
  const answer = (response: Response) => {
    entry.status = response.status;
    options.record(entry);
    return response;
  };
  const credentials = basicAuth(request.headers.get("authorization"));
  entry.user = credentials?.user ?? null;
  if (!credentials || credentials.password !== options.apiKey) {
    await request.body?.cancel();
    return answer(
      new Response("Invalid credentials provided.\n", {
        status: 401,
        headers: { "www-authenticate": 'Basic realm="Heroku"' },
      }),
    );
  }
  entry.authorized = true;
  const failed = options.failure?.(`${request.method} ${url.pathname}${url.search}`);
  if (failed !== undefined) {
    await request.body?.cancel();
    return answer(new Response("Internal server error\n", { status: failed }));
  }
  const match = url.pathname.match(/^\/([a-z][a-z0-9-]*)\.git(\/.*)$/);
  if (!match || !options.exists(match[1]!)) {
    await request.body?.cancel();
    return answer(new Response(`No such app as ${match?.[1] ?? url.pathname}.\n`, { status: 404 }));
  }
  const env: Record<string, string> = {
    GIT_PROJECT_ROOT: options.reposDir,
    GIT_HTTP_EXPORT_ALL: "1",
    PATH_INFO: url.pathname,
    QUERY_STRING: url.search.slice(1),
    REQUEST_METHOD: request.method,
    REMOTE_USER: credentials.user || "heroku",
    REMOTE_ADDR: "127.0.0.1",
    CONTENT_TYPE: request.headers.get("content-type") ?? "",
    GATEWAY_INTERFACE: "CGI/1.1",
    SERVER_PROTOCOL: "HTTP/1.1",
  };
  const encoding = request.headers.get("content-encoding");
  if (encoding) env.HTTP_CONTENT_ENCODING = encoding;
  const protocol = request.headers.get("git-protocol");
  if (protocol) env.GIT_PROTOCOL = protocol;
  const length = request.headers.get("content-length");
  if (length) env.CONTENT_LENGTH = length;
  const child = new Deno.Command("git", {
    args: ["http-backend"],
    env,
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const feed = request.body
    ? request.body.pipeTo(child.stdin).catch(() => {})
    : child.stdin.close();
  const reader = child.stdout.getReader();
  const { status, headers, rest } = await readCgiHeaders(reader);
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      if (rest.length) controller.enqueue(rest);
    },
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) {
        await feed;
        await child.status;
        controller.close();
      } else controller.enqueue(value);
    },
    async cancel() {
      await reader.cancel();
    },
  });
  return answer(new Response(body, { status, headers }));
}

function basicAuth(header: string | null): { user: string; password: string } | null {
  const match = header?.match(/^Basic\s+(\S+)$/i);
  if (!match) return null;
  const decoded = atob(match[1]!);
  const colon = decoded.indexOf(":");
  return colon < 0 ? null : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

async function readCgiHeaders(reader: ReadableStreamDefaultReader<Uint8Array>) {
  let buffer = new Uint8Array(0);
  while (true) {
    const end = headerEnd(buffer);
    if (end) {
      const text = new TextDecoder().decode(buffer.subarray(0, end.start));
      const headers = new Headers();
      let status = 200;
      for (const line of text.split(/\r?\n/)) {
        const colon = line.indexOf(":");
        if (colon < 0) continue;
        const name = line.slice(0, colon).trim();
        const value = line.slice(colon + 1).trim();
        if (name.toLowerCase() === "status") status = Number(value.split(" ")[0]);
        else headers.append(name, value);
      }
      return { status, headers, rest: buffer.slice(end.end) };
    }
    const { done, value } = await reader.read();
    if (done) return { status: 502, headers: new Headers(), rest: new Uint8Array(0) };
    const next = new Uint8Array(buffer.length + value.length);
    next.set(buffer);
    next.set(value, buffer.length);
    buffer = next;
  }
}

function headerEnd(buffer: Uint8Array): { start: number; end: number } | null {
  for (let i = 0; i < buffer.length - 1; i++) {
    if (buffer[i] === 10 && buffer[i + 1] === 10) return { start: i, end: i + 2 };
    if (buffer[i] === 13 && buffer[i + 1] === 10 && buffer[i + 2] === 13 && buffer[i + 3] === 10) {
      return { start: i, end: i + 4 };
    }
  }
  return null;
}
