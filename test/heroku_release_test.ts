import assert from "node:assert/strict";
import type { HerokuApi, HerokuRelease } from "../layers/providers/heroku/api.ts";
import { deployCommit, pushProblem } from "../layers/providers/heroku/deploy.ts";
import { followRelease, streamOutput } from "../layers/providers/heroku/release.ts";
import { CommandError, DeployError } from "../src/errors.ts";
import { createLogger } from "../src/logger.ts";
import { Secrets } from "../src/secrets.ts";
import type { Shell } from "../src/shell.ts";
import { recordingShell } from "./_doubles.ts";

const COMMIT = { sha: "a".repeat(40), shortSha: "aaaaaaa", title: "One", author: "Ada" };

/** A response whose body arrives in the given chunks. */
function chunked(chunks: string[], status = 200): Response {
  const encoder = new TextEncoder();
  return new Response(
    new ReadableStream({
      start(controller) {
        for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
        controller.close();
      },
    }),
    { status },
  );
}

/** An API whose only working calls are the output stream and the release. */
function fakeApi(streams: (() => Response)[], releases: HerokuRelease[] = []): {
  api: HerokuApi;
  urls: string[];
} {
  const urls: string[] = [];
  const api = {
    outputStream: (url: string) => {
      urls.push(url);
      return Promise.resolve(streams.shift()?.() ?? new Response(null, { status: 404 }));
    },
    release: () => Promise.resolve(releases.shift()!),
  } as unknown as HerokuApi;
  return { api, urls };
}

const far = () => Date.now() + 10_000;
const signal = new AbortController().signal;

Deno.test("streamOutput drops NUL keepalives, joins split lines and ends on close", async () => {
  const { api } = fakeApi([() => chunked(["\0\0one\r\ntw", "\0o\n\0", "\0three"])]);
  const lines: string[] = [];
  assert.equal(
    await streamOutput(api, "https://x/streams/1", far(), signal, (l) => lines.push(l)),
    true,
  );
  assert.deepEqual(lines, ["one", "two", "three"]);
});

Deno.test("streamOutput: 404 means not started yet, 204 an ended stream, others an error", async () => {
  const { api } = fakeApi([
    () => new Response("Not found", { status: 404 }),
    () => new Response(null, { status: 204 }),
    () => new Response("oops", { status: 500 }),
  ]);
  const lines: string[] = [];
  const read = () => streamOutput(api, "https://x/streams/1", far(), signal, (l) => lines.push(l));
  assert.equal(await read(), false);
  assert.equal(await read(), true);
  await assert.rejects(
    read(),
    (e: unknown) => e instanceof DeployError && /500 from/.test(e.message),
  );
  assert.deepEqual(lines, []);
});

Deno.test("followRelease after a push does not show the output again, but a failure carries its tail", async () => {
  const url = "https://release-output.example/streams/1";
  const pending: HerokuRelease = {
    id: "r1",
    version: 7,
    status: "pending",
    output_stream_url: url,
  };
  const { api, urls } = fakeApi(
    [() => chunked(["== migrating\n", "\0PG::Error\n"])],
    [{ ...pending, status: "failed" }],
  );
  let text = "";
  const logger = createLogger({ secrets: new Secrets(), write: (t) => (text += t), color: false });
  const error = await followRelease(api, "shop", pending, {
    logger,
    timeoutMs: 10_000,
    signal,
    releaseCommand: "bin/rails db:migrate",
    showOutput: false,
  }).catch((e: unknown) => e);
  assert.ok(error instanceof CommandError, String(error));
  assert.match(error.message, /Release v7 failed: its release phase failed/);
  assert.deepEqual(error.output, ["== migrating", "PG::Error"]);
  assert.equal(error.command, "release: bin/rails db:migrate");
  assert.doesNotMatch(text, /migrating|PG::Error/);
  assert.deepEqual(urls, [url]);
});

