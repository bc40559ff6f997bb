/**
 * The layer contract. A layer is one file under `layers/` that declares its name, its kind, the
 * variables it reads, when it is enabled, and its handlers.
 *
 * @example
 * ```ts
 * export default defineLayer({
 *   name: "hello",
 *   kind: "notifier",
 *   description: "Says hello",
 *   variables: z.object({ HELLO: variable(z.string().optional(), { description: "Greeting" }) }),
 *   enabled: ({ vars }) => vars.HELLO !== undefined,
 *   setup({ on, config }) {
 *     on("deploy_succeeded", { priority: 100, description: "say hello", soft: true }, (ctx) => {
 *       ctx.logger.info(config.HELLO ?? "hello");
 *     });
 *   },
 * });
 * ```
 *
 * @module
 */
import type { z } from "zod";
import type { On } from "./event_manager.ts";
import type { Logger } from "./logger.ts";
import type { Provider } from "./provider.ts";
import type { Secrets } from "./secrets.ts";
import type { Shell } from "./shell.ts";
import type { VariablesSchema } from "./variables.ts";
import type { CoreConfig } from "./core_variables.ts";

/** The kinds of layer, in the folders of `layers/`. */
export type LayerKind = "provider" | "application" | "third_party" | "notifier" | "check";

/** What a layer sees when it decides whether it is enabled. */
export interface DetectInput {
  /** The merged settings (flags, then env, then deploy.yml); unset variables are absent. */
  vars: Readonly<Record<string, string>>;
  /** The app's repository. */
  cwd: string;
}

/** The run's services, available to a layer from setup on. */
export interface Runtime {
  /** Runs commands. */
  shell: Shell;
  /** The run's logger. */
  logger: Logger;
  /** The run's secrets. */
  secrets: Secrets;
  /** The app's repository. */
  cwd: string;
  /** The process environment (for CI variables a layer passes on). */
  env: Readonly<Record<string, string | undefined>>;
  /** Aborted when the run is cancelled. */
  signal: AbortSignal;
  /**
   * The signal for work that starts now: the run's own until a signal cancels the run; after that,
   * one with a bounded time of its own, so that `deploy_failed` can still undo what the run changed
   * (restart quieted workers). A second signal ends the process at once.
   */
  undoSignal(): AbortSignal;
  /**
   * Registers work to do when the run ends, whatever the outcome (remove temp files...). `now` is
   * the synchronous part that still runs when a second signal ends the process at once.
   */
  defer(cleanup: () => void | Promise<void>, now?: () => void): void;
  /** The HTTP client. @default globalThis.fetch */
  fetch: typeof fetch;
  /**
   * The run's one instance of a service that several layers share (the notifiers' outbox), made by
   * `make` on first use. Services live as long as the run: nothing is kept between runs.
   */
  service<T>(key: symbol, make: () => T): T;
}

/** A fresh {@linkcode Runtime.service} registry, for one run. */
export function serviceRegistry(): Runtime["service"] {
  const services = new Map<symbol, unknown>();
  return <T>(key: symbol, make: () => T): T => {
    if (!services.has(key)) services.set(key, make());
    return services.get(key) as T;
  };
}

/** What a layer's setup receives. */
export interface SetupInput<C> {
  /** The layer's own validated variables. */
  config: C;
  /** The run-wide settings (FORCE_PUSH, FORCE_DEPLOY...). */
  core: CoreConfig;
  /** Registers a handler for this layer. */
  on: On;
  /** The run's services. */
  runtime: Runtime;
}

/** A layer, as its file declares it. */
export interface Layer<S extends VariablesSchema = VariablesSchema> {
  /** Short lowercase name, used by DEPLOY_LAYERS and DEPLOY_PROVIDER. */
  name: string;
  /** Which folder of `layers/` it lives in. */
  kind: LayerKind;
  /** One line for `deploy plan` and `--help`. */
  description: string;
  /** The variables it reads. */
  variables: S;
  /** Whether it runs when DEPLOY_LAYERS does not say (providers: DEPLOY_PROVIDER decides). */
  enabled(input: DetectInput): boolean | Promise<boolean>;
  /** Registers handlers. A provider layer returns its provider. */
  setup(input: SetupInput<z.output<S>>): void | Provider | Promise<void | Provider>;
}

/** Declares a layer; the identity function, there for type inference. */
export function defineLayer<S extends VariablesSchema>(layer: Layer<S>): Layer<S> {
  return layer;
}
