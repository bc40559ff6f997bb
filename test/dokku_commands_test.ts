import assert from "node:assert/strict";
import {
  gitUrl,
  processCommand,
  rebuildCommand,
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
  await t.step("ps actions name the app, then the process type", () => {
    assert.deepEqual(processCommand("shop", "worker", "restart"), ["ps:restart", "shop", "worker"]);
    assert.deepEqual(processCommand("shop", "web", "stop"), ["ps:stop", "shop", "web"]);
    assert.deepEqual(processCommand("shop", "web", "start"), ["ps:start", "shop", "web"]);
  });
  await t.step("FORCE_DEPLOY rebuilds the app", () => {
    assert.deepEqual(rebuildCommand("shop"), ["ps:rebuild", "shop"]);
  });
});

Deno.test("The SSH command text quotes only the arguments that need it", () => {
  assert.equal(sshCommandText(["ps:restart", "shop", "worker"]), "ps:restart shop worker");
  assert.equal(
    sshCommandText(["run", "shop", "echo", "it's $HOME"]),
    `run shop echo 'it'"'"'s $HOME'`,
  );
  assert.equal(sshCommandText(["run", "shop", ""]), "run shop ''");
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
