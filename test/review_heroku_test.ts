/**
 * Review apps on Heroku end to end: the real CLI against the Heroku stand-in, whose Platform API
 * models app creation in a team, config vars, add-ons, pipeline couplings and app deletion
 * (test/sandbox/heroku_review.ts).
 */
import assert from "node:assert/strict";
import { addCommit, type CliResult, makeRepo, runCli } from "./_cli.ts";
import { type HerokuStandin, startHerokuStandin } from "./sandbox/heroku.ts";

const PARENT = "shop";
const REVIEW = "shop-feature-login";
const TOKEN = "review-token-9f8e7d6c";
const REVIEW_CONFIG = `RAILS_ENV=staging,PAYMENT_TOKEN=${TOKEN}`;
const TIMEOUT_MS = 90_000;

function env(heroku: HerokuStandin, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DEPLOY_PROVIDER: "heroku",
    APP_NAME: PARENT,
    HEROKU_API_KEY: heroku.apiKey,
    HEROKU_API_URL: heroku.apiUrl,
    HEROKU_GIT_URL: heroku.gitUrl,
    DENO_CERT: heroku.certFile,
    GITHUB_HEAD_REF: "feature/login",
    ...extra,
  };
}

async function cli(args: string[], cwd: string, vars: Record<string, string>): Promise<CliResult> {
  return await runCli(args, { cwd, env: vars, timeoutMs: TIMEOUT_MS });
}

/** The commit an app of the stand-in runs. */
function runs(heroku: HerokuStandin, app: string): string | null {
  const platform = heroku.review.platform;
  const state = platform.apps.get(app);
  const slug = state && platform.current(state)?.slugId;
  return slug ? state.slugs.get(slug)?.commit ?? null : null;
}

/** A stand-in whose parent is in team acme and a pipeline, with add-ons and config vars. */
async function withParent(fn: (heroku: HerokuStandin, repo: string) => Promise<void>) {
  await using heroku = await startHerokuStandin({ app: PARENT, region: "eu", stack: "heroku-22" });
  const review = heroku.review;
  review.knownTeams.add("acme");
  review.teams.set(PARENT, "acme");
  review.config.set(PARENT, {
    SECRET_KEY_BASE: "parent-skb",
    DATABASE_URL: "postgres://prod:prod-db-pass@db/prod",
    HEROKU_POSTGRESQL_PINK_URL: "postgres://prod:prod-db-pass@db/prod",
    REDIS_URL: "redis://prod-redis",
  });
  review.addons.set(PARENT, [
    {
      name: "postgresql-curved-1",
      configVars: ["DATABASE_URL", "HEROKU_POSTGRESQL_PINK_URL"],
      attachment: "DATABASE",
    },
    // an add-on attached from another app: its owner's config_vars do not name this app's var
    { name: "redis-shared-2", configVars: [], attachment: "REDIS" },
  ]);
  review.couplings.push({ app: PARENT, pipeline: "pipeline-1", stage: "production" });
  const repo = await makeRepo([{ files: { Procfile: "web: puma\n" }, message: "First" }]);
  try {
    await fn(heroku, repo);
  } finally {
    await Deno.remove(repo, { recursive: true });
  }
}

Deno.test("Heroku review app: created in the parent's team, region and stack, config copied without add-on vars, coupled, marked, deployed; reused; destroyed", async () => {
  await withParent(async (heroku, repo) => {
    const sha = await addCommit(repo, { files: { "a.rb": "1\n" }, message: "Login" });
    const outputs = await Deno.makeTempFile();
    const summary = await Deno.makeTempFile();
    try {
      const created = await cli(
        ["--review"],
        repo,
        env(heroku, {
          REVIEW_APP_CONFIG: REVIEW_CONFIG,
          GITHUB_ACTIONS: "true",
          GITHUB_OUTPUT: outputs,
          GITHUB_STEP_SUMMARY: summary,
        }),
      );
      assert.equal(created.code, 0, created.all);
      const create = heroku.requests().find((r) => r.method === "POST" && r.path === "/teams/apps");
      assert.deepEqual(create?.body, {
        name: REVIEW,
        region: "eu",
        stack: "heroku-22",
        team: "acme",
      });
      assert.deepEqual(heroku.review.config.get(REVIEW), {
        SECRET_KEY_BASE: "parent-skb",
        RAILS_ENV: "staging",
        PAYMENT_TOKEN: TOKEN,
        DEPLOY_REVIEW_PARENT: PARENT,
      });
      assert.deepEqual(heroku.review.couplings.find((c) => c.app === REVIEW), {
        app: REVIEW,
        pipeline: "pipeline-1",
        stage: "review",
      });
      assert.equal(runs(heroku, REVIEW), sha);
      assert.equal(heroku.deployedCommit(), null, "the parent runs nothing new");
      const written = await Deno.readTextFile(outputs);
      assert.match(written, /^url=https:\/\/shop-feature-login\.herokuapp\.com$/m);
      assert.match(
        await Deno.readTextFile(summary),
        /Review app \| of shop: https:\/\/shop-feature-login/,
      );
      for (const text of [created.all, written, await Deno.readTextFile(summary)]) {
        assert.ok(!text.includes(TOKEN), text);
        assert.ok(!text.includes("staging"), text);
      }

      const next = await addCommit(repo, { files: { "a.rb": "2\n" }, message: "More" });
      const before = heroku.requests().length;
      const reused = await cli([], repo, env(heroku, { DEPLOY_REVIEW: "true" }));
      assert.equal(reused.code, 0, reused.all);
      const later = heroku.requests().slice(before);
      assert.ok(!later.some((r) => r.method === "POST" && /apps$/.test(r.path)), "no new app");
      assert.ok(!later.some((r) => r.method === "PATCH"), "no config change");
      assert.equal(runs(heroku, REVIEW), next);

      const destroyed = await cli(["destroy", "--review"], repo, env(heroku));
      assert.equal(destroyed.code, 0, destroyed.all);
      assert.ok(
        heroku.requests().some((r) => r.method === "DELETE" && r.path === `/apps/${REVIEW}`),
      );
      assert.equal(heroku.review.platform.apps.has(REVIEW), false);
      assert.equal(heroku.review.platform.apps.has(PARENT), true);
      const again = await cli(["destroy", "--review"], repo, env(heroku));
      assert.equal(again.code, 0, again.all);
      assert.match(again.all, /does not exist: nothing to destroy/);
    } finally {
      await Deno.remove(outputs);
      await Deno.remove(summary);
    }
  });
});

