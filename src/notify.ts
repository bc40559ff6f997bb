/**
 * Sending notifications: each notifier layer is declared with {@linkcode defineNotifier}, which
 * gives it the same handlers (start, success, skip, failure) and the same delivery: all notifiers
 * of an event are sent in parallel, each with a timeout and bounded retries, and a failure is a
 * warning that names the notifier, never its URL. The deploy's outcome never depends on them.
 *
 * @example
 * ```ts
 * export default defineNotifier({
 *   name: "chat",
 *   label: "Chat",
 *   description: "Posts to a chat webhook",
 *   variables: z.object({ CHAT_URL: variable(z.url(), { description: "Webhook", secret: true }) }),
 *   url: (config) => config.CHAT_URL,
 *   payload: (message) => ({ text: message.title }),
 * });
 * ```
 *
 * @module
 */
import { z } from "zod";
import type { DeployContext, EventName } from "./context.ts";
import type { On } from "./event_manager.ts";
import { defineLayer, type Layer } from "./layer.ts";
import type { Logger } from "./logger.ts";
import { buildNotification, type Notification, type NotificationKind } from "./notification.ts";
import { createHttpClient, HttpError } from "./http.ts";
import { seconds, variable, type VariablesSchema } from "./variables.ts";
import { VERSION } from "./version.ts";

/** The delivery settings every notifier reads. */
export const notifyVariables = z.object({
  NOTIFY_TIMEOUT: seconds(
    {
      description: "Seconds each notification request may take before it is abandoned",
      example: "5",
    },
    10,
    { fractions: true },
  ),
  NOTIFY_RETRIES: variable(
    z.string().regex(/^[0-5]$/, { error: "expected a whole number from 0 to 5" }).transform(Number)
      .default(2),
    {
      description: "Retries of a notification answered with 429 or 5xx",
      example: "1",
    },
  ),
});

/** Settings of one delivery. */
export interface DeliveryOptions {
  /** Per-attempt timeout. @default 10 000 ms */
  timeoutMs?: number;
  /** Retries after the first attempt. @default 2 */
  retries?: number;
  /** Delay before the first retry; it doubles each time (with jitter). @default 500 ms */
  backoffMs?: number;
  /** The HTTP client. @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Extra request headers. @default none */
  headers?: Record<string, string>;
}

/** A notification that could not be delivered. Its message never holds the URL. */
export class NotificationError extends Error {
  override name = "NotificationError";
}

/**
 * POSTs `payload` as JSON to `url` with the shared HTTP client: 429 and 5xx answers are retried
 * `retries` times, each attempt is limited to `timeoutMs`. A POST that timed out or lost its
 * connection is not repeated, since the service may have posted it already. Throws a
 * {@linkcode NotificationError} naming `label`, never the URL (whose path is the webhook's secret).
 */
