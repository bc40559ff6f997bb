import assert from "node:assert/strict";
import { ConfigError, DeployError } from "../src/errors.ts";
import { createLogger } from "../src/logger.ts";
import { Secrets } from "../src/secrets.ts";
import { createShell } from "../src/shell.ts";
import { recordingShell } from "./_doubles.ts";
import {
  looksLikePrivateKey,
  privateKeyHasPassphrase,
  resolvePrivateKey,
  sshRefusalMessage,
  SshSession,
  sshVariables,
} from "../src/ssh.ts";
import { z } from "zod";

const KEY = [
  "-----BEGIN OPENSSH PRIVATE KEY-----",
  "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
  "QyNTUxOQAAACBqVjQ1c2VjcmV0LWtleS1saW5lLXR3by10aGF0LWlzLWxvbmc=",
  "-----END OPENSSH PRIVATE KEY-----",
  "",
].join("\n");

function isConfigError(pattern: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    assert.match(error.message, pattern);
    return true;
  };
}

/** Base64 of a text, wrapped at 76 columns as `base64` writes it. */
function base64(text: string, wrap = true): string {
  const encoded = btoa(String.fromCharCode(...new TextEncoder().encode(text)));
  return wrap ? encoded.replace(/.{76}/g, "$&\n") : encoded;
}

Deno.test("resolvePrivateKey accepts the key text", async (t) => {
  await t.step("as is", async () => assert.equal(await resolvePrivateKey(KEY), KEY));
  await t.step("with CRLF line endings", async () => {
    assert.equal(await resolvePrivateKey(KEY.replaceAll("\n", "\r\n")), KEY);
  });
  await t.step("without its final newline", async () => {
    assert.equal(await resolvePrivateKey(KEY.trimEnd()), KEY);
  });
  await t.step("with blank lines and spaces around it", async () => {
    assert.equal(await resolvePrivateKey(`\n  ${KEY}\n\n`), KEY);
  });
});

Deno.test("resolvePrivateKey accepts the key text in base64", async (t) => {
  await t.step("on one line", async () => {
    assert.equal(await resolvePrivateKey(base64(KEY, false)), KEY);
  });
  await t.step("wrapped, as base64 writes it", async () => {
    assert.equal(await resolvePrivateKey(base64(KEY)), KEY);
  });
  await t.step("of a key with CRLF and no final newline", async () => {
    assert.equal(await resolvePrivateKey(base64(KEY.trimEnd().replaceAll("\n", "\r\n"))), KEY);
  });
});

