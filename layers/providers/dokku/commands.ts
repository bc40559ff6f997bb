/**
 * The Dokku provider's commands as pure data: the argv of each Dokku SSH command, the text sent over
 * SSH, and the git URL of an app. Nothing here runs anything, so each command is tested as argv.
 *
 * @module
 */
import type { ProcessAction } from "../../../src/provider.ts";
import type { SshTarget } from "../../../src/ssh.ts";
import { xargsQuote } from "./xargs_quote.ts";

/** Dokku's rule for app names. */
export const DOKKU_APP_NAME = /^[a-z0-9][a-z0-9-]*$/;

/** Parses DOKKU_HOST, `[user@]host[:port]`; null when it is not of that form. */
export function parseDokkuHost(value: string): SshTarget | null {
  const match = value.trim().match(
    /^(?:([a-z_][a-z0-9_.-]*)@)?([A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?$/,
  );
  if (!match) return null;
  const port = match[3] === undefined ? 22 : Number(match[3]);
  if (port < 1 || port > 65535) return null;
  return { user: match[1] ?? "dokku", host: match[2]!.replace(/^\[|\]$/g, ""), port };
}

/** The git URL of `app` on the server: `ssh://user@host:port/app`, IPv6 hosts in brackets. */
export function gitUrl(target: SshTarget, app: string): string {
  const host = target.host.includes(":") ? `[${target.host}]` : target.host;
  return `ssh://${target.user}@${host}:${target.port}/${app}`;
}

/** `dokku version`. */
export function versionCommand(): string[] {
  return ["version"];
}

/** `dokku run APP CMD...`: a one-off container. */
export function runCommand(app: string, cmd: readonly string[]): string[] {
  return ["run", app, ...cmd];
}

/** `dokku ps:ACTION APP TYPE`. */
export function processCommand(app: string, type: string, action: ProcessAction): string[] {
  return [`ps:${action}`, app, type];
}

/** `dokku ps:rebuild APP`: builds and deploys the running commit again (FORCE_DEPLOY). */
export function rebuildCommand(app: string): string[] {
  return ["ps:rebuild", app];
}

/**
 * The text sent as the SSH command. Dokku splits a non-git command with xargs quoting rules, so
 * each argument is quoted to come back whole.
 */
export function sshCommandText(args: readonly string[]): string {
  return xargsQuote(args);
}
