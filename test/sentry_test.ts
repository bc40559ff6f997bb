import assert from "node:assert/strict";
import sentry, { setCommitsAttempts } from "../layers/third_parties/sentry.ts";
import { createShell } from "../src/shell.ts";
import { Secrets } from "../src/secrets.ts";
import { fakeContext, setUpLayer } from "./_deploy_context.ts";
import { git, makeRepo } from "./_cli.ts";
import { type SentryApiOptions, startSentryApi } from "./sandbox/sentry_api.ts";

const TOKEN = "sntrys_eyJpYXQiOjE3MDAwMDAwMDB9_secret-token-value";

/** An origin with three commits, and a clone of it (full or `--depth 1`). */
async function clone(
  depth?: number,
): Promise<{ origin: string; path: string; sha: string } & AsyncDisposable> {
  const origin = await makeRepo([
    { files: { "a.txt": "1" }, message: "First" },
    { files: { "a.txt": "2" }, message: "Second" },
    { files: { "a.txt": "3" }, message: "Third" },
  ]);
  const path = await Deno.makeTempDir({ prefix: "sentry-clone-" });
  await git(
    path,
    "clone",
    "--quiet",
    ...(depth ? ["--depth", String(depth)] : []),
    `file://${origin}`,
    ".",
  );
  const sha = (await git(path, "rev-parse", "HEAD")).trim();
  return {
    origin,
    path,
    sha,
    [Symbol.asyncDispose]: async () => {
      await Deno.remove(origin, { recursive: true });
      await Deno.remove(path, { recursive: true });
    },
  };
}

async function deploy(
  api: SentryApiOptions & {
    vars?: Record<string, string>;
    depth?: number;
    env?: Record<string, string>;
  },
) {
  await using repo = await clone(api.depth);
  await using server = await startSentryApi({
    ...api,
    repos: api.repos?.map((r) => ({ ...r, url: r.url.replace("ORIGIN", `file://${repo.origin}`) })),
  });
  const secrets = new Secrets();
  secrets.add(TOKEN);
  const shell = createShell({ secrets });
  const events = await setUpLayer(sentry, {
    SENTRY_AUTH_TOKEN: TOKEN,
    SENTRY_ORG: "acme",
    SENTRY_PROJECT: "shop",
    SENTRY_URL: server.url,
    ...api.vars,
  }, { runtime: { shell, cwd: repo.path, env: api.env ?? {} } });
  const fake = fakeContext({ cwd: repo.path, secrets: [TOKEN] });
  Object.assign(fake.ctx, {
    shell,
    commit: { ...fake.ctx.commit, sha: repo.sha, shortSha: repo.sha.slice(0, 7) },
  });
  await events.emit("pre_deploy", fake.ctx);
  await events.emit("post_deploy", fake.ctx);
  return { ...fake, sha: repo.sha, actions: server.actions(), requests: server.requests() };
}

Deno.test("setCommitsAttempts tries --auto, then --commit, then --ignore-missing; a shallow clone skips --auto", () => {
  assert.deepEqual(
    setCommitsAttempts({ version: "v1", sha: "abc", shallow: false, repository: "acme/shop" }),
    [
      ["releases", "set-commits", "v1", "--auto"],
      ["releases", "set-commits", "v1", "--commit", "acme/shop@abc"],
      ["releases", "set-commits", "v1", "--auto", "--ignore-missing"],
    ],
  );
  assert.deepEqual(setCommitsAttempts({ version: "v1", sha: "abc", shallow: true }), [
    ["releases", "set-commits", "v1", "--auto", "--ignore-missing"],
  ]);
});

Deno.test("Sentry creates the release, sets its commits, finalizes it and records the deploy, in that order", async () => {
  const { actions, requests, sha, log } = await deploy({
    repos: [{ name: "acme/shop", url: "ORIGIN" }],
  });
  assert.deepEqual(actions.map((a) => [a.kind, a.version]), [
    ["release", sha],
    ["release", sha],
    ["commits", sha],
    ["finalize", sha],
    ["deploy", sha],
  ]);
  assert.deepEqual(actions[2]!.body.refs, [{
    repository: "acme/shop",
    commit: sha,
    previousCommit: null,
  }]);
  assert.equal(actions[4]!.body.environment, "production");
  assert.equal(actions[4]!.body.url, "https://gitlab.example.com/acme/shop/-/jobs/4242");
  // the token reached sentry-cli through its environment, and never the log
  assert.ok(requests.every((r) => r.authorization === `Bearer ${TOKEN}`));
  assert.ok(!log().includes(TOKEN));
  assert.match(log(), /sentry-cli releases new /);
});

