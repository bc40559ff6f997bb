/**
 * The message every notifier sends, built once from the run's context: the outcome and its
 * colour, what was deployed where, by whom, how long it took, and for a failure what failed. Each
 * notifier only shapes this into its service's payload, through {@linkcode facts} and friends.
 *
 * @example
 * ```ts
 * const message = buildNotification(ctx, "succeeded");
 * const lines = facts(message, { link: (text, url) => `[${text}](${url})`, code: (t) => `\`${t}\`` });
 * ```
 *
 * @module
 */
import { commitUrl } from "./ci.ts";
import type { DeployContext, FailureContext } from "./context.ts";
import { rollbackName } from "./provider.ts";

/** Which moment of the run a message is about. */
export type NotificationKind = "started" | "succeeded" | "skipped" | "failed";

/** What failed, as a message tells it: the run's failure context, already masked. */
export type NotificationFailure = FailureContext;

/** One message, independent of where it goes. Every string is masked. */
export interface Notification {
  /** The moment of the run. */
  kind: NotificationKind;
  /** One line: "Deployed shop to production". */
  title: string;
  /** Colour of the outcome, `#rrggbb`. */
  color: string;
  /** The app's name on the provider. */
  app: string;
  /** The environment. */
  environment: string;
  /** The provider's name (dokku, heroku). */
  provider: string;
  /** The commit deployed. */
  commit: {
    sha: string;
    shortSha: string;
    title: string;
    author: string;
    ref?: string;
    /** Its web page, when the project's page is known. */
    url?: string;
  };
  /** Who started the run (CI user), else the commit's author. */
  actor: string;
  /** The pipeline (GitLab) or workflow run (GitHub). */
  pipelineUrl?: string;
  /** The job. */
  jobUrl?: string;
  /** When the run started, ISO 8601. */
  startedAt: string;
  /** How long the run took, for the endings. */
  durationMs?: number;
  /** What failed, for "failed". */
  failure?: NotificationFailure;
  /**
   * A rollback: `manual` for `deploy rollback`, `automatic` after a failed deploy
   * (DEPLOY_ROLLBACK_ON_FAILURE); `ok` tells whether the app runs `to` now.
   */
  rollback?: NotificationRollback;
  /** The review app's parent and address, for a review deploy. */
  review?: { parent: string; url?: string };
}

/** What a message says about a rollback. Every string is masked. */
export interface NotificationRollback {
  /** `deploy rollback`, or after a failed deploy. */
  kind: "manual" | "automatic";
  /** What was put back: "v41 (abc1234)", or a short sha. */
  to: string;
  /** The commit put back, when known. */
  commit: string | null;
  /** Whether it worked; undefined while a manual one has not ended. */
  ok?: boolean;
  /** Why it failed, when it did. */
  error?: string;
}

/** Colours of the outcomes: blue, green, grey, red. */
export const COLORS: Readonly<Record<NotificationKind, string>> = {
  started: "#1f78d1",
  succeeded: "#2eb67d",
  skipped: "#9e9e9e",
  failed: "#d0021b",
};

/** How many output lines a failure message keeps. */
export const OUTPUT_LINES = 15;
/** How many characters of output a failure message keeps (chat services cap field sizes). */
export const OUTPUT_CHARS = 900;

/** Options of {@linkcode buildNotification}. */
export interface BuildNotificationOptions {
  /** The clock, for the duration. @default Date.now */
  now?: () => number;
}

/** Builds the message of `kind` from the run's context, masking every string. */
export function buildNotification(
  ctx: DeployContext,
  kind: NotificationKind,
  options: BuildNotificationOptions = {},
): Notification {
  const mask = (text: string) => ctx.secrets.mask(text);
  const now = options.now ?? Date.now;
  const { commit, ci } = ctx;
  const url = commitUrl(ci, commit.sha);
  const message: Notification = {
    kind,
    title: mask(
      rollbackTitle(kind, ctx) ?? titleOf(kind, ctx.app, ctx.environment, ctx.failure?.reason),
    ),
    color: COLORS[kind],
    app: mask(ctx.app),
    environment: mask(ctx.environment),
    provider: ctx.provider.name,
    commit: {
      sha: commit.sha,
      shortSha: commit.shortSha,
      title: mask(commit.title),
      author: mask(commit.author),
      ...(commit.ref ? { ref: mask(commit.ref) } : {}),
      ...(url ? { url: mask(url) } : {}),
    },
    actor: mask(ci.actor ?? commit.author),
    startedAt: new Date(ctx.startedAt).toISOString(),
  };
  if (ctx.review) {
    message.review = {
      parent: mask(ctx.review.parent),
      ...(ctx.review.url ? { url: mask(ctx.review.url) } : {}),
    };
    message.title += mask(` (review app of ${ctx.review.parent})`);
  }
  if (ci.pipelineUrl) message.pipelineUrl = mask(ci.pipelineUrl);
  if (ci.jobUrl) message.jobUrl = mask(ci.jobUrl);
  if (kind !== "started") message.durationMs = Math.max(0, now() - ctx.startedAt);
  if (kind === "failed" && ctx.failure) {
    const failure = ctx.failure;
    message.failure = {
      reason: failure.reason,
      event: failure.event,
      layer: failure.layer,
      message: mask(failure.message),
      output: failure.output.slice(-OUTPUT_LINES).map(mask),
    };
    if (failure.command !== undefined) message.failure.command = mask(failure.command);
    if (failure.exitCode !== undefined) message.failure.exitCode = failure.exitCode;
  }
  const rollback = rollbackOf(ctx, kind);
  if (rollback) message.rollback = rollback;
  return message;
}

