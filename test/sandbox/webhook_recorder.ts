/**
 * A local HTTP server that records the webhook requests it receives, for notifier tests.
 *
 * ```ts
 * await using hook = await startWebhookRecorder();
 * // MATTERMOST_WEBHOOK_URL = hook.url("/hooks/abc")
 * hook.setMode("500"); // or "hang": the request never gets an answer until stop()
 * assert.equal(hook.requests()[0]?.json.text, "...");
 * ```
 * @module
 */

/** How the recorder answers. "hang" holds each request open until {@linkcode WebhookRecorder.stop}. */
export type RecorderMode = "ok" | "500" | "hang";

/** One request the recorder received. */
export interface RecordedRequest {
  /** HTTP method. */
  method: string;
  /** Path and query. */
  path: string;
  /** Request headers, lowercase names. */
  headers: Record<string, string>;
  /** Raw body text. */
  body: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
  /** Arrival time, ms since the epoch. */
  at: number;
}

/** Options of {@linkcode startWebhookRecorder}. */
export interface WebhookRecorderOptions {
  /** How to answer. @default "ok" */
  mode?: RecorderMode;
}

/** A running recorder; `await using` stops it. */
export interface WebhookRecorder extends AsyncDisposable {
  /** Port on 127.0.0.1. */
  port: number;
  /** Absolute URL of `path` on this server. */
  url(path?: string): string;
  /** Requests received so far, in order of arrival. */
  requests(): RecordedRequest[];
  /** Changes how later requests are answered. */
  setMode(mode: RecorderMode): void;
  /** Waits until at least `count` requests arrived (or throws after `timeoutMs`). */
  waitFor(count: number, timeoutMs?: number): Promise<RecordedRequest[]>;
  /** Answers held requests, closes the server; safe to call twice. */
  stop(): Promise<void>;
}

/** Starts a recorder on 127.0.0.1, port chosen by the OS. */
export function startWebhookRecorder(
  options: WebhookRecorderOptions = {},
): Promise<WebhookRecorder> {
  let mode: RecorderMode = options.mode ?? "ok";
  const received: RecordedRequest[] = [];
  const release = Promise.withResolvers<void>();
  const controller = new AbortController();
  const { promise: listening, resolve: onListen } = Promise.withResolvers<number>();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    signal: controller.signal,
    onListen: ({ port }) => onListen(port),
  }, async (request) => {
    const body = await request.text();
    const url = new URL(request.url);
    received.push({
      method: request.method,
      path: url.pathname + url.search,
      headers: Object.fromEntries(request.headers),
      body,
      json: parseJson(body),
      at: Date.now(),
    });
    if (mode === "hang") {
      await release.promise;
      return new Response("stopped", { status: 503 });
    }
    if (mode === "500") return new Response("internal error", { status: 500 });
    return new Response("ok", { status: 200 });
  });
  let stopped: Promise<void> | undefined;
  const stop = () =>
    stopped ??= (async () => {
      release.resolve();
      controller.abort();
      await server.finished;
    })();
  return listening.then((port) => ({
    port,
    url: (path = "/hook") => `http://127.0.0.1:${port}${path}`,
    requests: () => [...received],
    setMode: (next) => {
      mode = next;
    },
    waitFor: async (count, timeoutMs = 5_000) => {
      const deadline = Date.now() + timeoutMs;
      while (received.length < count) {
        if (Date.now() > deadline) {
          throw new Error(`Expected ${count} webhook requests, got ${received.length}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      return [...received];
    },
    stop,
    [Symbol.asyncDispose]: stop,
  }));
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
