/**
 * Choosing and checking the layers of a run, before any handler runs: the provider from
 * DEPLOY_PROVIDER, the other layers by their own detection, DEPLOY_LAYERS forcing any of them on or
 * off, then every enabled layer's variables validated at once.
 *
 * @module
 */
import type { z } from "zod";
import { assertNoProblems, type MergedSettings, validateVariables } from "./config.ts";
import { type CoreConfig, coreVariables } from "./core_variables.ts";
import type { Layer } from "./layer.ts";
import type { Secrets } from "./secrets.ts";
import { isSecret } from "./variables.ts";

/** Any layer, whatever its variables. */
// deno-lint-ignore no-explicit-any
export type AnyLayer = Layer<any>;

/** The checked plan of a run. */
export interface Plan {
  /** The run-wide settings. */
  core: CoreConfig;
  /** The provider layer. */
  provider: AnyLayer;
  /** Every enabled layer, the provider first, in registration order. */
  layers: AnyLayer[];
  /** Each enabled layer's validated variables. */
  configs: Map<string, z.output<AnyLayer["variables"]>>;
}

/** DEPLOY_LAYERS parsed: names forced on and off. */
export interface LayerSwitches {
  /** Forced on (`rails` or `+rails`). */
  on: Set<string>;
  /** Forced off (`-rails`). */
  off: Set<string>;
}

/** Parses DEPLOY_LAYERS: names separated by commas or spaces, `-` switches off, `+` or none on. */
export function parseLayerSwitches(value: string | undefined): LayerSwitches {
  const switches: LayerSwitches = { on: new Set(), off: new Set() };
  for (const token of (value ?? "").split(/[\s,]+/).filter(Boolean)) {
    if (token.startsWith("-")) switches.off.add(token.slice(1));
    else switches.on.add(token.replace(/^\+/, ""));
  }
  return switches;
}

/** Options of {@linkcode planRun}. */
export interface PlanOptions {
  /** The app's repository, for detection. */
  cwd: string;
  /** Receives the values of every secret variable, before any message is written. */
  secrets: Secrets;
}

/** Chooses the layers and validates their variables. Throws a ConfigError listing every problem. */
export async function planRun(
  all: readonly AnyLayer[],
  settings: MergedSettings,
  options: PlanOptions,
): Promise<Plan> {
  // secrets are registered first, so that no message below can show one
  for (const layer of all) {
    for (const name of Object.keys(layer.variables.shape)) {
      if (isSecret(layer.variables, name)) options.secrets.add(settings.vars[name]);
    }
  }
  const problems: string[] = [];
  const mask = (text: string) => options.secrets.mask(text);
  const core = validateVariables(coreVariables, settings, mask);
  problems.push(...core.problems);
  const providers = all.filter((l) => l.kind === "provider");
  const providerName = settings.vars.DEPLOY_PROVIDER;
  const provider = providers.find((l) => l.name === providerName);
  const names = providers.map((l) => l.name).join(", ");
  if (!providerName) problems.push(`DEPLOY_PROVIDER is required: expected one of ${names}`);
  else if (!provider) {
    problems.push(`DEPLOY_PROVIDER: expected one of ${names}, found "${providerName}"`);
  }
  const switches = parseLayerSwitches(settings.vars.DEPLOY_LAYERS);
  for (const name of switches.on) {
    if (switches.off.has(name)) {
      problems.push(`DEPLOY_LAYERS: "${name}" is switched both on and off`);
    }
  }
  for (const name of [...switches.on, ...switches.off]) {
    if (name === "") {
      problems.push(
        `DEPLOY_LAYERS: expected layer names such as rails or -rails, found a lone sign`,
      );
      continue;
    }
    const layer = all.find((l) => l.name === name);
    if (!layer) {
      const others = all.filter((l) => l.kind !== "provider").map((l) => l.name).join(", ");
      problems.push(`DEPLOY_LAYERS: unknown layer "${name}", expected some of ${others}`);
    } else if (layer.kind === "provider") {
      problems.push(`DEPLOY_LAYERS: "${name}" is a provider; choose it with DEPLOY_PROVIDER`);
    }
  }
  const layers: AnyLayer[] = provider ? [provider] : [];
  for (const layer of all) {
    if (layer.kind === "provider" || switches.off.has(layer.name)) continue;
    if (
      switches.on.has(layer.name) || await layer.enabled({ vars: settings.vars, cwd: options.cwd })
    ) {
      layers.push(layer);
    }
  }
  const configs: Plan["configs"] = new Map();
  for (const layer of layers) {
    const result = validateVariables(layer.variables, settings, mask);
    problems.push(...result.problems);
    if (result.config) configs.set(layer.name, result.config);
  }
  assertNoProblems(problems);
  return { core: core.config!, provider: provider!, layers, configs };
}