function rollbackOf(ctx: DeployContext, kind: NotificationKind): NotificationRollback | undefined {
  const mask = (text: string) => ctx.secrets.mask(text);
  const auto = ctx.failure?.rollback;
  if (kind === "failed" && auto) {
    return {
      kind: "automatic",
      to: mask(auto.to),
      commit: auto.commit,
      ok: auto.ok,
      ...(auto.error !== undefined ? { error: mask(auto.error) } : {}),
    };
  }
  const target = ctx.rollingBackTo;
  if (!target) return undefined;
  return {
    kind: "manual",
    to: mask(rollbackName(target)),
    commit: target.commit,
    ...(kind === "succeeded" ? { ok: true } : kind === "failed" ? { ok: false } : {}),
  };
}

/** The title of a rollback's messages, or undefined when the run is a plain deploy. */
function rollbackTitle(kind: NotificationKind, ctx: DeployContext): string | undefined {
  const where = `${ctx.app} in ${ctx.environment}`;
  const auto = ctx.failure?.rollback;
  if (kind === "failed" && auto && !ctx.rollingBackTo && ctx.failure?.reason === "error") {
    return auto.ok
      ? `Deploy of ${ctx.app} to ${ctx.environment} failed: rolled back to ${auto.to}`
      : `Deploy of ${ctx.app} to ${ctx.environment} failed, and the rollback to ${auto.to} failed too`;
  }
  const target = ctx.rollingBackTo;
  if (!target) return undefined;
  const to = rollbackName(target);
  switch (kind) {
    case "started":
      return `Rolling back ${where} to ${to}`;
    case "succeeded":
      return `Rolled back ${where} to ${to}`;
    case "skipped":
      return `Skipped rolling back ${where}: it already runs ${to}`;
    case "failed":
      return `Rollback of ${where} to ${to} failed`;
  }
}

function titleOf(
  kind: NotificationKind,
  app: string,
  environment: string,
  reason?: "error" | "cancelled",
): string {
  switch (kind) {
    case "started":
      return `Deploying ${app} to ${environment}`;
    case "succeeded":
      return `Deployed ${app} to ${environment}`;
    case "skipped":
      return `Skipped deploying ${app} to ${environment}: it already runs this commit`;
    case "failed":
      return reason === "cancelled"
        ? `Deploy of ${app} to ${environment} was cancelled`
        : `Deploy of ${app} to ${environment} failed`;
  }
}

/** "45s", "2m 05s", "1h 02m". */
export function formatDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${String(seconds % 60).padStart(2, "0")}s`;
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, "0")}m`;
}

/** How a service writes links and inline code in its markup. */
export interface Markup {
  /** A link. */
  link(text: string, url: string): string;
  /** Inline code. */
  code(text: string): string;
  /** Escapes plain text for the markup. @default unchanged */
  escape?(text: string): string;
}

/** One labelled value of a message. */
export interface Fact {
  /** The label. */
  title: string;
  /** The value, in the service's markup. */
  value: string;
  /** Whether it fits beside another one. */
  short: boolean;
}

/**
 * Escapes text for Markdown as Mattermost, Discord and Teams read it: a backslash before each
 * character that starts markup (links, emphasis, code, headings, HTML, tables), so that a commit
 * title such as `[click](https://evil.example)` shows as written instead of a disguised link.
 * CommonMark lets any ASCII punctuation be escaped this way; it is one character at a time, so a
 * cut made before escaping never splits an escape.
 */
