import assert from "node:assert/strict";
import { deliver, NotificationError } from "../src/notify.ts";
import { EventManager } from "../src/event_manager.ts";
import { serviceRegistry } from "../src/layer.ts";
import mattermost from "../layers/notifiers/mattermost.ts";
import slack from "../layers/notifiers/slack.ts";
import discord from "../layers/notifiers/discord.ts";
import teams from "../layers/notifiers/teams.ts";
import webhook from "../layers/notifiers/webhook.ts";
import { fakeContext, setUpLayer } from "./_deploy_context.ts";
import { startWebhookRecorder } from "./sandbox/webhook_recorder.ts";

Deno.test("deliver POSTs the payload as JSON", async () => {
  await using hook = await startWebhookRecorder();
  await deliver("Slack", hook.url("/services/T0/B0/xyz"), { text: "hi" });
  const [request] = hook.requests();
  assert.equal(request?.method, "POST");
  assert.equal(request?.path, "/services/T0/B0/xyz");
  assert.equal(request?.headers["content-type"], "application/json");
  assert.deepEqual(request?.json, { text: "hi" });
});

Deno.test("deliver retries a 500 a bounded number of times, then names the notifier and not the URL", async () => {
  await using hook = await startWebhookRecorder({ mode: "500" });
  const url = hook.url("/hooks/secret-hook-id");
  const error = await deliver("Mattermost", url, {}, { retries: 2, backoffMs: 1 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(error instanceof NotificationError);
  assert.equal(
    error.message,
    "Mattermost notification failed with 500 internal error (after 3 attempts)",
  );
  assert.ok(!error.message.includes("secret-hook-id"));
  assert.equal(hook.requests().length, 3);
});

Deno.test("deliver does not retry a 4xx answer", async () => {
  const calls: string[] = [];
  const fetch = (input: string | URL | Request) => {
    calls.push(String(input));
    return Promise.resolve(new Response("no such hook", { status: 404 }));
  };
  await assert.rejects(
    deliver("Discord", "http://127.0.0.1:9/x", {}, { fetch, retries: 2, backoffMs: 1 }),
    { name: "NotificationError", message: "Discord notification failed with 404" },
  );
  assert.equal(calls.length, 1);
});

Deno.test("deliver succeeds when a retry gets through", async () => {
  let attempt = 0;
  const fetch = () => Promise.resolve(new Response(null, { status: ++attempt === 1 ? 503 : 200 }));
  await deliver("Teams", "http://127.0.0.1:9/x", {}, { fetch, retries: 2, backoffMs: 1 });
  assert.equal(attempt, 2);
});

Deno.test("deliver abandons a webhook that never answers after its timeout, without posting twice", async () => {
  await using hook = await startWebhookRecorder({ mode: "hang" });
  const started = performance.now();
  await assert.rejects(
    deliver("Webhook", hook.url(), {}, { timeoutMs: 200, retries: 1, backoffMs: 1 }),
    { message: "Webhook notification failed: timed out after 0.2s" },
  );
  assert.ok(performance.now() - started < 2_000);
  // the service may have posted the message already: it is not sent again
  assert.equal(hook.requests().length, 1);
});

Deno.test("deliver reports a refused connection without the URL", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const url = `http://127.0.0.1:${port}/hooks/very-secret`;
  const error = await deliver("Slack", url, {}, { retries: 0 }).catch((e: unknown) => e);
  assert.ok(error instanceof NotificationError);
  assert.match(
    error.message,
    /^Slack notification failed: network error \([\w ]+\)$/,
  );
  assert.ok(!error.message.includes(String(port)));
});

Deno.test("Each notifier is enabled by its webhook URL", () => {
  const layers = [mattermost, slack, discord, teams, webhook];
  const vars = {
    MATTERMOST_WEBHOOK_URL: "http://127.0.0.1/m",
    DISCORD_WEBHOOK_URL: "http://127.0.0.1/d",
  };
  assert.deepEqual(
    layers.filter((layer) => layer.enabled({ vars, cwd: "." })).map((layer) => layer.name),
    ["mattermost", "discord"],
  );
  assert.equal(mattermost.kind, "notifier");
});

Deno.test("A notifier layer posts the start message in pre_deploy and each ending's message", async () => {
  await using hook = await startWebhookRecorder();
  const events = await setUpLayer(webhook, { DEPLOY_WEBHOOK_URL: hook.url("/deploys") });
  const { ctx } = fakeContext();
  await events.emit("pre_deploy", ctx);
  await events.emit("deploy_succeeded", ctx);
  await events.emit("deploy_skipped", ctx);
  ctx.failure = {
    reason: "error",
    event: "deploy",
    layer: "dokku",
    message: "push failed",
    output: [],
  };
  await events.emit("deploy_failed", ctx);
  const requests = hook.requests();
  assert.deepEqual(requests.map((r) => (r.json as { event: string }).event), [
    "deploy.started",
    "deploy.succeeded",
    "deploy.skipped",
    "deploy.failed",
  ]);
  assert.deepEqual(requests.map((r) => r.headers["x-deploy-event"]), [
    "deploy.started",
    "deploy.succeeded",
    "deploy.skipped",
    "deploy.failed",
  ]);
});

Deno.test("The start message goes out early in pre_deploy, the failure message after repairs", async () => {
  const events = await setUpLayer(slack, { SLACK_WEBHOOK_URL: "http://127.0.0.1:9/x" });
  const pre = events.handlers("pre_deploy");
  assert.deepEqual(pre.map((h) => [h.layer, h.priority, h.soft]), [["slack", 10, true], [
    "slack",
    11,
    true,
  ]]);
  assert.ok(events.handlers("deploy_failed")[0]!.priority >= 100);
});

Deno.test("Notifiers of one run are sent in parallel, and a failing one only warns, by name", async () => {
  await using hanging = await startWebhookRecorder({ mode: "hang" });
  await using failing = await startWebhookRecorder({ mode: "500" });
  await using working = await startWebhookRecorder();
  const events = new EventManager();
  // the notifier layers of one run share its services
  const service = serviceRegistry();
  const delivery = { NOTIFY_TIMEOUT: "1", NOTIFY_RETRIES: "1" };
  const urls = {
    MATTERMOST_WEBHOOK_URL: hanging.url("/hooks/mm-secret"),
    SLACK_WEBHOOK_URL: failing.url("/services/slack-secret"),
    DISCORD_WEBHOOK_URL: working.url("/api/webhooks/1/discord-secret"),
    TEAMS_WEBHOOK_URL: hanging.url("/workflows/teams-secret"),
  };
  await setUpLayer(
    mattermost,
    { ...delivery, MATTERMOST_WEBHOOK_URL: urls.MATTERMOST_WEBHOOK_URL },
    {
      events,
      runtime: { service },
    },
  );
  await setUpLayer(slack, { ...delivery, SLACK_WEBHOOK_URL: urls.SLACK_WEBHOOK_URL }, {
    events,
    runtime: { service },
  });
  await setUpLayer(discord, { ...delivery, DISCORD_WEBHOOK_URL: urls.DISCORD_WEBHOOK_URL }, {
    events,
    runtime: { service },
  });
  await setUpLayer(teams, { ...delivery, TEAMS_WEBHOOK_URL: urls.TEAMS_WEBHOOK_URL }, {
    events,
    runtime: { service },
  });
  // one wait handler for the notifiers of the run
  assert.deepEqual(events.handlers("deploy_succeeded").map((h) => h.layer), [
    "mattermost",
    "slack",
    "discord",
    "teams",
    "mattermost",
  ]);
  const { ctx, log } = fakeContext({ secrets: Object.values(urls) });
  const started = performance.now();
  await events.emit("deploy_succeeded", ctx);
  const elapsed = performance.now() - started;
  // each hanging notifier takes its 1 s timeout, the failing one a backoff: in a row, over 2 s
  assert.ok(elapsed < 1_800, `took ${elapsed} ms`);
  assert.equal(hanging.requests().length, 2);
  assert.equal(failing.requests().length, 2);
  assert.equal(working.requests().length, 1);
  const text = log();
  assert.match(text, /warning: Mattermost notification failed: timed out after 1s/);
  assert.match(
    text,
    /warning: Slack notification failed with 500 internal error \(after 2 attempts\)/,
  );
  assert.match(text, /warning: Teams notification failed: timed out after 1s/);
  assert.match(text, /Discord: sent/);
  for (const url of Object.values(urls)) assert.ok(!text.includes(url));
  assert.ok(!text.includes("127.0.0.1"));
});

Deno.test("A notifier forced on without its URL is a configuration problem", () => {
  const result = mattermost.variables.safeParse({});
  assert.equal(result.success, false);
  assert.equal(slack.variables.safeParse({ SLACK_WEBHOOK_URL: "not a url" }).success, false);
  assert.equal(
    webhook.variables.safeParse({ DEPLOY_WEBHOOK_URL: "http://127.0.0.1/x", NOTIFY_RETRIES: "9" })
      .success,
    false,
  );
});

/** A fetch that answers every request with `status`, recording each one. */
function countingFetch(status: number) {
  const bodies: unknown[] = [];
  const fetch = ((_input: string | URL | Request, init?: RequestInit) => {
    bodies.push(JSON.parse(String(init?.body)));
    return Promise.resolve(new Response(null, { status }));
  }) as typeof globalThis.fetch;
  return { fetch, bodies };
}

Deno.test("A cancelled run still sends its failure message, once, without waiting for retries", async () => {
  const { fetch, bodies } = countingFetch(503);
  const cancelled = AbortSignal.abort(new Error("Cancelled by SIGTERM"));
  const events = await setUpLayer(
    webhook,
    { DEPLOY_WEBHOOK_URL: "http://127.0.0.1:9/deploys", NOTIFY_RETRIES: "2" },
    { runtime: { fetch, signal: cancelled } },
  );
  const { ctx, log } = fakeContext();
  ctx.failure = { reason: "cancelled", event: "deploy", layer: "dokku", message: "x", output: [] };
  await events.emit("deploy_failed", ctx, { isolate: true });
  assert.equal(bodies.length, 1);
  assert.match(log(), /warning: Webhook notification failed with 503$/m);
});

Deno.test("Each event's wait reports the notifications of that event only", async () => {
  const { fetch, bodies } = countingFetch(200);
  const events = await setUpLayer(
    slack,
    { SLACK_WEBHOOK_URL: "http://127.0.0.1:9/services/x" },
    { runtime: { fetch } },
  );
  const { ctx, log } = fakeContext();
  await events.emit("pre_deploy", ctx);
  await events.emit("deploy_succeeded", ctx);
  assert.equal(bodies.length, 2);
  assert.equal(log().match(/Slack: sent/g)?.length, 2, log());
});

Deno.test("deliver releases an answer's body unread", async () => {
  let cancelled = false;
  const fetch = () =>
    Promise.resolve(
      new Response(
        new ReadableStream({
          start: (controller) => controller.enqueue(new TextEncoder().encode("ok")),
          cancel: () => {
            cancelled = true;
          },
        }),
        { status: 200 },
      ),
    );
  await deliver("Teams", "http://127.0.0.1:9/x", {}, { fetch });
  assert.ok(cancelled, "the answer's body was left open");
});
