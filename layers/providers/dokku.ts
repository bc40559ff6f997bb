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
import { lsRemote } from "../../src/git.ts";
import { defineProvider } from "../../src/provider.ts";
import { commandText, type RunOptions } from "../../src/shell.ts";
import { SshSession, sshVariables } from "../../src/ssh.ts";
import { flag, variable } from "../../src/variables.ts";
import {
  DOKKU_APP_NAME,
  gitUrl,
  parseDokkuHost,
  rebuildCommand,
  restartCommand,
  runCommand,
  sshCommandText,
} from "./dokku/commands.ts";
import { deployCommit } from "./dokku/deploy.ts";
import { inspectServer, PS_TIMEOUT_MS, type ServerState } from "./dokku/inspect.ts";
import { runArgProblems } from "./dokku/run_args.ts";
import { readProcfile } from "../../src/procfile.ts";
import { DOKKU_SINCE, dokkuHas } from "./dokku/server.ts";
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
    const inspect = () =>
      inspectServer({
        dokku,
        app,
        host: target.host,
        ...(config.DOKKU_BRANCH ? { branch: config.DOKKU_BRANCH } : {}),
        createApp: config.DOKKU_CREATE_APP,
        logger,
      });
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
        const deps = { runtime, logger, dokku, git, server, app, host: target.host, url };
        await deployCommit(commit, { ...deps, force: core.FORCE_PUSH, deployedBefore });
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
  },
});
