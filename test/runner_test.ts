import assert from "node:assert/strict";
import type { DeployContext, EventName, FailureContext } from "../src/context.ts";
import { CancelledError, CommandError, ConfigError } from "../src/errors.ts";
import { EventManager, type Handler, type HandlerOptions } from "../src/event_manager.ts";
import { createLogger } from "../src/logger.ts";
import { failureContext, runDeploy } from "../src/runner.ts";
import { Secrets } from "../src/secrets.ts";
import type { Shell } from "../src/shell.ts";
import { type Answer, answerTable, recordingProvider, recordingShell } from "./_doubles.ts";

const SHA = "0123456789abcdef0123456789abcdef01234567";
const OLD_SHA = "fedcba9876543210fedcba9876543210fedcba98";
const TOKEN = "tok-3f9a8c7e5d";

/** A provider whose deployed commit the test chooses, recording what it was asked. */
function fakeProvider(deployed: string | null | Error) {
  const provider = recordingProvider({ name: "fake", deployed });
  return Object.assign(provider, { names: () => provider.calls.map((call) => call.kind) });
}

/** A shell that answers from a table: a command whose text matches a key fails with its output. */
function fakeShell(failures: Record<string, Answer> = {}) {
  return recordingShell(answerTable(failures));
}

interface Setup {
  deployed?: string | null | Error;
  forceDeploy?: boolean;
  shell?: Shell;
}

/** A run: an event manager, a context with a recording logger, and the trace of handlers. */
function setup(options: Setup = {}) {
  const secrets = new Secrets();
  secrets.add(TOKEN);
  const lines: string[] = [];
  const logger = createLogger({ secrets, color: false, write: (text) => lines.push(text) });
  const provider = fakeProvider(options.deployed === undefined ? OLD_SHA : options.deployed);
  const shell = options.shell ?? fakeShell();
  const ctx: DeployContext = {
    app: "shop",
    environment: "production",
    commit: { sha: SHA, shortSha: SHA.slice(0, 7), title: "Add cart", author: "Ada" },
    ci: { system: "local" },
    provider,
    logger,
    shell,
    secrets,
    cwd: "/nonexistent",
    startedAt: Date.now(),
    forceDeploy: options.forceDeploy ?? false,
    timings: [],
    state: {},
  };
  const events = new EventManager();
  const trace: string[] = [];
  const failures: FailureContext[] = [];
  const on = (
    event: EventName,
    layer: string,
    handler?: Handler,
    opts: Partial<HandlerOptions> = {},
  ) =>
    events.on(event, { layer, priority: 100, description: `${layer} ${event}`, ...opts }, (c) => {
      trace.push(`${event}:${layer}`);
      if (event === "deploy_failed" && c.failure) failures.push(c.failure);
      return handler?.(c);
    });
  return { ctx, events, on, trace, failures, provider, log: () => lines.join("") };
}

/** Registers a recording handler on every event. */
function onEveryEvent(on: ReturnType<typeof setup>["on"]) {
  for (
    const event of [
      "configure",
      "pre_deploy",
      "deploy",
      "post_deploy",
      "deploy_succeeded",
      "deploy_skipped",
      "deploy_failed",
    ] as const
  ) {
    on(event, "rec");
  }
}

Deno.test("runDeploy runs configure, pre_deploy, deploy, post_deploy, then deploy_succeeded", async () => {
  const run = setup();
  onEveryEvent(run.on);
  const result = await runDeploy(run.events, run.ctx);
  assert.deepEqual(result, { outcome: "succeeded", exitCode: 0 });
  assert.deepEqual(run.trace, [
    "configure:rec",
    "pre_deploy:rec",
    "deploy:rec",
    "post_deploy:rec",
    "deploy_succeeded:rec",
  ]);
  assert.equal(run.ctx.outcome, "succeeded");
  assert.equal(run.ctx.deployedBefore, OLD_SHA);
  assert.deepEqual(run.ctx.timings.map((t) => t.event), [
    "configure",
    "pre_deploy",
    "deploy",
    "post_deploy",
    "deploy_succeeded",
  ]);
  assert.match(run.log(), /Deployed 0123456 to shop/);
});

