import assert from "node:assert/strict";
import {
  appsReportCommand,
  cancelBuildCommand,
  createAppCommand,
  gitReportCommand,
  gitUrl,
  rebuildCommand,
  restartCommand,
  runCommand,
  sshCommandText,
  versionCommand,
} from "../layers/providers/dokku/commands.ts";

Deno.test("Dokku commands are built as argv, the app and the arguments each one word", async (t) => {
  await t.step("version", () => assert.deepEqual(versionCommand(), ["version"]));
  await t.step("run keeps every argument whole", () => {
    assert.deepEqual(runCommand("shop", ["bundle", "exec", "rails", "runner", "puts 1; exit 2"]), [
      "run",
      "shop",
      "bundle",
      "exec",
      "rails",
      "runner",
      "puts 1; exit 2",
    ]);
  });
  await t.step("ps:restart names the type from Dokku 0.26 on, the whole app before", () => {
    assert.deepEqual(restartCommand("shop", "worker", "0.26.0"), ["ps:restart", "shop", "worker"]);
    assert.deepEqual(restartCommand("shop", "worker", "0.25.7"), ["ps:restart", "shop"]);
  });
  await t.step("reports, creation and build cancelling name the app", () => {
    assert.deepEqual(appsReportCommand("shop.eu"), ["apps:report", "shop.eu"]);
    assert.deepEqual(gitReportCommand("shop"), ["git:report", "shop"]);
    assert.deepEqual(createAppCommand("shop"), ["apps:create", "shop"]);
    assert.deepEqual(cancelBuildCommand("shop"), ["builds:cancel", "shop"]);
  });
  await t.step("FORCE_DEPLOY rebuilds the app", () => {
    assert.deepEqual(rebuildCommand("shop"), ["ps:rebuild", "shop"]);
  });
});

Deno.test("The SSH command text sends the words bare, and refuses a word Dokku would change", () => {
  assert.equal(sshCommandText(["ps:restart", "shop", "worker"]), "ps:restart shop worker");
  assert.equal(
    sshCommandText(["run", "shop", "bundle", "exec", "rails", "db:migrate"]),
    "run shop bundle exec rails db:migrate",
  );
  assert.throws(() => sshCommandText(["run", "shop", "echo", "it's $HOME"]), {
    name: "TypeError",
    message: /it's/,
  });
  assert.throws(() => sshCommandText(["run", "shop", ""]), { name: "TypeError", message: /empty/ });
  assert.throws(() => sshCommandText(["run", "shop", "x", "--trace"]), {
    name: "TypeError",
    message: /--trace/,
  });
});

Deno.test("The git URL of an app names the user, host, port and app; IPv6 hosts in brackets", () => {
  assert.equal(
    gitUrl({ user: "dokku", host: "dokku.example.com", port: 22 }, "shop"),
    "ssh://dokku@dokku.example.com:22/shop",
  );
  assert.equal(
    gitUrl({ user: "git", host: "::1", port: 2222 }, "shop"),
    "ssh://git@[::1]:2222/shop",
  );
});