Deno.test("followRelease shows the output of a release it was not shown", async () => {
  const url = "https://release-output.example/streams/1";
  const pending: HerokuRelease = {
    id: "r1",
    version: 7,
    status: "pending",
    output_stream_url: url,
  };
  const { api } = fakeApi([() => chunked(["== migrated\n"])], [{
    ...pending,
    status: "succeeded",
  }]);
  let text = "";
  const logger = createLogger({ secrets: new Secrets(), write: (t) => (text += t), color: false });
  await followRelease(api, "shop", pending, {
    logger,
    timeoutMs: 10_000,
    signal,
    releaseCommand: undefined,
  });
  assert.match(text, /Release v7: release phase output\n.*\| == migrated\n/);
});

Deno.test("pushProblem names HEROKU_RELEASE_TIMEOUT only for a push its limit killed", () => {
  const killed = new CommandError("git push failed with exit code 124", {
    command: "git push",
    exitCode: 124,
    output: [],
  });
  const late = pushProblem(killed, COMMIT, { started: Date.now() - 2_000, timeoutMs: 2_000 });
  assert.ok(late instanceof DeployError);
  assert.match(
    late.message,
    /^The push of aaaaaaa did not end within 2s \(HEROKU_RELEASE_TIMEOUT\)/,
  );
  assert.equal(pushProblem(killed, COMMIT, { started: Date.now(), timeoutMs: 60_000 }), killed);

  const rejected = new CommandError("git push failed with exit code 1", {
    command: "git push",
    exitCode: 1,
    output: ["remote:  !     Push rejected, failed to compile Ruby app."],
  });
  const build = pushProblem(rejected, COMMIT, { started: Date.now(), timeoutMs: 60_000 });
  assert.ok(build instanceof DeployError);
  assert.match(build.message, /Heroku rejected the push of aaaaaaa: the build failed/);
  assert.equal(build.cause, rejected);
  const other = new Error("boom");
  assert.equal(pushProblem(other, COMMIT, { started: 0, timeoutMs: 1 }), other);
});

Deno.test("deployCommit: the wait after the push gets only what the push left of HEROKU_RELEASE_TIMEOUT", async () => {
  const recorded = recordingShell((cmd) =>
    cmd[1] === "rev-parse"
      ? { stdout: "false\n" }
      : cmd[1] === "ls-remote"
      ? { stdout: "" }
      : undefined
  );
  // a push that takes most of the limit
  const shell: Shell = {
    cancel: () => {},
    run: async (cmd, options) => {
      if (cmd[1] === "push") await new Promise((resolve) => setTimeout(resolve, 1_500));
      return await recorded.run(cmd, options);
    },
  };
  const pending: HerokuRelease = { id: "r3", version: 3, status: "pending", slug: { id: "s3" } };
  const api = {
    latestReleases: () => Promise.resolve([pending]),
    slugCommit: () => Promise.resolve(COMMIT.sha),
    release: () => Promise.resolve(pending),
  } as unknown as HerokuApi;
  const logger = createLogger({ secrets: new Secrets(), write: () => {}, color: false });
  const started = Date.now();
  await assert.rejects(
    deployCommit(COMMIT, {
      api,
      app: "shop",
      gitUrl: "https://git.example/shop.git",
      branch: "main",
      git: { shell, cwd: Deno.cwd(), env: {} },
      logger,
      signal,
      timeoutMs: 2_000,
      force: false,
      versionBefore: 2,
    }),
    (e: unknown) =>
      e instanceof DeployError &&
      /still pending after 2s \(HEROKU_RELEASE_TIMEOUT\)/.test(e.message),
  );
  // the limit runs from before the push: about 2 s, not the push's 1.5 s and 2 s more
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 2_000 && elapsed < 3_300, `${elapsed}ms`);
  assert.ok(recorded.ran.some((cmd) => cmd[1] === "push"));
});
