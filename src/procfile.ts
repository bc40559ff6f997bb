/**
 * The app's Procfile: its process types, which of them run Sidekiq, and whether it declares a
 * `release:` process (Heroku's release phase).
 *
 * @example
 * ```ts
 * const procfile = parseProcfile("web: bundle exec puma\nworker: bundle exec sidekiq\n");
 * sidekiqTypes(procfile); // ["worker"]
 * ```
 *
 * @module
 */

/** The process types of a Procfile, in file order. */
export interface Procfile {
  /** Each process type and its command. */
  types: ReadonlyMap<string, string>;
}

// Heroku and Dokku accept letters, digits, dashes and underscores in a process type
const LINE = /^([A-Za-z0-9_-]+)\s*:\s*(.*)$/;
// the sidekiq executable (bundle exec sidekiq, bin/sidekiq, sidekiqswarm), not sidekiq_* gems' tasks
const SIDEKIQ = /(?:^|[\s/])sidekiq(?:swarm)?(?:\s|$)/;

/** Parses a Procfile's text; blank lines and `#` comments are ignored, later types win. */
export function parseProcfile(text: string): Procfile {
  const types = new Map<string, string>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const match = line.match(LINE);
    if (match) types.set(match[1]!, match[2]!.trim());
  }
  return { types };
}

/** The process types whose command runs Sidekiq (never `release`). */
export function sidekiqTypes(procfile: Procfile): string[] {
  return [...procfile.types].filter(([type, command]) =>
    type !== "release" && SIDEKIQ.test(command)
  )
    .map(([type]) => type);
}

/** Whether the Procfile declares a `release:` process (run by Heroku before each release). */
export function hasReleasePhase(procfile: Procfile): boolean {
  return procfile.types.has("release");
}

/** Reads `Procfile` in `dir`; an app without one has no process types. */
export async function readProcfile(dir: string): Promise<Procfile> {
  try {
    return parseProcfile(await Deno.readTextFile(`${dir}/Procfile`));
  } catch (e: unknown) {
    if (e instanceof Deno.errors.NotFound) return { types: new Map() };
    throw e;
  }
}
