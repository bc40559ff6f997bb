/**
 * The Dokku provider: pushes over SSH to `ssh://user@host:port/APP_NAME`, and reaches the app
 * through Dokku's SSH commands, all over one multiplexed connection. The commands are built in
 * `dokku/commands.ts`; what a server can do and what its reports say, in `dokku/server.ts`.
 *
 * Truthful by construction: it asks the server (in one round, three commands at once) for its
 * version, whether the app exists and what it deployed (`apps:report`), and which branch it deploys
 * (`git:report`); it never runs a git command against an app it has not seen exist (git-upload-pack
 * would create it), and pushes only to the branch Dokku deploys.
 *
 * @module
 */
import { z } from "zod";
import { ConfigError, DeployError } from "../../src/errors.ts";
import { lsRemote, push } from "../../src/git.ts";
import { defineProvider } from "../../src/provider.ts";
import { type CommandOutput, commandText, type RunOptions } from "../../src/shell.ts";
import { SshSession, sshVariables } from "../../src/ssh.ts";
import { flag, variable } from "../../src/variables.ts";
import {
  appsReportCommand,
  cancelBuildCommand,
  createAppCommand,
  DOKKU_APP_NAME,
  gitReportCommand,
  gitUrl,
  parseDokkuHost,
  rebuildCommand,
  restartCommand,
  runCommand,
  sshCommandText,
  versionCommand,
} from "./dokku/commands.ts";
import { prepareShallowPush } from "./dokku/history.ts";
import { runArgProblems } from "./dokku/run_args.ts";
import { readProcfile } from "../../src/procfile.ts";
import {
  compareVersions,
  deployBranchOf,
  deploySourceOf,
  DOKKU_MINIMUM,
  DOKKU_SINCE,
  dokkuHas,
  parseDokkuVersion,
  parseReport,
} from "./dokku/server.ts";
import {
  DOKKU_ROLLBACK_TO,
  dokkuRollback,
  dokkuRollbackPoint,
  findDokkuRollback,
} from "./dokku/rollback.ts";
import { dokkuStatus } from "./dokku/status.ts";
import { dokkuReview } from "./dokku/review.ts";

export { DOKKU_APP_NAME, parseDokkuHost };

const variables = z.object({
  DOKKU_HOST: variable(
    z.string({ error: "expected [user@]host[:port]" })
      .refine((v) => parseDokkuHost(v) !== null, { error: "expected [user@]host[:port]" })
      .transform((v) => parseDokkuHost(v)!),
    {
      description: "The Dokku server, as [user@]host[:port] (user dokku, port 22 by default)",
      example: "dokku@dokku.example.com",
    },
  ),
  APP_NAME: variable(
    z.string({ error: "expected the Dokku app's name" }).regex(DOKKU_APP_NAME, {
      error: "expected lowercase letters, digits, dots and dashes, starting with a letter or digit",
    }),
    { description: "The app on the Dokku server", example: "shop" },
  ),
  DOKKU_BRANCH: variable(
    z.string().regex(/^[\w./-]+$/, { error: "expected a branch name" }).optional(),
    {
      description:
        "The branch to push to; it must be the app's deploy branch (default: the server's, from git:report)",
    },
  ),
  DOKKU_CREATE_APP: flag({
    description: "Create the app (dokku apps:create) when it does not exist, instead of failing",
  }),
  ...sshVariables,
});

// one-off commands may run long (migrations); ps and report commands are bounded, so that a
// deploy_failed handler waiting on a dead server does not hold up the others
const RUN_TIMEOUT_MS = 30 * 60_000;
const PS_TIMEOUT_MS = 2 * 60_000;
const REPORT_TIMEOUT_MS = 60_000;

/** What the server said in `connect`. */
interface ServerState {
  version: string;
  /** The branch to push to. */
  branch: string;
  /** The deployed commit from apps:report (>= 0.26); undefined on older servers. */
  deployed?: string | null;
}

