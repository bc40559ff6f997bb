/**
 * Review apps without a server: the naming rule, REVIEW_APP_CONFIG, the flows (ensure, destroy)
 * over recording operations, the provider contract's checks, the Dokku argv and Heroku's config
 * copy, and the GitLab dotenv artifact.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import {
  cloneCommand,
  configSetCommand,
  destroyCommand,
  DOKKU_REVIEW_RULE,
  reviewDomain,
} from "../layers/providers/dokku/review.ts";
import { copiedConfig, HEROKU_REVIEW_RULE } from "../layers/providers/heroku/review.ts";
import dokku from "../layers/providers/dokku.ts";
import { ConfigError, DeployError } from "../src/errors.ts";
import { createLogger } from "../src/logger.ts";
import { CAPABILITIES, defineProvider } from "../src/provider.ts";
import {
  destroyReviewApp,
  ensureReviewApp,
  parseReviewConfig,
  REVIEW_MARK,
  reviewAppName,
  reviewBranch,
  type ReviewOperations,
} from "../src/review.ts";
import { setUpReview } from "../src/review_engine.ts";
import { REVIEW_DOTENV, reviewEnvironment, writeReviewDotenv } from "../src/review_command.ts";
import { Secrets } from "../src/secrets.ts";
import { buildNotification, facts, MARKDOWN } from "../src/notification.ts";
import { fakeContext } from "./_deploy_context.ts";

function logger() {
  const lines: string[] = [];
  const log = createLogger({
    secrets: new Secrets(),
    write: (text) => lines.push(text),
    format: "text",
    color: false,
  });
  return { log, lines, text: () => lines.join("") };
}

Deno.test("reviewAppName derives a stable name that fits each platform's rule", async (t) => {
  await t.step("a short branch: parent and branch slug", () => {
    assert.equal(
      reviewAppName("shop", "feature/Login_Page", HEROKU_REVIEW_RULE),
      "shop-feature-login-page",
    );
    assert.equal(
      reviewAppName("shop", "feature/Login_Page", DOKKU_REVIEW_RULE),
      "shop-feature-login-page",
    );
  });
  await t.step("a long branch: cut, ended by a hash, valid, and distinct per branch", () => {
    const a = reviewAppName(
      "shop",
      "feature/a-very-long-branch-name-number-one",
      HEROKU_REVIEW_RULE,
    );
    const b = reviewAppName(
      "shop",
      "feature/a-very-long-branch-name-number-two",
      HEROKU_REVIEW_RULE,
    );
    for (const name of [a, b]) {
      assert.ok(name.length <= 30, name);
      assert.match(name, HEROKU_REVIEW_RULE.pattern);
      assert.match(name, /-[0-9a-f]{6}$/);
    }
    assert.notEqual(a, b);
    assert.equal(
      a,
      reviewAppName("shop", "feature/a-very-long-branch-name-number-one", HEROKU_REVIEW_RULE),
    );
  });
  await t.step("a branch of symbols only still gets a name of its own", () => {
    const name = reviewAppName("shop", "___", HEROKU_REVIEW_RULE);
    assert.match(name, /^shop-[0-9a-f]{6}$/);
  });
  await t.step("Dokku allows 63 characters", () => {
    const branch = "x".repeat(80);
    const name = reviewAppName("shop", branch, DOKKU_REVIEW_RULE);
    assert.equal(name.length, 63);
    assert.match(name, DOKKU_REVIEW_RULE.pattern);
  });
  await t.step("a parent that leaves no room is a ConfigError naming REVIEW_APP_NAME", () => {
    assert.throws(
      () =>
        reviewAppName("-", "feature", { maxLength: 8, pattern: /^[a-z][a-z0-9-]*$/, text: "x" }),
      (error: unknown) => error instanceof ConfigError && /REVIEW_APP_NAME/.test(error.message),
    );
  });
});

Deno.test("reviewBranch prefers the merge request's source branch", () => {
  assert.equal(reviewBranch({ GITHUB_HEAD_REF: "login", GITHUB_REF_NAME: "12/merge" }), "login");
  assert.equal(
    reviewBranch({ CI_MERGE_REQUEST_SOURCE_BRANCH_NAME: "Login", CI_COMMIT_REF_SLUG: "login" }),
    "Login",
  );
  assert.equal(reviewBranch({ CI_COMMIT_REF_SLUG: "login" }), "login");
  assert.equal(reviewBranch({}), undefined);
  assert.equal(reviewEnvironment({ CI_COMMIT_REF_SLUG: "login" }, "main"), "review/login");
});

Deno.test("parseReviewConfig reads KEY=VALUE pairs and names bad entries without their values", () => {
  assert.deepEqual(parseReviewConfig("RAILS_ENV=staging, DATABASE_URL=postgres://u:p@h/d?a=b"), {
    vars: { RAILS_ENV: "staging", DATABASE_URL: "postgres://u:p@h/d?a=b" },
    problems: [],
  });
  const bad = parseReviewConfig("RAILS_ENV=staging,hunter2secret,DEPLOY_REVIEW_PARENT=x");
  assert.equal(bad.problems.length, 2);
  assert.ok(!bad.problems.join(" ").includes("hunter2secret"));
});

/** Review operations over an in-memory platform, recording each call. */
function fakeOps(
  apps: Map<string, Record<string, string>>,
  failures: { configure?: Error; create?: Error } = {},
) {
  const calls: string[] = [];
  const ops: ReviewOperations = {
    exists: (app) => Promise.resolve(apps.has(app)),
    create: ({ parent, app }) => {
      calls.push(`create ${app}`);
      if (failures.create) return Promise.reject(failures.create);
      apps.set(app, { ...apps.get(parent) });
      return Promise.resolve();
    },
    configure: ({ app, vars }) => {
      calls.push(`configure ${app}`);
      if (failures.configure) return Promise.reject(failures.configure);
      Object.assign(apps.get(app)!, vars);
      return Promise.resolve();
    },
    mark: (app) => Promise.resolve(apps.get(app)?.[REVIEW_MARK] ?? null),
    destroy: (app) => {
      calls.push(`destroy ${app}`);
      apps.delete(app);
      return Promise.resolve();
    },
    url: (app) => Promise.resolve(`https://${app}.example.com`),
  };
  return { ops, calls };
}

