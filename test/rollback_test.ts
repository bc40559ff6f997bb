/**
 * Rollback: after a failed health check on each provider (the server runs the previous commit or
 * release afterwards, and the webhook notification says so), a rollback that fails itself, no
 * rollback when the new release never went live, and `deploy rollback` with and without `--to`.
 * The real CLI runs against the Dokku sandbox and the Heroku stand-in.
 */
import assert from "node:assert/strict";
import { dokkuEnv, herokuEnv, outcomeOf, startHealthServer } from "./_apps.ts";
import { addCommit, type CliResult, makeRepo, runCli } from "./_cli.ts";
import { startDokkuSandbox } from "./sandbox/dokku.ts";
import { type HerokuStandin, startHerokuStandin } from "./sandbox/heroku.ts";
import { startWebhookRecorder, type WebhookRecorder } from "./sandbox/webhook_recorder.ts";

const COMMAND_TIMEOUT_MS = 90_000;
const HOOK_TOKEN = "hooktoken-5c1a0e9b";
const PROCFILE = "web: bundle exec puma\n";

async function withRepo<T>(fn: (dir: string, first: string) => Promise<T>): Promise<T> {
  const dir = await makeRepo([{ files: { Procfile: PROCFILE }, message: "First release" }]);
  try {
    const first =
      (await new Deno.Command("git", { args: ["rev-parse", "HEAD"], cwd: dir }).output())
        .stdout;
    return await fn(dir, new TextDecoder().decode(first).trim());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The webhook event payloads received, by event name. */
function webhookEvents(hook: WebhookRecorder): Record<string, Record<string, unknown>> {
  return Object.fromEntries(
    hook.requests().map((r) => {
      const json = r.json as Record<string, unknown>;
      return [String(json.event), json];
    }),
  );
}

/** Fails when a secret shows in a run's output. */
function assertNoSecrets(result: CliResult, secrets: string[]): void {
  for (const secret of secrets) {
    assert.ok(!result.all.includes(secret), `a secret is shown:\n${result.all}`);
  }
}

Deno.test("Dokku: a failed health check rolls back to the commit that ran before, and the notification says so", async () => {
  await using sandbox = await startDokkuSandbox();
  await using hook = await startWebhookRecorder();
  await using health = startHealthServer(() => ({ status: 500, body: "boom" }));
  await withRepo(async (dir, first) => {
    const env = dokkuEnv(sandbox, { DEPLOY_WEBHOOK_URL: hook.url(`/hooks/${HOOK_TOKEN}`) });
    assert.equal((await runCli([], { cwd: dir, env })).code, 0);
    const second = await addCommit(dir, { files: { "app.rb": "broken\n" }, message: "Break it" });
    const result = await runCli(["--log-format", "json"], {
      cwd: dir,
      env: {
        ...env,
        DEPLOY_HEALTHCHECK_URL: `${health.origin}/up`,
        DEPLOY_HEALTHCHECK_TIMEOUT: "1",
        DEPLOY_ROLLBACK_ON_FAILURE: "true",
      },
      timeoutMs: COMMAND_TIMEOUT_MS,
    });
    assert.equal(result.code, 1, result.all);
    assert.equal(await sandbox.deployedSha("shop"), first, "the app runs the first commit again");
    const pushes = (await sandbox.calls()).filter((c) => c.argv[0] === "git-receive-pack");
    assert.equal(pushes.length, 3, "deploy, deploy, rollback: one rollback only");
    assert.match(result.stdout, /Dokku rebuilds it/);
    assert.match(result.stdout, /Migrations are not reversed/);
    const failure = outcomeOf(result.stdout).failure as Record<string, unknown>;
    assert.equal(failure.layer, "healthcheck");
    assert.deepEqual(failure.rollback, { ok: true, to: first.slice(0, 7), commit: first });
    const failed = webhookEvents(hook)["deploy.failed"]!;
    assert.equal(
      failed.title,
      `Deploy of shop to production failed: rolled back to ${first.slice(0, 7)}`,
    );
    assert.deepEqual(failed.rollback, {
      kind: "automatic",
      to: first.slice(0, 7),
      commit: first,
      ok: true,
      error: null,
    });
    assert.equal((failed.commit as Record<string, unknown>).sha, second);
    assertNoSecrets(result, [HOOK_TOKEN, sandbox.privateKey.trim().split("\n")[1]!]);
  });
});

Deno.test("Dokku: a rollback that fails itself exits 1 and reports both failures", async () => {
  await using sandbox = await startDokkuSandbox();
  await using hook = await startWebhookRecorder();
  // the first health request arms the sandbox: the rollback's build will fail
  await using health = startHealthServer(async (n) => {
    if (n === 1) await sandbox.failNextBuild("Rollback build exploded");
    return { status: 502, body: "bad gateway" };
  });
  await withRepo(async (dir) => {
    const env = dokkuEnv(sandbox, { DEPLOY_WEBHOOK_URL: hook.url(`/hooks/${HOOK_TOKEN}`) });
    assert.equal((await runCli([], { cwd: dir, env })).code, 0);
    const second = await addCommit(dir, { files: { "app.rb": "broken\n" }, message: "Break it" });
    const result = await runCli(["--log-format", "json"], {
      cwd: dir,
      env: {
        ...env,
        DEPLOY_HEALTHCHECK_URL: `${health.origin}/up`,
        DEPLOY_HEALTHCHECK_TIMEOUT: "1",
        DEPLOY_ROLLBACK_ON_FAILURE: "true",
      },
      timeoutMs: COMMAND_TIMEOUT_MS,
    });
    assert.equal(result.code, 1, result.all);
    assert.equal(await sandbox.deployedSha("shop"), second, "the broken commit still runs");
    const failure = outcomeOf(result.stdout).failure as Record<string, unknown>;
    assert.match(String(failure.message), /last answer 502: "bad gateway"/);
    const rollback = failure.rollback as Record<string, unknown>;
    assert.equal(rollback.ok, false);
    assert.match(String(rollback.error), /git push failed/);
    assert.match(result.stdout, /Rollback failed/);
    const failed = webhookEvents(hook)["deploy.failed"]!;
    assert.match(String(failed.title), /failed, and the rollback to [0-9a-f]{7} failed too/);
    assert.match(String((failed.failure as Record<string, unknown>).message), /502/);
    assert.equal((failed.rollback as Record<string, unknown>).ok, false);
    assertNoSecrets(result, [HOOK_TOKEN]);
  });
});

Deno.test("Dokku: no rollback when the new release never went live (its build failed)", async () => {
  await using sandbox = await startDokkuSandbox();
  await withRepo(async (dir, first) => {
    const env = dokkuEnv(sandbox, { DEPLOY_ROLLBACK_ON_FAILURE: "true" });
    assert.equal((await runCli([], { cwd: dir, env })).code, 0);
    await addCommit(dir, { files: { "app.rb": "x\n" }, message: "Second" });
    await sandbox.failNextBuild("Compile error");
    const result = await runCli(["--log-format", "json"], { cwd: dir, env });
    assert.equal(result.code, 1, result.all);
    assert.equal((outcomeOf(result.stdout).failure as Record<string, unknown>).rollback, undefined);
    const pushes = (await sandbox.calls()).filter((c) => c.argv[0] === "git-receive-pack");
    assert.equal(pushes.length, 2, "no rollback push");
    assert.equal(await sandbox.deployedSha("shop"), first);
    assert.match(result.stdout, /Not rolling back: shop still runs what it ran before/);
  });
});

Deno.test("Heroku: a failed health check rolls back to the release current before the deploy", async () => {
  await using heroku = await startHerokuStandin({ app: "shop" });
  await using hook = await startWebhookRecorder();
  await using health = startHealthServer(() => ({ status: 500, body: "boom" }));
  await withRepo(async (dir, first) => {
    const env = herokuEnv(heroku, { DEPLOY_WEBHOOK_URL: hook.url(`/hooks/${HOOK_TOKEN}`) });
    assert.equal((await runCli([], { cwd: dir, env })).code, 0);
    const before = heroku.releases().at(-1)!;
    await addCommit(dir, { files: { "app.rb": "broken\n" }, message: "Break it" });
    const result = await runCli(["--log-format", "json"], {
      cwd: dir,
      env: {
        ...env,
        DEPLOY_HEALTHCHECK_URL: `${health.origin}/up`,
        DEPLOY_HEALTHCHECK_TIMEOUT: "1",
        DEPLOY_ROLLBACK_ON_FAILURE: "true",
      },
      timeoutMs: COMMAND_TIMEOUT_MS,
    });
    assert.equal(result.code, 1, result.all);
    assert.equal(heroku.deployedCommit(), first, "the app runs the first commit's slug again");
    const rollbacks = heroku.requests().filter((r) =>
      r.method === "POST" && r.path === "/apps/shop/releases"
    );
    assert.equal(rollbacks.length, 1, "one rollback");
    const releases = heroku.releases();
    assert.deepEqual(rollbacks[0]!.body, { release: await releaseId(heroku, before.version) });
    assert.equal(releases.at(-1)!.description, `Rollback to v${before.version}`);
    const to = `v${before.version} (${first.slice(0, 7)})`;
    const failure = outcomeOf(result.stdout).failure as Record<string, unknown>;
    assert.deepEqual(failure.rollback, { ok: true, to, commit: first });
    const failed = webhookEvents(hook)["deploy.failed"]!;
    assert.equal(failed.title, `Deploy of shop to production failed: rolled back to ${to}`);
    assert.equal((failed.rollback as Record<string, unknown>).ok, true);
    assertNoSecrets(result, [HOOK_TOKEN, heroku.apiKey]);
  });
});

/** The id of release `version`, asked of the stand-in's API. */
async function releaseId(heroku: HerokuStandin, version: number): Promise<string> {
  const response = await fetch(`${heroku.apiUrl}/apps/${heroku.app}/releases/${version}`, {
    headers: {
      Accept: "application/vnd.heroku+json; version=3",
      Authorization: `Bearer ${heroku.apiKey}`,
    },
  });
  return (await response.json()).id;
}

Deno.test("deploy rollback on Dokku: the commit before the running one, or --to a sha, with the deploy's notifications", async (t) => {
  await using sandbox = await startDokkuSandbox();
  await using hook = await startWebhookRecorder();
  await withRepo(async (dir, first) => {
    const env = dokkuEnv(sandbox, { DEPLOY_WEBHOOK_URL: hook.url(`/hooks/${HOOK_TOKEN}`) });
    const second = await addCommit(dir, { files: { "a.rb": "2\n" }, message: "Second" });
    assert.equal((await runCli([], { cwd: dir, env })).code, 0);
    const third = await addCommit(dir, { files: { "a.rb": "3\n" }, message: "Third" });
    assert.equal((await runCli([], { cwd: dir, env })).code, 0);
    assert.equal(await sandbox.deployedSha("shop"), third);

    await t.step("without --to: the first parent of the running commit", async () => {
      const sent = hook.requests().length;
      const result = await runCli(["rollback"], { cwd: dir, env, timeoutMs: COMMAND_TIMEOUT_MS });
      assert.equal(result.code, 0, result.all);
      assert.equal(await sandbox.deployedSha("shop"), second);
      assert.match(result.stdout, /the commit before [0-9a-f]{7} on the master branch/);
      assert.match(result.stdout, /Rolled back shop to [0-9a-f]{7}/);
      const events = hook.requests().slice(sent).map((r) => r.json as Record<string, unknown>);
      assert.deepEqual(events.map((e) => e.event), ["deploy.started", "deploy.succeeded"]);
      const done = events[1]!;
      assert.equal(done.title, `Rolled back shop in production to ${second.slice(0, 7)}`);
      assert.deepEqual(done.rollback, {
        kind: "manual",
        to: second.slice(0, 7),
        commit: second,
        ok: true,
        error: null,
      });
      assert.equal((done.commit as Record<string, unknown>).title, "Second");
      assertNoSecrets(result, [HOOK_TOKEN]);
    });
    await t.step("--to a short sha", async () => {
      const result = await runCli(["rollback", "--to", first.slice(0, 9)], {
        cwd: dir,
        env,
        timeoutMs: COMMAND_TIMEOUT_MS,
      });
      assert.equal(result.code, 0, result.all);
      assert.equal(await sandbox.deployedSha("shop"), first);
      assert.match(result.stdout, /Rebuild|rebuilds/);
    });
    await t.step("--to the commit it runs already: skipped", async () => {
      const result = await runCli(["rollback", "--to", first], { cwd: dir, env });
      assert.equal(result.code, 0, result.all);
      assert.match(result.stdout, /already runs [0-9a-f]{7}: nothing to roll back/);
    });
    await t.step("--to something that is no sha: exit 2 before touching the server", async () => {
      const calls = (await sandbox.calls()).length;
      const result = await runCli(["rollback", "--to", "v12"], { cwd: dir, env });
      assert.equal(result.code, 2, result.all);
      assert.match(result.stderr, /--to "v12": expected a commit sha/);
      assert.equal((await sandbox.calls()).length, calls);
    });
    await t.step("--to a sha nobody has: exit 2", async () => {
      const result = await runCli(["rollback", "--to", "abcdef1234"], { cwd: dir, env });
      assert.equal(result.code, 2, result.all);
      assert.match(result.all, /no such commit in the local history or on shop's master branch/);
    });
  });
});

Deno.test("deploy rollback on Heroku: the release before the current one, or --to v2, only a succeeded one", async (t) => {
  await using heroku = await startHerokuStandin({ app: "shop" });
  await using hook = await startWebhookRecorder();
  await withRepo(async (dir, first) => {
    const env = herokuEnv(heroku, { DEPLOY_WEBHOOK_URL: hook.url(`/hooks/${HOOK_TOKEN}`) });
    assert.equal((await runCli([], { cwd: dir, env })).code, 0);
    const v1 = heroku.releases().at(-1)!.version;
    const second = await addCommit(dir, { files: { "a.rb": "2\n" }, message: "Second" });
    assert.equal((await runCli([], { cwd: dir, env })).code, 0);
    assert.equal(heroku.deployedCommit(), second);

    await t.step("without --to: the previous release", async () => {
      const sent = hook.requests().length;
      const result = await runCli(["rollback"], { cwd: dir, env, timeoutMs: COMMAND_TIMEOUT_MS });
      assert.equal(result.code, 0, result.all);
      assert.equal(heroku.deployedCommit(), first);
      const last = heroku.releases().at(-1)!;
      assert.equal(last.description, `Rollback to v${v1}`);
      const done = hook.requests().slice(sent).map((r) => r.json as Record<string, unknown>).at(
        -1,
      )!;
      assert.equal(done.event, "deploy.succeeded");
      assert.equal(done.title, `Rolled back shop in production to v${v1} (${first.slice(0, 7)})`);
      assertNoSecrets(result, [HOOK_TOKEN, heroku.apiKey]);
    });
    await t.step("--to v<N> of the second deploy", async () => {
      const v2 = heroku.releases().find((r) => r.commit === second)!.version;
      const result = await runCli(["rollback", "--to", `v${v2}`, "--log-format", "json"], {
        cwd: dir,
        env,
        timeoutMs: COMMAND_TIMEOUT_MS,
      });
      assert.equal(result.code, 0, result.all);
      assert.equal(heroku.deployedCommit(), second);
      assert.equal(outcomeOf(result.stdout).rolled_back_to, `v${v2} (${second.slice(0, 7)})`);
    });
    await t.step("--to a release that failed, or none at all: exit 2", async () => {
      heroku.setReleasePhase({ exitCode: 1, output: ["boom"] });
      await addCommit(dir, { files: { "a.rb": "3\n" }, message: "Third" });
      assert.equal((await runCli([], { cwd: dir, env })).code, 1);
      heroku.setReleasePhase(null);
      const failedVersion = heroku.releases().at(-1)!.version;
      const posts = heroku.requests().filter((r) => r.method === "POST").length;
      const failed = await runCli(["rollback", "--to", `v${failedVersion}`], { cwd: dir, env });
      assert.equal(failed.code, 2, failed.all);
      assert.match(failed.all, /its status is failed, and only a succeeded release can run again/);
      const missing = await runCli(["rollback", "--to", "v999"], { cwd: dir, env });
      assert.equal(missing.code, 2, missing.all);
      assert.match(missing.all, /--to v999: shop has no such release/);
      assert.equal(heroku.requests().filter((r) => r.method === "POST").length, posts);
    });
    await t.step("a rollback whose release fails exits 1", async () => {
      heroku.failRequests(1, { status: 422, match: /^POST \/apps\/shop\/releases$/ });
      const result = await runCli(["rollback", "--to", `v${v1}`], { cwd: dir, env });
      assert.equal(result.code, 1, result.all);
      assert.match(result.all, /Rollback failed/);
      assert.equal(heroku.deployedCommit(), second);
    });
  });
});
