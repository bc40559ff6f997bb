/**
 * The health check: `waitHealthy` against a local server, and the healthcheck layer end to end
 * (the real CLI deploying to the Dokku sandbox, then polling a local health server).
 */
import assert from "node:assert/strict";
import { HealthCheckError, parseExpectedStatus, waitHealthy } from "../src/healthcheck.ts";
import { outcomeOf, startHealthServer } from "./_apps.ts";
import { dokkuEnv } from "./_apps.ts";
import { makeRepo, runCli } from "./_cli.ts";
import { startDokkuSandbox } from "./sandbox/dokku.ts";

const COMMAND_TIMEOUT_MS = 60_000;
const PROCFILE = { files: { "Procfile": "web: bundle exec puma\n" }, message: "Add a Procfile" };
const PASSWORD = "pw-health-4f1d9c";
const TOKEN = "tok-health-8a2e77";
const mask = (text: string) => text.replaceAll(PASSWORD, "***").replaceAll(TOKEN, "***");

Deno.test("parseExpectedStatus reads codes and classes, and refuses anything else", () => {
  const ok = parseExpectedStatus("2xx,301")!;
  assert.deepEqual([200, 204, 301, 302, 500].map(ok), [true, true, true, false, false]);
  assert.equal(parseExpectedStatus("200")!(201), false);
  for (const bad of ["", "ok", "2x", "600", "200,,204"]) {
    assert.equal(parseExpectedStatus(bad), null, bad);
  }
});

Deno.test("waitHealthy passes after answers of 500 within the limit, with growing waits", async () => {
  await using server = startHealthServer((n) => n <= 2 ? { status: 500, body: "boom" } : {});
  const attempts: number[] = [];
  const healthy = await waitHealthy(`${server.origin}/up`, {
    timeoutMs: 10_000,
    fetch,
    mask,
    onAttempt: (a) => attempts.push(a.status ?? 0),
  });
  assert.equal(healthy.status, 200);
  assert.equal(healthy.attempts, 3);
  assert.deepEqual(attempts, [500, 500]);
  const at = server.requests().map((r) => r.at);
  assert.ok(at[2]! - at[1]! > at[1]! - at[0]!, `waits grow: ${at.join(", ")}`);
});

Deno.test("waitHealthy gives up at the deadline with the last status, a masked snippet and the time", async () => {
  await using server = startHealthServer(() => ({
    status: 503,
    body: `<h1>Maintenance</h1>\n  token=${TOKEN}`,
  }));
  const started = Date.now();
  const error = await waitHealthy(`${server.origin}/up`, { timeoutMs: 1_500, fetch, mask })
    .then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof HealthCheckError, String(error));
  assert.equal(error.status, 503);
  assert.equal(error.exitCode, 1);
  assert.match(error.message, /did not pass within [12]s/);
  assert.match(error.message, /last answer 503: "<h1>Maintenance<\/h1> token=\*\*\*"/);
  assert.ok(!error.message.includes(TOKEN));
  assert.ok(Date.now() - started < 4_000, "bounded by the timeout");
  assert.ok(server.requests().length >= 2, "it polled more than once");
});

Deno.test("waitHealthy does not take a redirect to a login page for a pass unless told to", async (t) => {
  await using server = startHealthServer((_, path) =>
    path === "/login" ? { body: "Sign in" } : { status: 302, headers: { location: "/login" } }
  );
  await t.step("not followed: fails, naming the redirect", async () => {
    const error = await waitHealthy(`${server.origin}/up`, { timeoutMs: 700, fetch, mask })
      .then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof HealthCheckError);
    assert.match(error.message, /last answer 302 redirecting to \/login/);
    assert.ok(server.requests().every((r) => r.path === "/up"), "the login page was never asked");
  });
  await t.step("followed when asked, and the body text is checked", async () => {
    const healthy = await waitHealthy(`${server.origin}/up`, {
      timeoutMs: 2_000,
      fetch,
      mask,
      followRedirects: true,
      text: "Sign in",
    });
    assert.equal(healthy.status, 200);
  });
  await t.step("a body without the expected text does not pass", async () => {
    const error = await waitHealthy(`${server.origin}/login`, {
      timeoutMs: 700,
      fetch,
      mask,
      text: "All good",
    }).then(() => undefined, (e: unknown) => e);
    assert.match(String(error), /200 without "All good" in the body: "Sign in"/);
  });
});

