/**
 * Whether an app is a Rails app, from its Gemfile.lock.
 *
 * @module
 */

// a gem in the lock file's specs (4 spaces: `    rails (7.1.3)`) or dependencies (2: `  rails!`)
const RAILS = /^(?: {4}(?:rails|railties) \(| {2}(?:rails|railties)(?: |!|$))/m;

/** Whether a Gemfile.lock's text lists the `rails` (or `railties`) gem. */
export function listsRails(lockText: string): boolean {
  return RAILS.test(lockText);
}

/** Whether `Gemfile.lock` in `dir` lists rails; false when there is no lock file. */
export async function isRailsApp(dir: string): Promise<boolean> {
  try {
    return listsRails(await Deno.readTextFile(`${dir}/Gemfile.lock`));
  } catch (e: unknown) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}
