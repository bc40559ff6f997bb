/**
 * The stand-in's rendezvous endpoint: a TLS server that one-off dynos attach to. The client sends
 * the dyno's secret and "\r\n"; the server answers "rendezvous\r\n" and then streams the command's
 * output (as a terminal would, with "\r\n" line ends) until it exits. The command runs locally with
 * bash, fake binaries first on PATH.
 *
 * Clients reach the TLS server through a TCP relay, so that a session can end the way Heroku's
 * rendezvous sometimes ends one: the TCP connection closes without a TLS close_notify alert. The
 * Heroku CLI does not mind (Node's TLS socket reports the TCP end as an ordinary 'close', and
 * heroku/cli src/lib/run/dyno.ts:419-425 at c5fbf4b only asks whether the exit-status marker came
 * before it), so a client must not either.
 */
import type { DynoRecord } from "./heroku_platform.ts";

/** What one attached session did. */
export interface RendezvousSession {
  /** The dyno's name. */
  dyno: string;
  /** The command string bash ran. */
  command: string;
  /** Bash's exit code, or null when it was killed. */
  exitCode: number | null;
  /** Everything the command printed. */
  output: string;
}

/** Options of {@linkcode startRendezvous}. */
export interface RendezvousOptions {
  /** Server certificate, PEM. */
  cert: string;
  /** Server key, PEM. */
  key: string;
  /** Directory first on the command's PATH. */
  binDir: string;
  /** Working directory of the command (the app's "slug"). */
  cwd: (app: string) => string;
}

/** A running rendezvous server. */
export interface Rendezvous {
  /** The port it listens on. */
  port: number;
  /** Finished sessions. */
  sessions: RendezvousSession[];
  /** Makes a dyno attachable by its secret. */
  register(app: string, dyno: DynoRecord): void;
  /** End sessions by closing TCP without TLS close_notify. @default false */
  abruptClose: boolean;
  /** Stops listening and kills running commands. */
  close(): Promise<void>;
}

const SECRET_LINE_LIMIT = 1024;

