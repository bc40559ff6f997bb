/**
 * A TCP proxy on loopback that adds network latency: every chunk is delivered `delayMs` later, in
 * each direction, in order. It also counts round trips: a turn of the conversation, where the
 * server answers after the client has sent something since the server's last answer. One SSH
 * command over a shared connection costs about one; a new connection about four.
 *
 * ```ts
 * await using proxy = await startLatencyProxy(2222, 20);
 * // connect to 127.0.0.1:proxy.port instead of :2222; proxy.roundTrips() counts the turns
 * ```
 * @module
 */

/** A running proxy; `await using` stops it. */
export interface LatencyProxy extends AsyncDisposable {
  /** The port to connect to. */
  port: number;
  /** Round trips so far, over all connections. */
  roundTrips(): number;
  /** Closes the listener and every connection. */
  stop(): Promise<void>;
}

/** Starts a proxy to 127.0.0.1:`targetPort` that delays each chunk by `delayMs` each way. */
export function startLatencyProxy(targetPort: number, delayMs: number): Promise<LatencyProxy> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  let roundTrips = 0;
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  /** Copies `from` to `to`, each chunk `delayMs` late, keeping their order. */
  async function pipe(from: Deno.Conn, to: Deno.Conn, onChunk: () => void): Promise<void> {
    let queue = Promise.resolve();
    const buffer = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await from.read(buffer);
        if (n === null) break;
        onChunk();
        const chunk = buffer.slice(0, n);
        const due = Date.now() + delayMs;
        queue = queue.then(async () => {
          await sleep(Math.max(0, due - Date.now()));
          let written = 0;
          while (written < chunk.length) written += await to.write(chunk.subarray(written));
        });
      }
      await queue;
      await to.closeWrite();
    } catch {
      // the other side went away
    }
  }

  (async () => {
    for await (const client of listener) {
      open.add(client);
      (async () => {
        let server: Deno.Conn;
        try {
          server = await Deno.connect({ hostname: "127.0.0.1", port: targetPort });
        } catch {
          client.close();
          return;
        }
        open.add(server);
        // a round trip ends when the server answers after the client spoke
        let clientSpoke = false;
        await Promise.all([
          pipe(client, server, () => (clientSpoke = true)),
          pipe(server, client, () => {
            if (clientSpoke) roundTrips++;
            clientSpoke = false;
          }),
        ]);
        for (const conn of [client, server]) {
          open.delete(conn);
          try {
            conn.close();
          } catch {
            // closed already
          }
        }
      })();
    }
  })().catch(() => {});

  let stopped = false;
  const stop = () => {
    if (!stopped) {
      stopped = true;
      listener.close();
      for (const conn of open) {
        try {
          conn.close();
        } catch {
          // closed already
        }
      }
    }
    return Promise.resolve();
  };
  return Promise.resolve({
    port: (listener.addr as Deno.NetAddr).port,
    roundTrips: () => roundTrips,
    stop,
    [Symbol.asyncDispose]: stop,
  });
}
