/**
 * Review-app state of the Dokku sandbox (see dokku_apps.sh): apps, config vars and domains as the
 * forced command keeps them, read and set the way a test looks at the far end, plus a one-shot
 * failure of a command.
 *
 * @module
 */
import type { DokkuSandbox } from "./dokku.ts";

/** Whether the app exists on the sandbox (its bare repo). */
export async function dokkuAppExists(sandbox: DokkuSandbox, app: string): Promise<boolean> {
  try {
    await Deno.stat(sandbox.repoPath(app));
    return true;
  } catch {
    return false;
  }
}

/** The app's config vars, as `config:set` stored them. */
export async function dokkuConfig(
  sandbox: DokkuSandbox,
  app: string,
): Promise<Record<string, string>> {
  const config: Record<string, string> = {};
  try {
    for await (const entry of Deno.readDir(`${sandbox.stateDir}/config/${app}`)) {
      config[entry.name] = await Deno.readTextFile(
        `${sandbox.stateDir}/config/${app}/${entry.name}`,
      );
    }
  } catch (error: unknown) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return config;
}

/** The app's domains, as `domains:set` stored them. */
export async function dokkuDomains(sandbox: DokkuSandbox, app: string): Promise<string[]> {
  const text = await Deno.readTextFile(`${sandbox.stateDir}/domains/${app}`).catch(() => "");
  return text.split("\n").filter((line) => line !== "");
}

/** Runs a Dokku command over SSH as an operator would (`ssh dokku@host apps:create shop`). */
export async function dokkuSsh(sandbox: DokkuSandbox, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("ssh", {
    args: [...sandbox.sshArgs, `${sandbox.user}@${sandbox.host}`, args.join(" ")],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`dokku ${args.join(" ")} failed: ${text}`);
  return text;
}

/** Makes the next `command` (apps:clone, config:set, ...) fail with ` !     message`. */
export async function failNextDokku(
  sandbox: DokkuSandbox,
  command: string,
  message = "",
): Promise<void> {
  await Deno.writeTextFile(
    `${sandbox.stateDir}/fail_next_${command.replaceAll(":", "_")}`,
    message,
  );
}
