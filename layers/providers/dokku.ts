/**
 * The Dokku provider: pushes over SSH to `ssh://user@host:port/APP_NAME`, and reaches the app
 * through Dokku's SSH commands (`version`, `run`, `ps:*`), all over one multiplexed connection.
 * The commands themselves are built in `dokku/commands.ts`.
 *
 * @module
 */
import { z } from "zod";
import { CommandError } from "../../src/errors.ts";
import { lsRemote, push } from "../../src/git.ts";
import { defineProvider } from "../../src/provider.ts";
import { commandText, type RunOptions } from "../../src/shell.ts";
import { SshSession, sshVariables } from "../../src/ssh.ts";
import { variable } from "../../src/variables.ts";
import {
  DOKKU_APP_NAME,
  gitUrl,
  parseDokkuHost,
  processCommand,
  rebuildCommand,
  runCommand,
  sshCommandText,
  versionCommand,
} from "./dokku/commands.ts";
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
      error: "expected lowercase letters, digits and dashes, starting with a letter or digit",
    }),
    { description: "The app on the Dokku server", example: "shop" },
  ),
  DOKKU_BRANCH: variable(
    z.string().regex(/^[\w./-]+$/, { error: "expected a branch name" }).default("master"),
    { description: "The branch Dokku deploys from" },
  ),
  ...sshVariables,
});

// one-off commands may run long (migrations); ps commands are bounded, so that a deploy_failed
// handler waiting on a dead server does not hold up the others
const RUN_TIMEOUT_MS = 30 * 60_000;
const PS_TIMEOUT_MS = 2 * 60_000;

export default defineProvider({
  name: "dokku",
  label: "Dokku",
  description: "Deploys to a Dokku server over SSH",
  variables,
  capabilities: ["app-creation", "review-apps"],
  review: dokkuReview<z.output<typeof variables>>(),
  steps: {
    connect: "connect and check the Dokku version",
    deploy: (app) => `push the commit to ${app}`,
    redeploy: "rebuilding it",
  },
  create({ config, core, runtime, logger }) {
    const target = config.DOKKU_HOST;
    const app = config.APP_NAME;
    const url = gitUrl(target, app);
    let session: SshSession | undefined;
    const ssh = async () => {
      if (!session) {
        session = await SshSession.open(runtime.shell, {
          privateKey: config.SSH_PRIVATE_KEY,
          knownHosts: config.SSH_KNOWN_HOSTS,
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

    return {
      app,
      async connect() {
        await (await ssh()).connect(target, logger);
        const { stdout } = await dokku(versionCommand());
        logger.info(
          `Server is using dokku version ${stdout.trim().replace(/^dokku version\s*/i, "")}`,
        );
      },
      async deployedCommit() {
        try {
          return await lsRemote(url, `refs/heads/${config.DOKKU_BRANCH}`, await git());
        } catch (error: unknown) {
          // a new app: Dokku creates it on the first push
          if (error instanceof CommandError && error.output.some((l) => /does not exist/.test(l))) {
            return null;
          }
          throw error;
        }
      },
      async deploy(commit, deployedBefore) {
        logger.info(
          `Pushing ${commit.shortSha} to ${target.host} (${app}, branch ${config.DOKKU_BRANCH})`,
        );
        await push({
          ...await git(),
          logger,
          url,
          sha: commit.sha,
          branch: config.DOKKU_BRANCH,
          remoteSha: deployedBefore,
          force: core.FORCE_PUSH,
        });
      },
      async redeploy() {
        await dokku(rebuildCommand(app), { logger });
      },
      async run(cmd, options) {
        return await dokku(runCommand(app, cmd), {
          logger: options.stream === false ? undefined : logger,
          noThrow: options.noThrow,
          timeoutMs: options.timeoutMs ?? RUN_TIMEOUT_MS,
        });
      },
      async process(type, action) {
        await dokku(processCommand(app, type, action), { logger, timeoutMs: PS_TIMEOUT_MS });
      },
    };
  },
});
