import assert from "node:assert/strict";
import sentry, {
  deployArgs,
  parseRepositoryList,
  repositoryForUrl,
  sentryEnvironment,
} from "../layers/third_parties/sentry.ts";
import { createShell } from "../src/shell.ts";
import { Secrets } from "../src/secrets.ts";
import { fakeContext, setUpLayer } from "./_deploy_context.ts";
import { git, makeRepo } from "./_cli.ts";
import { environmentErrors, type SentryApiOptions, startSentryApi } from "./sandbox/sentry_api.ts";

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

/**
 * An organization auth token as Sentry issues them: `sntrys_`, base64 of a JSON payload naming the
 * organization and the server's URL, `_`, and 32 random bytes in unpadded base64 (sentry-cli
 * 2.58.6 src/utils/auth_token/org_auth_token.rs: `ORG_TOKEN_SECRET_BYTES = 32`, payload `org` and
 * `url`).
 */
function orgToken(url: string, org = "acme"): string {
  const payload = btoa(JSON.stringify({ iat: 1700000000, url, region_url: url, org }));
  const secret = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))))
    .replace(/=+$/, "");
  return `sntrys_${payload}_${secret}`;
}

async function deploy(
  api: SentryApiOptions & {
    vars?: Record<string, string>;
    depth?: number;
    env?: Record<string, string>;
    /** The deploy's environment. @default "production" */
    environment?: string;
    /** The token, given the stand-in's URL. @default TOKEN */
    token?: (url: string) => string;
    /** Leave SENTRY_URL unset. @default false */
    noUrl?: boolean;
  },
) {
  await using repo = await clone(api.depth);
  await using server = await startSentryApi({
    ...api,
    repos: api.repos?.map((r) => ({ ...r, url: r.url.replace("ORIGIN", `file://${repo.origin}`) })),
  });
  const token = api.token?.(server.url.replace(/\/$/, "")) ?? TOKEN;
  const secrets = new Secrets();
  secrets.add(token);
  const shell = createShell({ secrets });
  const events = await setUpLayer(sentry, {
    SENTRY_AUTH_TOKEN: token,
    SENTRY_ORG: "acme",
    SENTRY_PROJECT: "shop",
    SENTRY_TIMEOUT: "20",
    ...(api.noUrl ? {} : { SENTRY_URL: server.url }),
    ...api.vars,
  }, { runtime: { shell, cwd: repo.path, env: api.env ?? {} } });
  const fake = fakeContext({ cwd: repo.path, secrets: [token] });
  Object.assign(fake.ctx, {
    shell,
    commit: { ...fake.ctx.commit, sha: repo.sha, shortSha: repo.sha.slice(0, 7) },
    ...(api.environment === undefined ? {} : { environment: api.environment }),
  });
  await events.emit("pre_deploy", fake.ctx);
  await events.emit("post_deploy", fake.ctx);
  return {
    ...fake,
    token,
    sha: repo.sha,
    actions: server.actions(),
    requests: server.requests(),
  };
}

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

Deno.test("Sentry names a GitLab repository by the name it shows at the project's URL, never CI_PROJECT_PATH", async () => {
  // a shallow clone whose remote Sentry does not know: `--auto` cannot find the repository
  const { actions, requests, log, sha } = await deploy({
    depth: 1,
    repos: [{ name: "Acme Corp / Shop", url: "https://gitlab.example.com/acme/shop" }],
    previousCommit: "2".repeat(40),
    env: { CI_PROJECT_PATH: "acme/shop" },
  });
  assert.ok(requests.some((r) => r.method === "GET" && r.path.endsWith("/repos/")));
  assert.match(
    log(),
    /Sentry names the repository at https:\/\/gitlab\.example\.com\/acme\/shop "Acme Corp \/ Shop"/,
  );
  assert.match(log(), /set-commits \S+ --commit 'Acme Corp \/ Shop@[0-9a-f]{40}'/);
  const commits = actions.filter((a) => a.kind === "commits");
  assert.deepEqual(commits.map((a) => a.body.refs), [[{
    repository: "Acme Corp / Shop",
    commit: sha,
    previousCommit: null,
  }]]);
  // CI_PROJECT_PATH's "acme/shop" never reached Sentry
  assert.ok(!JSON.stringify(requests.map((r) => r.body)).includes('"acme/shop"'));
  assert.ok(!log().includes("warning"), log());
  assert.deepEqual(actions.slice(-2).map((a) => a.kind), ["finalize", "deploy"]);
});

