/**
 * Settings: environment variables first (that is what CI images use), then the optional deploy.yml
 * for non-secret settings. Flags beat env, env beats the file, and the file beats defaults.
 * Validation reports every problem of every enabled layer in one {@linkcode ConfigError}.
 *
 * @module
 */
import type { z } from "zod";
import { ConfigError } from "./errors.ts";
import { MASK, maskUrlPasswords } from "./secrets.ts";
import { isSecret, type VariablesSchema } from "./variables.ts";

/** Settings merged from their sources, with where each came from. */
export interface MergedSettings {
  /** Each set variable's text; unset and empty ones are absent. */
  vars: Record<string, string>;
  /** Where a value that did not come from the environment was written (`--app`, `deploy.yml:3`). */
  origins: Record<string, string>;
}

/** The sources of settings, strongest first. */
export interface SettingSources {
  /** From command-line flags, keyed by variable name. */
  flags: Record<string, string | undefined>;
  /** The process environment. */
  env: Readonly<Record<string, string | undefined>>;
  /** From deploy.yml. */
  file?: { values: Record<string, string>; locations: Record<string, string> };
}

/** Merges the sources: flags, then env, then the file. Empty values count as unset. */
export function mergeSettings(sources: SettingSources): MergedSettings {
  const merged: MergedSettings = { vars: {}, origins: {} };
  for (const [name, value] of Object.entries(sources.file?.values ?? {})) {
    merged.vars[name] = value;
    merged.origins[name] = sources.file!.locations[name] ?? "deploy.yml";
  }
  for (const [name, value] of Object.entries(sources.env)) {
    if (value === undefined || value === "") continue;
    merged.vars[name] = value;
    delete merged.origins[name];
  }
  for (const [name, value] of Object.entries(sources.flags)) {
    if (value === undefined || value === "") continue;
    merged.vars[name] = value;
    merged.origins[name] = "command line";
  }
  return merged;
}

/**
 * Validates `settings` against one schema. Returns the parsed config, or the problems, each naming
 * the variable, what was expected and what was found (secrets masked).
 */
export function validateVariables<S extends VariablesSchema>(
  schema: S,
  settings: MergedSettings,
  mask: (text: string) => string = maskUrlPasswords,
): { config: z.output<S>; problems: [] } | { config?: undefined; problems: string[] } {
  const input: Record<string, string> = {};
  for (const name of Object.keys(schema.shape)) {
    const value = settings.vars[name];
    if (value !== undefined) input[name] = value;
  }
  const result = schema.safeParse(input);
  if (result.success) return { config: result.data, problems: [] };
  const problems = result.error.issues.map((issue) => {
    const name = String(issue.path[0] ?? "");
    const value = input[name];
    const origin = settings.origins[name] ? ` (${settings.origins[name]})` : "";
    if (value === undefined) return `${name} is required${origin}: ${expected(issue.message)}`;
    // a value that is not declared secret can still hold one (a password inside a URL)
    const found = isSecret(schema, name) ? MASK : JSON.stringify(mask(value));
    return `${name}${origin}: ${expected(issue.message)}, found ${found}`;
  });
  return { problems };
}

/** Throws a {@linkcode ConfigError} listing every problem, when there are any. */
export function assertNoProblems(problems: readonly string[]): void {
  if (problems.length > 0) throw new ConfigError([...new Set(problems)]);
}

// zod's own messages read "Invalid input: expected string, received undefined"
function expected(message: string): string {
  return message.replace(/^Invalid (input|option): /, "").replace(/, received \w+$/, "");
}
