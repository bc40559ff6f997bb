import assert from "node:assert/strict";
import { parseConfigFile, type ParseConfigFileOptions } from "../src/config_file.ts";
import { ConfigError } from "../src/errors.ts";

const OPTIONS: ParseConfigFileOptions = {
  known: new Set(["DEPLOY_PROVIDER", "DOKKU_HOST", "APP_NAME", "DOKKU_BRANCH", "FORCE_DEPLOY"]),
  secrets: new Set(["SSH_PRIVATE_KEY", "SENTRY_AUTH_TOKEN"]),
};

/** The problems of a file that must not parse. */
function problemsOf(text: string, options: Partial<ParseConfigFileOptions> = {}): string[] {
  try {
    parseConfigFile(text, { ...OPTIONS, ...options });
  } catch (error: unknown) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return [...error.problems];
  }
  return assert.fail("parseConfigFile should have thrown");
}

Deno.test("parseConfigFile reads settings as text with the line each was written on", () => {
  const settings = parseConfigFile(
    "# deploy settings\nDEPLOY_PROVIDER: dokku\n\nAPP_NAME: shop\nFORCE_DEPLOY: true\n",
    OPTIONS,
  );
  assert.deepEqual(settings, {
    values: { DEPLOY_PROVIDER: "dokku", APP_NAME: "shop", FORCE_DEPLOY: "true" },
    locations: {
      DEPLOY_PROVIDER: "deploy.yml:2",
      APP_NAME: "deploy.yml:4",
      FORCE_DEPLOY: "deploy.yml:5",
    },
  });
});

Deno.test("parseConfigFile accepts an empty file", async (t) => {
  for (const text of ["", "\n", "# only a comment\n"]) {
    await t.step(JSON.stringify(text), () => {
      assert.deepEqual(parseConfigFile(text, OPTIONS), { values: {}, locations: {} });
    });
  }
});

Deno.test("parseConfigFile reports every unknown key with its line number", () => {
  const problems = problemsOf("APP_NAME: shop\nDOKU_HOST: x\napp_name: y\nREGION: eu\n");
  assert.deepEqual(problems, [
    "deploy.yml:2: unknown setting DOKU_HOST",
    'deploy.yml:3: "app_name": expected a variable name such as APP_NAME',
    "deploy.yml:4: unknown setting REGION",
  ]);
});

Deno.test("parseConfigFile refuses secrets in the repository, naming the line", () => {
  const problems = problemsOf("APP_NAME: shop\nSSH_PRIVATE_KEY: abc\n");
  assert.equal(problems.length, 1);
  assert.match(
    problems[0]!,
    /^deploy\.yml:2: SSH_PRIVATE_KEY is a secret: set it as a CI variable/,
  );
  // the value itself is never repeated
  assert.ok(!problems[0]!.includes("abc"));
});

Deno.test("parseConfigFile names the file it was given", () => {
  const problems = problemsOf("NOPE: 1\n", { name: "config/deploy.yml" });
  assert.deepEqual(problems, ["config/deploy.yml:1: unknown setting NOPE"]);
});

Deno.test("parseConfigFile reports bad YAML with a line number", async (t) => {
  await t.step("a nested mapping on one line", () => {
    assert.deepEqual(problemsOf("APP_NAME: shop\nDOKKU_HOST: x: y\n"), [
      "deploy.yml:2: Nested mappings are not allowed in compact mappings",
    ]);
  });
  await t.step("a tab as indentation", () => {
    const problems = problemsOf("APP_NAME: shop\n\tDOKKU_HOST: x\n");
    assert.match(problems[0]!, /^deploy\.yml:2: .*[Tt]ab/);
  });
  await t.step("a bad indentation", () => {
    const problems = problemsOf("APP_NAME: shop\n  DOKKU_HOST: x\n DOKKU_BRANCH: y\n");
    assert.match(problems[0]!, /^deploy\.yml:\d+: /);
  });
  await t.step("a duplicate key", () => {
    const problems = problemsOf("APP_NAME: a\nAPP_NAME: b\n");
    assert.match(problems[0]!, /^deploy\.yml:2: .*unique/i);
  });
});

Deno.test("parseConfigFile requires a mapping at the top", async (t) => {
  await t.step("a list", () => {
    assert.deepEqual(problemsOf("\n- APP_NAME\n"), [
      "deploy.yml:2: expected a mapping of VARIABLE: value",
    ]);
  });
  await t.step("a scalar", () => {
    assert.deepEqual(problemsOf("just text\n"), [
      "deploy.yml:1: expected a mapping of VARIABLE: value",
    ]);
  });
});

