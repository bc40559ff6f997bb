import assert from "node:assert/strict";
import dokku, { DOKKU_APP_NAME, parseDokkuHost } from "../layers/providers/dokku.ts";
import { mergeSettings, validateVariables } from "../src/config.ts";
import { isSecret } from "../src/variables.ts";

Deno.test("parseDokkuHost reads [user@]host[:port], with user dokku and port 22 by default", async (t) => {
  const cases: [string, { user: string; host: string; port: number }][] = [
    ["dokku.example.com", { user: "dokku", host: "dokku.example.com", port: 22 }],
    ["deploy@dokku.example.com", { user: "deploy", host: "dokku.example.com", port: 22 }],
    ["127.0.0.1:2222", { user: "dokku", host: "127.0.0.1", port: 2222 }],
    ["git_user@10.0.0.5:65535", { user: "git_user", host: "10.0.0.5", port: 65535 }],
    ["[::1]:2222", { user: "dokku", host: "::1", port: 2222 }],
    ["dokku@[2001:db8::1]", { user: "dokku", host: "2001:db8::1", port: 22 }],
    ["localhost:1", { user: "dokku", host: "localhost", port: 1 }],
    ["  dokku@host  ", { user: "dokku", host: "host", port: 22 }],
  ];
  for (const [value, expected] of cases) {
    await t.step(value, () => assert.deepEqual(parseDokkuHost(value), expected));
  }
});

Deno.test("parseDokkuHost refuses anything else", async (t) => {
  const cases = [
    "",
    "a:b:c",
    "host:0",
    "host:99999",
    "host:",
    "host:22x",
    "user@",
    "@host",
    "dokku@ho st",
    "dokku @host",
    "::1",
    "[::1",
    "ssh://dokku@host:22",
    "-oProxyCommand=touch",
    "user@-host",
    "host/app",
    "a@b@c",
  ];
  for (const value of cases) {
    await t.step(JSON.stringify(value), () => assert.equal(parseDokkuHost(value), null));
  }
});

Deno.test("DOKKU_APP_NAME accepts lowercase letters, digits, dots and dashes, starting with a letter or digit", async (t) => {
  for (const name of ["shop", "shop-staging", "1shop", "a", "my-app-2", "shop.io", "eu.shop.v2"]) {
    await t.step(`accepts ${name}`, () => assert.match(name, DOKKU_APP_NAME));
  }
  for (const name of ["", "Shop", "-shop", ".shop", "shop_staging", "shop staging", "shop\n"]) {
    await t.step(`refuses ${JSON.stringify(name)}`, () => {
      assert.doesNotMatch(name, DOKKU_APP_NAME);
    });
  }
});

Deno.test("The dokku layer's variables report a bad host and app name with what was expected", () => {
  const result = validateVariables(
    dokku.variables,
    mergeSettings({ flags: {}, env: { DOKKU_HOST: "a:b:c", APP_NAME: "Shop_1" } }),
  );
  assert.deepEqual(result.problems.toSorted(), [
    'APP_NAME: expected lowercase letters, digits, dots and dashes, starting with a letter or digit, found "Shop_1"',
    'DOKKU_HOST: expected [user@]host[:port], found "a:b:c"',
  ]);
});

Deno.test("The dokku layer requires DOKKU_HOST and APP_NAME, and leaves the branch to the server", async (t) => {
  await t.step("both missing", () => {
    const result = validateVariables(dokku.variables, mergeSettings({ flags: {}, env: {} }));
    assert.deepEqual(result.problems.toSorted(), [
      "APP_NAME is required: expected the Dokku app's name",
      "DOKKU_HOST is required: expected [user@]host[:port]",
    ]);
  });
  await t.step("both set", () => {
    const result = validateVariables(
      dokku.variables,
      mergeSettings({ flags: {}, env: { DOKKU_HOST: "127.0.0.1:2222", APP_NAME: "shop" } }),
    );
    assert.deepEqual(result.problems, []);
    assert.deepEqual(result.config?.DOKKU_HOST, { user: "dokku", host: "127.0.0.1", port: 2222 });
    // unset: the provider pushes to the deploy branch git:report names
    assert.equal(result.config?.DOKKU_BRANCH, undefined);
    assert.equal(result.config?.DOKKU_CREATE_APP, false);
    assert.equal(result.config?.SSH_CONNECT_TIMEOUT, 15);
  });
});

Deno.test("The dokku layer declares SSH_PRIVATE_KEY, and only it, as a secret", () => {
  assert.equal(isSecret(dokku.variables, "SSH_PRIVATE_KEY"), true);
  assert.equal(isSecret(dokku.variables, "SSH_KNOWN_HOSTS"), false);
  assert.equal(isSecret(dokku.variables, "DOKKU_HOST"), false);
});

Deno.test("The dokku layer is a provider that DEPLOY_PROVIDER=dokku enables", async () => {
  assert.equal(dokku.name, "dokku");
  assert.equal(dokku.kind, "provider");
  assert.equal(await dokku.enabled({ vars: { DEPLOY_PROVIDER: "dokku" }, cwd: "." }), true);
  assert.equal(await dokku.enabled({ vars: { DEPLOY_PROVIDER: "heroku" }, cwd: "." }), false);
});
