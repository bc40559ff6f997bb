/**
 * What a run leaves for the CI system once it ends: on GitHub Actions, a step summary, outputs
 * (status, sha, release) and an error annotation. Every exit writes them, a configuration error
 * before any run (status `invalid`) included.
 *
 * @module
 */
import type { DeployContext } from "./context.ts";
import type { RunResult } from "./runner.ts";
import { Secrets } from "./secrets.ts";
import { isSecret, type VariablesSchema } from "./variables.ts";

/** What the `status` output says: the run's outcome, or `invalid` for bad input (exit 2). */
export type CiStatus = "succeeded" | "skipped" | "failed" | "invalid";

/** Where the report goes. */
export interface CiReportIo {
  /** The environment (GITHUB_ACTIONS, GITHUB_STEP_SUMMARY, GITHUB_OUTPUT). */
  env: Readonly<Record<string, string | undefined>>;
  /** Writes to stdout (workflow commands such as ::error::). */
  write: (text: string) => void;
  /**
   * Writes to stderr. The runner reads workflow commands from stderr as well as stdout
   * (actions/runner src/Runner.Worker/Handlers/ScriptHandler.cs, lines 335-336, commit 258d6c8),
   * so with JSON logs the ::error line goes here and stdout keeps JSON lines only.
   * @default write
   */
  writeError?: (text: string) => void;
  /** The log format. @default "text" */
  format?: "text" | "json";
}

/** The status output of a run's result: exit 2 is bad input, whatever stage found it. */
export function ciStatus(result: RunResult): CiStatus {
  return result.exitCode === 2 ? "invalid" : result.outcome;
}

/** Writes the GitHub Actions summary, outputs and annotation; does nothing elsewhere. */
export async function writeCiReport(
  ctx: DeployContext,
  result: RunResult,
  io: CiReportIo,
): Promise<void> {
  if (!io.env.GITHUB_ACTIONS) return;
  const mask = (text: string) => ctx.secrets.mask(text);
  if (result.outcome === "failed" && ctx.failure) {
    const failure = ctx.failure;
    const what = failure.command
      ? `${failure.command} exited with ${failure.exitCode}`
      : failure.message;
    const line = errorCommand(`deploy failed in ${failure.event} (${failure.layer})`, what, mask);
    (io.format === "json" ? io.writeError ?? io.write : io.write)(line);
  }
  await writeOutputs(io.env, {
    status: ciStatus(result),
    sha: ctx.commit.sha,
    release: ctx.release ?? ctx.commit.shortSha,
    ...(ctx.review ? { url: ctx.review.url ?? "" } : {}),
  }, mask);
  await appendSummary(io.env, stepSummary(ctx, result), mask);
}

/** What a run that ended before it began (a configuration error) tells CI. */
export interface CiErrorReport {
  /** `invalid` for a configuration error (exit 2), `failed` otherwise. */
  status: "invalid" | "failed";
  /** The error message, as printed. */
  message: string;
  /** Masks secrets in the message. @default no masking */
  mask?: (text: string) => string;
}

/**
 * Writes the annotation (to stderr, beside the message), the outputs (status, and empty sha and
 * release) and a step summary of an error that ended the run before it began; does nothing outside
 * GitHub Actions.
 */
export async function writeCiErrorReport(report: CiErrorReport, io: CiReportIo): Promise<void> {
  if (!io.env.GITHUB_ACTIONS) return;
  const mask = report.mask ?? ((text: string) => text);
  const title = report.status === "invalid" ? "deploy: invalid configuration" : "deploy failed";
  (io.writeError ?? io.write)(errorCommand(title, report.message, mask));
  await writeOutputs(io.env, { status: report.status, sha: "", release: "" }, mask);
  const fence = "`".repeat(Math.max(3, longestRun(report.message, "`") + 1));
  await appendSummary(
    io.env,
    `### ❌ ${title}\n\n${fence}text\n${report.message.trimEnd()}\n${fence}\n\n`,
    mask,
  );
}