Deno.test("SENTRY_REPOSITORY names the repository for --commit, without looking it up", async () => {
  const { actions, requests, sha } = await deploy({
    depth: 1,
    repos: [
      { name: "Acme Corp / Shop", url: "https://gitlab.example.com/acme/shop" },
      { name: "Acme Corp / Shop Mirror", url: "https://gitlab.example.com/acme/mirror" },
    ],
    vars: { SENTRY_REPOSITORY: "Acme Corp / Shop Mirror" },
  });
  // sentry-cli itself lists the repositories once, to check the name; the layer adds no lookup
  assert.equal(requests.filter((r) => r.path.endsWith("/repos/")).length, 1);
  assert.deepEqual(actions.find((a) => a.kind === "commits")?.body.refs, [{
    repository: "Acme Corp / Shop Mirror",
    commit: sha,
    previousCommit: null,
  }]);
});

Deno.test("Sentry refuses a repository name that differs only in case, and the layer falls back to local commits", async () => {
  // sentry-cli compares names lowercased before sending (src/commands/releases/set_commits.rs);
  // Sentry looks them up exactly
  const { actions, requests, log, sha } = await deploy({
    depth: 1,
    repos: [{ name: "Acme Corp / Shop", url: "https://gitlab.example.com/acme/shop" }],
    vars: { SENTRY_REPOSITORY: "acme corp / shop" },
  });
  const refs = requests.filter((r) => (r.body as { refs?: unknown } | undefined)?.refs);
  assert.equal(refs.length, 1);
  assert.match(log(), /Invalid repository names: acme corp \/ shop/);
  const commits = actions.filter((a) => a.kind === "commits");
  assert.equal(commits.length, 1);
  assert.deepEqual((commits[0]!.body.commits as { id: string }[]).map((c) => c.id), [sha]);
});