Deno.test("deploy runs the health check after the deploy: a pass, 500 then 200, and a timeout", async (t) => {
  await using sandbox = await startDokkuSandbox();
  const dir = await makeRepo([PROCFILE]);
  let answers: (n: number) => { status?: number; body?: string } = () => ({});
  await using server = startHealthServer((n) => answers(n));
  const url = `http://ops:${PASSWORD}@${server.origin.slice(7)}/up?token=${TOKEN}`;
  const cli = async (extra: Record<string, string>) => {
    const result = await runCli(["--log-format", "json"], {
      cwd: dir,
      env: dokkuEnv(sandbox, { DEPLOY_HEALTHCHECK_URL: url, FORCE_DEPLOY: "true", ...extra }),
      timeoutMs: COMMAND_TIMEOUT_MS,
    });
    // no secret of the URL in any output, whatever the step
    for (const secret of [PASSWORD, TOKEN, btoa(`ops:${PASSWORD}`), url]) {
      assert.ok(!result.all.includes(secret), `${secret} shown:\n${result.all}`);
    }
    return result;
  };
  try {
    await t.step("a health check that passes at once", async () => {
      const result = await cli({});
      assert.equal(result.code, 0, result.all);
      const request = server.requests()[0]!;
      assert.equal(request.path, `/up?token=${TOKEN}`);
      assert.equal(request.authorization, `Basic ${btoa(`ops:${PASSWORD}`)}`);
      assert.match(result.stdout, /answered 200 after/);
      // the deploy happened before the check
      assert.ok((await sandbox.calls()).at(-1)!.at <= request.at);
    });
    await t.step("500, 500, then 200 within the limit", async () => {
      const before = server.requests().length;
      answers = (n) => n - before <= 2 ? { status: 500, body: `Error ${TOKEN}` } : {};
      const result = await cli({ DEPLOY_HEALTHCHECK_TIMEOUT: "20" });
      assert.equal(result.code, 0, result.all);
      assert.equal(server.requests().length - before, 3);
      assert.match(result.stdout, /Attempt 1 after [\d.]+s: 500: \\"Error \*\*\*\\"/);
    });
    await t.step("a health check that never passes fails the run after the timeout", async () => {
      answers = () => ({ status: 500, body: `<p>We're sorry ${TOKEN}</p>` });
      const started = Date.now();
      const result = await cli({ DEPLOY_HEALTHCHECK_TIMEOUT: "2" });
      assert.equal(result.code, 1, result.all);
      assert.ok(Date.now() - started < 30_000);
      const failure = outcomeOf(result.stdout).failure as Record<string, unknown>;
      assert.equal(failure.event, "post_deploy");
      assert.equal(failure.layer, "healthcheck");
      assert.match(
        String(failure.message),
        /did not pass within 2s .*last answer 500: "<p>We're sorry \*\*\*<\/p>"/,
      );
      assert.equal(failure.rollback, undefined, "no rollback unless asked for");
    });
    await t.step("deploy plan shows the health check after the migrations", async () => {
      const result = await runCli(["plan"], {
        cwd: dir,
        env: dokkuEnv(sandbox, { DEPLOY_HEALTHCHECK_URL: url, DEPLOY_ROLLBACK_ON_FAILURE: "true" }),
      });
      assert.equal(result.code, 0, result.all);
      assert.match(
        result.stdout,
        /post_deploy\n\s+50 {2}healthcheck: wait up to 120s for 127\.0\.0\.1:\d+ to answer 2xx/,
      );
      assert.match(result.stdout, /rollback \(when a step fails after the new release went live/);
      assert.ok(!result.all.includes(PASSWORD) && !result.all.includes(TOKEN));
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("A bad DEPLOY_HEALTHCHECK_* value exits 2 with every problem, before any server is touched", async () => {
  await using sandbox = await startDokkuSandbox();
  const dir = await makeRepo([PROCFILE]);
  try {
    const result = await runCli([], {
      cwd: dir,
      env: dokkuEnv(sandbox, {
        DEPLOY_HEALTHCHECK_URL: `ftp://user:${PASSWORD}@example.com/`,
        DEPLOY_HEALTHCHECK_TIMEOUT: "0",
        DEPLOY_HEALTHCHECK_STATUS: "ok",
      }),
    });
    assert.equal(result.code, 2, result.all);
    assert.match(result.stderr, /DEPLOY_HEALTHCHECK_URL/);
    assert.match(result.stderr, /DEPLOY_HEALTHCHECK_TIMEOUT/);
    assert.match(result.stderr, /DEPLOY_HEALTHCHECK_STATUS/);
    assert.ok(!result.all.includes(PASSWORD));
    assert.deepEqual(await sandbox.calls(), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