/** Starts the rendezvous TLS server on a free loopback port. */
export function startRendezvous(options: RendezvousOptions): Rendezvous {
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: options.cert,
    key: options.key,
  });
  const pending = new Map<string, { app: string; dyno: DynoRecord }>();
  const sessions: RendezvousSession[] = [];
  const children = new Set<Deno.ChildProcess>();
  const conns = new Set<Deno.Conn>();
  const handlers = new Set<Promise<void>>();
  // relayed client connections, by the relay's local port towards the TLS server
  const relays = new Map<number, () => void>();
  let abrupt = false;

  const serve = async (conn: Deno.TlsConn) => {
    conns.add(conn);
    try {
      const secret = await readLine(conn);
      const entry = secret === null ? undefined : pending.get(secret);
      if (!entry) return;
      pending.delete(secret!);
      await conn.write(new TextEncoder().encode("rendezvous\r\n"));
      sessions.push(await runAttached(conn, entry.app, entry.dyno));
      if (abrupt) {
        // let the relay pass the last records on, then drop the client before the close_notify
        await new Promise((resolve) => setTimeout(resolve, 150));
        relays.get((conn.remoteAddr as Deno.NetAddr).port)?.();
      }
    } catch {
      // the client went away; nothing to report
    } finally {
      conns.delete(conn);
      try {
        conn.close();
      } catch {
        // already closed
      }
    }
  };

  const runAttached = async (
    conn: Deno.Conn,
    app: string,
    dyno: DynoRecord,
  ): Promise<RendezvousSession> => {
    const extra = typeof dyno.body.env === "object" && dyno.body.env !== null
      ? Object.fromEntries(Object.entries(dyno.body.env).map(([k, v]) => [k, String(v)]))
      : {};
    await Deno.mkdir(options.cwd(app), { recursive: true });
    const child = new Deno.Command("bash", {
      args: ["-c", dyno.command],
      cwd: options.cwd(app),
      env: {
        ...extra,
        PATH: `${options.binDir}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
        DYNO: dyno.name,
        APP: app,
      },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    children.add(child);
    const ttl = Number(dyno.body.time_to_live);
    const timer = Number.isFinite(ttl) && ttl > 0
      ? setTimeout(() => killTree(child.pid), ttl * 1000)
      : undefined;
    let output = "";
    const encoder = new TextEncoder();
    // one writer at a time, so that stdout and stderr chunks do not interleave mid-write
    let writes = Promise.resolve();
    const forward = async (stream: ReadableStream<Uint8Array>) => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) {
        const text = decoder.decode(chunk, { stream: true });
        output += text;
        writes = writes.then(() => conn.write(encoder.encode(text.replaceAll("\n", "\r\n"))))
          .then(() => {}, () => {});
      }
    };
    await Promise.all([forward(child.stdout), forward(child.stderr)]);
    const status = await child.status;
    await writes;
    clearTimeout(timer);
    children.delete(child);
    return {
      dyno: dyno.name,
      command: dyno.command,
      exitCode: status.signal ? null : status.code,
      output,
    };
  };

  const accepting = (async () => {
    for await (const conn of listener) {
      const handler = serve(conn);
      handlers.add(handler);
      handler.finally(() => handlers.delete(handler));
    }
  })().catch(() => {});

  const relay = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const relaying = (async () => {
    for await (const client of relay) {
      const handler = relayOne(client, (listener.addr as Deno.NetAddr).port, relays, conns);
      handlers.add(handler);
      handler.finally(() => handlers.delete(handler));
    }
  })().catch(() => {});

  return {
    port: (relay.addr as Deno.NetAddr).port,
    sessions,
    register: (app, dyno) => pending.set(dyno.secret, { app, dyno }),
    get abruptClose() {
      return abrupt;
    },
    set abruptClose(value: boolean) {
      abrupt = value;
    },
    async close() {
      relay.close();
      await relaying;
      listener.close();
      for (const child of children) await killTree(child.pid);
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // already closed
        }
      }
      await accepting;
      await Promise.allSettled([...handlers]);
    },
  };
}

/** Copies bytes both ways between a client and the TLS server, until either side ends or a cut. */
async function relayOne(
  client: Deno.Conn,
  port: number,
  relays: Map<number, () => void>,
  conns: Set<Deno.Conn>,
): Promise<void> {
  let server: Deno.Conn;
  try {
    server = await Deno.connect({ hostname: "127.0.0.1", port });
  } catch {
    client.close();
    return;
  }
  conns.add(client);
  conns.add(server);
  let cut = false;
  const closeBoth = () => {
    for (const conn of [client, server]) {
      try {
        conn.close();
      } catch {
        // already closed
      }
    }
  };
  const localPort = (server.localAddr as Deno.NetAddr).port;
  relays.set(localPort, () => {
    cut = true;
    closeBoth();
  });
  const copy = async (from: Deno.Conn, to: Deno.Conn) => {
    const buffer = new Uint8Array(16 * 1024);
    try {
      while (!cut) {
        const n = await from.read(buffer);
        if (n === null || cut) break;
        let written = 0;
        while (written < n) written += await to.write(buffer.subarray(written, n));
      }
    } catch {
      // either side went away
    }
  };
  await Promise.race([copy(client, server), copy(server, client)]);
  closeBoth();
  relays.delete(localPort);
  conns.delete(client);
  conns.delete(server);
}

/** Reads bytes up to "\r\n" (the dyno secret); null when the client sends something else. */
async function readLine(conn: Deno.Conn): Promise<string | null> {
  const buffer = new Uint8Array(SECRET_LINE_LIMIT);
  let length = 0;
  while (length < buffer.length) {
    const n = await conn.read(buffer.subarray(length));
    if (n === null) return null;
    length += n;
    const text = new TextDecoder().decode(buffer.subarray(0, length));
    const end = text.indexOf("\r\n");
    if (end >= 0) return text.slice(0, end);
  }
  return null;
}

/** Kills a process and its descendants: bash's children hold the output pipes open. */
async function killTree(pid: number): Promise<void> {
  const pids = [pid];
  for (let i = 0; i < pids.length; i++) {
    try {
      const text = await Deno.readTextFile(`/proc/${pids[i]}/task/${pids[i]}/children`);
      pids.push(...text.split(" ").filter((s) => s.trim() !== "").map(Number));
    } catch {
      // gone already
    }
  }
  for (const each of pids) {
    try {
      Deno.kill(each, "SIGKILL");
    } catch {
      // gone already
    }
  }
}