export async function deliver(
  label: string,
  url: string,
  payload: unknown,
  options: DeliveryOptions = {},
): Promise<void> {
  const { timeoutMs = 10_000, retries = 2, backoffMs = 500 } = options;
  const client = createHttpClient({
    service: label,
    timeoutMs,
    retry: {
      attempts: retries + 1,
      baseDelayMs: backoffMs,
      totalMs: timeoutMs * (retries + 1) * 2,
    },
    headers: { "user-agent": `deploy/${VERSION}`, ...options.headers },
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  let response: Response;
  try {
    // "notification" stands for the request in every message: the URL must not appear
    response = await client.raw("POST", url, { body: payload, display: "notification" });
  } catch (e: unknown) {
    throw new NotificationError(
      e instanceof HttpError ? e.message : `${label} notification failed`,
      { cause: e },
    );
  }
  // the body is never shown (a service may echo the URL); cancelling it frees the connection
  await response.body?.cancel();
  if (!response.ok) {
    throw new NotificationError(`${label} notification failed with ${response.status}`);
  }
}

/** When each message goes, and at which priority. */
export const NOTIFY_EVENTS: readonly {
  event: EventName;
  kind: NotificationKind;
  priority: number;
}[] = [
  // early, so that the channel hears of the deploy before workers are quieted
  { event: "pre_deploy", kind: "started", priority: 10 },
  { event: "deploy_succeeded", kind: "succeeded", priority: 100 },
  { event: "deploy_skipped", kind: "skipped", priority: 100 },
  // after the layers that repair things (restarting quieted workers), so the message is last
  { event: "deploy_failed", kind: "failed", priority: 100 },
];

/** What a notifier file declares. */
export interface NotifierSpec<S extends VariablesSchema> {
  /** Layer name (DEPLOY_LAYERS). */
  name: string;
  /** The service's name in messages and warnings ("Mattermost"). */
  label: string;
  /** One line for `deploy plan` and `--help`. */
  description: string;
  /** The notifier's own variables; {@linkcode notifyVariables} are added. */
  variables: S;
  /** The variable holding the webhook URL: the layer is enabled when it is set. */
  urlVariable: keyof z.output<S> & string;
  /** The webhook URL, from the config. */
  url(config: z.output<S>): string;
  /** Shapes a message into the service's payload. */
  payload(message: Notification, config: z.output<S>): unknown;
  /** Extra headers of each request. @default none */
  headers?(message: Notification): Record<string, string>;
}

/** The merged variables of a notifier. */
type NotifierVariables<S extends VariablesSchema> = z.ZodObject<
  S["shape"] & typeof notifyVariables.shape
>;

/** Declares a notifier layer: its variables, its URL and its payload; delivery is shared. */
export function defineNotifier<S extends VariablesSchema>(
  spec: NotifierSpec<S>,
): Layer<NotifierVariables<S>> {
  const variables = z.object({
    ...spec.variables.shape,
    ...notifyVariables.shape,
  }) as NotifierVariables<S>;
  return defineLayer({
    name: spec.name,
    kind: "notifier",
    description: spec.description,
    variables,
    enabled: ({ vars }) => Boolean(vars[spec.urlVariable]),
    setup({ config, on, runtime }) {
      // the merged schema's output is both configs; TypeScript cannot see through the generic merge
      const own = config as unknown as z.output<S>;
      const delivery = config as unknown as z.output<typeof notifyVariables>;
      // the first notifier of a run makes the outbox; its wait handlers are registered under its name
      const outbox = runtime.service(OUTBOX, () => new Outbox(on));
      const options: DeliveryOptions = {
        timeoutMs: delivery.NOTIFY_TIMEOUT * 1000,
        retries: delivery.NOTIFY_RETRIES,
        fetch: runtime.fetch,
      };
      const url = spec.url(own);
      for (const { event, kind, priority } of NOTIFY_EVENTS) {
        on(event, { priority, description: `send the ${kind} message`, soft: true }, (ctx) => {
          const message = buildNotification(ctx, kind);
          const payload = spec.payload(message, own);
          // a cancelled run still reports, but does not wait for retries
          const retries = runtime.signal.aborted ? 0 : options.retries;
          outbox.add(
            spec.label,
            deliver(spec.label, url, payload, {
              ...options,
              retries,
              ...(spec.headers ? { headers: spec.headers(message) } : {}),
            }),
          );
        });
        outbox.waitOn(event, priority + 1);
      }
    },
  });
}

// the run's one outbox, shared by its notifier layers
const OUTBOX = Symbol("notification outbox");

/** The notifications of one run that are on their way. */
class Outbox {
  #pending: { label: string; done: Promise<void> }[] = [];
  #waiting = new Set<EventName>();

  constructor(readonly on: On) {}

  add(label: string, done: Promise<void>): void {
    // a rejection is reported by settle(); until then it must not count as unhandled
    done.catch(() => {});
    this.#pending.push({ label, done });
  }

  /** Registers, once per event, the handler that waits for every notifier sent on it. */
  waitOn(event: EventName, priority: number): void {
    if (this.#waiting.has(event)) return;
    this.#waiting.add(event);
    this.on(
      event,
      { priority, description: "wait for the notifications", soft: true },
      (ctx) => this.settle(ctx),
    );
  }

  async settle(ctx: DeployContext): Promise<void> {
    const batch = this.#pending.splice(0);
    const results = await Promise.allSettled(batch.map((item) => item.done));
    results.forEach((result, i) => report(ctx.logger, batch[i]!.label, result));
  }
}

function report(logger: Logger, label: string, result: PromiseSettledResult<void>): void {
  if (result.status === "fulfilled") {
    logger.info(`${label}: sent`);
    return;
  }
  const error = result.reason;
  logger.warn(error instanceof NotificationError ? error.message : `${label} notification failed`);
}
