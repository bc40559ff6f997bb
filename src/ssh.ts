/**
 * The SSH concern: the deploy key, host-key trust, and one multiplexed connection per run, shared
 * by every ssh and git command.
 *
 * The key (text, base64 text, or a path as GitLab "File" variables give) is written with mode 0600
 * into a private temporary directory, which also holds known_hosts and the ControlMaster socket,
 * and which is removed on every exit.
 *
 * @module
 */
import { z } from "zod";
import { ConfigError, DeployError } from "./errors.ts";
import type { Logger } from "./logger.ts";
import type { Shell } from "./shell.ts";
import { seconds, variable } from "./variables.ts";

/** The SSH variables, for the layers that reach a server over SSH. */
export const sshVariables = {
  // checked with the other variables, before any handler runs; resolvePrivateKey reads it later
  SSH_PRIVATE_KEY: variable(
    z.string().refine(looksLikePrivateKey, {
      error:
        "expected the key text (-----BEGIN ...), the key text in base64, or a path to a key file",
    }).refine((v) => !privateKeyHasPassphrase(v), {
      error: "the key has a passphrase, which a CI run cannot type: use a deploy key without one " +
        "(ssh-keygen -p -N '' -f KEY removes it)",
    }).optional(),
    {
      description: "Deploy key: the key text, the key text in base64, or a path to the key file",
      secret: true,
    },
  ),
  SSH_CONNECT_TIMEOUT: seconds(
    { description: "Seconds to wait for the SSH server to answer before giving up" },
    15,
  ),
  SSH_KNOWN_HOSTS: variable(z.string().optional(), {
    description:
      "known_hosts lines for the server, or a path to a file of them (a GitLab File variable); turns on strict host-key checking",
    example: "dokku.example.com ssh-ed25519 AAAA...",
  }),
} as const;

/** Where to connect. */
export interface SshTarget {
  /** Login user. */
  user: string;
  /** Host name or address. */
  host: string;
  /** TCP port. */
  port: number;
}

/** Options of {@linkcode openSsh}. */
export interface SshOptions {
  /** SSH_PRIVATE_KEY: text, base64 text or a path; unset means the user's own agent and config. */
  privateKey?: string;
  /** SSH_KNOWN_HOSTS: known_hosts lines or a path to them; unset means trust on first use. */
  knownHosts?: string;
  /** The OS, which decides whether connections can be multiplexed. @default Deno.build.os */
  os?: typeof Deno.build.os;
  /** Seconds to wait for the TCP connection. @default 15 */
  connectTimeout?: number;
}

/** Whether SSH_PRIVATE_KEY is key text, base64 key text, or the path of a file holding a key. */
export function looksLikePrivateKey(value: string): boolean {
  const trimmed = value.trim();
  if (trimmed.startsWith("-----BEGIN")) return true;
  if (!trimmed.includes("\n") && trimmed.length < 4096) {
    try {
      return Deno.readTextFileSync(trimmed).trim().startsWith("-----BEGIN");
    } catch {
      // not a readable file: maybe base64
    }
  }
  try {
    return atob(trimmed.replace(/\s+/g, "")).trim().startsWith("-----BEGIN");
  } catch {
    return false;
  }
}

/** SSH_PRIVATE_KEY's key text, read synchronously for validation; undefined when it is none. */
function keyTextSync(value: string): string | undefined {
  const trimmed = value.trim();
  if (trimmed.startsWith("-----BEGIN")) return trimmed;
  if (!trimmed.includes("\n") && trimmed.length < 4096) {
    try {
      const text = Deno.readTextFileSync(trimmed);
      if (text.trim().startsWith("-----BEGIN")) return text.trim();
    } catch {
      // not a readable file: maybe base64
    }
  }
  try {
    const decoded = atob(trimmed.replace(/\s+/g, "")).trim();
    return decoded.startsWith("-----BEGIN") ? decoded : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether SSH_PRIVATE_KEY is protected by a passphrase: an OpenSSH key whose cipher is not "none"
 * (the openssh-key-v1 format: magic, then the cipher name as a length-prefixed string), a PEM key
 * with "Proc-Type: 4,ENCRYPTED", or an encrypted PKCS#8 key.
 */
export function privateKeyHasPassphrase(value: string): boolean {
  const text = keyTextSync(value);
  if (!text) return false;
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----/.test(text)) return true;
  if (/^Proc-Type:\s*4,ENCRYPTED/m.test(text)) return true;
  const body = text.match(
    /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]*?)-----END OPENSSH PRIVATE KEY-----/,
  );
  if (!body) return false;
  let bytes: Uint8Array;
  try {
    bytes = Uint8Array.from(atob(body[1]!.replace(/\s+/g, "")), (c) => c.charCodeAt(0));
  } catch {
    return false;
  }
  const magic = "openssh-key-v1\0";
  if (new TextDecoder().decode(bytes.subarray(0, magic.length)) !== magic) return false;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < magic.length + 4) return false;
  const length = view.getUint32(magic.length);
  const cipher = new TextDecoder().decode(
    bytes.subarray(magic.length + 4, magic.length + 4 + length),
  );
  return cipher !== "none";
}

