/**
 * What a Dokku server says about itself and the app, in one round of three commands sent at once
 * over the shared connection: its version, whether the app exists and what it deployed
 * (`apps:report`), and which branch it deploys (`git:report`). No git command runs against an app
 * not seen to exist (git-upload-pack would create it: dokku/dokku plugins/git/functions:158).
 *
 * @module
 */
import { ConfigError, DeployError } from "../../../src/errors.ts";
import type { Logger } from "../../../src/logger.ts";
import type { CommandOutput, RunOptions } from "../../../src/shell.ts";
import {
  appsReportCommand,
  cancelBuildCommand,
  createAppCommand,
  gitReportCommand,
  versionCommand,
} from "./commands.ts";
import {
  compareVersions,
  deployBranchOf,
  deploySourceOf,
  DOKKU_MINIMUM,
  DOKKU_SINCE,
  dokkuHas,
  parseDokkuVersion,
  parseReport,
} from "./server.ts";

/** Runs one Dokku SSH command (argv) over the provider's connection. */
export type DokkuRun = (args: string[], options?: RunOptions) => Promise<CommandOutput>;

/** Report and ps commands are bounded, so that a dead server does not hold a run up. */
export const REPORT_TIMEOUT_MS = 60_000;
/** How long a ps command (or apps:create) may take. */
export const PS_TIMEOUT_MS = 2 * 60_000;

/** What the server said in `connect`. */
export interface ServerState {
  version: string;
  /** The branch to push to. */
  branch: string;
  /** The deployed commit from apps:report (>= 0.26); undefined on older servers. */
  deployed?: string | null;
}

/** Options of {@linkcode inspectServer}. */
export interface InspectOptions {
  /** Runs Dokku commands. */
  dokku: DokkuRun;
  /** APP_NAME. */
  app: string;
  /** The server's host, for messages. */
  host: string;
  /** DOKKU_BRANCH, when set. */
  branch?: string;
  /** DOKKU_CREATE_APP. */
  createApp: boolean;
  /** The provider's logger. */
  logger: Logger;
}

/** Asks the server for its version, the app's report and its deploy branch; checks all three. */
export async function inspectServer(o: InspectOptions): Promise<ServerState> {
  const { dokku, app, logger } = o;
  // one round: the three commands run at once over the shared connection
  const bounded = { noThrow: true, timeoutMs: REPORT_TIMEOUT_MS };
  const [versionOut, appsOut, gitOut] = await Promise.all([
    dokku(versionCommand(), bounded),
    dokku(appsReportCommand(app), bounded),
    dokku(gitReportCommand(app), bounded),
  ]);
  const version = parseDokkuVersion(versionOut.stdout);
  if (versionOut.code !== 0 || version === null) {
    throw new DeployError(
      `Cannot read the Dokku version of ${o.host}: ${said(versionOut)}`,
    );
  }
  logger.info(`Server is using dokku version ${version}`);
  if (compareVersions(version, DOKKU_MINIMUM) < 0) {
    throw new DeployError(
      `Dokku ${version} is older than ${DOKKU_MINIMUM}, the oldest version this tool supports`,
    );
  }
  let apps = appsOut;
  let gitReport = gitOut;
  if (apps.code !== 0) {
    if (!/does not exist/.test(apps.stderr)) {
      throw new DeployError(`Cannot read ${app}'s report: ${said(apps)}`);
    }
    if (!o.createApp) {
      throw new ConfigError(
        `APP_NAME "${app}": ${o.host} has no such app (Dokku: "${said(apps)}"). ` +
          `Create it with "dokku apps:create ${app}" on the server, or set DOKKU_CREATE_APP=true`,
      );
    }
    logger.info(`Creating ${app} (DOKKU_CREATE_APP=true)`);
    await dokku(createAppCommand(app), { logger, timeoutMs: PS_TIMEOUT_MS });
    [apps, gitReport] = await Promise.all([
      dokku(appsReportCommand(app), bounded),
      dokku(gitReportCommand(app), bounded),
    ]);
  }
  if (gitReport.code !== 0) {
    throw new DeployError(`Cannot read ${app}'s deploy branch: ${said(gitReport)}`);
  }
  const { branch: serverBranch, unset } = deployBranchOf(parseReport(gitReport.stdout));
  const wanted = o.branch ?? serverBranch;
  if (wanted !== serverBranch) {
    if (!(unset && dokkuHas(version, "deployBranchFromPush"))) {
      throw new ConfigError(
        `DOKKU_BRANCH is "${wanted}", but Dokku deploys ${app} from "${serverBranch}" ` +
          `(git:report): a push to "${wanted}" would not be deployed. Set DOKKU_BRANCH=${serverBranch}, ` +
          `or make "${wanted}" the deploy branch: dokku git:set ${app} deploy-branch ${wanted}`,
      );
    }
    logger.info(
      `${app} has no deploy branch: Dokku makes "${wanted}" (DOKKU_BRANCH) its deploy branch on this push`,
    );
  }
  const source = deploySourceOf(parseReport(apps.stdout));
  return { version, branch: wanted, ...(source ? { deployed: source.sha } : {}) };
}

/** Dokku's own lines (" !     App x does not exist") of a command's output, for messages. */
export function said(out: CommandOutput): string {
  return (out.stderr + out.stdout).split("\n")
    .map((l) => l.replace(/^\s*(!|-{5}>|={5}>)?\s*/, "").trim()).filter(Boolean).join(" / ");
}

/** The commit apps:report says Dokku deployed last (Dokku >= 0.26). */
export async function deployedNow(dokku: DokkuRun, app: string): Promise<string | null> {
  const out = await dokku(appsReportCommand(app), { timeoutMs: REPORT_TIMEOUT_MS });
  return deploySourceOf(parseReport(out.stdout))?.sha ?? null;
}

/** Cancels the build of `app` on the server where Dokku can (builds:cancel), else says it goes on. */
export async function cancelBuild(
  dokku: DokkuRun,
  app: string,
  version: string,
  logger: Logger,
): Promise<void> {
  if (!dokkuHas(version, "buildsCancel")) {
    logger.warn(
      `Cancelled during the push: Dokku ${version} cannot cancel a build (builds:cancel needs ` +
        `${DOKKU_SINCE.buildsCancel}), so the build of ${app} may go on and deploy on the server`,
    );
    return;
  }
  const out = await dokku(cancelBuildCommand(app), { noThrow: true, timeoutMs: 30_000 });
  if (out.code === 0) {
    logger.info(`Cancelled the build of ${app} on the server (builds:cancel)`);
  } else logger.warn(`Cannot cancel the build of ${app} on the server: ${said(out)}`);
}