Deno.test("ensureReviewApp creates, marks and configures a missing app, reuses a marked one, refuses an unmarked one", async () => {
  const apps = new Map<string, Record<string, string>>([["shop", { KEY: "parent" }], [
    "taken",
    {},
  ]]);
  const { ops, calls } = fakeOps(apps);
  const { log } = logger();
  const made = await ensureReviewApp(ops, { parent: "shop", app: "shop-x" }, {
    logger: log,
    label: "Test",
    config: { RAILS_ENV: "staging" },
  });
  assert.deepEqual(made, {
    parent: "shop",
    app: "shop-x",
    created: true,
    url: "https://shop-x.example.com",
  });
  assert.deepEqual(apps.get("shop-x"), {
    KEY: "parent",
    RAILS_ENV: "staging",
    [REVIEW_MARK]: "shop",
  });
  const again = await ensureReviewApp(ops, { parent: "shop", app: "shop-x" }, {
    logger: log,
    label: "Test",
  });
  assert.equal(again.created, false);
  assert.deepEqual(calls, ["create shop-x", "configure shop-x"]);
  await assert.rejects(
    ensureReviewApp(ops, { parent: "shop", app: "taken" }, { logger: log, label: "Test" }),
    ConfigError,
  );
  await assert.rejects(
    ensureReviewApp(ops, { parent: "gone", app: "gone-x" }, { logger: log, label: "Test" }),
    (error: unknown) => error instanceof ConfigError && /no Test app "gone"/.test(error.message),
  );
});

