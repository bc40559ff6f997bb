import assert from "node:assert/strict";
import { z } from "zod";
import {
  createHttpClient,
  type HttpClientOptions,
  HttpError,
  retryAfterMs,
  serviceError,
} from "../src/http.ts";
import { Secrets } from "../src/secrets.ts";

interface Call {
  url: string;
  method: string;
  headers: Headers;
  body: string | null;
}

/** A fake fetch that answers from a list and records each call. */
function fakeFetch(answers: (Response | Error | ((signal: AbortSignal) => Promise<Response>))[]) {
  const calls: Call[] = [];
  const fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    calls.push({
      url: String(input),
      method: init?.method ?? "GET",
      headers: new Headers(init?.headers),
      body: typeof init?.body === "string" ? init.body : null,
    });
    const answer = answers.shift();
    if (!answer) throw new Error("no more answers");
    if (answer instanceof Error) throw answer;
    if (typeof answer === "function") return await answer(init!.signal!);
    return answer;
  }) as typeof globalThis.fetch;
  return { fetch, calls };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers });

function client(fetch: typeof globalThis.fetch, extra: Partial<HttpClientOptions> = {}) {
  const sleeps: number[] = [];
  const api = createHttpClient({
    service: "Heroku API",
    baseUrl: "https://api.example.test",
    headers: { Authorization: "Bearer s3cr3t-token" },
    fetch,
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
    ...extra,
  });
  return { api, sleeps };
}

Deno.test("HttpClient sends JSON with the client's headers and validates the answer", async () => {
  const { fetch, calls } = fakeFetch([json(201, { name: "shop", extra: 1 })]);
  const { api } = client(fetch);
  const answer = await api.json("POST", "/apps", {
    body: { name: "shop" },
    schema: z.object({ name: z.string() }),
  });
  assert.equal(answer.status, 201);
  assert.deepEqual(answer.data, { name: "shop" });
  assert.equal(calls[0]!.url, "https://api.example.test/apps");
  assert.equal(calls[0]!.headers.get("authorization"), "Bearer s3cr3t-token");
  assert.equal(calls[0]!.headers.get("content-type"), "application/json");
  assert.equal(calls[0]!.body, '{"name":"shop"}');
});

Deno.test("HttpClient retries 503 and 429 with growing delays, then succeeds", async () => {
  const { fetch, calls } = fakeFetch([
    json(503, { id: "service_unavailable", message: "down" }),
    json(429, { id: "rate_limit", message: "slow down" }),
    json(502, {}),
    json(200, { ok: true }),
  ]);
  const retries: string[] = [];
  const { api, sleeps } = client(fetch, {
    retry: { baseDelayMs: 100 },
    onRetry: (info) => retries.push(`${info.request} ${info.reason} #${info.attempt}`),
  });
  const answer = await api.json("GET", "/apps/shop");
  assert.deepEqual(answer.data, { ok: true });
  assert.equal(calls.length, 4);
  assert.deepEqual(retries, [
    "GET /apps/shop 503 service_unavailable #1",
    "GET /apps/shop 429 rate_limit #2",
    "GET /apps/shop 502 #3",
  ]);
  // exponential with jitter: each delay lies in [base * 2^n / 2, base * 2^n]
  sleeps.forEach((ms, n) => {
    assert.ok(ms >= 50 * 2 ** n && ms <= 100 * 2 ** n, `delay ${n} was ${ms}`);
  });
});

Deno.test("HttpClient honours Retry-After, capped by the longest delay", async () => {
  const { fetch } = fakeFetch([
    json(429, {}, { "retry-after": "2" }),
    json(503, {}, { "retry-after": "3600" }),
    json(200, {}),
  ]);
  const { api, sleeps } = client(fetch, { retry: { maxDelayMs: 5_000, totalMs: 600_000 } });
  await api.json("GET", "/x");
  assert.deepEqual(sleeps, [2_000, 5_000]);
});

Deno.test("HttpClient gives up after its attempts and shows the service's id and message", async () => {
  const answers = Array.from(
    { length: 3 },
    () => json(503, { id: "unavailable", message: "Try later" }),
  );
  const { fetch, calls } = fakeFetch(answers);
  const { api } = client(fetch, { retry: { attempts: 3 } });
  await assert.rejects(api.json("GET", "/apps/shop"), (error: unknown) => {
    assert.ok(error instanceof HttpError);
    assert.equal(error.status, 503);
    assert.equal(error.serviceId, "unavailable");
    assert.equal(
      error.message,
      "Heroku API GET /apps/shop failed with 503 unavailable: Try later (after 3 attempts)",
    );
    return true;
  });
  assert.equal(calls.length, 3);
});

