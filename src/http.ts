/**
 * The HTTP concern: a small JSON client shared by layers (Heroku's Platform API, Sentry, notifiers).
 * It retries 429 and 5xx answers with exponential backoff (honouring Retry-After) within a bounded
 * total time, limits each request's time, stops at once when the run is cancelled, validates
 * answers with zod, and reports errors with the service's own `id` and `message`, never a secret.
 *
 * @example
 * ```ts
 * const api = createHttpClient({ service: "Heroku API", baseUrl: "https://api.heroku.com", fetch });
 * const app = await api.json("GET", "/apps/shop", { schema: z.object({ name: z.string() }) });
 * ```
 *
 * @module
 */
import type { z } from "zod";
import { delay } from "./delay.ts";
import type { Secrets } from "./secrets.ts";

/** How retries are bounded. */
export interface RetryOptions {
  /** Attempts in all, the first one included. @default 6 */
  attempts?: number;
  /** No retry starts after this many milliseconds since the first attempt. @default 60_000 */
  totalMs?: number;
  /** The first backoff delay; each next one doubles. @default 500 */
  baseDelayMs?: number;
  /** The longest delay, Retry-After included. @default 10_000 */
  maxDelayMs?: number;
}

/** What a retry is about to do, for a log line. */
export interface RetryInfo {
  /** "GET /apps/shop" (masked). */
  request: string;
  /** The status that failed, or undefined for a network error or timeout. */
  status?: number;
  /** Why it failed, one line. */
  reason: string;
  /** The attempt that failed, from 1. */
  attempt: number;
  /** Milliseconds until the next attempt. */
  delayMs: number;
}

/** Options of {@linkcode createHttpClient}. */
export interface HttpClientOptions {
  /** The service's name in messages, e.g. "Heroku API". */
  service: string;
  /** Prefix of relative paths. @default none: paths are full URLs */
  baseUrl?: string;
  /** Headers of every request (Authorization, Accept...). @default none */
  headers?: Record<string, string>;
  /** The fetch to use; tests hand in a fake one. @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Secrets to mask in every message. @default none */
  secrets?: Secrets;
  /** Time limit of one attempt, reading the answer included. @default 30_000 */
  timeoutMs?: number;
  /** Retry limits. @default see {@linkcode RetryOptions} */
  retry?: RetryOptions;
  /**
   * Aborts requests (a cancelled run); its reason is rethrown. A function is asked at the start of
   * each request, so that the undo work after a cancelled run gets a signal of its own.
   * @default none
   */
  signal?: AbortSignal | (() => AbortSignal);
  /** Told before each retry (to log it). @default nothing */
  onRetry?: (info: RetryInfo) => void;
  /** Waits between attempts; tests replace it. @default a timer that the signal interrupts */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** Options of one request. */
export interface RequestOptions<S extends z.ZodType | undefined = undefined> {
  /** A JSON body. @default none */
  body?: unknown;
  /** Extra headers for this request. @default none */
  headers?: Record<string, string>;
  /** Validates the parsed JSON answer. @default no validation */
  schema?: S;
  /** Overrides the client's time limit. @default the client's */
  timeoutMs?: number;
  /** What the request is called in messages. @default "METHOD /path" */
  display?: string;
}

/** An answer, parsed. */
export interface HttpResponse<T> {
  /** HTTP status. */
  status: number;
  /** Response headers. */
  headers: Headers;
  /** The parsed (and validated) JSON body; undefined for an empty body. */
  data: T;
}

/** A request that failed for good: an error status, a network error, a timeout or a bad answer. */
export class HttpError extends Error {
  override name = "HttpError";
  /** HTTP status, when there was an answer. */
  readonly status?: number;
  /** The service's error id (Heroku's `id`, e.g. "not_found"), when it sent one. */
  readonly serviceId?: string;
  /** The service's error message, when it sent one. */
  readonly serviceMessage?: string;
  /** "GET /apps/shop", masked. */
  readonly request: string;

