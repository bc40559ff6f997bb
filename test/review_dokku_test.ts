/**
 * Review apps on Dokku end to end: the real CLI against the Dokku sandbox (sshd with a forced
 * command that models apps:clone, config:set/get, domains:set, apps:destroy and url), real git.
 */
import assert from "node:assert/strict";
import { addCommit, type CliResult, git, makeRepo, runCli } from "./_cli.ts";
import { type DokkuSandbox, startDokkuSandbox } from "./sandbox/dokku.ts";
import {
  dokkuAppExists,
  dokkuConfig,
  dokkuDomains,
  dokkuSsh,
  failNextDokku,
} from "./sandbox/dokku_review.ts";

const PARENT = "shop";
const REVIEW = "shop-feature-login";
const DB_PASSWORD = "s3cret-review-pass";
const REVIEW_CONFIG = `RAILS_ENV=staging,DATABASE_URL=postgres://review:${DB_PASSWORD}@db/review`;
const TIMEOUT_MS = 90_000;

function env(sandbox: DokkuSandbox, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DEPLOY_PROVIDER: "dokku",
    DOKKU_HOST: sandbox.dokkuHost,
    APP_NAME: PARENT,
    SSH_PRIVATE_KEY: sandbox.privateKey,
    SSH_KNOWN_HOSTS: sandbox.knownHosts,
    CI_COMMIT_REF_SLUG: "feature-login",
    ...extra,
  };
}

async function cli(
  args: string[],
  cwd: string,
  vars: Record<string, string>,
): Promise<CliResult> {
  return await runCli(args, { cwd, env: vars, timeoutMs: TIMEOUT_MS });
}

function outcome(result: CliResult): Record<string, unknown> {
  const line = result.stdout.split("\n").find((l) => l.includes('"type":"outcome"'));
  assert.ok(line, result.all);
  return JSON.parse(line);
}

/** A sandbox whose parent app exists, configured, with a first commit deployed. */
async function withParent(
  fn: (sandbox: DokkuSandbox, repo: string) => Promise<void>,
): Promise<void> {
  await using sandbox = await startDokkuSandbox();
  const repo = await makeRepo([{ files: { Procfile: "web: puma\n" }, message: "First" }]);
  try {
    await dokkuSsh(sandbox, "apps:create", PARENT);
    await dokkuSsh(sandbox, "config:set", "--no-restart", PARENT, "SECRET_KEY_BASE=parent-skb");
    const first = await cli([], repo, env(sandbox));
    assert.equal(first.code, 0, first.all);
    await fn(sandbox, repo);
  } finally {
    await Deno.remove(repo, { recursive: true });
  }
}

Deno.test("Dokku review app: cloned from the parent without a deploy, configured, marked and deployed; reused; destroyed", async () => {
  await withParent(async (sandbox, repo) => {
    const parentSha = await sandbox.deployedSha(PARENT);
    const sha = await addCommit(repo, { files: { "login.rb": "# login\n" }, message: "Login" });
    const before = (await sandbox.calls()).length;
    const created = await cli(
      ["--review"],
      repo,
      env(sandbox, {
        REVIEW_APP_CONFIG: REVIEW_CONFIG,
        REVIEW_APP_DOMAIN: "{app}.review.example.com",
        DEPLOY_LOG_FORMAT: "json",
      }),
    );
    assert.equal(created.code, 0, created.all);
    const calls = (await sandbox.calls()).slice(before).map((c) => c.argv);
    assert.deepEqual(calls.find((argv) => argv[0] === "apps:clone"), [
      "apps:clone",
      "--skip-deploy",
      PARENT,
      REVIEW,
    ]);
    assert.deepEqual(await dokkuConfig(sandbox, REVIEW), {
      SECRET_KEY_BASE: "parent-skb",
      RAILS_ENV: "staging",
      DATABASE_URL: `postgres://review:${DB_PASSWORD}@db/review`,
      DEPLOY_REVIEW_PARENT: PARENT,
    });
    assert.deepEqual(await dokkuConfig(sandbox, PARENT), { SECRET_KEY_BASE: "parent-skb" });
    assert.deepEqual(await dokkuDomains(sandbox, REVIEW), [`${REVIEW}.review.example.com`]);
    assert.equal(await sandbox.deployedSha(REVIEW), sha);
    assert.equal(await sandbox.deployedSha(PARENT), parentSha);
    const record = outcome(created);
    assert.equal(record.status, "succeeded");
    assert.equal(record.app, REVIEW);
    assert.equal(record.environment, "review/feature-login");
    assert.equal(record.url, `http://${REVIEW}.review.example.com`);
    assert.deepEqual(record.review_app, { parent: PARENT, created: true });
    assert.ok(!created.all.includes(DB_PASSWORD), created.all);
    assert.ok(!created.all.includes("staging"), "REVIEW_APP_CONFIG values are masked everywhere");

    const next = await addCommit(repo, { files: { "login.rb": "# login 2\n" }, message: "More" });
    const mark = (await sandbox.calls()).length;
    const reused = await cli([], repo, env(sandbox, { DEPLOY_REVIEW: "true" }));
    assert.equal(reused.code, 0, reused.all);
    assert.match(reused.all, /Review app shop-feature-login of shop exists/);
    const later = (await sandbox.calls()).slice(mark).map((c) => c.argv[0]);
    assert.ok(!later.includes("apps:clone") && !later.includes("config:set"), later.join(" "));
    assert.equal(await sandbox.deployedSha(REVIEW), next);

    const destroyed = await cli(["destroy", "--review"], repo, env(sandbox));
    assert.equal(destroyed.code, 0, destroyed.all);
    assert.equal(await dokkuAppExists(sandbox, REVIEW), false);
    assert.equal(await dokkuAppExists(sandbox, PARENT), true);
    assert.deepEqual((await sandbox.calls()).at(-1)?.argv, ["apps:destroy", "--force", REVIEW]);

    const again = await cli(["destroy", "--review"], repo, env(sandbox));
    assert.equal(again.code, 0, again.all);
    assert.match(again.all, /shop-feature-login does not exist: nothing to destroy/);
  });
});