export default defineProvider({
  name: "dokku",
  label: "Dokku",
  description: "Deploys to a Dokku server over SSH",
  variables,
  capabilities: [
    "release-phase",
    "app-json-predeploy",
    "rollback",
    "release-history",
    "app-creation",
    "review-apps",
  ],
  rollbackTo: { pattern: DOKKU_ROLLBACK_TO, expected: "a commit sha (7 to 40 hex digits)" },
  review: dokkuReview<z.output<typeof variables>>(),
  steps: {
    connect: "connect, check the Dokku version, the app and its deploy branch",
    deploy: (app) => `push the commit to ${app}`,
    redeploy: "rebuilding it",
  },
  async create({ config, core, runtime, logger }) {
    const target = config.DOKKU_HOST;
    const app = config.APP_NAME;
    const url = gitUrl(target, app);
    // dokku run replaces a first word that names a Procfile process type by that process's command
    // (dokku/dokku plugins/scheduler-docker-local/scheduler-run:103-117): such a word is refused
    const processTypes = (await readProcfile(runtime.cwd)).types;
    const runProblems = (cmd: readonly string[]) => [
      ...(cmd[0] !== undefined && processTypes.has(cmd[0])
        ? [{
          word: cmd[0],
          reason:
            `it names a Procfile process type, and dokku run would run that process's command instead`,
        }]
        : []),
      ...runArgProblems(cmd),
    ];
    let session: SshSession | undefined;
    let server: ServerState | undefined;
    const ssh = async () => {
      if (!session) {
        session = await SshSession.open(runtime.shell, {
          privateKey: config.SSH_PRIVATE_KEY,
          knownHosts: config.SSH_KNOWN_HOSTS,
          connectTimeout: config.SSH_CONNECT_TIMEOUT,
        });
        const opened = session;
        runtime.defer(() => opened.close(), () => opened.closeNow());
      }
      return session;
    };
    const git = async () => ({
      shell: runtime.shell,
      cwd: runtime.cwd,
      env: { GIT_SSH_COMMAND: (await ssh()).gitSshCommand() },
    });
    const dokku = async (args: string[], options: RunOptions = {}) =>
      runtime.shell.run((await ssh()).command(target, sshCommandText(args)), {
        ...options,
        display: `dokku ${commandText(args)}`,
      });
    // Dokku's own lines (" !     App x does not exist"), for messages
    const said = (out: CommandOutput) =>
      (out.stderr + out.stdout).split("\n")
        .map((l) => l.replace(/^\s*(!|-{5}>|={5}>)?\s*/, "").trim()).filter(Boolean).join(" / ");

    async function inspect(): Promise<ServerState> {
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
          `Cannot read the Dokku version of ${target.host}: ${said(versionOut)}`,
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
        if (!config.DOKKU_CREATE_APP) {
          throw new ConfigError(
            `APP_NAME "${app}": ${target.host} has no such app (Dokku: "${said(apps)}"). ` +
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
      const wanted = config.DOKKU_BRANCH ?? serverBranch;
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
    // rollback and status push to and read the branch Dokku deploys, known once configure ran
    const history = {
      git,
      url,
      get branch() {
        return server?.branch ?? config.DOKKU_BRANCH ?? "master";
      },
      app,
      logger,
    };

    return {
      app,
      async connect() {
        await (await ssh()).connect(target, logger);
        server = await inspect();
      },
      async deployedCommit() {
        server ??= await inspect();
        if (server.deployed !== undefined) {
          logger.info(
            server.deployed
              ? `${app} runs ${
                server.deployed.slice(0, 7)
              } (what Dokku last deployed, from apps:report)`
              : `Dokku has no record of a git deploy of ${app} (apps:report)`,
          );
          return server.deployed;
        }
        // the app exists (inspect saw it), so this git command cannot create it
        const sha = await lsRemote(url, `refs/heads/${server.branch}`, await git());
        logger.info(
          `${app}'s ${server.branch} branch is at ${sha?.slice(0, 7) ?? "nothing"}: Dokku ` +
            `${server.version} records no deploy source (since ${DOKKU_SINCE.deploySource}), ` +
            "so the branch's commit stands for what runs",
        );
        return sha;
      },
      async deploy(commit, deployedBefore) {
        server ??= await inspect();
        const { branch, version } = server;
        logger.info(`Pushing ${commit.shortSha} to ${target.host} (${app}, branch ${branch})`);
        // the push must extend the branch's commit, which may not be the deployed one
        let branchSha = deployedBefore;
        const shallow = (await runtime.shell.run(["git", "rev-parse", "--is-shallow-repository"], {
          cwd: runtime.cwd,
        })).stdout.trim() === "true";
        if (shallow) {
          branchSha = await lsRemote(url, `refs/heads/${branch}`, await git());
          await prepareShallowPush(branchSha, { shell: runtime.shell, cwd: runtime.cwd, logger });
        }
        // what git and Dokku print during the push, read as it streams (no extra round trip)
        let upToDate = false;
        let notDeployed = false;
        const watching = new Proxy(logger, {
          get(target, property) {
            if (property === "output") {
              return (line: string) => {
                if (/Everything up-to-date/.test(line)) upToDate = true;
                if (/WARNING: deploy did not complete/.test(line)) notDeployed = true;
                target.output(line);
              };
            }
            const value = Reflect.get(target, property, target);
            return typeof value === "function" ? value.bind(target) : value;
          },
        });
        const pushTo = async (remoteSha: string | null) => {
          try {
            await push({
              ...await git(),
              logger: watching,
              url,
              sha: commit.sha,
              branch,
              remoteSha,
              force: core.FORCE_PUSH,
            });
          } catch (error: unknown) {
            if (runtime.signal.aborted) await cancelBuild(version);
            throw error;
          }
        };
        await pushTo(branchSha);
        if (notDeployed) {
          throw new DeployError(
            `Dokku did not deploy ${commit.shortSha}: it says the push did not go to ${app}'s deploy branch`,
          );
        }
        if (!upToDate) return;
        // the push changed nothing: the branch was there already (a git:sync without a build), so
        // Dokku built nothing. A tag named like the deploy branch makes it build and record the
        // commit (>= 0.31.1); the tag is removed after (a deletion builds nothing)
        if (!dokkuHas(version, "deployFromTag")) {
          logger.info(
            `${branch} already pointed at ${commit.shortSha}, which Dokku had not deployed: ` +
              `rebuilding it (ps:rebuild; Dokku ${version} will not record it as deployed)`,
          );
          await dokku(rebuildCommand(app), { logger });
          return;
        }
        logger.info(
          `${branch} already pointed at ${commit.shortSha}, which Dokku had not deployed ` +
            `(a git:sync without --build?): pushing it as the tag ${branch}, which Dokku deploys`,
        );
        const env = { ...(await git()).env, GIT_TERMINAL_PROMPT: "0" };
        const tag = `refs/tags/${branch}`;
        try {
          await runtime.shell.run(["git", "push", "--force", url, `${commit.sha}:${tag}`], {
            cwd: runtime.cwd,
            env,
            logger,
          });
        } finally {
          await runtime.shell.run(["git", "push", "--quiet", url, `:${tag}`], {
            cwd: runtime.cwd,
            env,
            noThrow: true,
          });
        }
        if (server.deployed === undefined || await deployedNow() === commit.sha) return;
        throw new DeployError(
          `Dokku did not deploy ${commit.shortSha}: after the push, apps:report still names ` +
            `${(await deployedNow())?.slice(0, 7) ?? "no deploy"}`,
        );
      },
      async redeploy() {
        await dokku(rebuildCommand(app), { logger });
      },
      commandProblems(cmd) {
        return runProblems(cmd).map((p) => `"${p.word.replaceAll("\n", "\\n")}": ${p.reason}`);
      },
      async run(cmd, options) {
        const problems = runProblems(cmd);
        if (problems.length > 0) {
          throw new ConfigError(
            `Cannot send "${problems[0]!.word}" through dokku run: ${problems[0]!.reason}`,
          );
        }
        try {
          return await dokku(runCommand(app, cmd), {
            logger: options.stream === false ? undefined : logger,
            noThrow: options.noThrow,
            timeoutMs: options.timeoutMs ?? RUN_TIMEOUT_MS,
          });
        } catch (error: unknown) {
          if (runtime.signal.aborted) {
            logger.warn(
              `Cancelled: the one-off container of "${
                commandText(cmd)
              }" may still run on the server` +
                (server && dokkuHas(server.version, "runStop")
                  ? `: see "dokku run:list ${app}", stop it with "dokku run:stop ${app} --container NAME"`
                  : ` (Dokku ${
                    server?.version ?? ""
                  } has no run:stop: stop it with docker on the server)`),
            );
          }
          throw error;
        }
      },
      async process(type, action) {
        server ??= await inspect();
        if (action !== "restart") {
          // ps:stop and ps:start take no process type: they would stop or start the whole app
          throw new DeployError(
            `Dokku cannot ${action} one process type: "dokku ps:${action} ${app} ${type}" would ` +
              `${action} all of ${app}`,
          );
        }
        if (!dokkuHas(server.version, "restartByType")) {
          logger.info(
            `Dokku ${server.version} restarts one process type only since ${DOKKU_SINCE.restartByType}: ` +
              `restarting all of ${app} to restart ${type}`,
          );
        }
        await dokku(restartCommand(app, type, server.version), {
          logger,
          timeoutMs: PS_TIMEOUT_MS,
        });
      },
      rollbackPoint: (deployedBefore) => Promise.resolve(dokkuRollbackPoint(deployedBefore)),
      findRollback: (to) => findDokkuRollback(history, to),
      rollback: (target) => dokkuRollback(history, target),
      status: () =>
        dokkuStatus({
          ...history,
          host: target.host,
          dokku: (args) => dokku(args, { noThrow: true, timeoutMs: PS_TIMEOUT_MS }),
        }),
    };

    /** The commit apps:report says Dokku deployed last (Dokku >= 0.26). */
    async function deployedNow(): Promise<string | null> {
      const out = await dokku(appsReportCommand(app), { timeoutMs: REPORT_TIMEOUT_MS });
      return deploySourceOf(parseReport(out.stdout))?.sha ?? null;
    }

    async function cancelBuild(version: string): Promise<void> {
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
  },
});