Deno.test("Without the repository in Sentry, the log says SENTRY_REPOSITORY can name it, and local commits are used", async () => {
  const { actions, log, sha } = await deploy({ depth: 1 });
  assert.match(
    log(),
    /No repository in Sentry has the URL https:\/\/gitlab\.example\.com\/acme\/shop; SENTRY_REPOSITORY can name it/,
  );
  assert.doesNotMatch(log(), /--commit/);
  const commits = actions.filter((a) => a.kind === "commits");
  assert.deepEqual((commits[0]!.body.commits as { id: string }[]).map((c) => c.id), [sha]);
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

Deno.test("sentryEnvironment makes names Sentry accepts, the same way every time", () => {
  assert.equal(sentryEnvironment("production"), "production");
  assert.equal(sentryEnvironment("review/feature-x"), "review-feature-x");
  assert.equal(sentryEnvironment("  staging \n"), "staging");
  assert.equal(sentryEnvironment("a\rb\fc\0d/e"), "a-b-c-d-e");
  assert.equal(sentryEnvironment(" "), "production");
  const long = `review/${"x".repeat(93)}`;
  const short = sentryEnvironment(long);
  assert.equal([...short].length, 64);
  assert.match(short, /^review-x{48}-[0-9a-f]{8}$/);
  assert.equal(sentryEnvironment(long), short);
  // two long names sharing their first 55 characters stay apart
  assert.notEqual(sentryEnvironment(`${long}y`), short);
  // a name of exactly 64 characters (code points, as Sentry counts) is kept
  const emoji = "🚀".repeat(64);
  assert.equal(sentryEnvironment(emoji), emoji);
  assert.equal([...sentryEnvironment("🚀".repeat(65))].length, 64);
  for (const name of [long, "review/feature-x", "a\rb\fc\0d/e", "🚀".repeat(65), " "]) {
    assert.notDeepEqual(environmentErrors(name), [], name);
    assert.deepEqual(environmentErrors(sentryEnvironment(name)), [], name);
  }
});

Deno.test("The Sentry stand-in refuses the deploy environments real Sentry refuses, with its status and body", async () => {
  await using server = await startSentryApi();
  const post = (path: string, body: unknown) =>
    fetch(`${server.url}api/0/${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  assert.equal(
    (await (await post("projects/acme/shop/releases/", { version: "v1" })).text()).length > 0,
    true,
  );
  const cases: [unknown, string][] = [
    ["review/feature-x", "Invalid value for environment"],
    ["a\nb", "Invalid value for environment"],
    ["x".repeat(65), "Ensure this field has no more than 64 characters."],
    ["   ", "This field may not be blank."],
    [undefined, "This field is required."],
  ];
  for (const [environment, message] of cases) {
    const response = await post("organizations/acme/releases/v1/deploys/", { environment });
    assert.equal(response.status, 400, String(environment));
    assert.deepEqual(await response.json(), { environment: [message] });
  }
  const ok = await post("organizations/acme/releases/v1/deploys/", { environment: "x".repeat(64) });
  assert.equal(ok.status, 201);
  await ok.body?.cancel();
  assert.deepEqual(server.actions().filter((a) => a.kind === "deploy").length, 1);
});

Deno.test("A GitLab review environment reaches Sentry as a valid name, and the log says which", async () => {
  const { actions, requests, log } = await deploy({ environment: "review/feature-x" });
  const deploys = requests.filter((r) => r.path.endsWith("/deploys/"));
  assert.equal(deploys.length, 1);
  assert.equal((deploys[0]!.body as { environment: string }).environment, "review-feature-x");
  assert.equal(actions.at(-1)?.kind, "deploy");
  assert.match(
    log(),
    /Sentry refuses the environment name "review\/feature-x" .*: recording the deploy as "review-feature-x"/,
  );
  assert.match(log(), /sentry-cli deploys new --release \S+ -e review-feature-x /);
  assert.ok(!log().includes("warning"), log());
});

Deno.test("A 100-character environment reaches Sentry cut to 64 with a hash, and the log says which", async () => {
  const name = `review/${"long-branch-name-".repeat(6)}`.slice(0, 100);
  assert.equal(name.length, 100);
  const { actions, log } = await deploy({ environment: name });
  const deployed = actions.find((a) => a.kind === "deploy")?.body.environment as string;
  assert.equal(deployed, sentryEnvironment(name));
  assert.equal(deployed.length, 64);
  assert.match(deployed, /^review-long-branch-name-.*-[0-9a-f]{8}$/);
  assert.ok(log().includes(`recording the deploy as "${deployed}"`), log());
  assert.ok(!log().includes("warning"), log());
});

Deno.test("The deploy uses sentry-cli's `deploys new --release`, not the hidden `releases deploys` alias", async () => {
  assert.deepEqual(
    deployArgs("v1", { environment: "staging", started: 10, finished: 20, url: "https://ci/1" }),
    [
      "deploys",
      "new",
      "--release",
      "v1",
      "-e",
      "staging",
      "--started",
      "10",
      "--finished",
      "20",
      "--url",
      "https://ci/1",
    ],
  );
  const { requests, log, sha } = await deploy({});
  assert.match(
    log(),
    new RegExp(
      `sentry-cli deploys new --release ${sha} -e production --started \\d+ --finished \\d+ --url `,
    ),
  );
  assert.doesNotMatch(log(), /releases deploys/);
  const deploys = requests.filter((r) => r.method === "POST" && r.path.endsWith("/deploys/"));
  assert.deepEqual(deploys.map((r) => r.path), [
    `/api/0/organizations/acme/releases/${sha}/deploys/`,
  ]);
});

Deno.test("Without SENTRY_URL, an organization token's own URL is used, with no mismatch warning", async () => {
  const { requests, log, token } = await deploy({ token: (url) => orgToken(url), noUrl: true });
  assert.ok(requests.length >= 4, log());
  assert.ok(requests.every((r) => r.authorization === `Bearer ${token}`));
  assert.doesNotMatch(log(), /embedded in token|WARN|warning/);
  assert.ok(!log().includes(token));
  assert.deepEqual(
    sentry.variables.parse({
      SENTRY_AUTH_TOKEN: token,
      SENTRY_ORG: "acme",
      SENTRY_PROJECT: "shop",
    }).SENTRY_URL,
    undefined,
  );
});

Deno.test("A SENTRY_URL that differs from the organization token's earns sentry-cli's warning", async () => {
  // what a default SENTRY_URL would cause: sentry-cli still follows the token, and warns
  const { requests, log } = await deploy({
    token: (url) => orgToken(url),
    noUrl: true,
    vars: { SENTRY_URL: "https://sentry.io/" },
  });
  assert.ok(requests.length >= 4);
  assert.match(
    log(),
    /\(embedded in token\) rather than manually-configured URL https:\/\/sentry\.io\//,
  );
});

Deno.test("The repository list of sentry-cli is read, and matched by URL as sentry-cli matches remotes", () => {
  const table = [
    "+------------------+----------+--------------------------------------+",
    "| Name             | Provider | URL                                  |",
    "+------------------+----------+--------------------------------------+",
    "| Acme Corp / Shop | GitLab   | https://gitlab.example.com/acme/shop |",
    "| acme/other       | GitHub   | https://github.com/acme/other        |",
    "| legacy           | Git      | -                                    |",
    "+------------------+----------+--------------------------------------+",
  ].join("\n");
  const repos = parseRepositoryList(table);
  assert.deepEqual(repos, [
    { name: "Acme Corp / Shop", url: "https://gitlab.example.com/acme/shop" },
    { name: "acme/other", url: "https://github.com/acme/other" },
    { name: "legacy" },
  ]);
  assert.equal(repositoryForUrl(repos, "https://gitlab.example.com/acme/shop"), "Acme Corp / Shop");
  assert.equal(
    repositoryForUrl(repos, "https://GitLab.example.com:443/Acme/Shop.git/"),
    "Acme Corp / Shop",
  );
  assert.equal(repositoryForUrl(repos, "https://gitlab.example.com/acme/shop2"), undefined);
  assert.equal(repositoryForUrl(repos, "not a url"), undefined);
  assert.deepEqual(parseRepositoryList("No repos found\n"), []);
});
