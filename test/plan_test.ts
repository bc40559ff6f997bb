import assert from "node:assert/strict";
import { z } from "zod";
import { mergeSettings } from "../src/config.ts";
import { ConfigError } from "../src/errors.ts";
import { defineLayer, type LayerKind } from "../src/layer.ts";
import { type AnyLayer, parseLayerSwitches, planRun } from "../src/plan.ts";
import { Secrets } from "../src/secrets.ts";
import { variable } from "../src/variables.ts";

const KEY = "-----BEGIN KEY-----\nc2VjcmV0LWtleS1saW5l\n-----END KEY-----";

function provider(name: string) {
  return defineLayer({
    name,
    kind: "provider",
    description: `${name} provider`,
    variables: z.object({
      APP_NAME: variable(z.string({ error: "expected the app's name" }), { description: "app" }),
      [`${name.toUpperCase()}_KEY`]: variable(z.string().min(100).optional(), {
        description: "key",
        secret: true,
      }),
    }),
    enabled: () => false,
    setup: () => {},
  });
}

/** A non-provider layer that enables itself when `trigger` is set. */
function layer(name: string, kind: LayerKind, trigger: string) {
  return defineLayer({
    name,
    kind,
    description: `${name} layer`,
    variables: z.object({
      [trigger]: variable(z.string({ error: "expected a URL" }).url({ error: "expected a URL" }), {
        description: "trigger",
        secret: true,
      }),
    }),
    enabled: ({ vars }) => vars[trigger] !== undefined,
    setup: () => {},
  });
}

const LAYERS: AnyLayer[] = [
  provider("dokku"),
  provider("heroku"),
  layer("rails", "application", "RAILS_MARKER"),
  layer("slack", "notifier", "SLACK_WEBHOOK_URL"),
  layer("sentry", "third_party", "SENTRY_DSN"),
];

function plan(env: Record<string, string>) {
  const secrets = new Secrets();
  const settings = mergeSettings({ flags: {}, env });
  return { secrets, result: planRun(LAYERS, settings, { cwd: "/nonexistent", secrets }) };
}

/** The ConfigError a plan fails with. */
async function planProblems(env: Record<string, string>) {
  const { secrets, result } = plan(env);
  const error = await result.then(() => assert.fail("planRun should have thrown"), (e) => e);
  assert.ok(error instanceof ConfigError, String(error));
  return { error, problems: error.problems, secrets };
}

Deno.test("parseLayerSwitches reads names on and off, separated by commas or spaces", async (t) => {
  const cases: [string | undefined, string[], string[]][] = [
    [undefined, [], []],
    ["", [], []],
    ["rails", ["rails"], []],
    ["+rails", ["rails"], []],
    ["-rails", [], ["rails"]],
    ["rails,-sentry +slack", ["rails", "slack"], ["sentry"]],
    [" , rails ,, -sentry ", ["rails"], ["sentry"]],
  ];
  for (const [value, on, off] of cases) {
    await t.step(JSON.stringify(value) ?? "undefined", () => {
      const switches = parseLayerSwitches(value);
      assert.deepEqual([...switches.on], on);
      assert.deepEqual([...switches.off], off);
    });
  }
});

Deno.test("planRun chooses the provider from DEPLOY_PROVIDER and layers by their variables", async () => {
  const { result } = plan({
    DEPLOY_PROVIDER: "heroku",
    APP_NAME: "shop",
    SLACK_WEBHOOK_URL: "https://hooks.example.com/T1",
  });
  const planned = await result;
  assert.equal(planned.provider.name, "heroku");
  assert.deepEqual(planned.layers.map((l) => l.name), ["heroku", "slack"]);
  assert.deepEqual(planned.configs.get("heroku"), { APP_NAME: "shop" });
  assert.deepEqual(planned.configs.get("slack"), {
    SLACK_WEBHOOK_URL: "https://hooks.example.com/T1",
  });
  assert.equal(planned.core.FORCE_DEPLOY, false);
});

Deno.test("planRun requires DEPLOY_PROVIDER and names the providers it knows", async (t) => {
  await t.step("unset", async () => {
    const { problems } = await planProblems({ APP_NAME: "shop" });
    assert.ok(
      problems.includes("DEPLOY_PROVIDER is required: expected one of dokku, heroku"),
      problems.join("\n"),
    );
  });
  await t.step("unknown", async () => {
    const { problems } = await planProblems({ DEPLOY_PROVIDER: "fly", APP_NAME: "shop" });
    assert.deepEqual(problems, ['DEPLOY_PROVIDER: expected one of dokku, heroku, found "fly"']);
  });
});

