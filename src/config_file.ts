/**
 * The optional `deploy.yml` in the app's repository: non-secret settings, keyed by variable name,
 * with an optional overlay per environment. Its errors carry line numbers.
 *
 * @example
 * ```yaml
 * DEPLOY_PROVIDER: dokku
 * DOKKU_HOST: dokku@dokku.example.com
 * APP_NAME: shop
 * environments:
 *   staging:
 *     APP_NAME: shop-staging
 * ```
 *
 * @module
 */
import { isMap, isScalar, LineCounter, parseDocument } from "yaml";
import { ConfigError } from "./errors.ts";

/** The settings a config file holds, and where each one was written. */
export interface FileSettings {
  /** Settings as text, the environment's overlay applied. */
  values: Record<string, string>;
  /** `deploy.yml:LINE` for each setting. */
  locations: Record<string, string>;
}

/** Options of {@linkcode parseConfigFile}. */
export interface ParseConfigFileOptions {
  /** The file's name, for messages. @default "deploy.yml" */
  name?: string;
  /** Every variable a layer declares. */
  known: ReadonlySet<string>;
  /** Variables that must not be written in a file. */
  secrets: ReadonlySet<string>;
  /** The environment whose overlay applies. */
  environment?: string;
}

const NAME = /^[A-Z][A-Z0-9_]*$/;

/** Parses and checks a config file's text; every problem is reported at once. */
export function parseConfigFile(text: string, options: ParseConfigFileOptions): FileSettings {
  const name = options.name ?? "deploy.yml";
  const lines = new LineCounter();
  // the failsafe schema keeps every scalar as written: 1.10 stays "1.10", 007 stays "007"
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, schema: "failsafe" });
  const at = (offset: number | undefined) =>
    `${name}:${offset === undefined ? 1 : lines.linePos(offset).line}`;
  const problems = doc.errors.map((e) => `${at(e.pos[0])}: ${e.message.split("\n")[0]}`);
  if (problems.length) throw new ConfigError(problems);
  const settings: FileSettings = { values: {}, locations: {} };
  if (doc.contents === null) return settings;
  if (!isMap(doc.contents)) {
    throw new ConfigError(`${at(doc.contents.range?.[0])}: expected a mapping of VARIABLE: value`);
  }
  // every overlay is checked, and the chosen one applies after the top level, wherever it stands
  const overlays: unknown[] = [];
  const take = (map: unknown, apply: boolean, overlay: boolean) => {
    if (!isMap(map)) return;
    for (const pair of map.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : "";
      const where = at(isScalar(pair.key) ? pair.key.range?.[0] : undefined);
      if (!overlay && key === "environments") {
        if (!isMap(pair.value)) {
          problems.push(`${where}: environments: expected a mapping of environment names`);
          continue;
        }
        for (const env of pair.value.items) {
          const chosen = isScalar(env.key) && String(env.key.value) === options.environment;
          if (chosen) overlays.push(env.value);
          else take(env.value, false, true);
        }
        continue;
      }
      if (!NAME.test(key)) {
        problems.push(`${where}: "${key}": expected a variable name such as APP_NAME`);
      } else if (options.secrets.has(key)) {
        problems.push(
          `${where}: ${key} is a secret: set it as a CI variable, not in the repository`,
        );
      } else if (!options.known.has(key)) {
        problems.push(`${where}: unknown setting ${key}`);
      } else if (
        !isScalar(pair.value) || typeof pair.value.value !== "string" || pair.value.value === ""
      ) {
        problems.push(`${where}: ${key}: expected a string, number or boolean`);
      } else if (apply) {
        settings.values[key] = pair.value.value;
        settings.locations[key] = where;
      }
    }
  };
  take(doc.contents, true, false);
  for (const overlay of overlays) take(overlay, true, true);
  if (problems.length) throw new ConfigError(problems);
  return settings;
}