Deno.test("Dokku review apps: destroy refuses an unmarked app and the parent, deploy refuses an unmarked app", async () => {
  await withParent(async (sandbox, repo) => {
    await dokkuSsh(sandbox, "apps:create", "shop-other");
    const unmarked = await cli(
      ["destroy", "--review"],
      repo,
      env(sandbox, { REVIEW_APP_NAME: "shop-other" }),
    );
    assert.equal(unmarked.code, 2, unmarked.all);
    assert.match(unmarked.all, /Refusing to destroy "shop-other".*DEPLOY_REVIEW_PARENT/);
    assert.equal(await dokkuAppExists(sandbox, "shop-other"), true);

    const parent = await cli(
      ["destroy", "--review"],
      repo,
      env(sandbox, { REVIEW_APP_NAME: PARENT }),
    );
    assert.equal(parent.code, 2, parent.all);
    assert.match(parent.all, /"shop" is the parent app/);
    assert.equal(await dokkuAppExists(sandbox, PARENT), true);

    const deploy = await cli(["--review"], repo, env(sandbox, { REVIEW_APP_NAME: "shop-other" }));
    assert.equal(deploy.code, 2, deploy.all);
    assert.match(deploy.all, /Refusing to deploy to "shop-other"/);
    assert.equal(await sandbox.deployedSha("shop-other"), null);
    const destroys = (await sandbox.calls()).filter((c) => c.argv.includes("apps:destroy"));
    assert.deepEqual(destroys, []);
  });
});

Deno.test("Dokku review app that fails to configure is destroyed again; a taken name exits 2", async () => {
  await withParent(async (sandbox, repo) => {
    await failNextDokku(sandbox, "config:set", "Quota of config vars exceeded");
    const failed = await cli(
      ["--review"],
      repo,
      env(sandbox, { REVIEW_APP_CONFIG: REVIEW_CONFIG }),
    );
    assert.equal(failed.code, 1, failed.all);
    assert.match(
      failed.all,
      /Configuring review app shop-feature-login failed.*destroying it again/,
    );
    assert.match(failed.all, /Destroyed shop-feature-login, created by this run/);
    assert.equal(await dokkuAppExists(sandbox, REVIEW), false);
    assert.ok(!failed.all.includes(DB_PASSWORD), failed.all);
    assert.equal(
      (await sandbox.calls()).filter((c) =>
        c.argv[0] === "git-receive-pack" && c.argv[1] === REVIEW
      ).length,
      0,
    );

    await failNextDokku(sandbox, "apps:clone", "Name is already taken");
    const taken = await cli(["--review"], repo, env(sandbox));
    assert.equal(taken.code, 2, taken.all);
    assert.match(taken.all, /refused to create review app "shop-feature-login".*REVIEW_APP_NAME/);
  });
});

Deno.test("Dokku review app: a clone holding the commit is built, and a branch behind the parent's is pushed over the clone's history", async () => {
  await withParent(async (sandbox, repo) => {
    const first = await sandbox.deployedSha(PARENT);
    const same = await cli(["--review"], repo, env(sandbox, { REVIEW_APP_NAME: "shop-same" }));
    assert.equal(same.code, 0, same.all);
    assert.doesNotMatch(same.all, /nothing to deploy/);
    // the clone's branch already holds the commit, which no build of shop-same ran: it is built now
    assert.equal(await sandbox.runningSha("shop-same"), first);

    await addCommit(repo, { files: { "main.rb": "newer\n" }, message: "Newer on main" });
    const parent = await cli([], repo, env(sandbox));
    assert.equal(parent.code, 0, parent.all);
    await git(repo, "checkout", "-q", "-b", "feat", first!);
    const feature = await addCommit(repo, { files: { "feat.rb": "x\n" }, message: "Feature" });
    const behind = await cli(["--review"], repo, env(sandbox, { CI_COMMIT_REF_SLUG: "feat" }));
    assert.equal(behind.code, 0, behind.all);
    assert.equal(await sandbox.deployedSha("shop-feat"), feature);
  });
});