Deno.test("planRun forces layers on and off with DEPLOY_LAYERS", async (t) => {
  await t.step("off, although its variables are set", async () => {
    const { result } = plan({
      DEPLOY_PROVIDER: "dokku",
      APP_NAME: "shop",
      SLACK_WEBHOOK_URL: "https://hooks.example.com/T1",
      DEPLOY_LAYERS: "-slack",
    });
    assert.deepEqual((await result).layers.map((l) => l.name), ["dokku"]);
  });
  await t.step("on, although its variables are unset: then they are checked", async () => {
    const { problems } = await planProblems({
      DEPLOY_PROVIDER: "dokku",
      APP_NAME: "shop",
      DEPLOY_LAYERS: "+rails",
    });
    assert.deepEqual(problems, ["RAILS_MARKER is required: expected a URL"]);
  });
  await t.step("on, with its variables", async () => {
    const { result } = plan({
      DEPLOY_PROVIDER: "dokku",
      APP_NAME: "shop",
      RAILS_MARKER: "https://example.com",
      DEPLOY_LAYERS: "rails,-sentry",
    });
    assert.deepEqual((await result).layers.map((l) => l.name), ["dokku", "rails"]);
  });
});

Deno.test("planRun refuses unknown layer names and providers in DEPLOY_LAYERS", async () => {
  const { problems } = await planProblems({
    DEPLOY_PROVIDER: "dokku",
    APP_NAME: "shop",
    DEPLOY_LAYERS: "-railz,heroku",
  });
  assert.deepEqual(problems.toSorted(), [
    'DEPLOY_LAYERS: "heroku" is a provider; choose it with DEPLOY_PROVIDER',
    'DEPLOY_LAYERS: unknown layer "railz", expected some of rails, slack, sentry',
  ]);
});

Deno.test("planRun reports every problem at once in one ConfigError", async () => {
  const { error, problems } = await planProblems({
    DEPLOY_PROVIDER: "dokku",
    DEPLOY_LAYERS: "nope",
    FORCE_DEPLOY: "perhaps",
    SLACK_WEBHOOK_URL: "not a url",
  });
  assert.deepEqual(problems.toSorted(), [
    "APP_NAME is required: expected the app's name",
    'DEPLOY_LAYERS: unknown layer "nope", expected some of rails, slack, sentry',
    'FORCE_DEPLOY: expected true or false, found "perhaps"',
    "SLACK_WEBHOOK_URL: expected a URL, found ***",
  ]);
  assert.equal(error.exitCode, 2);
  assert.match(error.message, /^Invalid configuration \(4 problems\):/);
});

Deno.test("planRun registers every layer's secrets before it writes any message", async (t) => {
  const { secrets, problems } = await planProblems({
    DEPLOY_PROVIDER: "dokku",
    DOKKU_KEY: KEY,
    HEROKU_KEY: "heroku-api-key-123456",
    SLACK_WEBHOOK_URL: "hooks-secret-value",
  });
  await t.step("the secret of a provider not chosen", () => {
    assert.equal(secrets.mask("x heroku-api-key-123456"), "x ***");
  });
  await t.step("a multi-line key, line by line", () => {
    assert.equal(secrets.mask("c2VjcmV0LWtleS1saW5l"), "***");
  });
  await t.step("no message shows a secret", () => {
    const text = problems.join("\n");
    for (const value of ["c2VjcmV0LWtleS1saW5l", "hooks-secret-value"]) {
      assert.ok(!text.includes(value), text);
    }
    assert.match(text, /DOKKU_KEY: .*found \*\*\*/);
  });
});

Deno.test({
  name: "planRun refuses a layer that DEPLOY_LAYERS forces both on and off",
  async fn() {
    const { problems } = await planProblems({
      DEPLOY_PROVIDER: "dokku",
      APP_NAME: "shop",
      RAILS_MARKER: "https://example.com",
      DEPLOY_LAYERS: "rails,-rails",
    });
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /DEPLOY_LAYERS: .*rails.*both/);
  },
});

Deno.test("planRun refuses a lone + or - in DEPLOY_LAYERS", async () => {
  const { problems } = await planProblems({
    DEPLOY_PROVIDER: "dokku",
    APP_NAME: "shop",
    DEPLOY_LAYERS: "slack, -",
    SLACK_WEBHOOK_URL: "https://hooks.example.com/x",
  });
  assert.deepEqual(problems, [
    "DEPLOY_LAYERS: expected layer names such as rails or -rails, found a lone sign",
  ]);
});
