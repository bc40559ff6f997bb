import assert from "node:assert/strict";
import type { DeployContext } from "../src/context.ts";
import { CancelledError, HandlerError } from "../src/errors.ts";
import { EventManager } from "../src/event_manager.ts";
import { createLogger } from "../src/logger.ts";
import { Secrets } from "../src/secrets.ts";

/** An assert.throws/rejects validator: the error's class and part of its message. */
// deno-lint-ignore no-explicit-any
function errorLike(type: new (...args: any[]) => Error, pattern: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof type, `expected ${type.name}, got ${String(error)}`);
    assert.match(error.message, pattern);
    return true;
  };
}

/** A context with a recording logger; the event manager only uses the logger. */
function context() {
  const lines: string[] = [];
  const secrets = new Secrets();
  const logger = createLogger({ secrets, color: false, write: (text) => lines.push(text) });
  const ctx = { logger, secrets, state: {}, timings: [] } as unknown as DeployContext;
  return { ctx, log: () => lines.join("") };
}

Deno.test("EventManager runs handlers in ascending priority", async () => {
  const events = new EventManager();
  const ran: number[] = [];
  for (const priority of [200, 50, 100, -5]) {
    events.on("deploy", { layer: `p${priority}`, priority, description: "x" }, () => {
      ran.push(priority);
    });
  }
  await events.emit("deploy", context().ctx);
  assert.deepEqual(ran, [-5, 50, 100, 200]);
});

Deno.test("EventManager keeps registration order for equal priorities", async () => {
  const events = new EventManager();
  const ran: string[] = [];
  for (const layer of ["c", "a", "b", "d"]) {
    events.forLayer(layer)(
      "deploy",
      { priority: layer === "d" ? 10 : 100, description: "x" },
      () => {
        ran.push(layer);
      },
    );
  }
  await events.emit("deploy", context().ctx);
  assert.deepEqual(ran, ["d", "c", "a", "b"]);
  assert.deepEqual(events.handlers("deploy").map((r) => r.layer), ["d", "c", "a", "b"]);
});

Deno.test("EventManager runs only the handlers of the emitted event", async () => {
  const events = new EventManager();
  const ran: string[] = [];
  events.on("deploy", { layer: "a", priority: 1, description: "x" }, () => void ran.push("deploy"));
  events.on("pre_deploy", { layer: "a", priority: 1, description: "x" }, () => {
    ran.push("pre_deploy");
  });
  await events.emit("pre_deploy", context().ctx);
  assert.deepEqual(ran, ["pre_deploy"]);
});

Deno.test("EventManager refuses a priority that is not a number", () => {
  const events = new EventManager();
  assert.throws(
    () => events.on("deploy", { layer: "a", priority: NaN, description: "x" }, () => {}),
    errorLike(TypeError, /priority must be a number/),
  );
});

Deno.test("EventManager logs each handler's layer and description", async () => {
  const events = new EventManager();
  events.on("deploy", { layer: "dokku", priority: 100, description: "push" }, (ctx) => {
    ctx.logger.info("pushing");
  });
  const { ctx, log } = context();
  await events.emit("deploy", ctx);
  // the handler's own lines are indented under its heading
  assert.equal(log(), "  dokku: push\n    pushing\n");
});

Deno.test("EventManager turns a soft handler's failure into a warning and runs the rest", async () => {
  const events = new EventManager();
  const ran: string[] = [];
  events.on(
    "deploy_succeeded",
    { layer: "slack", priority: 10, description: "notify", soft: true },
    () => {
      ran.push("slack");
      throw new Error("webhook answered 500");
    },
  );
  events.on("deploy_succeeded", { layer: "sentry", priority: 20, description: "release" }, () => {
    ran.push("sentry");
  });
  const { ctx, log } = context();
  await events.emit("deploy_succeeded", ctx);
  assert.deepEqual(ran, ["slack", "sentry"]);
  assert.match(log(), /warning: slack: notify failed: webhook answered 500/);
});

Deno.test("EventManager stops the event at a hard failure with a HandlerError naming event and layer", async () => {
  const events = new EventManager();
  const ran: string[] = [];
  const cause = new Error("push rejected");
  events.on("deploy", { layer: "dokku", priority: 100, description: "push" }, () => {
    ran.push("dokku");
    throw cause;
  });
  events.on("deploy", { layer: "later", priority: 200, description: "after" }, () => {
    ran.push("later");
  });
  const error = await events.emit("deploy", context().ctx).then(
    () => assert.fail("emit should have thrown"),
    (e: unknown) => e,
  );
  assert.ok(error instanceof HandlerError);
  assert.equal(error.event, "deploy");
  assert.equal(error.layer, "dokku");
  assert.equal(error.cause, cause);
  assert.match(error.message, /push rejected/);
  assert.deepEqual(ran, ["dokku"]);
});

Deno.test("EventManager wraps a thrown non-Error value in a HandlerError", async () => {
  const events = new EventManager();
  events.on("deploy", { layer: "odd", priority: 1, description: "x" }, () => {
    throw "a string";
  });
  await assert.rejects(events.emit("deploy", context().ctx), errorLike(HandlerError, /a string/));
});