Deno.test("parseConfigFile refuses values that are not scalars", () => {
  const problems = problemsOf("APP_NAME:\n  - a\n  - b\nDOKKU_HOST:\n");
  assert.deepEqual(problems, [
    "deploy.yml:1: APP_NAME: expected a string, number or boolean",
    "deploy.yml:4: DOKKU_HOST: expected a string, number or boolean",
  ]);
});

const OVERLAY = [
  "APP_NAME: shop",
  "DOKKU_BRANCH: main",
  "environments:",
  "  staging:",
  "    APP_NAME: shop-staging",
  "  review:",
  "    APP_NAME: shop-review",
  "",
].join("\n");

Deno.test("parseConfigFile applies the overlay of the chosen environment", async (t) => {
  await t.step("staging", () => {
    const settings = parseConfigFile(OVERLAY, { ...OPTIONS, environment: "staging" });
    assert.deepEqual(settings.values, { APP_NAME: "shop-staging", DOKKU_BRANCH: "main" });
    assert.equal(settings.locations.APP_NAME, "deploy.yml:5");
    assert.equal(settings.locations.DOKKU_BRANCH, "deploy.yml:2");
  });
  await t.step("an environment without an overlay", () => {
    const settings = parseConfigFile(OVERLAY, { ...OPTIONS, environment: "production" });
    assert.deepEqual(settings.values, { APP_NAME: "shop", DOKKU_BRANCH: "main" });
  });
  await t.step("no environment", () => {
    assert.equal(parseConfigFile(OVERLAY, OPTIONS).values.APP_NAME, "shop");
  });
});

Deno.test("parseConfigFile checks the keys of the chosen overlay like the top level", () => {
  const text = "APP_NAME: shop\nenvironments:\n  staging:\n    SSH_PRIVATE_KEY: x\n    NOPE: y\n";
  const problems = problemsOf(text, { environment: "staging" });
  assert.deepEqual(problems.map((p) => p.split(":").slice(0, 2).join(":")), [
    "deploy.yml:4",
    "deploy.yml:5",
  ]);
  assert.match(problems[0]!, /SSH_PRIVATE_KEY is a secret/);
  assert.match(problems[1]!, /unknown setting NOPE/);
});

Deno.test("parseConfigFile requires environments to be a mapping", () => {
  assert.deepEqual(problemsOf("environments: staging\n"), [
    "deploy.yml:1: environments: expected a mapping of environment names",
  ]);
});

Deno.test({
  name: "parseConfigFile lets the overlay win even when environments comes first",
  fn() {
    const text = "environments:\n  staging:\n    APP_NAME: shop-staging\nAPP_NAME: shop\n";
    const settings = parseConfigFile(text, { ...OPTIONS, environment: "staging" });
    assert.equal(settings.values.APP_NAME, "shop-staging");
    assert.equal(settings.locations.APP_NAME, "deploy.yml:3");
  },
});

Deno.test({
  name: "parseConfigFile keeps a number-like value as it was written",
  fn() {
    const settings = parseConfigFile("DOKKU_BRANCH: 1.10\nAPP_NAME: 007\n", OPTIONS);
    assert.equal(settings.values.DOKKU_BRANCH, "1.10");
    assert.equal(settings.values.APP_NAME, "007");
  },
});

Deno.test("parseConfigFile checks every overlay, not only the chosen one", () => {
  const text =
    "APP_NAME: shop\nenvironments:\n  staging:\n    APP_NAME: s\n  review:\n    SSH_PRIVATE_KEY: x\n";
  for (const environment of ["staging", undefined]) {
    const problems = problemsOf(text, environment ? { environment } : {});
    assert.deepEqual(problems, [
      "deploy.yml:6: SSH_PRIVATE_KEY is a secret: set it as a CI variable, not in the repository",
    ]);
  }
});

Deno.test("parseConfigFile refuses environments inside an overlay", () => {
  const text = "environments:\n  staging:\n    environments:\n      review:\n        APP_NAME: x\n";
  assert.deepEqual(problemsOf(text, { environment: "staging" }), [
    'deploy.yml:3: "environments": expected a variable name such as APP_NAME',
  ]);
});
