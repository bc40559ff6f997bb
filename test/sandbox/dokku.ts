/**
 * A Dokku sandbox for tests: a real sshd on 127.0.0.1 whose forced command (dokku_command.sh)
 * speaks Dokku's SSH interface (git push, `run`, `ps:*`, `version`, ...) and records every call.
 *
 * ```ts
 * await using dokku = await startDokkuSandbox();
 * // DOKKU_HOST=dokku.dokkuHost, key = dokku.privateKey, known hosts = dokku.knownHosts
 * assert.deepEqual((await dokku.calls()).map((c) => c.argv), [["version"]]);
 * ```
 * @module
 */
import { freePort } from "./_free_port.ts";

/** Options of {@linkcode startDokkuSandbox}. */
export interface DokkuSandboxOptions {
  /** Reported by `version`. @default "0.35.12" */
  version?: string;
  /**
   * How the forced command splits a non-git command. "xargs": GNU xargs quoting for every command.
   * "dokku": what dokku's entry script does, xargs only for `config*` / `docker-options*` commands,
   * plain whitespace splitting (quotes kept literally) for everything else.
   * @default "xargs"
   */
  splitting?: "xargs" | "dokku";
  /** Branch whose push triggers a build, like Dokku's deploy-branch. @default "master" */
  deployBranch?: string;
}

/** One command the forced command received. */
export interface DokkuCall {
  /** Parsed arguments; git commands are recorded as `["git-receive-pack", "APP"]`. */
  argv: string[];
  /** Arrival time, ms since the epoch. */
  at: number;
  /** The command string exactly as ssh delivered it (SSH_ORIGINAL_COMMAND). */
  raw: string;
}

/** A running sandbox; `await using` stops it. */
export interface DokkuSandbox extends AsyncDisposable {
  /** Always "127.0.0.1". */
  host: string;
  /** Port sshd listens on. */
  port: number;
  /** The OS user sshd accepts (the current user). */
  user: string;
  /** `${user}@127.0.0.1:${port}`, the value for DOKKU_HOST. */
  dokkuHost: string;
  /** Client private key text (OpenSSH format, ed25519, no passphrase). */
  privateKey: string;
  /** The same key on disk (mode 0600). */
  privateKeyPath: string;
  /** known_hosts line for the host key: "[127.0.0.1]:PORT ssh-ed25519 AAAA...". */
  knownHosts: string;
  /** A file holding {@linkcode DokkuSandbox.knownHosts}. */
  knownHostsPath: string;
  /** "SHA256:..." fingerprint of the host key. */
  hostKeyFingerprint: string;
  /** ssh options that reach the sandbox: `ssh ...sshArgs user@127.0.0.1 CMD` (no user config). */
  sshArgs: readonly string[];
  /** Temporary directory holding keys, config, logs and app repos; removed by stop(). */
  stateDir: string;
  /** Every command the forced command received, in order. */
  calls(): Promise<DokkuCall[]>;
  /** Number of accepted SSH connections (authentications) so far, from sshd's log. */
  connections(): Promise<number>;
  /** Commit of refs/heads/<branch> in the app's bare repo, null if there is none. */
  deployedSha(app: string, branch?: string): Promise<string | null>;
  /** Path of the app's bare repo. */
  repoPath(app: string): string;
  /** Makes the next push's build fail: pre-receive prints build lines and ` !     MESSAGE`, exits 1. */
  failNextBuild(message?: string): Promise<void>;
  /**
   * Makes the next push's build sleep `seconds` before it goes on (to cancel a deploy mid-push).
   * Once the build sleeps, <state>/slow_build_started exists; {@linkcode DokkuSandbox.buildSleeping}
   * waits for it.
   */
  slowNextBuild(seconds: number): Promise<void>;
  /** Resolves once a build slowed by {@linkcode DokkuSandbox.slowNextBuild} sleeps. */
  buildSleeping(timeoutMs?: number): Promise<void>;
  /** Writes an executable `#!/bin/sh` script to <state>/bin, first on PATH for `run`. */
  fakeBin(name: string, script: string): Promise<void>;
  /** Kills sshd and its sessions and removes the state directory; safe to call twice. */
  stop(): Promise<void>;
}

/** Raised when sshd cannot be started. */
export class DokkuSandboxError extends Error {
  override name = "DokkuSandboxError";
}

const COMMAND_SCRIPT = new URL("./dokku_command.sh", import.meta.url).pathname;
const START_ATTEMPTS = 5;
const START_TIMEOUT_MS = 5_000;