Deno.test("runDeploy asks the provider for the deployed commit after the configure handlers", async () => {
  const run = setup();
  run.on("configure", "first", (ctx) => {
    assert.equal(ctx.deployedBefore, undefined);
    assert.deepEqual(run.provider.names(), []);
  });
  run.on("pre_deploy", "second", (ctx) => assert.equal(ctx.deployedBefore, OLD_SHA));
  const result = await runDeploy(run.events, run.ctx);
  assert.equal(result.outcome, "succeeded");
  assert.deepEqual(run.provider.names(), ["deployedCommit"]);
});

Deno.test("runDeploy skips from configure straight to deploy_skipped when the app runs the commit", async () => {
  const run = setup({ deployed: SHA });
  onEveryEvent(run.on);
  const result = await runDeploy(run.events, run.ctx);
  assert.deepEqual(result, { outcome: "skipped", exitCode: 0 });
  assert.deepEqual(run.trace, ["configure:rec", "deploy_skipped:rec"]);
  assert.equal(run.ctx.outcome, "skipped");
  assert.match(run.log(), /shop already runs 0123456: nothing to deploy/);
});

Deno.test("runDeploy deploys anyway with FORCE_DEPLOY when the app runs the commit", async () => {
  const run = setup({ deployed: SHA, forceDeploy: true });
  onEveryEvent(run.on);
  const result = await runDeploy(run.events, run.ctx);
  assert.equal(result.outcome, "succeeded");
  assert.deepEqual(run.trace, [
    "configure:rec",
    "pre_deploy:rec",
    "deploy:rec",
    "post_deploy:rec",
    "deploy_succeeded:rec",
  ]);
  // the provider layer sees that this is a redeploy of the same commit
  assert.equal(run.ctx.deployedBefore, SHA);
});

Deno.test("runDeploy deploys a new app whose provider has no commit yet", async () => {
  const run = setup({ deployed: null });
  onEveryEvent(run.on);
  const result = await runDeploy(run.events, run.ctx);
  assert.equal(result.outcome, "succeeded");
  assert.ok(run.trace.includes("deploy:rec"));
});

Deno.test("runDeploy runs every deploy_failed handler, each isolated, after an error in pre_deploy", async () => {
  const output = Array.from({ length: 30 }, (_, i) => `line ${i + 1}`);
  output[27] = `using token ${TOKEN}`;
  const shell = fakeShell({ "db:migrate": { code: 3, lines: output } });
  const run = setup({ shell });
  run.on("configure", "rec");
  run.on("pre_deploy", "rails", async (ctx) => {
    await ctx.shell.run(["rails", "db:migrate", `--token=${TOKEN}`]);
  });
  run.on("deploy", "dokku");
  run.on("post_deploy", "rec");
  run.on("deploy_succeeded", "rec");
  run.on("deploy_failed", "slack", () => {
    throw new Error("slack is down");
  }, { priority: 10 });
  run.on("deploy_failed", "teams", () => {
    throw new Error("teams is down");
  }, { priority: 20 });
  run.on("deploy_failed", "webhook", undefined, { priority: 30 });

  const result = await runDeploy(run.events, run.ctx);

  assert.deepEqual(result, { outcome: "failed", exitCode: 1 });
  assert.deepEqual(run.trace, [
    "configure:rec",
    "pre_deploy:rails",
    "deploy_failed:slack",
    "deploy_failed:teams",
    "deploy_failed:webhook",
  ]);
  assert.equal(run.failures.length, 3);
  const failure = run.failures[0]!;
  assert.equal(failure.reason, "error");
  assert.equal(failure.event, "pre_deploy");
  assert.equal(failure.layer, "rails");
  assert.equal(failure.command, "rails db:migrate --token=***");
  assert.equal(failure.exitCode, 3);
  assert.ok(failure.output.length <= 20);
  assert.deepEqual(failure.output.slice(0, 2), ["line 11", "line 12"]);
  assert.equal(failure.output.at(-1), "line 30");
  assert.equal(failure.output[17], "using token ***");
  assert.match(failure.message, /exit code 3/);
  assert.ok(!JSON.stringify(failure).includes(TOKEN), JSON.stringify(failure));
  assert.equal(run.ctx.outcome, "failed");
  assert.match(run.log(), /warning: slack: slack deploy_failed failed: slack is down/);
  assert.match(run.log(), /warning: teams: teams deploy_failed failed: teams is down/);
  assert.match(run.log(), /error: Deploy failed: rails failed during pre_deploy/);
  assert.ok(!run.log().includes(TOKEN));
});

