/**
 * A Dokku sandbox for tests: a real sshd on 127.0.0.1 whose forced command (dokku_command.sh)
 * models what real Dokku does with an SSH command (splitting, `parse_args`, deploy branch,
 * auto-creation, deploy source, release tasks, process types, herokuish's `/exec`), each behaviour
 * citing the dokku/dokku or gliderlabs/herokuish source it comes from, and records every call and
 * the exact argv each app program received.
 *
 * ```ts
 * await using dokku = await startDokkuSandbox();
 * // DOKKU_HOST=dokku.dokkuHost, key = dokku.privateKey, known hosts = dokku.knownHosts
 * assert.deepEqual((await dokku.calls()).map((c) => c.argv), [["version"]]);
 * ```
 * @module
 */
import { freePort } from "./_free_port.ts";

/** How the `dokku` entry script splits a non-git SSH command. */
export type DokkuSplitting = "xargs-n1" | "whitespace";

/** Options of {@linkcode startDokkuSandbox}. */
export interface DokkuSandboxOptions {
  /** Reported by `version`; also selects version-dependent behaviour. @default "0.35.12" */
  version?: string;
  /**
   * How a non-git command is split. "xargs-n1" (Dokku >= 0.34): `xargs -n 1` running /bin/echo
   * once per word. "whitespace" (Dokku <= 0.33): whitespace only, quotes kept literally, GNU xargs
   * quoting for `config*` / `docker-options*` commands. The legacy names "xargs" and "dokku" mean
   * "xargs-n1" and "whitespace".
   * @default "xargs-n1" from version 0.34.0 on, else "whitespace"
   */
  splitting?: DokkuSplitting | "xargs" | "dokku";
  /**
   * How the app's image runs `dokku run` commands: "herokuish" (a buildpack app: /exec evaluates
   * the arguments again with bash) or "dockerfile" (arguments as they are).
   * @default "herokuish"
   */
  builder?: "herokuish" | "dockerfile";
  /**
   * The global deploy branch (`git:set --global deploy-branch`). Unset, an app deploys `master`,
   * and (Dokku >= 0.31.1) a first push to another branch makes that branch its deploy branch.
   * @default undefined
   */
  deployBranch?: string;
  /** Whether git commands create a missing app (Dokku's default). @default true */
  autoCreate?: boolean;
}

/** The argv an app program received in the sandbox's "container". */
export interface DokkuProgramRun {
  /** The app. */
  app: string;
  /** "run" for `dokku run`, "release" / "predeploy" for a release task during a push. */
  kind: "run" | "release" | "predeploy";
  /** The program's argv (a release task is `["bash", "-c", COMMAND]`). */
  argv: string[];
  /** Time, ms since the epoch. */
  at: number;
}

/** A process-management event. */
export interface DokkuProcessEvent {
  /** "deploy", "restart", "stop" or "start". */
  action: string;
  /** The app. */
  app: string;
  /** The process type, "*" for the whole app. */
  type: string;
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
  /** The commit the app really runs (its last successful build), null if none. */
  runningSha(app: string): Promise<string | null>;
  /** Every argv an app program received (`dokku run` and release tasks), in order. */
  programRuns(): Promise<DokkuProgramRun[]>;
  /** Every deploy / restart / stop / start, in order. */
  processEvents(): Promise<DokkuProcessEvent[]>;
  /** Runs a Dokku command (plain words) on the server, as an admin would; not recorded in calls. */
  admin(args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
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
  const { version = "0.35.12", builder = "herokuish", deployBranch = "", autoCreate = true } =
    options;
  const legacy = { xargs: "xargs-n1", dokku: "whitespace" } as const;
  const splitting: DokkuSplitting = options.splitting === undefined
    ? (compareVersions(version, "0.34.0") >= 0 ? "xargs-n1" : "whitespace")
    : options.splitting in legacy
    ? legacy[options.splitting as keyof typeof legacy]
    : options.splitting as DokkuSplitting;
  const stateDir = await Deno.makeTempDir({ prefix: "dokku_sandbox_" });
  try {
    return await setUp(stateDir, {
      version,
      splitting,
      builder,
      deployBranch,
      autocreate: String(autoCreate),
    });
  } catch (e: unknown) {
    await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    throw e;
  }
}

/** Compares dotted versions numerically: negative, zero or positive. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map((n) => parseInt(n, 10) || 0);
  const pb = b.split(".").map((n) => parseInt(n, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

interface Settings {
  version: string;
  splitting: DokkuSplitting;
  builder: string;
  deployBranch: string;
  autocreate: string;
}

async function setUp(stateDir: string, settings: Settings): Promise<DokkuSandbox> {
  if (/["'\\\n]/.test(COMMAND_SCRIPT + stateDir)) {
    throw new DokkuSandboxError(`Cannot use path "${COMMAND_SCRIPT}" in authorized_keys`);
  }
  const path = (name: string) => `${stateDir}/${name}`;
  for (const dir of ["bin", "repos", "apps", "home", "props"]) await Deno.mkdir(path(dir));
  await Deno.writeTextFile(path("version"), settings.version);
  await Deno.writeTextFile(path("splitting"), settings.splitting);
  await Deno.writeTextFile(path("builder"), settings.builder);
  await Deno.writeTextFile(path("global_deploy_branch"), settings.deployBranch);
  await Deno.writeTextFile(path("autocreate"), settings.autocreate);
  for (const log of ["calls.log", "runs.log", "ps.log"]) await Deno.writeTextFile(path(log), "");
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
    runningSha: async (app) => {
      try {
        return (await Deno.readTextFile(path(`apps/${app}/.deployed_rev`))).trim();
      } catch {
        return null;
      }
    },
    programRuns: async () => parseRuns(await Deno.readTextFile(path("runs.log"))),
    processEvents: async () =>
      (await Deno.readTextFile(path("ps.log"))).split("\n").filter((l) => l !== "").map((l) => {
        const [action = "", app = "", type = ""] = l.split("\t");
        return { action, app, type };
      }),
    admin: async (args) => {
      const out = await new Deno.Command("bash", {
        args: [COMMAND_SCRIPT, stateDir],
        env: { SSH_ORIGINAL_COMMAND: args.join(" "), HOME: path("home"), SANDBOX_ADMIN: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const decoder = new TextDecoder();
      return {
        code: out.code,
        stdout: decoder.decode(out.stdout),
        stderr: decoder.decode(out.stderr),
      };
    },
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

function decode(field: string): string {
  return new TextDecoder().decode(Uint8Array.from(atob(field), (c) => c.charCodeAt(0)));
}

/** Parses runs.log lines: at TAB app TAB kind [TAB base64(arg)]... */
function parseRuns(text: string): DokkuProgramRun[] {
  return text.split("\n").filter((line) => line !== "").map((line) => {
    const [at = "0", app = "", kind = "run", ...args] = line.split("\t");
    return { app, kind: kind as DokkuProgramRun["kind"], argv: args.map(decode), at: Number(at) };
  });
}

/** Parses calls.log lines: at TAB base64(raw) [TAB base64(arg)]... */
function parseCalls(text: string): DokkuCall[] {
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
