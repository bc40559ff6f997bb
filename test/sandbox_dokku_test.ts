import assert from "node:assert/strict";
import { type DokkuSandbox, startDokkuSandbox } from "./sandbox/dokku.ts";

// a command that hangs fails its test instead of holding CI
const COMMAND_TIMEOUT_MS = 60_000;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function exec(
  cmd: string,
  args: string[],
  options: Deno.CommandOptions = {},
): Promise<Result> {
  const out = await new Deno.Command(cmd, {
    signal: AbortSignal.timeout(COMMAND_TIMEOUT_MS),
    args,
    stdout: "piped",
    stderr: "piped",
    ...options,
  })
    .output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** Runs one remote command with plain ssh; `command` is sent exactly as given. ssh keeps the first
 * value of an option, so `extra` goes first to override the sandbox's defaults. */
function ssh(dokku: DokkuSandbox, command: string, extra: string[] = []): Promise<Result> {
  return exec("ssh", [...extra, ...dokku.sshArgs, `${dokku.user}@${dokku.host}`, command]);
}

function git(dokku: DokkuSandbox, cwd: string, args: string[]): Promise<Result> {
  return exec("git", ["-c", "user.name=Test", "-c", "user.email=test@example.com", ...args], {
    cwd,
    env: { GIT_SSH_COMMAND: ["ssh", ...dokku.sshArgs].join(" "), GIT_TERMINAL_PROMPT: "0" },
  });
}

async function commit(dokku: DokkuSandbox, dir: string, file: string): Promise<string> {
  await Deno.writeTextFile(`${dir}/${file}`, file);
  assert.equal((await git(dokku, dir, ["add", file])).code, 0);
  assert.equal((await git(dokku, dir, ["commit", "-q", "-m", file])).code, 0);
  return (await git(dokku, dir, ["rev-parse", "HEAD"])).stdout.trim();
}

Deno.test("Dokku sandbox answers version over a real ssh connection with a pinned host key", async () => {
  await using dokku = await startDokkuSandbox({ version: "0.34.1" });
  assert.equal(dokku.dokkuHost, `${dokku.user}@127.0.0.1:${dokku.port}`);
  assert.match(
    dokku.knownHosts,
    new RegExp(`^\\[127\\.0\\.0\\.1\\]:${dokku.port} ssh-ed25519 AAAA`),
  );
  assert.match(dokku.hostKeyFingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/);
  assert.match(dokku.privateKey, /^-----BEGIN OPENSSH PRIVATE KEY-----\n/);
  assert.equal((await Deno.stat(dokku.privateKeyPath)).mode! & 0o777, 0o600);

  const result = await ssh(dokku, "version");
  assert.deepEqual([result.code, result.stdout], [0, "dokku version 0.34.1\n"]);
  assert.deepEqual((await dokku.calls()).map((c) => [c.argv, c.raw]), [[["version"], "version"]]);
  assert.equal(await dokku.connections(), 1);

  // StrictHostKeyChecking=yes: a known_hosts file with another key must be refused.
  const otherKnownHosts = `${dokku.stateDir}/other_known_hosts`;
  await Deno.writeTextFile(
    otherKnownHosts,
    dokku.knownHosts.replace(
      /AAAA\S+/,
      (await Deno.readTextFile(`${dokku.privateKeyPath}.pub`)).split(" ")[1]!,
    ),
  );
  const refused = await ssh(dokku, "version", ["-o", `UserKnownHostsFile=${otherKnownHosts}`]);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
});

Deno.test("Dokku sandbox builds a pushed commit, and fails exactly one build on request", async () => {
  await using dokku = await startDokkuSandbox();
  const dir = await Deno.makeTempDir({ prefix: "sandbox_push_" });
  try {
    assert.equal((await git(dokku, dir, ["init", "-q", "-b", "main"])).code, 0);
    const first = await commit(dokku, dir, "one");
    const url = `ssh://${dokku.user}@127.0.0.1:${dokku.port}/my-app`;

    const pushed = await git(dokku, dir, ["push", url, "HEAD:master"]);
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.match(pushed.stderr, /-----> Building my-app from herokuish/);
    assert.match(pushed.stderr, /-----> Adding BUILD_ENV to build environment/);
    assert.match(pushed.stderr, /=====> Application deployed:/);
    assert.equal(await dokku.deployedSha("my-app"), first);
    assert.deepEqual((await dokku.calls()).map((c) => c.argv), [["git-receive-pack", "my-app"]]);

    await dokku.failNextBuild("Gemfile.lock is out of date");
    const second = await commit(dokku, dir, "two");
    const failed = await git(dokku, dir, ["push", url, "HEAD:master"]);
    assert.notEqual(failed.code, 0);
    assert.match(
      failed.stderr,
      /Building my-app from herokuish[\s\S]* ! {5}Gemfile\.lock is out of date/,
    );
    assert.match(failed.stderr, /pre-receive hook declined/);
    assert.doesNotMatch(failed.stderr, /Application deployed/);
    assert.equal(await dokku.deployedSha("my-app"), first);

    const retried = await git(dokku, dir, ["push", url, "HEAD:master"]);
    assert.equal(retried.code, 0, retried.stderr);
    assert.equal(await dokku.deployedSha("my-app"), second);

    const listed = await git(dokku, dir, ["ls-remote", url]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(`^${second}\\trefs/heads/master$`, "m"));
    assert.equal(await dokku.deployedSha("other-app"), null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Dokku sandbox answers ps commands and rejects unknown commands", async () => {
  await using dokku = await startDokkuSandbox();
  assert.equal((await ssh(dokku, "apps:exists web-app")).code, 1);
  assert.equal((await ssh(dokku, "apps:create web-app")).code, 0);
  assert.equal((await ssh(dokku, "apps:exists web-app")).code, 0);

  const restart = await ssh(dokku, "ps:restart web-app");
  assert.deepEqual([restart.code, restart.stdout], [0, "-----> Restarting web-app\n"]);
  const scale = await ssh(dokku, "ps:scale web-app web=2 worker=1");
  assert.deepEqual([scale.code, scale.stdout], [
    0,
    "-----> Scaling web-app processes: web=2 worker=1\n",
  ]);
  const missing = await ssh(dokku, "ps:stop other");
  assert.deepEqual([missing.code, missing.stderr], [1, " !     App other does not exist\n"]);
  const unknown = await ssh(dokku, "frobnicate web-app");
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /^ ! {5}`frobnicate web-app` is not a dokku command\.$/m);
  assert.deepEqual((await dokku.calls()).map((c) => c.argv[0]), [
    "apps:exists",
    "apps:create",
    "apps:exists",
    "ps:restart",
    "ps:scale",
    "ps:stop",
    "frobnicate",
  ]);
});

Deno.test("Dokku sandbox counts ControlMaster sessions as one connection", async () => {
  await using dokku = await startDokkuSandbox();
  const socket = `${dokku.stateDir}/cm.sock`;
  const target = `${dokku.user}@${dokku.host}`;
  const master = new Deno.Command("ssh", {
    signal: AbortSignal.timeout(COMMAND_TIMEOUT_MS),
    args: [...dokku.sshArgs, "-M", "-S", socket, "-N", target],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  try {
    const check = ["-S", socket, "-O", "check", target];
    for (let i = 0; (await exec("ssh", [...dokku.sshArgs, ...check])).code !== 0; i++) {
      assert.ok(i < 250, "ControlMaster did not come up");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    for (const command of ["version", "version"]) {
      const result = await ssh(dokku, command, ["-S", socket, "-o", "ControlMaster=no"]);
      assert.deepEqual([result.code, result.stdout], [0, "dokku version 0.35.12\n"]);
    }
    assert.equal((await dokku.calls()).length, 2);
    assert.equal(await dokku.connections(), 1);
  } finally {
    await exec("ssh", [...dokku.sshArgs, "-S", socket, "-O", "exit", target]);
    await master.stderr.cancel();
    await master.status;
  }
});

Deno.test("Dokku sandbox stop kills sshd and removes its state", async () => {
  const dokku = await startDokkuSandbox();
  await dokku.stop();
  await dokku.stop();
  await assert.rejects(Deno.stat(dokku.stateDir), Deno.errors.NotFound);
  await assert.rejects(
    Deno.connect({ hostname: "127.0.0.1", port: dokku.port }),
    Deno.errors.ConnectionRefused,
  );
});
