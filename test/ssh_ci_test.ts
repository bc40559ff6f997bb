/**
 * The SSH pieces CI runners need: SSH_KNOWN_HOSTS from a GitLab File variable, and Windows runners
 * without ControlMaster.
 */
import assert from "node:assert/strict";
import { ConfigError } from "../src/errors.ts";
import { createLogger } from "../src/logger.ts";
import { Secrets } from "../src/secrets.ts";
import type { Shell } from "../src/shell.ts";
import { canMultiplex, resolveKnownHosts, SshSession } from "../src/ssh.ts";

const LINE = "dokku.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests";

function recordingShell(): Shell & { ran: string[][] } {
  const ran: string[][] = [];
  return {
    ran,
    cancel() {},
    run(cmd) {
      ran.push([...cmd]);
      return Promise.resolve({ code: 0, stdout: "", stderr: "", tail: [] });
    },
  };
}

Deno.test("resolveKnownHosts takes known_hosts lines, or the path a GitLab File variable holds", async (t) => {
  await t.step("lines as they are", async () => {
    assert.equal(await resolveKnownHosts(`\n${LINE}\n`), `${LINE}\n`);
  });
  await t.step("a path: the file's lines", async () => {
    const file = await Deno.makeTempFile();
    try {
      await Deno.writeTextFile(file, `${LINE}\r\nother.example ssh-rsa AAAAB3Nza\r\n`);
      assert.equal(await resolveKnownHosts(file), `${LINE}\nother.example ssh-rsa AAAAB3Nza\n`);
    } finally {
      await Deno.remove(file);
    }
  });
  await t.step("a path that cannot be read: a ConfigError naming the variable", async () => {
    await assert.rejects(
      resolveKnownHosts("/nonexistent/known_hosts"),
      (error: unknown) => error instanceof ConfigError && /SSH_KNOWN_HOSTS/.test(error.message),
    );
  });
});

Deno.test("SshSession.open writes the known_hosts file's lines when SSH_KNOWN_HOSTS is a path", async () => {
  const file = await Deno.makeTempFile();
  await Deno.writeTextFile(file, LINE + "\n");
  const session = await SshSession.open(recordingShell(), { knownHosts: file });
  try {
    assert.equal(await Deno.readTextFile(`${session.dir}/known_hosts`), `${LINE}\n`);
    const options = session.options({ user: "dokku", host: "h", port: 22 });
    assert.ok(options.includes(`UserKnownHostsFile=${session.dir}/known_hosts`));
    assert.ok(options.includes("StrictHostKeyChecking=yes"));
  } finally {
    await session.close();
    await Deno.remove(file);
  }
});

Deno.test("SshSession on Windows connects once per command, without ControlMaster, and says so", async () => {
  assert.equal(canMultiplex("windows"), false);
  assert.equal(canMultiplex("linux"), true);
  assert.equal(canMultiplex("darwin"), true);
  const shell = recordingShell();
  const session = await SshSession.open(shell, { knownHosts: LINE, os: "windows" });
  const lines: string[] = [];
  const secrets = new Secrets();
  const logger = createLogger({
    secrets,
    write: (t) => lines.push(t),
    format: "text",
    color: false,
  });
  try {
    const target = { user: "dokku", host: "h", port: 22 };
    await session.connect(target, logger);
    assert.deepEqual(shell.ran, [], "connect started a ControlMaster");
    assert.match(lines.join(""), /Windows OpenSSH has no ControlMaster/);
    const argv = session.command(target, "apps:list");
    assert.ok(!argv.some((a) => /^Control/.test(a)), argv.join(" "));
    assert.ok(!/Control/.test(session.gitSshCommand()), session.gitSshCommand());
    assert.equal(argv.at(-1), "apps:list");
    await session.close();
    assert.deepEqual(shell.ran, [], "close ran ssh -O exit without a master");
  } finally {
    await session.close();
  }
});

Deno.test("SshSession elsewhere shares one ControlMaster connection", async () => {
  const shell = recordingShell();
  const session = await SshSession.open(shell, { knownHosts: LINE, os: "linux" });
  try {
    const target = { user: "dokku", host: "h", port: 22 };
    assert.ok(session.options(target).includes(`ControlPath=${session.dir}/cm-%C`));
    await session.connect(target);
    assert.ok(shell.ran[0]?.includes("ControlMaster=yes"));
    assert.ok(session.command(target, "x").includes("ControlMaster=no"));
  } finally {
    await session.close();
  }
});