/** A mask of the secret variables' values in `env`, for errors raised before a run registers them. */
export function envSecrets(
  env: Readonly<Record<string, string | undefined>>,
  schemas: readonly VariablesSchema[],
): Secrets {
  const secrets = new Secrets();
  for (const schema of schemas) {
    for (const name of Object.keys(schema.shape)) {
      if (isSecret(schema, name)) secrets.add(env[name] || undefined);
    }
  }
  return secrets;
}

/**
 * An `::error` workflow command. Secrets are masked before escaping: a secret holding `%` or a
 * newline would no longer match once escaped. Escapes follow the runner's parser
 * (actions/runner src/Runner.Common/ActionCommand.cs, _escapeDataMappings and
 * _escapePropertyMappings, commit 258d6c8).
 */
export function errorCommand(title: string, message: string, mask: (text: string) => string) {
  return `::error title=${escapeProperty(mask(title))}::${escapeData(mask(message))}\n`;
}

/** The markdown step summary of a run. */
export function stepSummary(ctx: DeployContext, result: RunResult): string {
  const status = ciStatus(result);
  const icon = { succeeded: "✅", skipped: "⏭️", failed: "❌", invalid: "❌" }[status];
  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;
  // masked before the cell escaping, which would hide a secret holding "|" or a newline
  const cell = (text: string) => escapeCell(ctx.secrets.mask(text));
  const lines = [
    `### ${icon} deploy ${status}: ${ctx.app} (${ctx.environment})`,
    "",
    "| | |",
    "| --- | --- |",
    `| App | ${ctx.app} on ${ctx.provider.name} |`,
    `| Environment | ${ctx.environment} |`,
    ...(ctx.review
      ? [`| Review app | of ${ctx.review.parent}${ctx.review.url ? `: ${ctx.review.url}` : ""} |`]
      : []),
    `| Commit | \`${ctx.commit.shortSha}\` ${cell(ctx.commit.title)} |`,
    `| Outcome | ${status} |`,
    `| Duration | ${seconds(Date.now() - ctx.startedAt)} |`,
  ];
  if (ctx.failure) {
    lines.push(
      `| Failed | ${cell(`${ctx.failure.event} (${ctx.failure.layer}): ${ctx.failure.message}`)} |`,
    );
  }
  lines.push("", "| Event | Time |", "| --- | --- |");
  for (const timing of ctx.timings) {
    lines.push(`| ${timing.event}${timing.ok ? "" : " (failed)"} | ${seconds(timing.ms)} |`);
  }
  return lines.join("\n") + "\n\n";
}

async function writeOutputs(
  env: Readonly<Record<string, string | undefined>>,
  outputs: Record<string, string>,
  mask: (text: string) => string,
): Promise<void> {
  if (!env.GITHUB_OUTPUT) return;
  // NAME=VALUE lines, as the runner reads them (src/Runner.Worker/FileCommandManager.cs); no value
  // here holds a newline, which would need the NAME<<DELIMITER form
  const text = Object.entries(outputs)
    .map(([k, v]) => `${k}=${v.replace(/[\r\n]+/g, " ")}\n`)
    .join("");
  await Deno.writeTextFile(env.GITHUB_OUTPUT, mask(text), { append: true });
}

async function appendSummary(
  env: Readonly<Record<string, string | undefined>>,
  text: string,
  mask: (text: string) => string,
): Promise<void> {
  if (!env.GITHUB_STEP_SUMMARY) return;
  await Deno.writeTextFile(env.GITHUB_STEP_SUMMARY, mask(text), { append: true });
}

function longestRun(text: string, char: string): number {
  let longest = 0;
  for (const run of text.match(new RegExp(`\\${char}+`, "g")) ?? []) {
    longest = Math.max(longest, run.length);
  }
  return longest;
}

function escapeCell(text: string): string {
  return text.replaceAll("|", "\\|").replaceAll("\n", " ");
}

// GitHub's workflow commands need %, CR and LF escaped in their data; % first
function escapeData(text: string): string {
  return text.replaceAll("%", "%25").replaceAll("\r", "%0D").replaceAll("\n", "%0A");
}

// a property value also ends at "," and ":"
function escapeProperty(text: string): string {
  return escapeData(text).replaceAll(":", "%3A").replaceAll(",", "%2C");
}