Deno.test("runDeploy gives deploy_failed the event and layer of an error in each stage", async (t) => {
  for (const event of ["configure", "pre_deploy", "deploy", "post_deploy"] as const) {
    await t.step(event, async () => {
      const run = setup();
      onEveryEvent(run.on);
      run.on(event, "broken", () => {
        throw new Error(`broke in ${event}`);
      });
      const result = await runDeploy(run.events, run.ctx);
      assert.deepEqual(result, { outcome: "failed", exitCode: 1 });
      assert.equal(run.trace.at(-1), "deploy_failed:rec");
      assert.ok(!run.trace.includes("deploy_succeeded:rec"));
      assert.deepEqual(
        { event: run.failures[0]?.event, layer: run.failures[0]?.layer },
        { event, layer: "broken" },
      );
      assert.equal(run.failures[0]?.message, `broke in ${event}`);
      assert.deepEqual(run.failures[0]?.output, []);
      assert.equal(run.failures[0]?.command, undefined);
    });
  }
});

Deno.test("runDeploy fails in configure, naming the provider, when the deployed commit cannot be read", async () => {
  const run = setup({ deployed: new Error("ls-remote: connection refused") });
  onEveryEvent(run.on);
  const result = await runDeploy(run.events, run.ctx);
  assert.equal(result.outcome, "failed");
  assert.deepEqual(run.trace, ["configure:rec", "deploy_failed:rec"]);
  assert.equal(run.failures[0]?.event, "configure");
  assert.equal(run.failures[0]?.layer, "fake");
  assert.match(run.failures[0]!.message, /connection refused/);
});

Deno.test("runDeploy keeps a good outcome when an ending handler fails", async (t) => {
  await t.step("deploy_succeeded", async () => {
    const run = setup();
    onEveryEvent(run.on);
    run.on("deploy_succeeded", "slack", () => {
      throw new Error("slack is down");
    });
    run.on("deploy_succeeded", "after", undefined, { priority: 200 });
    const result = await runDeploy(run.events, run.ctx);
    assert.deepEqual(result, { outcome: "succeeded", exitCode: 0 });
    assert.ok(run.trace.includes("deploy_succeeded:after"));
    assert.ok(!run.trace.includes("deploy_failed:rec"));
    assert.match(run.log(), /warning: slack: .*slack is down/);
  });
  await t.step("deploy_skipped", async () => {
    const run = setup({ deployed: SHA });
    onEveryEvent(run.on);
    run.on("deploy_skipped", "slack", () => {
      throw new Error("slack is down");
    });
    const result = await runDeploy(run.events, run.ctx);
    assert.deepEqual(result, { outcome: "skipped", exitCode: 0 });
    assert.ok(!run.trace.includes("deploy_failed:rec"));
  });
});

Deno.test("runDeploy exits with code 2 for a ConfigError thrown in configure", async () => {
  const run = setup();
  onEveryEvent(run.on);
  run.on("configure", "dokku", () => {
    throw new ConfigError("SSH_PRIVATE_KEY: expected the key text");
  });
  const result = await runDeploy(run.events, run.ctx);
  assert.deepEqual(result, { outcome: "failed", exitCode: 2 });
  assert.deepEqual(run.trace, ["configure:rec", "configure:dokku", "deploy_failed:rec"]);
  assert.match(run.failures[0]!.message, /SSH_PRIVATE_KEY/);
});

Deno.test("runDeploy exits with code 143 and reason cancelled after SIGTERM", async (t) => {
  await t.step("SIGTERM during deploy", async () => {
    const controller = new AbortController();
    const run = setup();
    onEveryEvent(run.on);
    run.on("deploy", "dokku", () => {
      controller.abort(new CancelledError("SIGTERM"));
      // the push command, killed by the shell's cancel
      throw new CommandError("Command failed with exit code 143: git push", {
        command: "git push",
        exitCode: 143,
        output: [],
      });
    });
    const result = await runDeploy(run.events, run.ctx, { signal: controller.signal });
    assert.deepEqual(result, { outcome: "failed", exitCode: 143 });
    assert.ok(!run.trace.includes("post_deploy:rec"));
    assert.equal(run.trace.at(-1), "deploy_failed:rec");
    assert.equal(run.failures[0]?.reason, "cancelled");
    assert.equal(run.failures[0]?.event, "deploy");
    assert.match(run.log(), /Deploy failed: cancelled by SIGTERM during deploy \(dokku\)/);
  });
  await t.step("SIGINT between handlers exits with 130", async () => {
    const controller = new AbortController();
    const run = setup();
    onEveryEvent(run.on);
    run.on("pre_deploy", "rails", () => controller.abort(new CancelledError("SIGINT")));
    const result = await runDeploy(run.events, run.ctx, { signal: controller.signal });
    assert.deepEqual(result, { outcome: "failed", exitCode: 130 });
    assert.ok(!run.trace.includes("deploy:rec"));
    assert.equal(run.failures[0]?.reason, "cancelled");
  });
});