  constructor(
    message: string,
    fields: { request: string; status?: number; serviceId?: string; serviceMessage?: string },
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.request = fields.request;
    if (fields.status !== undefined) this.status = fields.status;
    if (fields.serviceId !== undefined) this.serviceId = fields.serviceId;
    if (fields.serviceMessage !== undefined) this.serviceMessage = fields.serviceMessage;
  }
}

/** A JSON HTTP client bound to one service. */
export interface HttpClient {
  /** Sends a request and parses the JSON answer; a non-2xx status is an {@linkcode HttpError}. */
  json<S extends z.ZodType | undefined = undefined>(
    method: string,
    path: string,
    options?: RequestOptions<S>,
  ): Promise<HttpResponse<S extends z.ZodType ? z.output<S> : unknown>>;
  /**
   * Sends a request with the same retries and returns the response unread, whatever its status
   * (for streams). The caller reads or cancels its body; the time limit does not apply to it.
   */
  raw(method: string, path: string, options?: Omit<RequestOptions, "schema">): Promise<Response>;
}

const RETRYABLE_NETWORK_METHODS = new Set(["GET", "HEAD", "PUT", "DELETE", "OPTIONS"]);

/** Whether a status is worth another attempt: 429 and every 5xx. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || (status >= 500 && status <= 599);
}

/** Milliseconds a Retry-After header asks for, or undefined when it says nothing usable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  if (/^\d+(\.\d+)?$/.test(header.trim())) return Math.round(Number(header) * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** The service's `id` and `message` from an error body (Heroku, Sentry and common shapes). */
export function serviceError(body: string): { id?: string; message?: string } {
  let data: unknown;
  try {
    data = JSON.parse(body);
  } catch {
    const text = body.trim().split("\n")[0]?.slice(0, 200);
    return text ? { message: text } : {};
  }
  if (typeof data !== "object" || data === null) return {};
  const record = data as Record<string, unknown>;
  const nested = typeof record.error === "object" && record.error !== null
    ? record.error as Record<string, unknown>
    : undefined;
  const text = (value: unknown) => typeof value === "string" && value !== "" ? value : undefined;
  const id = text(record.id) ?? text(record.code) ?? text(nested?.code) ??
    (typeof record.error === "string" && record.message ? record.error : undefined);
  const message = text(record.message) ?? text(record.detail) ?? text(nested?.message) ??
    text(record.error_description) ?? text(record.error);
  return { ...(id ? { id } : {}), ...(message ? { message } : {}) };
}

/** Creates a client for one service. */
export function createHttpClient(options: HttpClientOptions): HttpClient {
  const doFetch = options.fetch ?? globalThis.fetch;
  const mask = (text: string) => options.secrets?.mask(text) ?? text;
  const retry = {
    attempts: options.retry?.attempts ?? 6,
    totalMs: options.retry?.totalMs ?? 60_000,
    baseDelayMs: options.retry?.baseDelayMs ?? 500,
    maxDelayMs: options.retry?.maxDelayMs ?? 10_000,
  };
  const sleep = options.sleep ?? delay;

  const urlOf = (path: string) =>
    /^https?:\/\//.test(path) ? path : `${options.baseUrl ?? ""}${path}`;
  // the path only: a query string may carry tokens, and the host is in the service's name
  const describe = (method: string, url: string) => {
    try {
      return mask(`${method} ${new URL(url).pathname}`);
    } catch {
      return mask(`${method} ${url.split("?")[0]}`);
    }
  };

  const send = async (
    method: string,
    path: string,
    request: RequestOptions<z.ZodType | undefined>,
    read: (response: Response, signal: AbortSignal, name: string) => Promise<unknown>,
  ): Promise<unknown> => {
    const cancel = typeof options.signal === "function" ? options.signal() : options.signal;
    const url = urlOf(path);
    const name = request.display ? mask(request.display) : describe(method, url);
    const started = Date.now();
    const headers: Record<string, string> = { ...options.headers, ...request.headers };
    let body: string | undefined;
    if (request.body !== undefined) {
      body = JSON.stringify(request.body);
      headers["Content-Type"] ??= "application/json";
    }
    for (let attempt = 1;; attempt++) {
      cancel?.throwIfAborted();
      const timeoutMs = request.timeoutMs ?? options.timeoutMs ?? 30_000;
      // a controller rather than AbortSignal.timeout: a raw answer's body outlives the time limit
      const timeout = new AbortController();
      const timer = setTimeout(
        () => timeout.abort(new DOMException("timed out", "TimeoutError")),
        timeoutMs,
      );
      const signal = cancel ? AbortSignal.any([cancel, timeout.signal]) : timeout.signal;
      let failure: { status?: number; reason: string; retryAfter?: number; error: HttpError };
      try {
        const response = await doFetch(url, { method, headers, body, signal });
        if (!isRetryableStatus(response.status)) return await read(response, signal, name);
        const text = await response.text();
        const service = serviceError(text);
        failure = {
          status: response.status,
          reason: `${response.status}${service.id ? ` ${service.id}` : ""}`,
          retryAfter: retryAfterMs(response.headers.get("retry-after")),
          error: statusError(options.service, name, response.status, service, mask),
        };
      } catch (error: unknown) {
        if (cancel?.aborted) throw cancel.reason;
        if (error instanceof HttpError) throw error;
        const timedOut = timeout.signal.aborted;
        const reason = timedOut
          ? `timed out after ${formatSeconds(timeoutMs)}`
          : `network error (${errorKind(error)})`;
        const wrapped = new HttpError(`${options.service} ${name} failed: ${reason}`, {
          request: name,
        }, { cause: error });
        // a request that may have reached the server is only repeated when repeating is harmless
        if (!RETRYABLE_NETWORK_METHODS.has(method.toUpperCase())) throw wrapped;
        failure = { reason, error: wrapped };
      } finally {
        clearTimeout(timer);
      }
      const backoff = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attempt - 1));
      const jittered = Math.round(backoff * (0.5 + Math.random() / 2));
      const delayMs = Math.min(retry.maxDelayMs, failure.retryAfter ?? jittered);
      const outOfTime = Date.now() - started + delayMs > retry.totalMs;
      if (attempt >= retry.attempts || outOfTime) {
        const tries = attempt === 1 ? "" : ` (after ${attempt} attempts)`;
        throw new HttpError(`${failure.error.message}${tries}`, {
          request: name,
          ...(failure.status !== undefined ? { status: failure.status } : {}),
          ...(failure.error.serviceId ? { serviceId: failure.error.serviceId } : {}),
          ...(failure.error.serviceMessage ? { serviceMessage: failure.error.serviceMessage } : {}),
        }, { cause: failure.error.cause ?? failure.error });
      }
      options.onRetry?.({
        request: name,
        ...(failure.status !== undefined ? { status: failure.status } : {}),
        reason: failure.reason,
        attempt,
        delayMs,
      });
      await sleep(delayMs, cancel);
    }
  };

  return {
    async json(method, path, request = {}) {
      const result = await send(method, path, request, async (response, _signal, name) => {
        const text = await response.text();
        if (!response.ok) {
          throw statusError(options.service, name, response.status, serviceError(text), mask);
        }
        let data: unknown = undefined;
        if (text.trim() !== "") {
          try {
            data = JSON.parse(text);
          } catch {
            throw new HttpError(
              `${options.service} ${name} answered with something other than JSON`,
              {
                request: name,
                status: response.status,
              },
            );
          }
        }
        if (request.schema) {
          const parsed = request.schema.safeParse(data);
          if (!parsed.success) {
            const problems = parsed.error.issues.slice(0, 3).map((issue) =>
              `${issue.path.join(".") || "(answer)"}: ${issue.message}`
            );
            throw new HttpError(
              `${options.service} ${name} answered in an unexpected shape: ${
                mask(problems.join("; "))
              }`,
              { request: name, status: response.status },
            );
          }
          data = parsed.data;
        }
        return { status: response.status, headers: response.headers, data };
      });
      // deno-lint-ignore no-explicit-any
      return result as HttpResponse<any>;
    },
    async raw(method, path, request = {}) {
      return await send(method, path, request, (response) => Promise.resolve(response)) as Response;
    },
  };
}

function statusError(
  service: string,
  name: string,
  status: number,
  body: { id?: string; message?: string },
  mask: (text: string) => string,
): HttpError {
  const detail = [body.id, body.message].filter(Boolean).join(": ");
  return new HttpError(
    mask(`${service} ${name} failed with ${status}${detail ? ` ${detail}` : ""}`),
    {
      request: name,
      status,
      ...(body.id ? { serviceId: mask(body.id) } : {}),
      ...(body.message ? { serviceMessage: mask(body.message) } : {}),
    },
  );
}

// a network error's message may contain the URL (and a token in it): name its kind only
function errorKind(error: unknown): string {
  if (error instanceof Error) {
    const text = error.message;
    if (/certificate|tls|ssl/i.test(text)) return "TLS error";
    if (/refused/i.test(text)) return "connection refused";
    if (/dns|lookup|resolve/i.test(text)) return "DNS lookup failed";
    if (/reset|closed|broken pipe/i.test(text)) return "connection closed";
    return error.name;
  }
  return "unknown";
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`;
}