Deno.test("Heroku review apps: destroy refuses an unmarked app and the parent", async () => {
  await withParent(async (heroku, repo) => {
    heroku.review.platform.createApp("shop-other", "heroku-24", "us");
    const unmarked = await cli(
      ["destroy", "--review"],
      repo,
      env(heroku, { REVIEW_APP_NAME: "shop-other" }),
    );
    assert.equal(unmarked.code, 2, unmarked.all);
    assert.match(unmarked.all, /Refusing to destroy "shop-other"/);
    const parent = await cli(
      ["destroy", "--review"],
      repo,
      env(heroku, { REVIEW_APP_NAME: PARENT }),
    );
    assert.equal(parent.code, 2, parent.all);
    assert.ok(!heroku.requests().some((r) => r.method === "DELETE"), "nothing deleted");
    assert.ok(heroku.review.platform.apps.has("shop-other"));
  });
});

Deno.test("Heroku review app of a too-long branch gets a valid name of 30 characters at most", async () => {
  await withParent(async (heroku, repo) => {
    const branch = "feature/a-very-long-branch-name-for-the-new-login-page";
    const result = await cli(["--review"], repo, env(heroku, { GITHUB_HEAD_REF: branch }));
    assert.equal(result.code, 0, result.all);
    const create = heroku.requests().find((r) => r.method === "POST" && r.path === "/teams/apps");
    const name = (create?.body as { name: string }).name;
    assert.match(name, /^[a-z][a-z0-9-]{1,28}[a-z0-9]$/);
    assert.match(name, /^shop-feature-a-very-lon-[0-9a-f]{6}$/);
    assert.equal(name.length, 30);
    assert.equal(runs(heroku, name), await runCommandSha(repo));
  });
});

Deno.test("Heroku review app creation: a refusal exits 1 leaving nothing, a failed configuration destroys the new app", async () => {
  await withParent(async (heroku, repo) => {
    heroku.review.appLimit = 1;
    const quota = await cli(["--review"], repo, env(heroku));
    assert.equal(quota.code, 1, quota.all);
    assert.match(
      quota.all,
      /Heroku refused to create review app "shop-feature-login".*limit of 1 apps/,
    );
    assert.equal(heroku.review.platform.apps.has(REVIEW), false);

    heroku.review.appLimit = Infinity;
    heroku.failRequests(1, { status: 403, match: /^GET \/apps\/shop-feature-login$/ });
    const taken = await cli(["--review"], repo, env(heroku));
    assert.equal(taken.code, 2, taken.all);
    assert.match(
      taken.all,
      /"shop-feature-login" exists but HEROKU_API_KEY has no access.*REVIEW_APP_NAME/,
    );

    heroku.failRequests(1, {
      status: 422,
      match: /^PATCH \/apps\/shop-feature-login\/config-vars$/,
    });
    const failed = await cli(["--review"], repo, env(heroku, { REVIEW_APP_CONFIG: REVIEW_CONFIG }));
    assert.equal(failed.code, 1, failed.all);
    assert.match(
      failed.all,
      /Configuring review app shop-feature-login failed.*destroying it again/,
    );
    assert.ok(heroku.requests().some((r) => r.method === "DELETE" && r.path === `/apps/${REVIEW}`));
    assert.equal(heroku.review.platform.apps.has(REVIEW), false);
    assert.ok(!failed.all.includes(TOKEN), failed.all);
  });
});

async function runCommandSha(repo: string): Promise<string> {
  const out = await new Deno.Command("git", {
    args: ["rev-parse", "HEAD"],
    cwd: repo,
    stdout: "piped",
  })
    .output();
  return new TextDecoder().decode(out.stdout).trim();
}