Deno.test({
  name: "runDeploy reports a run cancelled during configure as cancelled, not skipped",
  async fn() {
    const controller = new AbortController();
    const run = setup({ deployed: SHA });
    onEveryEvent(run.on);
    run.on("configure", "dokku", () => controller.abort(new CancelledError("SIGTERM")));
    const result = await runDeploy(run.events, run.ctx, { signal: controller.signal });
    assert.deepEqual(result, { outcome: "failed", exitCode: 143 });
    assert.equal(run.failures[0]?.reason, "cancelled");
  },
});

Deno.test("runDeploy in check mode runs configure only", async () => {
  const run = setup();
  onEveryEvent(run.on);
  const result = await runDeploy(run.events, run.ctx, { mode: "check" });
  assert.deepEqual(result, { outcome: "succeeded", exitCode: 0 });
  assert.deepEqual(run.trace, ["configure:rec"]);
  assert.match(run.log(), /Configuration and connection are fine/);
});

Deno.test({
  name: "runDeploy in check mode sends no deploy_failed notifications when configure fails",
  async fn() {
    const run = setup();
    onEveryEvent(run.on);
    run.on("configure", "dokku", () => {
      throw new ConfigError("SSH_PRIVATE_KEY: expected the key text");
    });
    const result = await runDeploy(run.events, run.ctx, { mode: "check" });
    assert.equal(result.exitCode, 2);
    assert.deepEqual(run.trace, ["configure:rec", "configure:dokku"]);
  },
});

Deno.test("runDeploy leaves out events that have no handlers, except configure", async () => {
  const run = setup();
  run.on("deploy", "dokku");
  const result = await runDeploy(run.events, run.ctx);
  assert.equal(result.outcome, "succeeded");
  assert.deepEqual(run.ctx.timings.map((t) => t.event), ["configure", "deploy"]);
  assert.doesNotMatch(run.log(), /Pre-deploy/);
});

Deno.test("failureContext masks the message, command and output of a failed command", () => {
  const secrets = new Secrets();
  secrets.add(TOKEN);
  const error = new CommandError(`failed: curl -H ${TOKEN}`, {
    command: `curl -H ${TOKEN}`,
    exitCode: 22,
    output: [`401 for ${TOKEN}`],
  });
  const failure = failureContext(error, secrets);
  assert.deepEqual(failure, {
    reason: "error",
    event: "configure",
    layer: "deploy",
    message: "failed: curl -H ***",
    command: "curl -H ***",
    exitCode: 22,
    output: ["401 for ***"],
  });
});

Deno.test("failureContext finds a failed command behind a DeployError's cause", () => {
  const command = new CommandError("git push failed", {
    command: "git push",
    exitCode: 1,
    output: ["! [rejected] (non-fast-forward)"],
  });
  const failure = failureContext(
    new Error("set FORCE_PUSH=true", { cause: command }),
    new Secrets(),
  );
  assert.equal(failure.command, "git push");
  assert.equal(failure.exitCode, 1);
  assert.equal(failure.message, "set FORCE_PUSH=true");
});

Deno.test({
  name: "failureContext keeps at most 20 output lines whatever the error carries",
  fn() {
    const output = Array.from({ length: 500 }, (_, i) => `build line ${i}`);
    const error = new CommandError("build failed", { command: "build", exitCode: 1, output });
    const failure = failureContext(error, new Secrets());
    assert.equal(failure.output.length, 20);
    assert.equal(failure.output.at(-1), "build line 499");
  },
});

