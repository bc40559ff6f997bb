import assert from "node:assert/strict";
import { CancelledError } from "../src/errors.ts";
import { createHttpClient } from "../src/http.ts";
import { createLogger } from "../src/logger.ts";
import { createRuntime } from "../src/runtime.ts";
import { Secrets } from "../src/secrets.ts";
import { recordingShell } from "./_doubles.ts";

function control(undoTimeoutMs?: number) {
  const secrets = new Secrets();
  const shell = recordingShell();
  const logger = createLogger({ secrets, write: () => {}, color: false });
  return {
    shell,
    ...createRuntime({
      shell,
      logger,
      secrets,
      cwd: "/app",
      ...(undoTimeoutMs ? { undoTimeoutMs } : {}),
    }),
  };
}

Deno.test("createRuntime's undo signal is the run's own until the run is cancelled", () => {
  const run = control();
  assert.equal(run.runtime.undoSignal(), run.runtime.signal);
});

Deno.test("A cancelled run aborts its signal, kills its commands, and gives undo work a bounded signal of its own", async () => {
  const run = control(50);
  run.cancel("SIGTERM");
  assert.ok(run.runtime.signal.aborted);
  assert.ok(run.runtime.signal.reason instanceof CancelledError);
  assert.equal(run.shell.cancelled, 1);
  const undo = run.runtime.undoSignal();
  assert.equal(undo.aborted, false);
  assert.equal(run.runtime.undoSignal(), undo, "one undo budget per run");
  await new Promise((resolve) => setTimeout(resolve, 120));
  assert.ok(undo.aborted, "the undo work's time is bounded");
});

Deno.test("An HTTP client given the undo signal still reaches the server after a cancel", async () => {
  const run = control();
  const requests: string[] = [];
  const api = createHttpClient({
    service: "API",
    baseUrl: "https://api.example.com",
    signal: run.runtime.undoSignal,
    fetch: (input) => {
      requests.push(String(input));
      return Promise.resolve(new Response("{}", { status: 200 }));
    },
  });
  run.cancel("SIGINT");
  await api.json("DELETE", "/apps/shop/dynos/worker");
  assert.deepEqual(requests, ["https://api.example.com/apps/shop/dynos/worker"]);
});

Deno.test("createRuntime runs the cleanups newest first, each one even when another fails", async () => {
  const run = control();
  const order: string[] = [];
  run.runtime.defer(() => void order.push("first"), () => order.push("first now"));
  run.runtime.defer(() => {
    order.push("second");
    throw new Error("cleanup failed");
  });
  await run.cleanUp();
  assert.deepEqual(order, ["second", "first"]);
  run.cleanUpNow();
  assert.deepEqual(order, ["second", "first", "first now"]);
});
