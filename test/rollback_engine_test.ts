/**
 * The engine's side of rollback, with a provider double: when it rolls back (only after the new
 * release went live, once, not after a cancel), what the failure context and the notifications
 * say, and how a failed rollback is reported.
 */
import assert from "node:assert/strict";
import type { DeployContext, FailureContext } from "../src/context.ts";
import { CancelledError, DeployError } from "../src/errors.ts";
import { EventManager } from "../src/event_manager.ts";
import { createLogger } from "../src/logger.ts";
import { buildNotification, facts, MARKDOWN } from "../src/notification.ts";
import type { RollbackTarget } from "../src/provider.ts";
import { runDeploy } from "../src/runner.ts";
import { Secrets } from "../src/secrets.ts";
import { recordingProvider, recordingShell } from "./_doubles.ts";

const SHA = "0123456789abcdef0123456789abcdef01234567";
const OLD_SHA = "fedcba9876543210fedcba9876543210fedcba98";
const TOKEN = "tok-9d8e7f6a5b";

interface Options {
  /** What the provider's rollback does. @default succeeds */
  rollback?: () => Promise<void>;
  /** What rollbackPoint answers. @default the old commit as v41 */
  point?: RollbackTarget | null;
}

function setup(options: Options = {}) {
  const secrets = new Secrets();
  secrets.add(TOKEN);
  const lines: string[] = [];
  const logger = createLogger({ secrets, color: false, write: (text) => lines.push(text) });
  const calls: string[] = [];
  const point: RollbackTarget | null = options.point === undefined
    ? { commit: OLD_SHA, release: "v41", id: "r41", reason: "the release current before" }
    : options.point;
  const provider = Object.assign(
    recordingProvider({ name: "fake", deployed: OLD_SHA, capabilities: ["rollback"] }),
    {
      rollbackPoint: (before: string | null) => {
        calls.push(`rollbackPoint ${before?.slice(0, 7)}`);
        return Promise.resolve(point);
      },
      rollback: async (target: RollbackTarget) => {
        calls.push(`rollback ${target.release}`);
        await options.rollback?.();
        return {};
      },
    },
  );
  const ctx: DeployContext = {
    app: "shop",
    environment: "production",
    commit: { sha: SHA, shortSha: SHA.slice(0, 7), title: "Add cart", author: "Ada" },
    ci: { system: "local" },
    provider,
    logger,
    shell: recordingShell(),
    secrets,
    cwd: "/nonexistent",
    startedAt: Date.now(),
    forceDeploy: false,
    timings: [],
    state: {},
  };
  const events = new EventManager();
  const failures: FailureContext[] = [];
  events.on("deploy", { layer: "fake", priority: 100, description: "deploy" }, (c) => {
    calls.push("deploy");
    c.live = true;
  });
  events.on("deploy_failed", { layer: "notify", priority: 100, description: "notify" }, (c) => {
    calls.push("deploy_failed");
    if (c.failure) failures.push(structuredClone(c.failure));
  });
  return { ctx, events, calls, failures, log: () => lines.join("") };
}

Deno.test("A failure after the release went live rolls back once, before deploy_failed, when asked", async () => {
  const { ctx, events, calls, failures, log } = setup();
  events.on("post_deploy", { layer: "healthcheck", priority: 50, description: "check" }, () => {
    throw new DeployError(`The health check did not pass (token ${TOKEN})`);
  });
  const result = await runDeploy(events, ctx, { rollbackOnFailure: true });
  assert.equal(result.exitCode, 1);
  assert.deepEqual(calls, ["deploy", "rollbackPoint fedcba9", "rollback v41", "deploy_failed"]);
  assert.deepEqual(failures[0]!.rollback, { ok: true, to: "v41 (fedcba9)", commit: OLD_SHA });
  assert.equal(failures[0]!.layer, "healthcheck");
  assert.match(log(), /Migrations are not reversed/);
  assert.doesNotMatch(log(), /a retry of this job would skip it/, "the new release no longer runs");
  assert.ok(!log().includes(TOKEN));
});

