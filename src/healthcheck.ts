/**
 * Polling an app's health check URL until it answers as expected: an expected status (2xx by
 * default) and, optionally, text the body contains. Redirects are not followed unless asked, so a
 * redirect to a login page is not a pass. Waits grow from half a second to five, within a bounded
 * total time; the last answer is reported, masked, when it never passes.
 *
 * @module
 */
import { delay } from "./delay.ts";
import { DeployError, errorMessage } from "./errors.ts";

/** How many characters of the last body a failure shows. */
export const SNIPPET_CHARS = 200;

// waits between attempts: quickly at first, then every few seconds
const BACKOFF_MS = [500, 1_000, 2_000, 3_000, 5_000];
// one attempt never waits longer than this for an answer
const ATTEMPT_TIMEOUT_MS = 10_000;
const MIN_ATTEMPT_MS = 1_000;

/** Parses DEPLOY_HEALTHCHECK_STATUS: codes and classes, `200`, `2xx`, `200,301`; null if bad. */
export function parseExpectedStatus(value: string): ((status: number) => boolean) | null {
  const parts = value.split(",").map((part) => part.trim().toLowerCase());
  if (!parts.every((part) => /^[1-5](\d\d|xx)$/.test(part))) return null;
  return (status) =>
    parts.some((part) =>
      part.endsWith("xx") ? Math.floor(status / 100) === Number(part[0]) : status === Number(part)
    );
}

/** Options of {@linkcode waitHealthy}. */
export interface HealthCheckOptions {
  /** The expected status, as DEPLOY_HEALTHCHECK_STATUS says it. @default "2xx" */
  status?: string;
  /** Text the body must contain. @default none */
  text?: string;
  /** Follow redirects (then the final answer counts). @default false */
  followRedirects?: boolean;
  /** The total time to wait. */
  timeoutMs: number;
  /** The HTTP client. */
  fetch: typeof fetch;
  /** Masks secrets in what is reported. */
  mask: (text: string) => string;
  /** Cancels the wait. @default none */
  signal?: AbortSignal;
  /** Told about each failed attempt (to log it). @default nothing */
  onAttempt?: (attempt: HealthAttempt) => void;
  /** The clock. @default Date.now */
  now?: () => number;
  /** Waits between attempts. @default {@linkcode delay} */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** One attempt, as reported. */
export interface HealthAttempt {
  /** From 1. */
  attempt: number;
  /** The status, when there was an answer. */
  status?: number;
  /** Why it did not pass, one line, masked. */
  reason: string;
  /** Milliseconds since the first attempt. */
  elapsedMs: number;
}

/** The health check did not pass in time. */
export class HealthCheckError extends DeployError {
  override name = "HealthCheckError";
  /** The last status, when there was an answer. */
  readonly status?: number;
  /** How long it waited. */
  readonly waitedMs: number;

  constructor(message: string, fields: { status?: number; waitedMs: number }) {
    super(message);
    if (fields.status !== undefined) this.status = fields.status;
    this.waitedMs = fields.waitedMs;
  }
}

/** What a passing health check saw. */
export interface Healthy {
  /** The status. */
  status: number;
  /** Attempts made. */
  attempts: number;
  /** Milliseconds waited. */
  elapsedMs: number;
}

/** Polls `url` until it passes; throws a {@linkcode HealthCheckError} when the time is up. */
export async function waitHealthy(url: string, options: HealthCheckOptions): Promise<Healthy> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? delay;
  const expected = parseExpectedStatus(options.status ?? "2xx");
  if (!expected) throw new TypeError(`Cannot parse the expected status "${options.status}"`);
  const started = now();
  const deadline = started + options.timeoutMs;
  let last: HealthAttempt | undefined;
  // the last attempt that got an answer: its status and body say more than a final timeout
  let answered: HealthAttempt | undefined;
  for (let attempt = 1;; attempt++) {
    const remaining = deadline - now();
    // the attempt at the deadline still gets a moment to answer
    const timeout = AbortSignal.timeout(
      Math.max(MIN_ATTEMPT_MS, Math.min(ATTEMPT_TIMEOUT_MS, remaining)),
    );
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    let status: number | undefined;
    let reason: string;
    try {
      const response = await options.fetch(url, {
        redirect: options.followRedirects ? "follow" : "manual",
        signal,
        headers: { "user-agent": "deploy health check" },
      });
      status = response.status;
      const body = await response.text();
      const statusOk = expected(status);
      const textOk = options.text === undefined || body.includes(options.text);
      if (statusOk && textOk) return { status, attempts: attempt, elapsedMs: now() - started };
      const location = response.headers.get("location");
      reason = !statusOk
        ? `${status}${location ? ` redirecting to ${location}` : ""}${snippet(body, options.mask)}`
        : `${status} without "${options.text}" in the body${snippet(body, options.mask)}`;
    } catch (error: unknown) {
      options.signal?.throwIfAborted();
      reason = timeout.aborted ? "no answer in time" : errorMessage(error);
    }
    last = { attempt, reason: options.mask(reason), elapsedMs: now() - started };
    if (status !== undefined) {
      last.status = status;
      answered = last;
    }
    options.onAttempt?.(last);
    const left = deadline - now();
    if (left <= 0) break;
    // the last attempt comes at the deadline, not a backoff step before it
    await sleep(
      Math.min(BACKOFF_MS[Math.min(attempt - 1, BACKOFF_MS.length - 1)]!, left),
      options.signal,
    );
  }
  const waited = now() - started;
  const fields = {
    waitedMs: waited,
    ...(answered?.status !== undefined ? { status: answered.status } : {}),
  };
  const lastWords = answered
    ? `last answer ${answered.reason}${answered === last ? "" : `, then ${last.reason}`}`
    : `no answer: ${last.reason}`;
  throw new HealthCheckError(
    `The health check did not pass within ${
      Math.round(waited / 1000)
    }s (${last.attempt} attempts): ${lastWords}`,
    fields,
  );
}

function snippet(body: string, mask: (text: string) => string): string {
  const text = body.replace(/\s+/g, " ").trim();
  if (!text) return "";
  const short = text.length > SNIPPET_CHARS ? `${text.slice(0, SNIPPET_CHARS)}…` : text;
  return `: "${mask(short)}"`;
}