Deno.test("HttpClient stops retrying when the total time would run out", async () => {
  const { fetch, calls } = fakeFetch([json(500, {}), json(500, {}), json(500, {})]);
  const { api } = client(fetch, { retry: { attempts: 10, totalMs: 100, baseDelayMs: 1_000 } });
  await assert.rejects(api.json("GET", "/x"), HttpError);
  assert.equal(calls.length, 1);
});

Deno.test("HttpClient does not retry a 4xx", async () => {
  const { fetch, calls } = fakeFetch([
    json(404, { id: "not_found", message: "Couldn't find that app." }),
  ]);
  const { api } = client(fetch);
  await assert.rejects(
    api.json("GET", "/apps/nope"),
    (e: unknown) =>
      e instanceof HttpError && e.status === 404 &&
      e.message === "Heroku API GET /apps/nope failed with 404 not_found: Couldn't find that app.",
  );
  assert.equal(calls.length, 1);
});

Deno.test("HttpClient times out a slow attempt and retries a GET", async () => {
  const hang = (signal: AbortSignal) =>
    new Promise<Response>((_, reject) =>
      signal.addEventListener("abort", () => reject(signal.reason))
    );
  const { fetch, calls } = fakeFetch([hang, json(200, { ok: 1 })]);
  const { api } = client(fetch, { timeoutMs: 20 });
  assert.deepEqual((await api.json("GET", "/slow")).data, { ok: 1 });
  assert.equal(calls.length, 2);
});

Deno.test("HttpClient does not repeat a POST after a network error, and hides the error's text", async () => {
  const { fetch, calls } = fakeFetch([
    new TypeError(
      "error sending request for url (https://api.example.test/?token=s3cr3t-token): connection refused",
    ),
  ]);
  const { api } = client(fetch);
  await assert.rejects(api.json("POST", "/apps/shop/dynos", { body: {} }), (e: unknown) => {
    assert.ok(e instanceof HttpError);
    assert.equal(
      e.message,
      "Heroku API POST /apps/shop/dynos failed: network error (connection refused)",
    );
    return true;
  });
  assert.equal(calls.length, 1);
});

Deno.test("HttpClient rethrows the run's cancellation at once, without retrying", async () => {
  const controller = new AbortController();
  const reason = new Error("cancelled by SIGTERM");
  const { fetch, calls } = fakeFetch([(signal) => {
    controller.abort(reason);
    return Promise.reject(signal.reason);
  }]);
  const { api } = client(fetch, { signal: controller.signal });
  await assert.rejects(api.json("GET", "/x"), (e: unknown) => e === reason);
  assert.equal(calls.length, 1);
});

Deno.test("HttpClient reports an answer of the wrong shape by field, not by value", async () => {
  const { fetch } = fakeFetch([json(200, { name: 42, token: "s3cr3t-token" })]);
  const { api } = client(fetch);
  await assert.rejects(
    api.json("GET", "/apps/shop", { schema: z.object({ name: z.string() }) }),
    /^HttpError: Heroku API GET \/apps\/shop answered in an unexpected shape: name: .*expected string/,
  );
});

Deno.test("HttpClient masks registered secrets and drops query strings from messages", async () => {
  const secrets = new Secrets();
  secrets.add("hooks-token-123");
  const { fetch } = fakeFetch([json(400, { message: "bad token hooks-token-123" })]);
  const { api } = client(fetch, { secrets, baseUrl: "" });
  await assert.rejects(
    api.json("POST", "https://hooks.example.test/services/hooks-token-123?key=abc", { body: {} }),
    (e: unknown) => {
      assert.ok(e instanceof HttpError);
      assert.equal(e.message, "Heroku API POST /services/*** failed with 400 bad token ***");
      assert.doesNotMatch(e.message, /abc|hooks-token/);
      return true;
    },
  );
});

Deno.test("HttpClient.raw returns the response unread, after retrying a 503", async () => {
  const { fetch, calls } = fakeFetch([
    json(503, {}),
    new Response("line 1\nline 2\n", { status: 200 }),
  ]);
  const { api } = client(fetch, { timeoutMs: 10 });
  const response = await api.raw("GET", "/streams/1");
  // the time limit covers the headers only: a long stream is read after it
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.equal(await response.text(), "line 1\nline 2\n");
  assert.equal(calls.length, 2);
});

Deno.test("serviceError reads Heroku, Sentry and plain-text error bodies", () => {
  assert.deepEqual(serviceError('{"id":"not_found","message":"Couldn\'t find that app."}'), {
    id: "not_found",
    message: "Couldn't find that app.",
  });
  assert.deepEqual(serviceError('{"detail":"Invalid token"}'), { message: "Invalid token" });
  assert.deepEqual(serviceError('{"error":{"code":"E1","message":"nope"}}'), {
    id: "E1",
    message: "nope",
  });
  assert.deepEqual(serviceError("Bad Gateway\n<html>"), { message: "Bad Gateway" });
  assert.deepEqual(serviceError(""), {});
});