export function escapeMarkdown(text: string): string {
  return text.replace(/[\\`*_~[\]()<>#|]/g, "\\$&");
}

/** Markdown as Mattermost, Discord and Teams read it. */
export const MARKDOWN: Markup = {
  link: (text, url) => `[${text.replace(/[[\]]/g, "")}](${url.replace(/[()\s]/g, percentEncode)})`,
  code: (text) => `\`${text.replaceAll("`", "'")}\``,
  escape: escapeMarkdown,
};

/**
 * `render(text)`, or when that is longer than `max` characters, `render` of the longest start of
 * `text` (with "…") that fits. The cut is made before rendering (escaping), so the result never
 * outgrows its limit and no escape is cut in half.
 */
export function fitStart(text: string, max: number, render: (text: string) => string): string {
  const full = render(text);
  if (full.length <= max) return full;
  return longestFit(text.length, max, (n) => render(`${text.slice(0, n)}…`));
}

/** Like {@linkcode fitStart}, keeping the end of `text`: for output tails. */
export function fitEnd(text: string, max: number, render: (text: string) => string): string {
  const full = render(text);
  if (full.length <= max) return full;
  return longestFit(text.length, max, (n) => render(`…${n ? text.slice(-n) : ""}`));
}

// binary search for the most characters whose rendering fits; rendering grows with the count
function longestFit(length: number, max: number, rendered: (n: number) => string): string {
  let low = 0;
  let high = length;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (rendered(mid).length <= max) low = mid;
    else high = mid - 1;
  }
  return rendered(low);
}

function percentEncode(ch: string): string {
  return `%${ch.charCodeAt(0).toString(16).padStart(2, "0").toUpperCase()}`;
}

/** Options of {@linkcode facts} and {@linkcode commitLine}. */
export interface FactsOptions {
  /** The most characters a value may hold, after escaping (the service's field limit). @default unlimited */
  maxValue?: number;
}

/** The commit: linked short sha and its title. */
export function commitLine(
  message: Notification,
  markup: Markup,
  options: FactsOptions = {},
): string {
  const escape = markup.escape ?? ((text: string) => text);
  const sha = message.commit.url
    ? markup.link(message.commit.shortSha, message.commit.url)
    : markup.code(message.commit.shortSha);
  const max = (options.maxValue ?? Infinity) - sha.length - 1;
  return `${sha} ${fitStart(message.commit.title, max, escape)}`;
}

/** The labelled values of a message, in display order, each escaped, then fitted to its limit. */
export function facts(message: Notification, markup: Markup, options: FactsOptions = {}): Fact[] {
  const max = options.maxValue ?? Infinity;
  const escape = (text: string) => fitStart(text, max, markup.escape ?? ((t: string) => t));
  const list: Fact[] = [
    { title: "App", value: escape(message.app), short: true },
    { title: "Environment", value: escape(message.environment), short: true },
    { title: "Provider", value: escape(message.provider), short: true },
    { title: "By", value: escape(message.actor), short: true },
    { title: "Commit", value: commitLine(message, markup, options), short: false },
  ];
  const links = [
    message.pipelineUrl ? markup.link("pipeline", message.pipelineUrl) : undefined,
    message.jobUrl && message.jobUrl !== message.pipelineUrl
      ? markup.link("job", message.jobUrl)
      : undefined,
  ].filter((link) => link !== undefined);
  if (links.length) list.push({ title: "CI", value: links.join(" · "), short: true });
  if (message.review) {
    const url = message.review.url;
    list.push({
      title: "Review app",
      value: url ? markup.link(fitStart(url, max, (t) => t), url) : escape(message.app),
      short: false,
    });
  }
  if (message.durationMs !== undefined) {
    list.push({ title: "Duration", value: formatDuration(message.durationMs), short: true });
  }
  const failure = message.failure;
  if (failure) {
    list.push({ title: "Failed in", value: `${failure.event} (${failure.layer})`, short: true });
    if (failure.command !== undefined) {
      const command = fitStart(failure.command, max, (text) => markup.code(text));
      list.push({ title: "Command", value: command, short: false });
    }
    if (failure.exitCode !== undefined) {
      list.push({ title: "Exit code", value: String(failure.exitCode ?? "killed"), short: true });
    }
    // "Command failed with exit code 1: CMD" says nothing the two facts above do not
    if (failure.command === undefined || !failure.message.includes(failure.command)) {
      list.push({ title: "Error", value: escape(failure.message), short: false });
    }
  }
  const rollback = message.rollback;
  if (rollback && rollback.kind === "automatic") {
    list.push({
      title: "Rollback",
      value: rollback.ok
        ? `rolled back to ${escape(rollback.to)}`
        : `rollback to ${escape(rollback.to)} failed${
          rollback.error ? `: ${escape(rollback.error)}` : ""
        }`,
      short: false,
    });
  } else if (rollback) {
    list.push({ title: "Rolled back to", value: escape(rollback.to), short: true });
  }
  return list;
}

/**
 * The failure's output tail, bounded in lines and in characters after `escape` (the service's
 * escaping), or "" when there is none.
 */
export function outputTail(
  message: Notification,
  escape: (text: string) => string = (text) => text,
): string {
  const lines = message.failure?.output ?? [];
  // a fence inside the output would end the code block early
  return fitEnd(lines.join("\n"), OUTPUT_CHARS, (text) => escape(text.replaceAll("```", "'''")));
}

/** The output tail as a fenced code block, or "" when there is none. */
export function outputBlock(message: Notification): string {
  const tail = outputTail(message);
  return tail ? "```\n" + tail + "\n```" : "";
}