Deno.test("ensureReviewApp destroys an app it created and failed to configure, and says so", async () => {
  const apps = new Map([["shop", {}]]);
  const { ops, calls } = fakeOps(apps, { configure: new Error("quota exceeded") });
  const { log, text } = logger();
  await assert.rejects(
    ensureReviewApp(ops, { parent: "shop", app: "shop-x" }, { logger: log, label: "Test" }),
    DeployError,
  );
  assert.deepEqual(calls, ["create shop-x", "configure shop-x", "destroy shop-x"]);
  assert.equal(apps.has("shop-x"), false);
  assert.match(text(), /destroying it again/);
  assert.match(text(), /Destroyed shop-x, created by this run/);
});

Deno.test("ensureReviewApp turns a taken name into exit 2 and another refusal into exit 1, creating nothing", async () => {
  for (
    const [message, type] of [["Name is already taken", ConfigError], [
      "quota",
      DeployError,
    ]] as const
  ) {
    const apps = new Map([["shop", {}]]);
    const { ops, calls } = fakeOps(apps, { create: new Error(message) });
    await assert.rejects(
      ensureReviewApp(ops, { parent: "shop", app: "shop-x" }, {
        logger: logger().log,
        label: "Test",
      }),
      type,
    );
    assert.deepEqual(calls, ["create shop-x"]);
  }
});

Deno.test("destroyReviewApp destroys only a marked app of the parent, never the parent; gone is fine", async () => {
  const apps = new Map<string, Record<string, string>>([
    ["shop", {}],
    ["shop-x", { [REVIEW_MARK]: "shop" }],
    ["shop-y", {}],
    ["shop-z", { [REVIEW_MARK]: "other" }],
  ]);
  const { ops, calls } = fakeOps(apps);
  const options = { logger: logger().log, label: "Test" };
  await assert.rejects(
    destroyReviewApp(ops, { parent: "shop", app: "shop" }, options),
    ConfigError,
  );
  await assert.rejects(
    destroyReviewApp(ops, { parent: "shop", app: "shop-y" }, options),
    ConfigError,
  );
  await assert.rejects(
    destroyReviewApp(ops, { parent: "shop", app: "shop-z" }, options),
    /of "other"/,
  );
  assert.deepEqual(calls, []);
  assert.equal(
    await destroyReviewApp(ops, { parent: "shop", app: "shop-x" }, options),
    "destroyed",
  );
  assert.equal(await destroyReviewApp(ops, { parent: "shop", app: "shop-x" }, options), "gone");
  assert.deepEqual(calls, ["destroy shop-x"]);
});

Deno.test("the provider contract: review apps are a capability, and --review on a provider without it exits 2 naming it", async () => {
  assert.ok("review-apps" in CAPABILITIES && "app-creation" in CAPABILITIES);
  const plain = {
    name: "plain",
    label: "Plain",
    review: undefined,
  };
  const input = {
    config: {},
    core: { DEPLOY_REVIEW: true } as never,
    runtime: { env: {}, secrets: new Secrets() } as never,
    logger: logger().log,
  };
  await assert.rejects(
    setUpReview(plain, input, () => {}),
    (error: unknown) =>
      error instanceof ConfigError && /plain provider \(Plain\)/.test(error.message),
  );
  assert.equal(
    await setUpReview(plain, { ...input, core: { DEPLOY_REVIEW: false } as never }, () => {}),
    undefined,
  );
  assert.throws(
    () =>
      defineProvider({
        name: "x",
        label: "X",
        description: "x",
        variables: z.object({}),
        capabilities: ["review-apps"],
        steps: { connect: "c", deploy: () => "d", redeploy: "r" },
        create: () => {
          throw new Error("unused");
        },
      }),
    TypeError,
  );
  assert.ok(
    "REVIEW_APP_CONFIG" in dokku.variables.shape && "REVIEW_APP_DOMAIN" in dokku.variables.shape,
  );
});

