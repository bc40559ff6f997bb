/**
 * Undo after a cancelled job: a CI job cancelled (SIGTERM) after Sidekiq was quieted still restarts
 * the quieted process types in `deploy_failed`, on every provider. What the server was asked is
 * checked on the server's side.
 */
import assert from "node:assert/strict";
import { dokkuEnv, herokuEnv } from "./_apps.ts";
import { addCommit, makeRepo, runCli } from "./_cli.ts";
import { startDokkuSandbox } from "./sandbox/dokku.ts";
import { startHerokuStandin } from "./sandbox/heroku.ts";

const APP = "shop";
const LOCK = "GEM\n  specs:\n    rails (7.1.3)\n    sidekiq (7.2.1)\n";
const PROCFILE = "web: bundle exec puma\nworker: bundle exec sidekiq\n";

Deno.test("A Dokku deploy cancelled by SIGTERM after the quiet restarts the quieted workers", async () => {
  await using sandbox = await startDokkuSandbox();
  const repo = await makeRepo([
    { files: { "Gemfile.lock": LOCK, Procfile: PROCFILE }, message: "Start the shop" },
  ]);
  try {
    // the app must exist for the deploy that is cancelled: only the first one creates it
    const env = dokkuEnv(sandbox, { DOKKU_CREATE_APP: "false" });
    // the app runs a first commit, so that its workers run and are quieted
    const first = await runCli([], {
      cwd: repo,
      env: { ...env, DEPLOY_LAYERS: "-rails", DOKKU_CREATE_APP: "true" },
    });
    assert.equal(first.code, 0, first.all);
    await addCommit(repo, { files: { "app.rb": "puts 2\n" }, message: "Fix the login" });
    await sandbox.slowNextBuild(20);
    const before = (await sandbox.calls()).length;
    const result = await runCli([], {
      cwd: repo,
      env,
      onSpawn: (child) => {
        // not awaited: runCli reads the output meanwhile; a build that never starts fails below
        sandbox.buildSleeping(60_000).then(() => child.kill("SIGTERM"), () => {});
      },
    });
    assert.equal(result.code, 143, result.all);
    const calls = (await sandbox.calls()).slice(before).map((call) => call.argv.join(" "));
    const quiet = calls.findIndex((call) => call.startsWith(`run ${APP} `));
    const restart = calls.indexOf(`ps:restart ${APP} worker`);
    assert.ok(quiet >= 0, `no quiet among ${calls.join(" | ")}`);
    assert.ok(restart > quiet, `no restart after the quiet among ${calls.join(" | ")}`);
    assert.doesNotMatch(result.stdout, /Cannot restart worker/);
  } finally {
    await Deno.remove(repo, { recursive: true });
  }
});

Deno.test("A Heroku deploy cancelled by SIGTERM after the quiet restarts the quieted workers through the API", async () => {
  await using heroku = await startHerokuStandin();
  const repo = await makeRepo([
    { files: { "Gemfile.lock": LOCK, Procfile: PROCFILE }, message: "Start the shop" },
  ]);
  try {
    const env = herokuEnv(heroku);
    const first = await runCli([], { cwd: repo, env: { ...env, DEPLOY_LAYERS: "-rails" } });
    assert.equal(first.code, 0, first.all);
    await addCommit(repo, { files: { "app.rb": "puts 2\n" }, message: "Fix the login" });
    await heroku.setBuildDelay(20);
    const before = heroku.requests().length;
    const result = await runCli([], {
      cwd: repo,
      env,
      onSpawn: async (child) => {
        // the quiet's one-off dyno comes first; cancel once it exists (during the quiet or the push)
        for (let i = 0; heroku.dynos().length === 0 && i < 600; i++) {
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        await new Promise((resolve) => setTimeout(resolve, 1_500));
        child.kill("SIGTERM");
      },
    });
    assert.equal(result.code, 143, result.all);
    const calls = heroku.requests().slice(before).map((r) => `${r.method} ${r.path} ${r.status}`);
    const quiet = calls.findIndex((call) => call.startsWith(`POST /apps/${heroku.app}/dynos `));
    const restart = calls.indexOf(`DELETE /apps/${heroku.app}/formations/worker 202`);
    assert.ok(quiet >= 0, `no one-off dyno among ${calls.join(" | ")}`);
    assert.ok(restart > quiet, `no worker restart after the quiet among ${calls.join(" | ")}`);
    assert.doesNotMatch(result.stdout, /Cannot restart worker/);
  } finally {
    await Deno.remove(repo, { recursive: true });
  }
});