Deno.test("Sentry uses SENTRY_RELEASE and SENTRY_ENVIRONMENT when they are set", async () => {
  const { actions } = await deploy({
    vars: { SENTRY_RELEASE: "shop@1.2.3", SENTRY_ENVIRONMENT: "staging" },
  });
  assert.ok(actions.every((a) => a.version === "shop@1.2.3"));
  assert.equal(actions.at(-1)?.body.environment, "staging");
});

Deno.test("Sentry associates commits from a --depth 1 clone whose previous release is not in its history", async () => {
  const previousCommit = "1".repeat(40);
  const { actions, log, sha } = await deploy({ depth: 1, previousCommit });
  const commits = actions.filter((a) => a.kind === "commits");
  assert.equal(commits.length, 1);
  assert.deepEqual((commits[0]!.body.commits as { id: string }[]).map((c) => c.id), [sha]);
  assert.match(log(), /set-commits \S+ --auto --ignore-missing/);
  assert.ok(!log().includes("warning"), log());
  assert.deepEqual(actions.slice(-2).map((a) => a.kind), ["finalize", "deploy"]);
});

Deno.test("Sentry falls back to --commit REPO@SHA when --auto cannot find the repository", async () => {
  // the remote is unknown to Sentry, and the previous release's commit is not in the history
  const { actions, log, sha } = await deploy({
    repos: [{ name: "acme/shop", url: "https://gitlab.example.com/acme/shop.git" }],
    previousCommit: "2".repeat(40),
    env: { CI_PROJECT_PATH: "acme/shop" },
  });
  assert.match(log(), /set-commits \S+ --auto\n/);
  assert.match(log(), /set-commits \S+ --commit acme\/shop@/);
  const commits = actions.filter((a) => a.kind === "commits");
  assert.deepEqual(commits.at(-1)?.body.refs, [{
    repository: "acme/shop",
    commit: sha,
    previousCommit: null,
  }]);
  // deno-lint-ignore no-console
  if (Deno.env.get("SHOW_LOG")) console.log(log());
});

Deno.test("Sentry answering 500 is a warning, and the later steps are skipped", async () => {
  const { actions, requests, log } = await deploy({ mode: "500" });
  assert.deepEqual(actions, []);
  assert.match(log(), /warning: sentry: create the release failed: sentry-cli releases new failed/);
  assert.match(log(), /nothing to finalize/);
  assert.equal(requests.length, 1);
});

Deno.test("A Sentry that never answers is abandoned after SENTRY_TIMEOUT", async () => {
  const started = performance.now();
  const { log } = await deploy({ mode: "hang", vars: { SENTRY_TIMEOUT: "1" } });
  assert.ok(performance.now() - started < 8_000);
  assert.match(log(), /warning: sentry: create the release failed/);
  assert.ok(!log().includes(TOKEN));
});

Deno.test("Sentry is enabled by SENTRY_AUTH_TOKEN and then needs the organization and project", () => {
  assert.equal(sentry.enabled({ vars: { SENTRY_AUTH_TOKEN: TOKEN }, cwd: "." }), true);
  assert.equal(sentry.enabled({ vars: {}, cwd: "." }), false);
  const result = sentry.variables.safeParse({ SENTRY_AUTH_TOKEN: TOKEN });
  assert.equal(result.success, false);
  assert.deepEqual(result.error?.issues.map((i) => i.path[0]).sort(), [
    "SENTRY_ORG",
    "SENTRY_PROJECT",
  ]);
});

Deno.test("The sentry-cli deploy carries the run's start and end", async () => {
  const { actions } = await deploy({});
  const deployBody = actions.find((a) => a.kind === "deploy")!.body;
  assert.equal(deployBody.dateStarted, "2026-01-02T03:04:05Z");
  assert.ok(typeof deployBody.dateFinished === "string");
});