Deno.test("EventManager in isolate mode runs every handler even when several fail", async () => {
  const events = new EventManager();
  const ran: string[] = [];
  for (const layer of ["a", "b", "c"]) {
    events.on("deploy_failed", { layer, priority: 100, description: "notify" }, () => {
      ran.push(layer);
      if (layer !== "b") throw new Error(`${layer} is down`);
    });
  }
  const { ctx, log } = context();
  await events.emit("deploy_failed", ctx, { isolate: true });
  assert.deepEqual(ran, ["a", "b", "c"]);
  assert.match(log(), /warning: a: notify failed: a is down/);
  assert.match(log(), /warning: c: notify failed: c is down/);
});

Deno.test("EventManager in isolate mode still runs handlers after the run was cancelled", async () => {
  const events = new EventManager();
  const ran: string[] = [];
  for (const layer of ["a", "b"]) {
    events.on(
      "deploy_failed",
      { layer, priority: 1, description: "x" },
      () => void ran.push(layer),
    );
  }
  const controller = new AbortController();
  controller.abort(new CancelledError("SIGTERM"));
  await events.emit("deploy_failed", context().ctx, { isolate: true, signal: controller.signal });
  assert.deepEqual(ran, ["a", "b"]);
});

Deno.test("EventManager stops a stage once its signal is cancelled", async (t) => {
  await t.step("before the next handler starts", async () => {
    const events = new EventManager();
    const controller = new AbortController();
    const ran: string[] = [];
    events.on("deploy", { layer: "first", priority: 1, description: "x" }, () => {
      ran.push("first");
      controller.abort(new CancelledError("SIGTERM"));
    });
    events.on("deploy", { layer: "second", priority: 2, description: "x" }, () => {
      ran.push("second");
    });
    const error = await events.emit("deploy", context().ctx, { signal: controller.signal })
      .then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof HandlerError);
    assert.ok(error.cause instanceof CancelledError);
    assert.equal(error.cause.signal, "SIGTERM");
    assert.deepEqual(ran, ["first"]);
  });
  await t.step("naming the layer whose handler was running, when it was the last one", async () => {
    const events = new EventManager();
    const controller = new AbortController();
    events.on("configure", { layer: "dokku", priority: 1, description: "x" }, () => {
      // the killed command's output looked fine to the handler, which returned normally
      controller.abort(new CancelledError("SIGINT"));
    });
    const error = await events.emit("configure", context().ctx, { signal: controller.signal })
      .then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof HandlerError);
    assert.equal(error.layer, "dokku");
    assert.ok(error.cause instanceof CancelledError);
  });
  await t.step("even when the handler that failed is soft", async () => {
    const events = new EventManager();
    const controller = new AbortController();
    const ran: string[] = [];
    events.on("post_deploy", { layer: "soft", priority: 1, description: "x", soft: true }, () => {
      ran.push("soft");
      controller.abort(new CancelledError("SIGINT"));
      // what a killed command looks like to its handler
      throw new Error("command killed by SIGTERM");
    });
    events.on("post_deploy", { layer: "next", priority: 2, description: "x" }, () => {
      ran.push("next");
    });
    const error = await events.emit("post_deploy", context().ctx, { signal: controller.signal })
      .then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof HandlerError);
    assert.equal(error.layer, "soft");
    assert.ok(error.cause instanceof CancelledError, String(error.cause));
    assert.deepEqual(ran, ["soft"]);
  });
  await t.step("even when the next handler is soft", async () => {
    const events = new EventManager();
    const controller = new AbortController();
    controller.abort(new CancelledError("SIGTERM"));
    let ran = false;
    events.on("post_deploy", { layer: "soft", priority: 1, description: "x", soft: true }, () => {
      ran = true;
    });
    await assert.rejects(
      events.emit("post_deploy", context().ctx, { signal: controller.signal }),
      errorLike(HandlerError, /Cancelled by SIGTERM/),
    );
    assert.equal(ran, false);
  });
});

Deno.test("EventManager gives handlers the run's state, shared between layers and events", async () => {
  const events = new EventManager();
  events.on("deploy", { layer: "a", priority: 1, description: "x" }, (ctx) => {
    ctx.state.a = { pushed: true };
  });
  events.on("post_deploy", { layer: "b", priority: 1, description: "x" }, (ctx) => {
    assert.deepEqual(ctx.state.a, { pushed: true });
    ctx.state.b = { seen: true };
  });
  const { ctx } = context();
  await events.emit("deploy", ctx);
  await events.emit("post_deploy", ctx);
  assert.deepEqual(ctx.state, { a: { pushed: true }, b: { seen: true } });
});

Deno.test({
  name: "EventManager keeps what a handler sets on the context, such as the release",
  async fn() {
    const events = new EventManager();
    events.on("deploy", { layer: "heroku", priority: 1, description: "x" }, (ctx) => {
      ctx.release = "v42";
    });
    const { ctx } = context();
    await events.emit("deploy", ctx);
    assert.equal(ctx.release, "v42");
  },
});
