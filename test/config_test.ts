import assert from "node:assert/strict";
import { z } from "zod";
import { assertNoProblems, mergeSettings, validateVariables } from "../src/config.ts";
import { ConfigError } from "../src/errors.ts";
import { flag, variable } from "../src/variables.ts";

const FILE = {
  values: { APP_NAME: "from-file", DOKKU_BRANCH: "main", REGION: "eu" },
  locations: { APP_NAME: "deploy.yml:1", DOKKU_BRANCH: "deploy.yml:2", REGION: "deploy.yml:3" },
};

Deno.test("mergeSettings ranks flags over env over the file", async (t) => {
  const merged = mergeSettings({
    flags: { APP_NAME: "from-flag", DEPLOY_PROVIDER: undefined },
    env: { APP_NAME: "from-env", DOKKU_BRANCH: "from-env", DEPLOY_PROVIDER: "dokku" },
    file: FILE,
  });
  await t.step("a flag beats env and the file", () => {
    assert.equal(merged.vars.APP_NAME, "from-flag");
    assert.equal(merged.origins.APP_NAME, "command line");
  });
  await t.step("env beats the file, and its origin is not the file", () => {
    assert.equal(merged.vars.DOKKU_BRANCH, "from-env");
    assert.equal(merged.origins.DOKKU_BRANCH, undefined);
  });
  await t.step("the file fills in what env and flags leave unset", () => {
    assert.equal(merged.vars.REGION, "eu");
    assert.equal(merged.origins.REGION, "deploy.yml:3");
  });
  await t.step("an unset flag does not hide env", () => {
    assert.equal(merged.vars.DEPLOY_PROVIDER, "dokku");
  });
});

Deno.test("mergeSettings counts empty values as unset", async (t) => {
  await t.step("an empty env value leaves the file's value", () => {
    const merged = mergeSettings({ flags: {}, env: { APP_NAME: "" }, file: FILE });
    assert.equal(merged.vars.APP_NAME, "from-file");
    assert.equal(merged.origins.APP_NAME, "deploy.yml:1");
  });
  await t.step("an empty env value with no file is absent", () => {
    const merged = mergeSettings({ flags: {}, env: { APP_NAME: "" } });
    assert.ok(!("APP_NAME" in merged.vars));
  });
  await t.step("an empty flag leaves env", () => {
    const merged = mergeSettings({ flags: { APP_NAME: "" }, env: { APP_NAME: "from-env" } });
    assert.equal(merged.vars.APP_NAME, "from-env");
  });
});

Deno.test("mergeSettings falls back to defaults when no source sets a variable", () => {
  const schema = z.object({
    DOKKU_BRANCH: variable(z.string().default("master"), { description: "branch" }),
  });
  const merged = mergeSettings({ flags: {}, env: {} });
  const result = validateVariables(schema, merged);
  assert.deepEqual(result.problems, []);
  assert.equal(result.config?.DOKKU_BRANCH, "master");
  const fromFile = validateVariables(schema, mergeSettings({ flags: {}, env: {}, file: FILE }));
  assert.equal(fromFile.config?.DOKKU_BRANCH, "main");
});

const schema = z.object({
  APP_NAME: variable(
    z.string({ error: "expected the app's name" }).regex(/^[a-z][a-z0-9-]*$/, {
      error: "expected lowercase letters, digits and dashes",
    }),
    { description: "app" },
  ),
  API_TOKEN: variable(z.string().min(20, { error: "expected at least 20 characters" }), {
    description: "token",
    secret: true,
  }),
  REGION: variable(z.enum(["eu", "us"]).optional(), { description: "region" }),
  VERBOSE: flag({ description: "verbose" }),
  RETRIES: variable(
    z.string().regex(/^\d+$/, { error: "expected a whole number" }).transform(Number).optional(),
    { description: "retries" },
  ),
});

Deno.test("validateVariables returns the parsed config when every variable is fine", () => {
  const result = validateVariables(
    schema,
    mergeSettings({
      flags: {},
      env: { APP_NAME: "shop", API_TOKEN: "x".repeat(24), VERBOSE: "yes", RETRIES: "3" },
    }),
  );
  assert.deepEqual(result.problems, []);
  assert.deepEqual(result.config, {
    APP_NAME: "shop",
    API_TOKEN: "x".repeat(24),
    VERBOSE: true,
    RETRIES: 3,
  });
});

