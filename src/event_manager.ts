/**
 * The event manager: layers register handlers on events with a priority; handlers run in ascending
 * priority, ties in registration order.
 *
 * @example
 * ```ts
 * const events = new EventManager();
 * events.on("deploy", { layer: "dokku", priority: 100, description: "push" }, push);
 * await events.emit("deploy", ctx);
 * ```
 *
 * @module
 */
import type { DeployContext, EventName } from "./context.ts";
import { errorMessage, HandlerError } from "./errors.ts";

/** A handler of one event. */
export type Handler = (ctx: DeployContext) => void | Promise<void>;

/** How a handler is registered. */
export interface HandlerOptions {
  /** Lower runs first. */
  priority: number;
  /** What the handler does, for `deploy plan` and the log. */
  description: string;
  /** A soft handler's failure is a warning and the run goes on (notifiers, third parties). @default false */
  soft?: boolean;
}

/** A registered handler. */
export interface Registration extends Required<HandlerOptions> {
  /** The event it handles. */
  event: EventName;
  /** The layer that registered it. */
  layer: string;
  /** The handler itself. */
  handler: Handler;
}

/** Registers a handler for one layer. */
export type On = (event: EventName, options: HandlerOptions, handler: Handler) => void;

/** Options of {@linkcode EventManager.emit}. */
export interface EmitOptions {
  /** Each failure becomes a warning and the other handlers still run (the endings). @default false */
  isolate?: boolean;
  /** Stops the stage between handlers once aborted; its reason is the error reported. */
  signal?: AbortSignal;
}

/** Holds the handlers of a run and runs them in order. */
export class EventManager {
  #registrations: Registration[] = [];

  /** Registers `handler` on `event` for `layer`. */
  on(event: EventName, options: HandlerOptions & { layer: string }, handler: Handler): void {
    const { layer, priority, description, soft = false } = options;
    if (!Number.isFinite(priority)) {
      throw new TypeError(`Cannot register ${layer} on ${event}: priority must be a number`);
    }
    this.#registrations.push({ event, layer, priority, description, soft, handler });
  }

  /** The registration function handed to one layer. */
  forLayer(layer: string): On {
    return (event, options, handler) => this.on(event, { ...options, layer }, handler);
  }

  /** The handlers of `event`, in run order. */
  handlers(event: EventName): Registration[] {
    // Array.prototype.sort is stable, so equal priorities keep registration order
    return this.#registrations.filter((r) => r.event === event)
      .sort((a, b) => a.priority - b.priority);
  }

  /**
   * Runs the handlers of `event`. A hard handler's error stops the event and is rethrown as a
   * {@linkcode HandlerError}; a soft handler's error, or any error with `isolate`, is a warning.
   */
  async emit(event: EventName, ctx: DeployContext, options: EmitOptions = {}): Promise<void> {
    for (const registration of this.handlers(event)) {
      if (options.signal?.aborted && !options.isolate) {
        throw new HandlerError(event, registration.layer, options.signal.reason);
      }
      const logger = ctx.logger.indent();
      logger.info(`${registration.layer}: ${registration.description}`);
      // the handler's logger is indented under its line; everything else, reads and writes
      // (ctx.release = "v42"), goes to the one context
      const indented = logger.indent();
      const view = new Proxy(ctx, {
        get: (target, key, receiver) =>
          key === "logger" ? indented : Reflect.get(target, key, receiver),
      });
      try {
        await registration.handler(view);
        // a signal while the handler ran cancels the stage, even if the killed command looked fine
        if (options.signal?.aborted && !options.isolate) {
          throw new HandlerError(event, registration.layer, options.signal.reason);
        }
      } catch (error: unknown) {
        if (error instanceof HandlerError) throw error;
        const cancelled = options.signal?.aborted ?? false;
        // once cancelled, even a soft handler's error stops the stage
        if (options.isolate || (registration.soft && !cancelled)) {
          logger.warn(
            `${registration.layer}: ${registration.description} failed: ${errorMessage(error)}`,
          );
          continue;
        }
        throw new HandlerError(
          event,
          registration.layer,
          cancelled ? options.signal!.reason : error,
        );
      }
    }
  }
}
