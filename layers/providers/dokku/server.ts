/**
 * What a Dokku server can do, by version, and what its reports say: pure functions over the text of
 * `dokku version`, `dokku apps:report APP` and `dokku git:report APP`. Versions and line numbers
 * cite dokku/dokku (commit 33896f5d7efc3b03d0ea94934d8413cddbce07fd unless a tag is named).
 * @module
 */

/** The oldest Dokku version of each behaviour the provider depends on. */
export const DOKKU_SINCE = {
  /** `ps:restart APP TYPE` restarts one type (docs/processes/process-management.md:9 at v0.26.0). */
  restartByType: "0.26.0",
  /** `apps:report --app-deploy-source-metadata` (commit c0b694239). */
  deploySource: "0.26.0",
  /** `run:stop APP --container NAME` (commit aa810cda7). */
  runStop: "0.29.0",
  /** `builds:cancel APP` (plugins/builds, first in v0.38.0). */
  buildsCancel: "0.38.0",
  /** A push to any branch of an app without a deploy branch sets it (commit d3441b7f7). */
  deployBranchFromPush: "0.31.1",
  /** A push of a tag named like the deploy branch deploys (plugins/git/functions:79, d3441b7f7). */
  deployFromTag: "0.31.1",
  /** `git:report --git-computed-deploy-branch` (commit c45b95fc4). */
  computedDeployBranch: "0.38.4",
  /** `xargs -n 1` splitting of SSH commands (commit 91c8e62da). */
  xargsSplitting: "0.34.0",
} as const;

/** The oldest Dokku version the provider supports: `apps:exists` and `git:report` (0.12). */
export const DOKKU_MINIMUM = "0.12.0";

/** Compares dotted versions numerically: negative, zero or positive. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map((n) => parseInt(n, 10) || 0);
  const pb = b.split(".").map((n) => parseInt(n, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** Whether `version` has the behaviour of {@linkcode DOKKU_SINCE} `feature`. */
export function dokkuHas(version: string, feature: keyof typeof DOKKU_SINCE): boolean {
  return compareVersions(version, DOKKU_SINCE[feature]) >= 0;
}

/** The version in `dokku version` output ("dokku version 0.35.12", "v0.35.12"), or null. */
export function parseDokkuVersion(stdout: string): string | null {
  const match = stdout.match(/(?:^|\s|v)(\d+\.\d+\.\d+)\b/);
  return match ? match[1]! : null;
}

/**
 * The fields of a whole `*:report APP` output ("       Git deploy branch:     main"), keyed by
 * their label in lower case ("git deploy branch").
 */
export function parseReport(stdout: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of stdout.split("\n")) {
    const match = line.match(/^\s+([A-Za-z][\w .-]*?):\s*(.*?)\s*$/);
    if (match) fields.set(match[1]!.toLowerCase(), match[2]!);
  }
  return fields;
}

/** Which branch the server deploys for the app, from its `git:report`. */
export interface DeployBranch {
  /** The branch a push must go to. */
  branch: string;
  /**
   * True when neither the app nor the server sets a deploy branch (known only from Dokku 0.38.4):
   * a push to another branch then makes it the deploy branch.
   */
  unset: boolean;
}

/**
 * The deploy branch from a `git:report APP`: the computed branch where the server reports it
 * (>= 0.38.4: app setting, else global, else master); on older servers the app's setting unless it
 * is the reported default "master", then the global one (v0.35.0 plugins/git/internal-functions
 * :294-295 report each with "master" as default).
 */
export function deployBranchOf(report: Map<string, string>): DeployBranch {
  const computed = report.get("git computed deploy branch");
  if (computed !== undefined) {
    const own = report.get("git deploy branch") ?? "";
    const global = report.get("git global deploy branch") ?? "";
    return { branch: computed || "master", unset: own === "" && global === "" };
  }
  const own = report.get("git deploy branch") || "master";
  const global = report.get("git global deploy branch") || "master";
  return { branch: own !== "master" ? own : global, unset: false };
}

/** What the server says the app runs, from its `apps:report`. */
export interface DeploySource {
  /** The deployed commit, null when the app has none or it was not deployed from git. */
  sha: string | null;
  /** The deploy source ("git-push", "git-sync", "docker-image", ...), "" when none. */
  source: string;
}

/**
 * The deployed commit from an `apps:report APP` (Dokku >= 0.26): a push records its commit
 * (plugins/git/functions:81), a `git:sync --build` records "REMOTE#COMMIT" (internal-functions
 * :311), only after a successful build. Null when the report has no deploy source fields.
 */
export function deploySourceOf(report: Map<string, string>): DeploySource | null {
  const source = report.get("app deploy source");
  const metadata = report.get("app deploy source metadata");
  if (source === undefined || metadata === undefined) return null;
  const sha = source.startsWith("git-") ? metadata.split("#").pop()!.trim() : "";
  return { source, sha: /^[0-9a-f]{40}$/.test(sha) ? sha : null };
}