Deno.test("an invalid REVIEW_APP_NAME is a ConfigError quoting the platform's rule", async () => {
  const spec = {
    name: "dokku",
    label: "Dokku",
    review: {
      rule: HEROKU_REVIEW_RULE,
      variables: {},
      parent: () => "shop",
      target: (c: Record<string, unknown>) => c,
      create: () => fakeOps(new Map()).ops,
    },
  };
  const input = {
    config: { REVIEW_APP_NAME: "Shop_Review" },
    core: { DEPLOY_REVIEW: true } as never,
    runtime: { env: {}, secrets: new Secrets() } as never,
    logger: logger().log,
  };
  await assert.rejects(setUpReview(spec, input, () => {}), /REVIEW_APP_NAME: expected 3 to 30/);
});

Deno.test("Dokku review commands as argv", () => {
  assert.deepEqual(cloneCommand("shop", "shop-x"), [
    "apps:clone",
    "--skip-deploy",
    "shop",
    "shop-x",
  ]);
  assert.deepEqual(configSetCommand("shop-x", { A: "1 2", B: "x=y" }), [
    "--quiet",
    "config:set",
    "--no-restart",
    "shop-x",
    "A=1 2",
    "B=x=y",
  ]);
  assert.deepEqual(destroyCommand("shop-x"), ["apps:destroy", "--force", "shop-x"]);
  assert.equal(reviewDomain("{app}.review.example.com", "shop-x"), "shop-x.review.example.com");
});

Deno.test("Heroku copies the parent's config vars except those its add-ons manage", () => {
  assert.deepEqual(
    copiedConfig(
      {
        SECRET_KEY_BASE: "skb",
        DATABASE_URL: "postgres://prod",
        HEROKU_POSTGRESQL_PINK_URL: "postgres://prod",
        REDIS_URL: "redis://prod",
        REDIS_TLS_URL: "rediss://prod",
        [REVIEW_MARK]: "other",
        REMOVED: null,
      },
      ["DATABASE_URL", "HEROKU_POSTGRESQL_PINK_URL"],
      ["REDIS"],
    ),
    { SECRET_KEY_BASE: "skb" },
  );
});

Deno.test("writeReviewDotenv writes the GitLab dotenv artifact on GitLab only", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const review = {
      parent: "shop",
      app: "shop-x",
      created: true,
      url: "http://shop-x.example.com",
    };
    await writeReviewDotenv(review, { env: {}, cwd: dir, logger: logger().log });
    await assert.rejects(Deno.stat(`${dir}/${REVIEW_DOTENV}`), Deno.errors.NotFound);
    await writeReviewDotenv(review, { env: { GITLAB_CI: "true" }, cwd: dir, logger: logger().log });
    assert.equal(
      await Deno.readTextFile(`${dir}/${REVIEW_DOTENV}`),
      "DEPLOY_REVIEW_APP=shop-x\nDEPLOY_REVIEW_URL=http://shop-x.example.com\n",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a review deploy's notification says it is a review app of the parent and gives its URL", () => {
  const { ctx } = fakeContext();
  ctx.review = {
    parent: "shop",
    app: "shop-login",
    created: true,
    url: "https://shop-login.example.com",
  };
  const message = buildNotification(ctx, "succeeded");
  assert.match(message.title, /\(review app of shop\)$/);
  assert.deepEqual(message.review, { parent: "shop", url: "https://shop-login.example.com" });
  const fact = facts(message, MARKDOWN).find((f) => f.title === "Review app");
  assert.equal(fact?.value, "[https://shop-login.example.com](https://shop-login.example.com)");
  const plain = buildNotification(fakeContext().ctx, "succeeded");
  assert.equal(plain.review, undefined);
  assert.ok(!facts(plain, MARKDOWN).some((f) => f.title === "Review app"));
});