Deno.test("retryAfterMs reads seconds and HTTP dates", () => {
  assert.equal(retryAfterMs("3"), 3_000);
  assert.equal(
    retryAfterMs("Wed, 21 Oct 2015 07:28:05 GMT", Date.parse("Wed, 21 Oct 2015 07:28:00 GMT")),
    5_000,
  );
  assert.equal(retryAfterMs("soon"), undefined);
  assert.equal(retryAfterMs(null), undefined);
});

Deno.test("HttpClient waits out each backoff before the next attempt", async () => {
  const events: string[] = [];
  const { fetch } = fakeFetch([json(503, {}), json(200, { ok: 1 })]);
  const api = createHttpClient({
    service: "Heroku API",
    fetch: ((input: string | URL | Request, init?: RequestInit) => {
      events.push("request");
      return fetch(input, init);
    }) as typeof globalThis.fetch,
    sleep: async () => {
      events.push("sleep");
      await new Promise((resolve) => setTimeout(resolve, 20));
      events.push("slept");
    },
  });
  await api.json("GET", "https://api.example.test/x");
  assert.deepEqual(events, ["request", "sleep", "slept", "request"]);
});

Deno.test("HttpClient rethrows the run's cancellation of a POST, not a network error", async () => {
  const controller = new AbortController();
  const reason = new Error("cancelled by SIGTERM");
  const { fetch, calls } = fakeFetch([(signal) => {
    controller.abort(reason);
    return Promise.reject(signal.reason);
  }]);
  const retries: unknown[] = [];
  const { api } = client(fetch, {
    signal: controller.signal,
    onRetry: (info) => retries.push(info),
  });
  await assert.rejects(
    api.json("POST", "/apps/shop/dynos", { body: {} }),
    (e: unknown) => e === reason,
  );
  assert.equal(calls.length, 1);
  assert.deepEqual(retries, []);
});

Deno.test("HttpClient aborts a request in flight when the run is cancelled", async () => {
  const controller = new AbortController();
  const reason = new Error("cancelled by SIGTERM");
  const hang = (signal: AbortSignal) =>
    new Promise<Response>((_, reject) =>
      signal.addEventListener("abort", () => reject(signal.reason))
    );
  const { fetch } = fakeFetch([hang]);
  const { api } = client(fetch, { signal: controller.signal, timeoutMs: 5_000 });
  const started = performance.now();
  setTimeout(() => controller.abort(reason), 20);
  await assert.rejects(api.json("GET", "/apps/shop"), (e: unknown) => e === reason);
  assert.ok(performance.now() - started < 2_000, "the request ran to its time limit");
});

Deno.test("HttpClient asks a signal function at each request, so later work gets a fresh signal", async () => {
  const reason = new Error("cancelled by SIGTERM");
  let current = AbortSignal.abort(reason);
  const { fetch, calls } = fakeFetch([json(200, { ok: 1 })]);
  const { api } = client(fetch, { signal: () => current });
  await assert.rejects(
    api.json("POST", "/apps/shop/dynos", { body: {} }),
    (e: unknown) => e === reason,
  );
  assert.equal(calls.length, 0, "a request went out after the cancel");
  current = new AbortController().signal;
  assert.deepEqual((await api.json("POST", "/apps/shop/dynos", { body: {} })).data, { ok: 1 });
});

Deno.test("HttpClient keeps a Content-Type the caller chose", async () => {
  const { fetch, calls } = fakeFetch([json(200, {})]);
  const { api } = client(fetch);
  await api.json("PATCH", "/apps/shop/formation", {
    body: { updates: [] },
    headers: { "Content-Type": "application/merge-patch+json" },
  });
  assert.equal(calls[0]!.headers.get("content-type"), "application/merge-patch+json");
});

Deno.test("HttpClient reads an empty answer as no data", async () => {
  const { fetch } = fakeFetch([
    new Response(null, { status: 204 }),
    new Response("  \n", { status: 200 }),
  ]);
  const { api } = client(fetch);
  const deleted = await api.json("DELETE", "/apps/shop/dynos");
  assert.equal(deleted.status, 204);
  assert.equal(deleted.data, undefined);
  assert.equal((await api.json("GET", "/apps/shop")).data, undefined);
});

Deno.test("retryAfterMs reads an HTTP date already past as no wait", () => {
  const now = Date.parse("Wed, 21 Oct 2015 07:28:10 GMT");
  assert.equal(retryAfterMs("Wed, 21 Oct 2015 07:28:00 GMT", now), 0);
});