/** Starts sshd on a free loopback port with a Dokku-like forced command. */
export async function startDokkuSandbox(
  options: DokkuSandboxOptions = {},
): Promise<DokkuSandbox> {
  const { version = "0.35.12", splitting = "xargs", deployBranch = "master" } = options;
  const stateDir = await Deno.makeTempDir({ prefix: "dokku_sandbox_" });
  try {
    return await setUp(stateDir, version, splitting, deployBranch);
  } catch (e: unknown) {
    await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    throw e;
  }
}

async function setUp(
  stateDir: string,
  version: string,
  splitting: string,
  deployBranch: string,
): Promise<DokkuSandbox> {
  if (/["'\\\n]/.test(COMMAND_SCRIPT + stateDir)) {
    throw new DokkuSandboxError(`Cannot use path "${COMMAND_SCRIPT}" in authorized_keys`);
  }
  const path = (name: string) => `${stateDir}/${name}`;
  for (const dir of ["bin", "repos", "apps", "home"]) await Deno.mkdir(path(dir));
  await Deno.writeTextFile(path("version"), version);
  await Deno.writeTextFile(path("splitting"), splitting);
  await Deno.writeTextFile(path("deploy_branch"), deployBranch);
  await Deno.writeTextFile(path("calls.log"), "");
  const keygen = (file: string, comment: string) =>
    run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path(file)]);
  await Promise.all([keygen("host_key", "sandbox-host"), keygen("client_key", "sandbox")]);
  const user = (await run("id", ["-un"])).trim();
  const clientPub = (await Deno.readTextFile(path("client_key.pub"))).trim();
  // Like Dokku's sshcommand: a forced command, no forwarding, but a pty may be requested.
  await Deno.writeTextFile(
    path("authorized_keys"),
    `command="/usr/bin/env bash '${COMMAND_SCRIPT}' '${stateDir}'",restrict,pty ${clientPub}\n`,
  );
  const [hostKeyType, hostKeyBase64] = (await Deno.readTextFile(path("host_key.pub"))).split(" ");
  const hostKeyFingerprint =
    (await run("ssh-keygen", ["-l", "-E", "sha256", "-f", path("host_key.pub")])).split(" ")[1] ??
      "";
  await Deno.mkdir("/run/sshd", { recursive: true });

  const { child, port } = await startSshd(stateDir);
  const knownHosts = `[127.0.0.1]:${port} ${hostKeyType} ${hostKeyBase64}`;
  await Deno.writeTextFile(path("known_hosts"), `${knownHosts}\n`);
  const privateKey = await Deno.readTextFile(path("client_key"));

  let stopped: Promise<void> | undefined;
  const stop = () => stopped ??= stopSshd(child, stateDir);
  return {
    host: "127.0.0.1",
    port,
    user,
    dokkuHost: `${user}@127.0.0.1:${port}`,
    privateKey,
    privateKeyPath: path("client_key"),
    knownHosts,
    knownHostsPath: path("known_hosts"),
    hostKeyFingerprint,
    sshArgs: [
      "-F",
      "/dev/null",
      "-p",
      String(port),
      "-i",
      path("client_key"),
      "-o",
      "IdentitiesOnly=yes",
      "-o",
      `UserKnownHostsFile=${path("known_hosts")}`,
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      "BatchMode=yes",
    ],
    stateDir,
    calls: async () => parseCalls(await Deno.readTextFile(path("calls.log"))),
    connections: async () =>
      (await Deno.readTextFile(path("sshd.log"))).split("\n").filter((line) =>
        line.includes("Accepted publickey for ")
      ).length,
    deployedSha: (app, branch = "master") => revParse(path(`repos/${app}`), `refs/heads/${branch}`),
    repoPath: (app) => path(`repos/${app}`),
    failNextBuild: (message = "") => Deno.writeTextFile(path("fail_next_build"), message),
    slowNextBuild: async (seconds) => {
      if (!Number.isInteger(seconds) || seconds < 0) {
        throw new TypeError(`Cannot sleep "${seconds}" seconds: expected a whole number`);
      }
      // a marker of an earlier slowed build would make buildSleeping() resolve too early
      await Deno.remove(path("slow_build_started")).catch(() => {});
      await Deno.writeTextFile(path("slow_next_build"), String(seconds));
    },
    buildSleeping: async (timeoutMs = 10_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        try {
          await Deno.stat(path("slow_build_started"));
          return;
        } catch {
          if (Date.now() > deadline) throw new DokkuSandboxError("No slowed build started");
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    },
    fakeBin: async (name, script) => {
      if (!/^[\w.-]+$/.test(name)) throw new TypeError(`Cannot use "${name}" as a binary name`);
      const text = script.startsWith("#!") ? script : `#!/bin/sh\n${script}`;
      await Deno.writeTextFile(path(`bin/${name}`), text.endsWith("\n") ? text : `${text}\n`, {
        mode: 0o755,
      });
      await Deno.chmod(path(`bin/${name}`), 0o755);
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/** Parses calls.log lines: at TAB base64(raw) [TAB base64(arg)]... */
function parseCalls(text: string): DokkuCall[] {
  const decoder = new TextDecoder();
  const decode = (field: string) =>
    decoder.decode(Uint8Array.from(atob(field), (c) => c.charCodeAt(0)));
  return text.split("\n").filter((line) => line !== "").map((line) => {
    const [at = "0", raw = "", ...args] = line.split("\t");
    return { argv: args.map(decode), at: Number(at), raw: decode(raw) };
  });
}

async function startSshd(stateDir: string): Promise<{ child: Deno.ChildProcess; port: number }> {
  let lastLog = "";
  for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
    const port = freePort();
    const config = `${stateDir}/sshd_config`;
    const log = `${stateDir}/sshd.log`;
    await Deno.writeTextFile(config, sshdConfig(stateDir, port));
    await Deno.writeTextFile(log, "");
    const child = new Deno.Command("/usr/sbin/sshd", {
      args: ["-D", "-f", config, "-E", log],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    let exited = false;
    const status = child.status.then((s) => {
      exited = true;
      return s;
    });
    // "Server listening" is logged after bind(), so it proves that *this* sshd owns the port.
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!exited && Date.now() < deadline) {
      lastLog = await Deno.readTextFile(log);
      if (lastLog.includes(`Server listening on 127.0.0.1 port ${port}`)) return { child, port };
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    if (!exited) child.kill("SIGTERM");
    await status;
    lastLog = await Deno.readTextFile(log);
    if (!lastLog.includes("Address already in use")) break;
  }
  throw new DokkuSandboxError(`Cannot start sshd for the Dokku sandbox: ${lastLog.trim()}`);
}

function sshdConfig(stateDir: string, port: number): string {
  return [
    `ListenAddress 127.0.0.1`,
    `Port ${port}`,
    `HostKey ${stateDir}/host_key`,
    `PidFile ${stateDir}/sshd.pid`,
    `AuthorizedKeysFile ${stateDir}/authorized_keys`,
    `PubkeyAuthentication yes`,
    `PasswordAuthentication no`,
    `KbdInteractiveAuthentication no`,
    `UsePAM no`,
    `StrictModes no`,
    `PermitRootLogin prohibit-password`,
    `LogLevel VERBOSE`,
    `AllowTcpForwarding no`,
    `AllowAgentForwarding no`,
    `X11Forwarding no`,
    `PermitUserRC no`,
    `PrintMotd no`,
    `Subsystem sftp internal-sftp`,
    // The forced command runs through the user's login shell, and Debian's bash sources ~/.bashrc
    // for ssh sessions; an empty HOME keeps the host's shell setup (slow, and not Dokku's) out.
    `SetEnv HOME=${stateDir}/home`,
    // sntrup761 key exchange costs ~100 ms of CPU per connection here; tests open many connections.
    `KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org`,
    "",
  ].join("\n");
}

async function stopSshd(child: Deno.ChildProcess, stateDir: string): Promise<void> {
  // Sessions (per-connection sshd, the forced command and what `run` started) outlive the listener
  // and run in their own process groups, so end every descendant of *our* sshd, found by parent pid.
  const descendants = await descendantPids(child.pid);
  for (const pid of [child.pid, ...descendants]) {
    try {
      Deno.kill(pid, "SIGTERM");
    } catch {
      // already exited
    }
  }
  await child.status;
  await Deno.remove(stateDir, { recursive: true }).catch(() => {});
}

async function descendantPids(root: number): Promise<number[]> {
  const found: number[] = [];
  const queue = [root];
  for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
    let text = "";
    try {
      text = await Deno.readTextFile(`/proc/${pid}/task/${pid}/children`);
    } catch {
      continue; // exited meanwhile, or no /proc
    }
    const children = text.split(" ").filter((s) => s.trim() !== "").map(Number);
    found.push(...children);
    queue.push(...children);
  }
  return found;
}

async function revParse(gitDir: string, ref: string): Promise<string | null> {
  const out = await new Deno.Command("git", {
    args: ["--git-dir", gitDir, "rev-parse", "--verify", "--quiet", `${ref}^{commit}`],
    stdout: "piped",
    stderr: "null",
  }).output();
  return out.success ? new TextDecoder().decode(out.stdout).trim() : null;
}

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    const stderr = new TextDecoder().decode(out.stderr).trim();
    throw new DokkuSandboxError(`Command "${cmd}" failed: ${stderr}`);
  }
  return new TextDecoder().decode(out.stdout);
}