Deno.test("resolvePrivateKey accepts a path to the key file, as GitLab File variables give", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    await t.step("a key file", async () => {
      await Deno.writeTextFile(`${dir}/id`, KEY.trimEnd().replaceAll("\n", "\r\n"));
      assert.equal(await resolvePrivateKey(`${dir}/id`), KEY);
    });
    await t.step("a path with a trailing newline", async () => {
      assert.equal(await resolvePrivateKey(`${dir}/id\n`), KEY);
    });
    await t.step("a file that holds no key", async () => {
      await Deno.writeTextFile(`${dir}/notes`, "hello\n");
      await assert.rejects(
        resolvePrivateKey(`${dir}/notes`),
        isConfigError(/SSH_PRIVATE_KEY: the file it names does not hold a private key/),
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("resolvePrivateKey refuses anything else with a ConfigError that shows no value", async (t) => {
  const cases = [
    "not a key at all",
    "/nonexistent/path/to/key",
    base64("just some text, not a key"),
    "%%%%",
  ];
  for (const value of cases) {
    await t.step(JSON.stringify(value.slice(0, 30)), async () => {
      await assert.rejects(resolvePrivateKey(value), (error: unknown) => {
        isConfigError(/expected the key text .*base64.*path/)(error);
        assert.ok(!(error as Error).message.includes(value));
        return true;
      });
    });
  }
});

Deno.test("SshSession.open writes the key with mode 0600 into a private 0700 directory", async () => {
  const session = await SshSession.open(recordingShell(), { privateKey: base64(KEY) });
  try {
    assert.equal((await Deno.stat(session.dir)).mode! & 0o777, 0o700);
    const keyFile = `${session.dir}/id`;
    assert.equal((await Deno.stat(keyFile)).mode! & 0o777, 0o600);
    assert.equal(await Deno.readTextFile(keyFile), KEY);
  } finally {
    await session.close();
  }
});

Deno.test("SshSession.open writes SSH_KNOWN_HOSTS with mode 0600", async () => {
  const lines = "[127.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample";
  const session = await SshSession.open(recordingShell(), { privateKey: KEY, knownHosts: lines });
  try {
    const file = `${session.dir}/known_hosts`;
    assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
    assert.equal(await Deno.readTextFile(file), `${lines}\n`);
  } finally {
    await session.close();
  }
});

Deno.test("SshSession.close removes the private directory, and only it", async () => {
  const outside = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${outside}/id`, KEY);
    const session = await SshSession.open(recordingShell(), { privateKey: `${outside}/id` });
    const dir = session.dir;
    await session.close();
    await assert.rejects(Deno.stat(dir), Deno.errors.NotFound);
    // the user's own key file, which it only read, is still there
    assert.equal(await Deno.readTextFile(`${outside}/id`), KEY);
  } finally {
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test("SshSession.closeNow removes the private directory synchronously", async () => {
  const session = await SshSession.open(recordingShell(), { privateKey: KEY });
  session.closeNow();
  assert.throws(() => Deno.statSync(session.dir), Deno.errors.NotFound);
  session.closeNow();
});

Deno.test("SshSession.open refuses a bad key before it creates anything", async () => {
  const shell = recordingShell();
  await assert.rejects(
    SshSession.open(shell, { privateKey: "garbage" }),
    isConfigError(/SSH_PRIVATE_KEY/),
  );
  assert.deepEqual(shell.ran, []);
});

/** The configuration ssh would use for `args`, as `ssh -G` prints it (no connection is made). */
async function sshConfig(gitSshCommand: string): Promise<Map<string, string[]>> {
  const shell = createShell({ secrets: new Secrets() });
  // git runs GIT_SSH_COMMAND through a shell, with the destination appended
  const { stdout } = await shell.run([
    "sh",
    "-c",
    `${gitSshCommand} -G -p 2222 dokku@127.0.0.1`,
  ], { env: { HOME: "/nonexistent" } });
  const config = new Map<string, string[]>();
  for (const line of stdout.split("\n").filter(Boolean)) {
    const [key, ...rest] = line.split(" ");
    config.set(key!, [...(config.get(key!) ?? []), rest.join(" ")]);
  }
  return config;
}

Deno.test("SshSession.gitSshCommand is read back by a shell into the session's ssh options", async (t) => {
  await t.step("with a key and known hosts: strict checking with this run's files", async () => {
    const session = await SshSession.open(recordingShell(), {
      privateKey: KEY,
      knownHosts: "127.0.0.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample",
      connectTimeout: 7,
    });
    try {
      const command = session.gitSshCommand();
      assert.match(command, /^'ssh' /);
      const config = await sshConfig(command);
      assert.deepEqual(config.get("identityfile"), [`${session.dir}/id`]);
      assert.deepEqual(config.get("identitiesonly"), ["yes"]);
      assert.deepEqual(config.get("batchmode"), ["yes"]);
      assert.deepEqual(config.get("stricthostkeychecking"), ["true"]);
      assert.deepEqual(config.get("userknownhostsfile"), [`${session.dir}/known_hosts`]);
      assert.deepEqual(config.get("connecttimeout"), ["7"]);
      assert.deepEqual(config.get("controlmaster"), ["false"]);
      assert.ok(config.get("controlpath")?.[0]?.startsWith(`${session.dir}/cm-`));
      assert.deepEqual(config.get("port"), ["2222"]);
    } finally {
      await session.close();
    }
  });
  await t.step(
    "with a key and no known hosts: trust on first use, in this run's file",
    async () => {
      const session = await SshSession.open(recordingShell(), { privateKey: KEY });
      try {
        const config = await sshConfig(session.gitSshCommand());
        assert.deepEqual(config.get("stricthostkeychecking"), ["accept-new"]);
        assert.deepEqual(config.get("userknownhostsfile"), [`${session.dir}/known_hosts`]);
      } finally {
        await session.close();
      }
    },
  );
  await t.step("without a key: the user's own identities", async () => {
    const session = await SshSession.open(recordingShell(), {});
    try {
      assert.ok(!session.gitSshCommand().includes("IdentitiesOnly"));
      const config = await sshConfig(session.gitSshCommand());
      assert.deepEqual(config.get("batchmode"), ["no"]);
    } finally {
      await session.close();
    }
  });
});

Deno.test("SshSession.command puts the options before the destination and the command last", async () => {
  const session = await SshSession.open(recordingShell(), { privateKey: KEY });
  try {
    const argv = session.command({ user: "dokku", host: "127.0.0.1", port: 2222 }, "version");
    assert.equal(argv[0], "ssh");
    assert.deepEqual(argv.slice(-2), ["dokku@127.0.0.1", "version"]);
    const port = argv.indexOf("-p");
    assert.equal(argv[port + 1], "2222");
    assert.ok(argv.includes(`ControlPath=${session.dir}/cm-%C`));
    assert.ok(argv.includes("ControlMaster=no"));
  } finally {
    await session.close();
  }
});

Deno.test("looksLikePrivateKey accepts key text, base64 key text and a key file, and nothing else", async (t) => {
  const key = "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n";
  await t.step("key text", () => assert.equal(looksLikePrivateKey(key), true));
  await t.step("base64", () => assert.equal(looksLikePrivateKey(btoa(key)), true));
  await t.step("a path", async () => {
    const file = await Deno.makeTempFile();
    await Deno.writeTextFile(file, key);
    assert.equal(looksLikePrivateKey(file), true);
    await Deno.remove(file);
  });
  await t.step("garbage", () => assert.equal(looksLikePrivateKey("not-a-key-at-all"), false));
});

async function keygen(dir: string, name: string, args: string[]): Promise<string> {
  const out = await new Deno.Command("ssh-keygen", {
    args: ["-q", "-C", "t", "-f", `${dir}/${name}`, ...args],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return await Deno.readTextFile(`${dir}/${name}`);
}

Deno.test("privateKeyHasPassphrase tells keys with a passphrase from keys without, in every form", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "ssh_passphrase_" });
  try {
    const plain = await keygen(dir, "plain", ["-t", "ed25519", "-N", ""]);
    const locked = await keygen(dir, "locked", ["-t", "ed25519", "-N", "secret words"]);
    const lockedPem = await keygen(dir, "locked_pem", [
      "-t",
      "rsa",
      "-b",
      "2048",
      "-m",
      "PEM",
      "-N",
      "pw-12345",
    ]);
    const lockedPkcs8 = await keygen(dir, "locked_p8", [
      "-t",
      "rsa",
      "-b",
      "2048",
      "-m",
      "PKCS8",
      "-N",
      "pw-12345",
    ]);
    await t.step("OpenSSH format", () => {
      assert.equal(privateKeyHasPassphrase(plain), false);
      assert.equal(privateKeyHasPassphrase(locked), true);
    });
    await t.step("PEM and PKCS#8", () => {
      assert.equal(privateKeyHasPassphrase(lockedPem), true);
      assert.equal(privateKeyHasPassphrase(lockedPkcs8), true);
    });
    await t.step("base64 and a path", () => {
      assert.equal(privateKeyHasPassphrase(btoa(locked)), true);
      assert.equal(privateKeyHasPassphrase(`${dir}/locked`), true);
      assert.equal(privateKeyHasPassphrase(`${dir}/plain`), false);
    });
    await t.step("the variable refuses it with a message that says so and shows no key", () => {
      const schema = z.object(sshVariables);
      const result = schema.safeParse({ SSH_PRIVATE_KEY: locked });
      assert.equal(result.success, false);
      const message = result.error!.issues.map((i) => i.message).join("\n");
      assert.match(message, /has a passphrase/);
      assert.doesNotMatch(message, /BEGIN/);
      assert.equal(schema.safeParse({ SSH_PRIVATE_KEY: plain }).success, true);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sshRefusalMessage tells a changed host key from an unknown host and a refused key", () => {
  const changed = sshRefusalMessage(
    "@@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\nHost key verification failed.",
    "dokku.example.com",
  )!;
  assert.match(changed, /host key has CHANGED/);
  assert.doesNotMatch(changed, /SSH_PRIVATE_KEY|unknown host/);
  const unknown = sshRefusalMessage(
    "No ED25519 host key is known for dokku.example.com and you have requested strict checking.\nHost key verification failed.",
    "dokku.example.com",
  )!;
  assert.match(unknown, /not in SSH_KNOWN_HOSTS \(unknown host\)/);
  assert.doesNotMatch(unknown, /SSH_PRIVATE_KEY|CHANGED/);
  assert.match(sshRefusalMessage("Permission denied (publickey).", "h")!, /SSH_PRIVATE_KEY/);
  assert.equal(sshRefusalMessage("Connection timed out", "h"), undefined);
});

/** A shell whose `ssh -f` master writes `log` to its -E file and exits with `code`. */
function masterShell(code: number, log: string) {
  return recordingShell((cmd) => {
    if (cmd[0] === "ssh" && cmd.includes("-f")) {
      Deno.writeTextFileSync(cmd[cmd.indexOf("-E") + 1]!, log);
      return { code };
    }
    return undefined;
  });
}

Deno.test("SshSession.connect tells a refused key (the user's to fix) from a server that does not answer", async (t) => {
  const target = { user: "dokku", host: "dokku.example.com", port: 22 };
  await t.step("a refused key is a ConfigError", async () => {
    const log =
      "debug1: Offering public key\ndokku@dokku.example.com: Permission denied (publickey).\n";
    const session = await SshSession.open(masterShell(255, log), { privateKey: KEY });
    try {
      await assert.rejects(
        session.connect(target),
        isConfigError(
          /^Cannot connect to dokku@dokku\.example\.com port 22: dokku\.example\.com refused the key: check that SSH_PRIVATE_KEY is a key the server accepts$/,
        ),
      );
    } finally {
      await session.close();
    }
  });
  await t.step("a refused connection is a DeployError", async () => {
    const log = "ssh: connect to host dokku.example.com port 22: Connection refused\n";
    const session = await SshSession.open(masterShell(255, log), { privateKey: KEY });
    try {
      await assert.rejects(session.connect(target), (error: unknown) => {
        assert.ok(error instanceof DeployError, String(error));
        assert.match(error.message, /: ssh: connect to host .* Connection refused$/);
        return true;
      });
    } finally {
      await session.close();
    }
  });
});

Deno.test("SshSession.connect names the host key it trusted on first use, looked up as known_hosts writes the host", async (t) => {
  for (
    const [port, host] of [[2222, "[dokku.example.com]:2222"], [22, "dokku.example.com"]] as const
  ) {
    await t.step(`port ${port}`, async () => {
      const shell = recordingShell((cmd) => {
        if (cmd[0] !== "ssh-keygen") return undefined;
        // ssh-keygen -F finds only the host as ssh wrote it into known_hosts
        const asked = cmd[cmd.indexOf("-F") + 1];
        return asked === host
          ? { stdout: `# Host ${host} found\n${host} ED25519 SHA256:abc123 \n` }
          : { code: 1 };
      });
      const lines: string[] = [];
      const logger = createLogger({
        secrets: new Secrets(),
        color: false,
        write: (t) => lines.push(t),
      });
      const session = await SshSession.open(shell, { privateKey: KEY });
      try {
        await session.connect({ user: "dokku", host: "dokku.example.com", port }, logger);
        assert.match(
          lines.join(""),
          /trusting dokku\.example\.com's host key on first use \(ED25519 SHA256:abc123\)/,
        );
      } finally {
        await session.close();
      }
    });
  }
});

