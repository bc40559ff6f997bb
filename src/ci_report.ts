/**
 * What a run leaves for the CI system once it ends: on GitHub Actions, a step summary, outputs
 * (status, sha, release) and an error annotation on failure.
 *
 * @module
 */
import type { DeployContext } from "./context.ts";
import type { RunResult } from "./runner.ts";

/** Where the report goes. */
export interface CiReportIo {
  /** The environment (GITHUB_ACTIONS, GITHUB_STEP_SUMMARY, GITHUB_OUTPUT). */
  env: Readonly<Record<string, string | undefined>>;
  /** Writes to stdout (workflow commands such as ::error::). */
  write: (text: string) => void;
  /** The log format; with json, stdout holds JSON lines only, so no ::error:: line. @default "text" */
  format?: "text" | "json";
}

/** Writes the GitHub Actions summary, outputs and annotation; does nothing elsewhere. */
export async function writeCiReport(
  ctx: DeployContext,
  result: RunResult,
  io: CiReportIo,
): Promise<void> {
  if (!io.env.GITHUB_ACTIONS) return;
  const mask = (text: string) => ctx.secrets.mask(text);
  if (result.outcome === "failed" && ctx.failure && io.format !== "json") {
    const failure = ctx.failure;
    const what = failure.command
      ? `${failure.command} exited with ${failure.exitCode}`
      : failure.message;
    io.write(
      mask(
        `::error title=deploy failed in ${failure.event} (${failure.layer})::${escapeData(what)}\n`,
      ),
    );
  }
  if (io.env.GITHUB_OUTPUT) {
    const outputs = {
      status: result.outcome,
      sha: ctx.commit.sha,
      release: ctx.release ?? ctx.commit.shortSha,
    };
    const text = Object.entries(outputs).map(([k, v]) => `${k}=${v}\n`).join("");
    await Deno.writeTextFile(io.env.GITHUB_OUTPUT, mask(text), { append: true });
  }
  if (io.env.GITHUB_STEP_SUMMARY) {
    await Deno.writeTextFile(io.env.GITHUB_STEP_SUMMARY, mask(stepSummary(ctx, result)), {
      append: true,
    });
  }
}

/** The markdown step summary of a run. */
export function stepSummary(ctx: DeployContext, result: RunResult): string {
  const icon = { succeeded: "✅", skipped: "⏭️", failed: "❌" }[result.outcome];
  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;
  const lines = [
    `### ${icon} deploy ${result.outcome}: ${ctx.app} (${ctx.environment})`,
    "",
    "| | |",
    "| --- | --- |",
    `| App | ${ctx.app} on ${ctx.provider.name} |`,
    `| Environment | ${ctx.environment} |`,
    `| Commit | \`${ctx.commit.shortSha}\` ${escapeCell(ctx.commit.title)} |`,
    `| Outcome | ${result.outcome} |`,
    `| Duration | ${seconds(Date.now() - ctx.startedAt)} |`,
  ];
  if (ctx.failure) {
    lines.push(
      `| Failed | ${
        escapeCell(`${ctx.failure.event} (${ctx.failure.layer}): ${ctx.failure.message}`)
      } |`,
    );
  }
  lines.push("", "| Event | Time |", "| --- | --- |");
  for (const timing of ctx.timings) {
    lines.push(`| ${timing.event}${timing.ok ? "" : " (failed)"} | ${seconds(timing.ms)} |`);
  }
  return lines.join("\n") + "\n\n";
}

function escapeCell(text: string): string {
  return text.replaceAll("|", "\\|").replaceAll("\n", " ");
}

// GitHub's workflow commands need %, CR and LF escaped in their data
function escapeData(text: string): string {
  return text.replaceAll("%", "%25").replaceAll("\r", "%0D").replaceAll("\n", "%0A");
}
