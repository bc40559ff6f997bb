/**
 * A `deploy` executable for tests that run CI steps as the CI system would (the action's steps,
 * GitLab jobs): a shell script that runs src/main.ts with exactly the binary's permission flags.
 *
 * @module
 */
import { PERMISSION_FLAGS } from "../scripts/permissions.ts";

const MAIN = new URL("../src/main.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;

/** Writes `<dir>/deploy`; put `dir` first on PATH. */
export async function writeDeployBin(dir: string): Promise<string> {
  const quote = (arg: string) => `'${arg.replaceAll("'", `'"'"'`)}'`;
  const argv = [Deno.execPath(), "run", "--quiet", `--config=${CONFIG}`, ...PERMISSION_FLAGS, MAIN];
  const path = `${dir}/deploy`;
  await Deno.writeTextFile(path, `#!/bin/sh\nexec ${argv.map(quote).join(" ")} "$@"\n`);
  await Deno.chmod(path, 0o755);
  return path;
}
