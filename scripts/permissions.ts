/**
 * The Deno permissions the `deploy` binary runs with, defined once.
 *
 * `scripts/compile.ts` compiles with exactly these flags, and the test suite runs `src/main.ts`
 * through `deno run` with the same flags, so a missing permission fails a test here and not in a
 * user's pipeline.
 *
 * @module
 */

/** Programs the tool starts. Anything else is refused by Deno. */
export const ALLOWED_PROGRAMS = ["git", "ssh", "ssh-keygen", "sentry-cli"] as const;

/** The permission flags shared by `deno compile` and the tests' `deno run`. */
export const PERMISSION_FLAGS: readonly string[] = [
  // reads CI variables, SSH_* and every layer's settings
  "--allow-env",
  // reads the repo (Gemfile.lock, Procfile, deploy.yml) and a key given as a path
  "--allow-read",
  // writes the private key directory under TMPDIR and $GITHUB_STEP_SUMMARY / $GITHUB_OUTPUT,
  // whose locations are only known at run time
  "--allow-write",
  // webhooks, Heroku's API and Sentry can live on any host the user configures
  "--allow-net",
  `--allow-run=${ALLOWED_PROGRAMS.join(",")}`,
];
