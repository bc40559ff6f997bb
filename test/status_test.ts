/**
 * `deploy status`: what runs now, in text and JSON, on the Dokku sandbox and the Heroku
 * stand-in; it changes nothing; exit 1 when the server cannot be reached, 2 when the provider has
 * no release history.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import { type Io, runCommand } from "../src/commands.ts";
import { exitCodeOf } from "../src/errors.ts";
import { defineProvider, UnsupportedError } from "../src/provider.ts";
import { variable } from "../src/variables.ts";
import { dokkuEnv, herokuEnv } from "./_apps.ts";
import { addCommit, makeRepo, runCli } from "./_cli.ts";
import { startDokkuSandbox } from "./sandbox/dokku.ts";
import { startHerokuStandin } from "./sandbox/heroku.ts";

const PROCFILE = { files: { Procfile: "web: bundle exec puma\n" }, message: "First release" };

Deno.test("deploy status on Dokku tells the running commit with its title and author, touching nothing", async (t) => {
  await using sandbox = await startDokkuSandbox();
  const dir = await makeRepo([PROCFILE]);
  try {
    const env = dokkuEnv(sandbox);
    assert.equal((await runCli([], { cwd: dir, env })).code, 0);
    const sha = await addCommit(dir, { files: { "a.rb": "1\n" }, message: "Add widgets" });
    assert.equal((await runCli([], { cwd: dir, env })).code, 0);
    const callsBefore = (await sandbox.calls()).length;

    await t.step("text", async () => {
      const result = await runCli(["status"], { cwd: dir, env });
      assert.equal(result.code, 0, result.all);
      assert.match(result.stdout, /^shop \(production\) on dokku$/m);
      assert.match(
        result.stdout,
        new RegExp(`Commit: +${sha.slice(0, 7)} "Add widgets" by Ada Lovelace`),
      );
      assert.match(result.stdout, /Branch: +master/);
      assert.match(result.stdout, /Host: +127\.0\.0\.1/);
    });
    await t.step("json: one object on stdout", async () => {
      const result = await runCli(["status", "--log-format", "json"], { cwd: dir, env });
      assert.equal(result.code, 0, result.all);
      const lines = result.stdout.trim().split("\n");
      assert.equal(lines.length, 1, result.stdout);
      const report = JSON.parse(lines[0]!);
      assert.deepEqual(report.commit, {
        sha,
        short_sha: sha.slice(0, 7),
        title: "Add widgets",
        author: "Ada Lovelace",
      });
      assert.equal(report.app, "shop");
      assert.equal(report.provider, "dokku");
      assert.equal(report.reachable, true);
      assert.deepEqual(report.details, { Host: "127.0.0.1", Branch: "master" });
    });
    await t.step("nothing was pushed or changed", async () => {
      // ls-remote (git-upload-pack) and git:report only: no push, no ps:*, no run
      const commands = (await sandbox.calls()).slice(callsBefore).map((c) => c.argv[0]);
      assert.ok(commands.length > 0);
      assert.ok(
        commands.every((c) => ["git-upload-pack", "git:report"].includes(c!)),
        commands.join(" "),
      );
      assert.equal(await sandbox.deployedSha("shop"), sha);
    });
    await t.step("no secret in the output", async () => {
      const result = await runCli(["status"], { cwd: dir, env });
      const keyLine = sandbox.privateKey.trim().split("\n")[1]!;
      assert.ok(!result.all.includes(keyLine));
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deploy status on Heroku tells the current release, its time and commit", async (t) => {
  await using heroku = await startHerokuStandin({ app: "shop" });
  const dir = await makeRepo([PROCFILE]);
  try {
    const env = herokuEnv(heroku);
    assert.equal((await runCli([], { cwd: dir, env })).code, 0);
    const sha = (await heroku.deployedCommit())!;
    const current = heroku.releases().at(-1)!;
    const requests = heroku.requests().length;
    await t.step("text", async () => {
      const result = await runCli(["status"], { cwd: dir, env });
      assert.equal(result.code, 0, result.all);
      assert.match(result.stdout, new RegExp(`Commit: +${sha.slice(0, 7)} "First release"`));
      assert.match(result.stdout, new RegExp(`Release: +v${current.version}\\b`));
      assert.match(result.stdout, /Released at: +\d{4}-\d\d-\d\dT/);
      assert.match(result.stdout, /Stack: +heroku-24/);
      assert.ok(!result.all.includes(heroku.apiKey));
    });
    await t.step("json", async () => {
      const result = await runCli(["status", "--log-format", "json"], { cwd: dir, env });
      assert.equal(result.code, 0, result.all);
      const report = JSON.parse(result.stdout);
      assert.equal(report.release, `v${current.version}`);
      assert.equal(report.commit.sha, sha);
      assert.ok(!Number.isNaN(Date.parse(report.released_at)));
      assert.ok(!result.all.includes(heroku.apiKey));
    });
    await t.step("only reads", () => {
      const methods = heroku.requests().slice(requests).map((r) => r.method);
      assert.ok(methods.every((m) => m === "GET"), methods.join(" "));
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deploy status exits 1 when the server cannot be reached, 2 for bad input", async (t) => {
  const dir = await makeRepo([PROCFILE]);
  try {
    await t.step("unreachable Dokku host: exit 1, in JSON too", async () => {
      await using sandbox = await startDokkuSandbox();
      const env = dokkuEnv(sandbox);
      await sandbox.stop();
      const text = await runCli(["status"], { cwd: dir, env });
      assert.equal(text.code, 1, text.all);
      assert.match(text.all, /Cannot tell what shop runs/);
      const json = await runCli(["status", "--log-format", "json"], { cwd: dir, env });
      assert.equal(json.code, 1, json.all);
      const report = JSON.parse(json.stdout);
      assert.equal(report.reachable, false);
      assert.ok(report.error);
    });
    await t.step("missing variables: exit 2", async () => {
      const result = await runCli(["status"], { cwd: dir, env: { DEPLOY_PROVIDER: "dokku" } });
      assert.equal(result.code, 2, result.all);
      assert.match(result.stderr, /DOKKU_HOST/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("A provider without release history or rollback says the command is unsupported for it (exit 2)", async (t) => {
  const plain = defineProvider({
    name: "plain",
    label: "Plain SSH",
    description: "A provider with no history",
    variables: z.object({ APP_NAME: variable(z.string(), { description: "The app" }) }),
    steps: { connect: "connect", deploy: (app) => `deploy ${app}`, redeploy: "again" },
    create: ({ config }) => ({
      app: config.APP_NAME,
      connect: () => Promise.resolve(),
      deployedCommit: () => Promise.reject(new Error("must not be asked")),
      deploy: () => Promise.reject(new Error("must not deploy")),
      redeploy: () => Promise.reject(new Error("must not deploy")),
      run: () => Promise.reject(new Error("must not run")),
      process: () => Promise.reject(new Error("must not touch processes")),
    }),
  });
  const dir = await makeRepo([PROCFILE]);
  const output: string[] = [];
  const io: Io = {
    env: { DEPLOY_PROVIDER: "plain", APP_NAME: "shop" },
    cwd: dir,
    write: (text) => output.push(text),
    writeError: (text) => output.push(text),
    isTerminal: false,
    exit: () => {
      throw new Error("no exit");
    },
    handleSignals: false,
  };
  try {
    for (const command of ["status", "rollback"] as const) {
      await t.step(command, async () => {
        const error = await runCommand(command, {}, [plain], io).then(
          () => undefined,
          (e: unknown) => e,
        );
        assert.ok(error instanceof UnsupportedError, String(error));
        assert.equal(exitCodeOf(error), 2);
        assert.match(
          error.message,
          new RegExp(`deploy ${command} is not supported for the Plain SSH provider`),
        );
      });
    }
    await t.step("a capability without its operations is a bug of the provider", () => {
      const broken = defineProvider({
        name: "broken",
        label: "Broken",
        description: "Says it can roll back, but cannot",
        variables: z.object({}),
        capabilities: ["rollback"],
        steps: { connect: "connect", deploy: () => "deploy", redeploy: "again" },
        create: () => ({
          app: "shop",
          connect: () => Promise.resolve(),
          deployedCommit: () => Promise.resolve(null),
          deploy: () => Promise.resolve(),
          redeploy: () => Promise.resolve(),
          run: () => Promise.reject(new Error("no")),
          process: () => Promise.resolve(),
        }),
      });
      return assert.rejects(
        async () =>
          await broken.setup({
            config: {},
            core: {} as never,
            on: () => {},
            runtime: { logger: { indent: () => ({ indent: () => ({}) }) } } as never,
          }),
        /has rollback but no rollbackPoint\(\)/,
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
