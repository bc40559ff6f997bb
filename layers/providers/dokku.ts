/**
 * The Dokku provider: pushes over SSH to `ssh://user@host:port/APP_NAME`, and reaches the app
 * through Dokku's SSH commands (`version`, `run`, `ps:*`), all over one multiplexed connection.
 *
 * @module
 */
import { z } from "zod";
import { lsRemote, push } from "../../src/git.ts";
import { defineLayer } from "../../src/layer.ts";
import type { Provider } from "../../src/provider.ts";
import { CommandError } from "../../src/errors.ts";
import { commandText } from "../../src/shell.ts";
import { SshSession, type SshTarget, sshVariables } from "../../src/ssh.ts";
import { variable } from "../../src/variables.ts";
import { xargsQuote } from "./dokku/xargs_quote.ts";

/** Dokku's rule for app names. */
export const DOKKU_APP_NAME = /^[a-z0-9][a-z0-9-]*$/;

/** Parses DOKKU_HOST, `[user@]host[:port]`; null when it is not of that form. */
export function parseDokkuHost(value: string): SshTarget | null {
  const match = value.trim().match(
    /^(?:([a-z_][a-z0-9_.-]*)@)?([A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?$/,
  );
  if (!match) return null;
  const port = match[3] === undefined ? 22 : Number(match[3]);
  if (port < 1 || port > 65535) return null;
  return { user: match[1] ?? "dokku", host: match[2]!.replace(/^\[|\]$/g, ""), port };
}

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
    {
      description: "The branch Dokku deploys from",
    },
  ),
  ...sshVariables,
});

export default defineLayer({
  name: "dokku",
  kind: "provider",
  description: "Deploys to a Dokku server over SSH",
  variables,
  enabled: ({ vars }) => vars.DEPLOY_PROVIDER === "dokku",
  setup({ config, core, on, runtime }) {
    const target = config.DOKKU_HOST;
    const app = config.APP_NAME;
    const url = `ssh://${target.user}@${
      target.host.includes(":") ? `[${target.host}]` : target.host
    }:${target.port}/${app}`;
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
    const gitEnv = async () => ({ GIT_SSH_COMMAND: (await ssh()).gitSshCommand() });
    // Dokku splits a non-git command with xargs quoting rules: quote each argument to come back whole
    const dokku = async (
      args: string[],
      options: { logger?: typeof runtime.logger; noThrow?: boolean; timeoutMs?: number } = {},
    ) =>
      runtime.shell.run((await ssh()).command(target, xargsQuote(args)), {
        ...options,
        display: `dokku ${commandText(args)}`,
      });

    on(
      "configure",
      { priority: 10, description: "connect and check the Dokku version" },
      async (ctx) => {
        await (await ssh()).connect(target, ctx.logger);
        const { stdout } = await dokku(["version"]);
        ctx.logger.info(
          `Server is using dokku version ${stdout.trim().replace(/^dokku version\s*/i, "")}`,
        );
      },
    );

    on("deploy", { priority: 100, description: `push the commit to ${app}` }, async (ctx) => {
      if (ctx.deployedBefore === ctx.commit.sha) {
        ctx.logger.info(
          `${app} already runs ${ctx.commit.shortSha}; FORCE_DEPLOY=true: rebuilding it`,
        );
        await dokku(["ps:rebuild", app], { logger: ctx.logger });
        return;
      }
      ctx.logger.info(
        `Pushing ${ctx.commit.shortSha} to ${target.host} (${app}, branch ${config.DOKKU_BRANCH})`,
      );
      await push({
        shell: runtime.shell,
        cwd: runtime.cwd,
        env: await gitEnv(),
        logger: ctx.logger,
        url,
        sha: ctx.commit.sha,
        branch: config.DOKKU_BRANCH,
        remoteSha: ctx.deployedBefore ?? null,
        force: core.FORCE_PUSH,
      });
    });

    const provider: Provider = {
      name: "dokku",
      app,
      async deployedCommit() {
        try {
          return await lsRemote(url, `refs/heads/${config.DOKKU_BRANCH}`, {
            shell: runtime.shell,
            cwd: runtime.cwd,
            env: await gitEnv(),
          });
        } catch (error: unknown) {
          // a new app: Dokku creates it on the first push
          if (error instanceof CommandError && error.output.some((l) => /does not exist/.test(l))) {
            return null;
          }
          throw error;
        }
      },
      async run(cmd, options = {}) {
        return await dokku(["run", app, ...cmd], {
          logger: options.stream === false ? undefined : runtime.logger.indent().indent(),
          noThrow: options.noThrow,
          timeoutMs: options.timeoutMs ?? 30 * 60_000,
        });
      },
      async process(type, action) {
        // bounded: a deploy_failed handler waiting on a dead server must not hold up the others
        await dokku([`ps:${action}`, app, type], {
          logger: runtime.logger.indent().indent(),
          timeoutMs: 2 * 60_000,
        });
      },
    };
    return provider;
  },
});
