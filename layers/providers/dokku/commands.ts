/**
 * The Dokku provider's commands as pure data: the argv of each Dokku SSH command, the text sent over
 * SSH, and the git URL of an app. Nothing here runs anything, so each command is tested as argv.
 *
 * @module
 */
import type { SshTarget } from "../../../src/ssh.ts";
import { dokkuHas } from "./server.ts";
import { runArgProblems } from "./run_args.ts";

/**
 * Dokku's rule for app names: lowercase letters, digits, dots and dashes, starting with a letter or
 * digit (dokku/dokku plugins/common/common.go:1014 IsValidAppName; dots are allowed since 0.26).
 */
export const DOKKU_APP_NAME = /^[a-z0-9][a-z0-9.-]*$/;

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

/** `dokku apps:report APP`: whether the app exists, and (>= 0.26) what it was deployed from. */
export function appsReportCommand(app: string): string[] {
  return ["apps:report", app];
}

/** `dokku git:report APP`: the app's deploy branch. */
export function gitReportCommand(app: string): string[] {
  return ["git:report", app];
}

/** `dokku apps:create APP` (DOKKU_CREATE_APP=true). */
export function createAppCommand(app: string): string[] {
  return ["apps:create", app];
}

/** `dokku run APP CMD...`: a one-off container. */
export function runCommand(app: string, cmd: readonly string[]): string[] {
  return ["run", app, ...cmd];
}

/**
 * `dokku ps:restart APP TYPE`; on Dokku older than 0.26 the type is not understood, so the whole
 * app restarts (`ps:restart APP`).
 */
export function restartCommand(app: string, type: string, version: string): string[] {
  return dokkuHas(version, "restartByType") ? ["ps:restart", app, type] : ["ps:restart", app];
}

/** `dokku ps:rebuild APP`: builds and deploys the deploy branch again (FORCE_DEPLOY). */
export function rebuildCommand(app: string): string[] {
  return ["ps:rebuild", app];
}

/** `dokku builds:cancel APP` (Dokku >= 0.38): stops the app's running build. */
export function cancelBuildCommand(app: string): string[] {
  return ["builds:cancel", app];
}

/**
 * The text sent as the SSH command: the words, bare, separated by single spaces. Dokku >= 0.34
 * splits with `xargs -n 1` and Dokku <= 0.33 on whitespace keeping quotes literal, so no quoting
 * comes back whole on both: only words that need none are sent (see run_args.ts), and any other
 * word is a TypeError (the provider refuses such words before it connects).
 */
export function sshCommandText(args: readonly string[]): string {
  const problems = runArgProblems(args);
  if (problems.length > 0) {
    throw new TypeError(
      `Cannot send "${problems[0]!.word}" to Dokku: ${problems[0]!.reason}`,
    );
  }
  return args.join(" ");
}
