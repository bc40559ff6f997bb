/**
 * `deploy status`: what the app runs now, asked of the provider (its `release-history`
 * capability), with the commit's title and author from the local history when it has the commit.
 * It changes nothing on the server. Exit codes: 0 told, 1 the server could not be reached, 2 bad
 * input (the provider has no release history).
 *
 * @module
 */
import { ConfigError, errorMessage } from "./errors.ts";
import { readCommit } from "./git.ts";
import type { Logger } from "./logger.ts";
import { type Provider, type ProviderStatus, UnsupportedError } from "./provider.ts";
import type { Secrets } from "./secrets.ts";
import type { Shell } from "./shell.ts";

/** Options of {@linkcode printStatus}. */
export interface StatusOptions {
  /** The environment's name. */
  environment: string;
  /** The app's repository, for the commit's title and author. */
  cwd: string;
  /** Runs git. */
  shell: Shell;
  /** Masks every value written. */
  secrets: Secrets;
  /** Receives errors (text format). */
  logger: Logger;
  /** text, or json: one object on stdout. */
  format: "text" | "json";
  /** Writes the answer to stdout. */
  write: (text: string) => void;
}

/** What `deploy status --log-format json` prints: one object. */
export interface StatusReport {
  app: string;
  provider: string;
  environment: string;
  /** false when the server could not be reached. */
  reachable: boolean;
  commit: { sha: string; short_sha: string; title: string | null; author: string | null } | null;
  release: string | null;
  released_at: string | null;
  details: Record<string, string>;
  /** Why the server could not tell, when it could not. */
  error?: string;
}

/** Asks the provider what runs now and prints it; returns the exit code. */
export async function printStatus(provider: Provider, options: StatusOptions): Promise<number> {
  if (!provider.supports("release-history")) {
    throw new UnsupportedError(`deploy status is not supported for the ${provider.label} provider`);
  }
  const mask = (text: string) => options.secrets.mask(text);
  const base = { app: provider.app, provider: provider.name, environment: options.environment };
  let status: ProviderStatus;
  try {
    status = await provider.status();
  } catch (error: unknown) {
    if (error instanceof ConfigError) throw error;
    const message = mask(errorMessage(error));
    if (options.format === "json") {
      const report: StatusReport = {
        ...base,
        reachable: false,
        commit: null,
        release: null,
        released_at: null,
        details: {},
        error: message,
      };
      options.write(mask(JSON.stringify(report)) + "\n");
    } else {
      options.logger.error(`Cannot tell what ${provider.app} runs: ${message}`);
    }
    return 1;
  }
  const known = status.commit
    ? await readCommit(status.commit, { shell: options.shell, cwd: options.cwd })
      .catch(() => undefined)
    : undefined;
  const report: StatusReport = {
    ...base,
    reachable: true,
    commit: status.commit
      ? {
        sha: status.commit,
        short_sha: status.commit.slice(0, 7),
        title: known?.title ?? null,
        author: known?.author ?? null,
      }
      : null,
    release: status.release ?? null,
    released_at: status.releasedAt ?? null,
    details: status.details,
  };
  options.write(
    mask(options.format === "json" ? JSON.stringify(report) : statusText(report)) + "\n",
  );
  return 0;
}

/** The text form of a report. */
export function statusText(report: StatusReport): string {
  const commit = report.commit
    ? `${report.commit.short_sha}${report.commit.title ? ` "${report.commit.title}"` : ""}${
      report.commit.author ? ` by ${report.commit.author}` : ""
    }${report.commit.title ? "" : " (not in the local history)"}`
    : "none";
  const rows: [string, string][] = [
    ["Commit", commit],
    ...(report.release ? [["Release", report.release] as [string, string]] : []),
    ["Released at", report.released_at ?? "unknown"],
    ...Object.entries(report.details),
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  return [
    `${report.app} (${report.environment}) on ${report.provider}`,
    ...rows.map(([label, value]) => `  ${`${label}:`.padEnd(width + 1)} ${value}`),
  ].join("\n");
}