/**
 * The message for a refused connection, from ssh's log: a changed host key, an unknown host and a
 * refused key each say so, and only a refused key names SSH_PRIVATE_KEY. Undefined for other
 * failures (the server does not answer...), which are not the user's configuration.
 */
export function sshRefusalMessage(log: string, host: string): string | undefined {
  if (/REMOTE HOST IDENTIFICATION HAS CHANGED/i.test(log)) {
    return `${host}'s host key has CHANGED: it is not the one SSH_KNOWN_HOSTS holds. Either the ` +
      "server was reinstalled or its key rotated (then update SSH_KNOWN_HOSTS with ssh-keyscan), " +
      "or someone is intercepting the connection: do not deploy until you know which";
  }
  if (/Host key verification failed|No .* host key is known/i.test(log)) {
    return `${host}'s host key is not in SSH_KNOWN_HOSTS (unknown host): add its line, from ` +
      `"ssh-keyscan ${host}", to SSH_KNOWN_HOSTS`;
  }
  if (/Permission denied/i.test(log)) {
    return `${host} refused the key: check that SSH_PRIVATE_KEY is a key the server accepts`;
  }
  return undefined;
}

/** Resolves SSH_PRIVATE_KEY to key text. Throws {@linkcode ConfigError} when it is none of the forms. */
export async function resolvePrivateKey(value: string): Promise<string> {
  const normalize = (text: string) => text.replace(/\r\n/g, "\n").trim() + "\n";
  const trimmed = value.trim();
  if (trimmed.startsWith("-----BEGIN")) return normalize(trimmed);
  if (!trimmed.includes("\n") && trimmed.length < 4096) {
    try {
      const text = await Deno.readTextFile(trimmed);
      if (text.trim().startsWith("-----BEGIN")) return normalize(text);
      throw new ConfigError(`SSH_PRIVATE_KEY: the file it names does not hold a private key`);
    } catch (error: unknown) {
      if (error instanceof ConfigError) throw error;
    }
  }
  try {
    const decoded = new TextDecoder().decode(
      Uint8Array.from(atob(trimmed.replace(/\s+/g, "")), (c) => c.charCodeAt(0)),
    );
    if (decoded.trim().startsWith("-----BEGIN")) return normalize(decoded);
  } catch {
    // not base64: fall through to the error
  }
  throw new ConfigError(
    "SSH_PRIVATE_KEY: expected the key text (-----BEGIN ...), the key text in base64, or a path to a key file",
  );
}

// a unix socket path holds at most 104 bytes (macOS), and ssh adds 17 while it creates one
const MAX_DIR_LENGTH = 40;

/**
 * SSH_KNOWN_HOSTS as known_hosts text. GitLab's SSH guide has users create it as a "File" variable,
 * which holds the path of a file with the lines; a known_hosts line always has spaces, a path none.
 */
export async function resolveKnownHosts(value: string): Promise<string> {
  const trimmed = value.trim();
  if (/\s/.test(trimmed)) return trimmed + "\n";
  try {
    return (await Deno.readTextFile(trimmed)).replace(/\r\n/g, "\n").trim() + "\n";
  } catch (error: unknown) {
    throw new ConfigError(
      `SSH_KNOWN_HOSTS: expected known_hosts lines (host keytype key) or the path of a file holding them; cannot read "${trimmed}": ${
        error instanceof Error ? error.message : error
      }`,
    );
  }
}