Deno.test("No rollback without DEPLOY_ROLLBACK_ON_FAILURE, before the release is live, or after a cancel", async (t) => {
  await t.step("not asked for", async () => {
    const { ctx, events, calls } = setup();
    events.on("post_deploy", { layer: "x", priority: 50, description: "x" }, () => {
      throw new DeployError("boom");
    });
    await runDeploy(events, ctx);
    assert.deepEqual(calls, ["deploy", "deploy_failed"]);
  });
  await t.step("the deploy itself failed: the old release still runs", async () => {
    const { ctx, events, calls, failures, log } = setup();
    events.on("deploy", { layer: "fake2", priority: 50, description: "x" }, () => {
      throw new DeployError("build failed");
    });
    await runDeploy(events, ctx, { rollbackOnFailure: true });
    assert.deepEqual(calls, ["deploy_failed"]);
    assert.equal(failures[0]!.rollback, undefined);
    assert.match(log(), /Not rolling back: shop still runs what it ran before/);
  });
  await t.step("cancelled after the release went live", async () => {
    const { ctx, events, calls, log } = setup();
    events.on("post_deploy", { layer: "x", priority: 50, description: "x" }, () => {
      throw new CancelledError("SIGTERM");
    });
    const result = await runDeploy(events, ctx, { rollbackOnFailure: true });
    assert.equal(result.exitCode, 143);
    assert.deepEqual(calls, ["deploy", "deploy_failed"]);
    assert.match(log(), /Cancelled: not rolling back/);
  });
  await t.step("a new app: nothing to put back", async () => {
    const { ctx, events, calls, failures } = setup({ point: null });
    events.on("post_deploy", { layer: "x", priority: 50, description: "x" }, () => {
      throw new DeployError("boom");
    });
    await runDeploy(events, ctx, { rollbackOnFailure: true });
    assert.deepEqual(calls, ["deploy", "rollbackPoint fedcba9", "deploy_failed"]);
    assert.deepEqual(failures[0]!.rollback, {
      ok: false,
      to: "nothing",
      commit: null,
      error: "nothing ran before this deploy",
    });
  });
});

Deno.test("A rollback that fails is reported beside the failure, masked, and the run still exits 1", async () => {
  const { ctx, events, calls, failures, log } = setup({
    rollback: () => Promise.reject(new DeployError(`push refused (key ${TOKEN})`)),
  });
  events.on("post_deploy", { layer: "healthcheck", priority: 50, description: "check" }, () => {
    throw new DeployError("The health check did not pass");
  });
  const result = await runDeploy(events, ctx, { rollbackOnFailure: true });
  assert.equal(result.exitCode, 1);
  assert.deepEqual(calls, ["deploy", "rollbackPoint fedcba9", "rollback v41", "deploy_failed"]);
  const failure = failures[0]!;
  assert.equal(failure.message, "The health check did not pass");
  assert.deepEqual(failure.rollback, {
    ok: false,
    to: "v41 (fedcba9)",
    commit: OLD_SHA,
    error: "push refused (key ***)",
  });
  assert.match(log(), /Rollback failed: push refused \(key \*\*\*\)/);
  assert.ok(!log().includes(TOKEN));
  const message = buildNotification(ctx, "failed");
  assert.equal(
    message.title,
    "Deploy of shop to production failed, and the rollback to v41 (fedcba9) failed too",
  );
  assert.deepEqual(facts(message, MARKDOWN).find((f) => f.title === "Rollback"), {
    title: "Rollback",
    // Markdown facts escape the text (parentheses and asterisks included)
    value: "rollback to v41 \\(fedcba9\\) failed: push refused \\(key \\*\\*\\*\\)",
    short: false,
  });
});

Deno.test("Notifications of a rollback: automatic after a failure, and deploy rollback's own", () => {
  const { ctx } = setup();
  ctx.failure = {
    reason: "error",
    event: "post_deploy",
    layer: "healthcheck",
    message: "The health check did not pass",
    output: [],
    rollback: { ok: true, to: "v41 (fedcba9)", commit: OLD_SHA },
  };
  const failed = buildNotification(ctx, "failed");
  assert.equal(failed.title, "Deploy of shop to production failed: rolled back to v41 (fedcba9)");
  assert.deepEqual(failed.rollback, {
    kind: "automatic",
    to: "v41 (fedcba9)",
    commit: OLD_SHA,
    ok: true,
  });
  assert.equal(buildNotification(ctx, "succeeded").rollback, undefined);

  ctx.failure = undefined;
  ctx.rollingBackTo = { commit: OLD_SHA, release: "v41", reason: "--to" };
  const started = buildNotification(ctx, "started");
  assert.equal(started.title, "Rolling back shop in production to v41 (fedcba9)");
  assert.equal(started.rollback?.ok, undefined);
  const done = buildNotification(ctx, "succeeded");
  assert.equal(done.title, "Rolled back shop in production to v41 (fedcba9)");
  assert.deepEqual(done.rollback, {
    kind: "manual",
    to: "v41 (fedcba9)",
    commit: OLD_SHA,
    ok: true,
  });
  assert.deepEqual(facts(done, MARKDOWN).at(-1), {
    title: "Rolled back to",
    value: "v41 \\(fedcba9\\)",
    short: true,
  });
});

Deno.test("parseCommandLine reads deploy rollback --to and deploy status", async () => {
  const { parseCommandLine } = await import("../src/cli.ts");
  const { LAYERS } = await import("../layers/mod.ts");
  const quiet = { write: () => {}, writeError: () => {} };
  assert.deepEqual(parseCommandLine(["rollback", "--to", "v3"], LAYERS, quiet), {
    kind: "run",
    command: "rollback",
    flags: { to: "v3" },
  });
  assert.deepEqual(parseCommandLine(["status", "--log-format", "json"], LAYERS, quiet), {
    kind: "run",
    command: "status",
    flags: { logFormat: "json" },
  });
  // --to belongs to rollback only
  assert.deepEqual(parseCommandLine(["status", "--to", "v3"], LAYERS, quiet), {
    kind: "exit",
    code: 2,
  });
});
