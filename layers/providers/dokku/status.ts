/**
 * `deploy status` on Dokku: the commit on the app's deploy branch (what Dokku last built), and when
 * that branch was last updated, from `dokku git:report APP --git-last-updated-at`.
 *
 * @module
 */
import { type GitOptions, lsRemote } from "../../../src/git.ts";
import type { ProviderStatus } from "../../../src/provider.ts";
import type { CommandOutput } from "../../../src/shell.ts";

/** `dokku git:report APP --git-last-updated-at`: the deploy branch's mtime in epoch seconds. */
export function lastUpdatedCommand(app: string): string[] {
  // dokku/dokku plugins/git/report.go (33896f5) maps this flag to fn-git-last-updated-at
  // (plugins/git/internal-functions:488), `stat -c %Y` of refs/heads/<deploy branch>; empty when
  // the ref is packed
  return ["git:report", app, "--git-last-updated-at"];
}

/** What the status needs from the provider. */
export interface DokkuStatusDeps {
  /** git's options, GIT_SSH_COMMAND for the server included. */
  git: () => Promise<GitOptions>;
  /** Runs a dokku command over SSH without throwing. */
  dokku: (args: string[]) => Promise<CommandOutput>;
  /** The app's git URL on the server. */
  url: string;
  /** DOKKU_BRANCH. */
  branch: string;
  /** The app. */
  app: string;
  /** The server's host name, for the details. */
  host: string;
}

/** What the app runs now. */
export async function dokkuStatus(deps: DokkuStatusDeps): Promise<ProviderStatus> {
  const commit = await lsRemote(deps.url, `refs/heads/${deps.branch}`, await deps.git());
  const status: ProviderStatus = {
    commit,
    details: { Host: deps.host, Branch: deps.branch },
  };
  if (commit) {
    // an older Dokku without this flag, or a packed ref: the time is simply not known
    const report = await deps.dokku(lastUpdatedCommand(deps.app)).catch(() => undefined);
    const seconds = report?.code === 0 ? report.stdout.trim() : "";
    if (/^\d+$/.test(seconds)) status.releasedAt = new Date(Number(seconds) * 1000).toISOString();
  }
  return status;
}