Deno.test("runDeploy stops a run cancelled while the provider read the deployed commit, though the read succeeded", async () => {
  const controller = new AbortController();
  const run = setup();
  onEveryEvent(run.on);
  // SIGTERM arrives while ls-remote runs, and the read still answers
  const read = run.provider.deployedCommit.bind(run.provider);
  run.provider.deployedCommit = () => {
    controller.abort(new CancelledError("SIGTERM"));
    return read();
  };
  const result = await runDeploy(run.events, run.ctx, { signal: controller.signal });
  assert.deepEqual(result, { outcome: "failed", exitCode: 143 });
  assert.deepEqual(run.trace, ["configure:rec", "deploy_failed:rec"]);
  assert.equal(run.failures[0]?.reason, "cancelled");
  assert.equal(run.failures[0]?.event, "configure");
});

Deno.test("runDeploy warns that a retry would skip a deploy whose post_deploy failed, and only then", async (t) => {
  await t.step("post_deploy failed: the server runs the commit", async () => {
    const run = setup();
    run.on("post_deploy", "broken", () => {
      throw new Error("broke in post_deploy");
    });
    const result = await runDeploy(run.events, run.ctx);
    assert.equal(result.outcome, "failed");
    assert.match(
      run.log(),
      /warning: shop already runs 0123456: a retry of this job would skip it; re-run with FORCE_DEPLOY=true/,
    );
  });
  await t.step("deploy failed: a retry deploys again", async () => {
    const run = setup();
    run.on("deploy", "broken", () => {
      throw new Error("broke in deploy");
    });
    const result = await runDeploy(run.events, run.ctx);
    assert.equal(result.outcome, "failed");
    assert.doesNotMatch(run.log(), /a retry of this job would skip it/);
  });
});

Deno.test("runDeploy sets the outcome before the ending's handlers read it", async () => {
  const seen: (string | undefined)[] = [];
  for (const broken of [false, true]) {
    const run = setup();
    if (broken) {
      run.on("deploy", "dokku", () => {
        throw new Error("push failed");
      });
    }
    run.on("deploy_succeeded", "slack", (ctx) => void seen.push(ctx.outcome));
    run.on("deploy_failed", "slack", (ctx) => void seen.push(ctx.outcome));
    await runDeploy(run.events, run.ctx);
  }
  assert.deepEqual(seen, ["succeeded", "failed"]);
});

Deno.test("runDeploy reports a deployed-commit read that a cancel killed as cancelled", async () => {
  const controller = new AbortController();
  const run = setup();
  onEveryEvent(run.on);
  run.provider.deployedCommit = () => {
    controller.abort(new CancelledError("SIGTERM"));
    // ls-remote, killed by the shell's cancel
    return Promise.reject(
      new CommandError("Command failed with exit code 143: git ls-remote", {
        command: "git ls-remote",
        exitCode: 143,
        output: [],
      }),
    );
  };
  const result = await runDeploy(run.events, run.ctx, { signal: controller.signal });
  assert.deepEqual(result, { outcome: "failed", exitCode: 143 });
  assert.equal(run.failures[0]?.reason, "cancelled");
  assert.match(run.log(), /Deploy failed: cancelled by SIGTERM during configure \(fake\)/);
});

Deno.test("runDeploy names the failed command once: on its own line only when the message lacks it", async (t) => {
  await t.step("the message holds the command", async () => {
    const shell = fakeShell({ "db:migrate": { code: 3 } });
    const run = setup({ shell });
    run.on("pre_deploy", "rails", (ctx) => ctx.shell.run(["rails", "db:migrate"]).then(() => {}));
    await runDeploy(run.events, run.ctx);
    assert.match(
      run.log(),
      /error: Deploy failed: rails failed during pre_deploy: .*rails db:migrate\n/,
    );
    assert.doesNotMatch(run.log(), /command: /);
  });
  await t.step("the message explains, the command is behind it", async () => {
    const run = setup();
    run.on("deploy", "dokku", () => {
      const push = new CommandError("git push failed", {
        command: "git push dokku",
        exitCode: 1,
        output: [],
      });
      throw new Error("The server's branch has other commits", { cause: push });
    });
    await runDeploy(run.events, run.ctx);
    assert.match(run.log(), /\nerror: command: git push dokku \(exit code 1\)\n/);
  });
});

Deno.test("runDeploy times a failed stage as failed", async () => {
  const run = setup();
  run.on("pre_deploy", "rec");
  run.on("deploy", "dokku", () => {
    throw new Error("push failed");
  });
  await runDeploy(run.events, run.ctx);
  assert.deepEqual(run.ctx.timings.map((t) => [t.event, t.ok]), [
    ["configure", true],
    ["pre_deploy", true],
    ["deploy", false],
  ]);
});