/**
 * Whether ssh can share one connection (ControlMaster) on `os`. Windows OpenSSH cannot
 * (PowerShell/Win32-OpenSSH has no ControlMaster support): each command connects on its own.
 */
export function canMultiplex(os: typeof Deno.build.os): boolean {
  return os !== "windows";
}

/** A 0700 temporary directory short enough for the ControlMaster socket, whatever TMPDIR is. */
async function privateDir(multiplex: boolean): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "deploy-ssh-" });
  // without a socket any length will do; Windows has no /tmp to fall back to
  if (dir.length <= MAX_DIR_LENGTH || !multiplex) return dir;
  // macOS's TMPDIR (/var/folders/xx/.../T) is too long: /tmp is there on every Unix
  await Deno.remove(dir);
  return await Deno.makeTempDir({ dir: "/tmp", prefix: "deploy-ssh-" });
}

/** One run's SSH setup. Dispose it (or call {@linkcode SshSession.close}) when the run ends. */
export class SshSession {
  /** The private temporary directory. */
  readonly dir: string;
  readonly #args: string[];
  readonly #shell: Shell;
  readonly #trustOnFirstUse: boolean;
  readonly #knownHostsFile: string | undefined;
  readonly #multiplex: boolean;
  #masters = new Set<string>();

  private constructor(
    dir: string,
    args: string[],
    shell: Shell,
    tofu: boolean,
    knownHosts: string | undefined,
    multiplex: boolean,
  ) {
    this.dir = dir;
    this.#args = args;
    this.#shell = shell;
    this.#trustOnFirstUse = tofu;
    this.#knownHostsFile = knownHosts;
    this.#multiplex = multiplex;
  }