Deno.test("validateVariables ignores variables other schemas declare", () => {
  const result = validateVariables(
    schema,
    mergeSettings({
      flags: {},
      env: { APP_NAME: "shop", API_TOKEN: "x".repeat(24), OTHER: "whatever" },
    }),
  );
  assert.deepEqual(result.problems, []);
  assert.ok(result.config && !("OTHER" in result.config));
});

Deno.test("validateVariables lists every problem with name, expectation and found value", async (t) => {
  const result = validateVariables(
    schema,
    mergeSettings({
      flags: {},
      env: { API_TOKEN: "short-secret", REGION: "mars", VERBOSE: "maybe", RETRIES: "1.5" },
      file: { values: { REGION: "eu" }, locations: { REGION: "deploy.yml:3" } },
    }),
  );
  const problems = result.problems;
  assert.equal(result.config, undefined);
  assert.equal(problems.length, 5, problems.join("\n"));
  await t.step("a required variable that is unset", () => {
    assert.ok(
      problems.includes("APP_NAME is required: expected the app's name"),
      problems.join("\n"),
    );
  });
  await t.step("a secret's value is masked", () => {
    assert.ok(
      problems.includes("API_TOKEN: expected at least 20 characters, found ***"),
      problems.join("\n"),
    );
    assert.ok(!problems.join("\n").includes("short-secret"));
  });
  await t.step("a plain value is quoted", () => {
    const region = problems.find((p) => p.startsWith("REGION"));
    assert.match(region ?? "", /^REGION: .*expected one of "eu"\|"us", found "mars"$/);
  });
  await t.step("a boolean", () => {
    assert.ok(
      problems.includes('VERBOSE: expected true or false, found "maybe"'),
      problems.join("\n"),
    );
  });
  await t.step("a number", () => {
    assert.match(problems.find((p) => p.startsWith("RETRIES")) ?? "", /found "1\.5"$/);
  });
});

Deno.test("validateVariables names where a value from deploy.yml or a flag was written", async (t) => {
  await t.step("deploy.yml:3", () => {
    const result = validateVariables(
      schema,
      mergeSettings({
        flags: {},
        env: { API_TOKEN: "x".repeat(24) },
        file: {
          values: { APP_NAME: "Shop_1" },
          locations: { APP_NAME: "deploy.yml:3" },
        },
      }),
    );
    assert.deepEqual(result.problems, [
      'APP_NAME (deploy.yml:3): expected lowercase letters, digits and dashes, found "Shop_1"',
    ]);
  });
  await t.step("the command line", () => {
    const result = validateVariables(
      schema,
      mergeSettings({ flags: { APP_NAME: "Bad" }, env: { API_TOKEN: "x".repeat(24) } }),
    );
    assert.match(result.problems[0] ?? "", /^APP_NAME \(command line\): /);
  });
});

Deno.test({
  name: "validateVariables masks a password inside a URL in the value it shows",
  fn() {
    const result = validateVariables(
      schema,
      mergeSettings({
        flags: {},
        env: {
          APP_NAME: "https://deploy:hunter2secret@git.example.com",
          API_TOKEN: "x".repeat(24),
        },
      }),
    );
    assert.equal(result.problems.length, 1);
    assert.ok(!result.problems[0]!.includes("hunter2secret"), result.problems[0]);
  },
});

Deno.test("assertNoProblems throws one ConfigError listing every distinct problem", async (t) => {
  await t.step("no problems", () => assertNoProblems([]));
  await t.step("several problems, one repeated", () => {
    assert.throws(
      () => assertNoProblems(["A is required", "B: expected x", "A is required"]),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.equal(error.exitCode, 2);
        assert.deepEqual(error.problems, ["A is required", "B: expected x"]);
        assert.match(error.message, /2 problems/);
        assert.match(error.message, /- A is required\n {2}- B: expected x/);
        return true;
      },
    );
  });
});

Deno.test("validateVariables words zod's own messages as what was expected, without zod's 'received'", () => {
  const plain = z.object({
    NAME: variable(z.string(), { description: "A name" }),
    REGION: variable(z.enum(["eu", "us"]), { description: "A region" }),
  });
  const result = validateVariables(plain, mergeSettings({ flags: {}, env: { REGION: "mars" } }));
  assert.deepEqual(result.problems, [
    "NAME is required: expected string",
    'REGION: expected one of "eu"|"us", found "mars"',
  ]);
});