Deno.test("SshSession keeps a quiet connection alive and never waits for a password", async () => {
  const session = await SshSession.open(recordingShell(), { privateKey: KEY });
  try {
    const argv = session.command({ user: "dokku", host: "dokku.example.com", port: 22 }, "version");
    for (const option of ["ServerAliveInterval=30", "BatchMode=yes", "ConnectTimeout=15"]) {
      assert.ok(argv.includes(option), `${option} missing from ${argv.join(" ")}`);
    }
  } finally {
    await session.close();
  }
});

Deno.test("SshSession.open keeps its directory short enough for the ControlMaster socket, whatever TMPDIR is", async () => {
  const long = await Deno.makeTempDir({ prefix: "deploy-a-rather-long-temporary-directory-name-" });
  const before = Deno.env.get("TMPDIR");
  Deno.env.set("TMPDIR", long);
  try {
    const session = await SshSession.open(recordingShell(), { privateKey: KEY, os: "linux" });
    try {
      assert.ok(session.dir.length <= 40, session.dir);
      assert.equal((await Deno.stat(session.dir)).mode! & 0o777, 0o700);
    } finally {
      await session.close();
    }
    // the long directory it first made is gone
    assert.deepEqual([...Deno.readDirSync(long)], []);
  } finally {
    if (before === undefined) Deno.env.delete("TMPDIR");
    else Deno.env.set("TMPDIR", before);
    await Deno.remove(long, { recursive: true });
  }
});