  /** Prepares the private directory, the key and host-key trust. */
  static async open(shell: Shell, options: SshOptions): Promise<SshSession> {
    const key = options.privateKey ? await resolvePrivateKey(options.privateKey) : undefined;
    const knownHosts = options.knownHosts ? await resolveKnownHosts(options.knownHosts) : undefined;
    const multiplex = canMultiplex(options.os ?? Deno.build.os);
    const dir = await privateDir(multiplex);
    if (multiplex) await Deno.chmod(dir, 0o700);
    const args = [
      "-o",
      `ConnectTimeout=${options.connectTimeout ?? 15}`,
      "-o",
      "ServerAliveInterval=30",
      // one connection per run: every ssh and git command goes through this socket
      ...(multiplex ? ["-o", `ControlPath=${dir}/cm-%C`] : []),
    ];
    let knownHostsFile: string | undefined;
    if (key) {
      const keyFile = `${dir}/id`;
      await Deno.writeTextFile(keyFile, key, { mode: 0o600 });
      args.push("-i", keyFile, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes");
    }
    if (knownHosts) {
      knownHostsFile = `${dir}/known_hosts`;
      await Deno.writeTextFile(knownHostsFile, knownHosts, { mode: 0o600 });
      args.push("-o", `UserKnownHostsFile=${knownHostsFile}`, "-o", "StrictHostKeyChecking=yes");
    } else if (key) {
      // CI without SSH_KNOWN_HOSTS: trust on first use, in a file of this run only
      knownHostsFile = `${dir}/known_hosts`;
      args.push(
        "-o",
        `UserKnownHostsFile=${knownHostsFile}`,
        "-o",
        "StrictHostKeyChecking=accept-new",
      );
    } else {
      args.push("-o", "StrictHostKeyChecking=accept-new");
    }
    return new SshSession(
      dir,
      args,
      shell,
      !options.knownHosts && key !== undefined,
      knownHostsFile,
      multiplex,
    );
  }

  /** The ssh options of this session, to put before the destination. */
  options(target: SshTarget): string[] {
    return [...this.#args, "-p", String(target.port)];
  }

  /** The argv of `ssh` running `command` (one string, as the server's shell or forced command reads it). */
  command(target: SshTarget, command: string): string[] {
    return [
      "ssh",
      ...this.options(target),
      ...this.#noMaster(),
      `${target.user}@${target.host}`,
      command,
    ];
  }

  /** GIT_SSH_COMMAND for git commands of this session. */
  gitSshCommand(): string {
    // git runs this through a shell: quote every word
    return ["ssh", ...this.#args, ...this.#noMaster()].map((a) => `'${a.replaceAll("'", `'"'"'`)}'`)
      .join(" ");
  }

  /**
   * Opens the shared connection (the ControlMaster) in the background. Later commands reuse it.
   * Connection errors are thrown with ssh's own message.
   */
  async connect(target: SshTarget, logger?: Logger): Promise<void> {
    if (!this.#multiplex) {
      logger?.info(
        "Windows OpenSSH has no ControlMaster: each ssh and git command opens its own connection",
      );
      if (this.#trustOnFirstUse) {
        logger?.warn(
          `SSH_KNOWN_HOSTS is not set: trusting ${target.host}'s host key on first use. Set SSH_KNOWN_HOSTS to check it`,
        );
      }
      return;
    }
    const destination = `${target.user}@${target.host}`;
    // -f backgrounds the master after authentication; its stdio must not be our pipes, or the
    // command would not end until the master does
    const result = await this.#shell.run([
      "ssh",
      ...this.options(target),
      "-o",
      "ControlMaster=yes",
      "-o",
      "ControlPersist=120",
      "-f",
      "-N",
      "-E",
      `${this.dir}/master.log`,
      destination,
    ], { noThrow: true, discardOutput: true });
    if (result.code !== 0) {
      const log = await Deno.readTextFile(`${this.dir}/master.log`).catch(() => "");
      const reason = log.trim().split("\n").filter(Boolean).pop() ??
        `ssh exited with ${result.code}`;
      const message = `Cannot connect to ${destination} port ${target.port}: ${reason}`;
      // a refused key or host key is the user's to fix; a server that does not answer may not be
      const refusal = sshRefusalMessage(log, target.host);
      if (refusal) {
        throw new ConfigError(`Cannot connect to ${destination} port ${target.port}: ${refusal}`);
      }
      throw new DeployError(message);
    }
    this.#masters.add(JSON.stringify(target));
    if (this.#trustOnFirstUse && this.#knownHostsFile && logger) {
      const fingerprint = await this.#fingerprint(target);
      logger.warn(
        `SSH_KNOWN_HOSTS is not set: trusting ${target.host}'s host key on first use (${fingerprint}). ` +
          "Set SSH_KNOWN_HOSTS to check it",
      );
    }
  }

  /** Closes the shared connections and removes the private directory. */
  async close(): Promise<void> {
    for (const entry of this.#masters) {
      const target = JSON.parse(entry) as SshTarget;
      await this.#shell.run(
        ["ssh", ...this.options(target), "-O", "exit", `${target.user}@${target.host}`],
        { noThrow: true },
      );
    }
    this.#masters.clear();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }

  /**
   * Closes the shared connections and removes the private directory synchronously: for a second
   * signal, when nothing can wait. A master left running would outlive the run by ControlPersist.
   */
  closeNow(): void {
    for (const entry of this.#masters) {
      const target = JSON.parse(entry) as SshTarget;
      try {
        new Deno.Command("ssh", {
          args: [...this.options(target), "-O", "exit", `${target.user}@${target.host}`],
          stdin: "null",
          stdout: "null",
          stderr: "null",
        }).outputSync();
      } catch {
        // nothing more can be done in a process that is about to exit
      }
    }
    this.#masters.clear();
    try {
      Deno.removeSync(this.dir, { recursive: true });
    } catch {
      // already gone
    }
  }

  #noMaster(): string[] {
    return this.#multiplex ? ["-o", "ControlMaster=no"] : [];
  }

  async #fingerprint(target: SshTarget): Promise<string> {
    const host = target.port === 22 ? target.host : `[${target.host}]:${target.port}`;
    const { stdout } = await this.#shell.run(
      ["ssh-keygen", "-l", "-F", host, "-f", this.#knownHostsFile!],
      { noThrow: true },
    );
    // "[host]:port ED25519 SHA256:..."
    const match = stdout.match(/^\S+ (\S+) (SHA256:\S+)/m);
    return match ? `${match[1]} ${match[2]}` : "fingerprint unknown";
  }
}
