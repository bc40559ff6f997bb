/**
 * The Heroku provider end to end: the real CLI (`deno run` with the compile permissions) against
 * the local stand-in (git http-backend, Platform API, rendezvous over TLS).
 */
import assert from "node:assert/strict";
import { PERMISSION_FLAGS } from "../scripts/permissions.ts";
import { addCommit, type CliResult, git, makeRepo, runCli } from "./_cli.ts";
import { type HerokuStandin, startHerokuStandin } from "./sandbox/heroku.ts";

// a command that hangs fails its test instead of holding CI
const COMMAND_TIMEOUT_MS = 60_000;

const PROCFILE = "web: bundle exec puma -C config/puma.rb\nrelease: bin/rails db:migrate\n";
const PROVIDER_RUN = new URL("./sandbox/heroku_provider_run.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;

function herokuEnv(
  heroku: HerokuStandin,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    DEPLOY_PROVIDER: "heroku",
    APP_NAME: heroku.app,
    HEROKU_API_KEY: heroku.apiKey,
    HEROKU_API_URL: heroku.apiUrl,
    HEROKU_GIT_URL: heroku.gitUrl,
    DENO_CERT: heroku.certFile,
    ...extra,
  };
}

async function deploy(
  heroku: HerokuStandin,
  cwd: string,
  extra: Record<string, string> = {},
  onSpawn?: (child: Deno.ChildProcess) => void | Promise<void>,
): Promise<CliResult> {
  return await runCli([], { cwd, env: herokuEnv(heroku, extra), ...(onSpawn ? { onSpawn } : {}) });
}

async function withApp<T>(fn: (dir: string, sha: string) => Promise<T>): Promise<T> {
  const dir = await makeRepo([{
    files: { Procfile: PROCFILE, "Gemfile": "source 'https://rubygems.org'\n" },
    message: "Add widgets",
  }]);
  try {
    return await fn(dir, (await git(dir, "rev-parse", "HEAD")).trim());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

interface Failure {
  event: string;
  layer: string;
  message: string;
  command?: string;
  exitCode?: number | null;
  output: string[];
}

/** The failure context of a run with DEPLOY_LOG_FORMAT=json, from its outcome record. */
function outcomeFailure(result: CliResult): Failure {
  assert.equal(result.code, 1, result.all);
  const records = result.stdout.split("\n").filter((l) => l.startsWith("{")).map((l) =>
    JSON.parse(l)
  );
  const outcome = records.find((r) => r.type === "outcome");
  assert.ok(outcome?.failure, result.stdout);
  return outcome.failure as Failure;
}

const apiCalls = (heroku: HerokuStandin) =>
  heroku.requests().map((r) => `${r.method} ${r.path} ${r.status}`);

Deno.test("Heroku deploy pushes over HTTPS, follows the release phase and reports the release", async () => {
  await using heroku = await startHerokuStandin({ app: "shop" });
  await withApp(async (dir, sha) => {
    const result = await deploy(heroku, dir);
    assert.equal(result.code, 0, result.all);
    assert.equal(await heroku.gitHead("main"), sha);
    assert.equal(heroku.deployedCommit(), sha);
    assert.deepEqual((await heroku.pushes()).map((p) => [p.after, p.ref, p.outcome]), [[
      sha,
      "refs/heads/main",
      "accepted",
    ]]);
    // configure logged the app's stack, region and current release
    assert.match(
      result.stdout,
      /App shop: stack heroku-24, region us, current release v2\n/,
    );
    // the build output streamed indented, then the release phase's output
    assert.match(result.stdout, /\n {4}\| remote: -----> Building on the Heroku-24 stack\n/);
    assert.match(result.stdout, /\n {4}\| Migrating to CreateWidgets/);
    assert.match(result.stdout, new RegExp(`Release v3 of ${sha.slice(0, 7)} succeeded`));
    assert.equal(heroku.releases().at(-1)!.status, "succeeded");
    // every API call is a version-3 call with a bearer token
    for (const request of heroku.requests().filter((r) => r.path.startsWith("/apps/"))) {
      assert.equal(request.headers.accept, "application/vnd.heroku+json; version=3");
      assert.equal(request.headers.authorization, `Bearer ${heroku.apiKey}`);
    }
    assert.ok(apiCalls(heroku).includes("GET /apps/shop 200"));
    // git authenticated with the key as password of user "heroku", after git's anonymous first try
    const authorized = heroku.gitRequests().filter((r) => r.authorized);
    assert.ok(authorized.some((r) => r.path === "/shop.git/git-receive-pack"));
    assert.ok(authorized.every((r) => r.user === "heroku"));
  });
});

Deno.test("Heroku deploy skips an app whose current release runs the commit; FORCE_DEPLOY restarts it", async () => {
  await using heroku = await startHerokuStandin();
  await withApp(async (dir, sha) => {
    assert.equal((await deploy(heroku, dir)).code, 0);
    const before = heroku.requests().length;
    const skipped = await deploy(heroku, dir);
    assert.equal(skipped.code, 0, skipped.all);
    assert.match(skipped.stdout, new RegExp(`already runs ${sha.slice(0, 7)}: nothing to deploy`));
    assert.equal((await heroku.pushes()).length, 1);
    const during = heroku.requests().slice(before);
    assert.ok(during.every((r) => r.method === "GET"), JSON.stringify(during.map((r) => r.path)));

    const forced = await deploy(heroku, dir, { FORCE_DEPLOY: "true" });
    assert.equal(forced.code, 0, forced.all);
    assert.match(forced.stdout, /FORCE_DEPLOY=true: restarting its dynos/);
    assert.equal((await heroku.pushes()).length, 1);
    assert.ok(apiCalls(heroku).includes(`DELETE /apps/${heroku.app}/dynos 202`));
  });
});

Deno.test("Heroku deploy of a commit whose build fails exits 1 with the build output's tail", async () => {
  await using heroku = await startHerokuStandin();
  await withApp(async (dir) => {
    await heroku.failNextBuild(
      "Gem::Ext::BuildError: ERROR: Failed to build gem native extension.",
    );
    const result = await deploy(heroku, dir);
    assert.equal(result.code, 1, result.all);
    assert.match(result.stdout, /Heroku rejected the push of [0-9a-f]{7}: the build failed/);
    assert.match(result.stdout, /\| remote: {2}! {5}Push rejected, failed to compile Ruby app\./);
    assert.match(
      result.stdout,
      /command: git push http:\/\/127\.0\.0\.1:\d+\/sample-app\.git [0-9a-f]{40}:refs\/heads\/main \(exit code 1\)/,
    );
    assert.equal(await heroku.gitHead("main"), null);
    assert.equal(heroku.deployedCommit(), null);
    assert.equal(heroku.releases().length, 2);

    // the failure context that deploy_failed handlers and notifiers get holds the build's tail
    await heroku.failNextBuild("Gem::Ext::BuildError");
    const failure = outcomeFailure(await deploy(heroku, dir, { DEPLOY_LOG_FORMAT: "json" }));
    assert.equal(failure.event, "deploy");
    assert.equal(failure.layer, "heroku");
    assert.equal(failure.exitCode, 1);
    assert.ok(
      failure.output.includes("remote:  !     Push rejected, failed to compile Ruby app."),
      failure.output.join("\n"),
    );
  });
});

Deno.test("Heroku deploy fails when the release phase fails, shows its output, and retries it on the next run", async () => {
  await using heroku = await startHerokuStandin();
  await withApp(async (dir, sha) => {
    heroku.setReleasePhase({
      exitCode: 1,
      output: [
        "== 20260101000000 CreateWidgets: migrating",
        'PG::UndefinedTable: ERROR:  relation "users" does not exist',
      ],
    });
    const failed = await deploy(heroku, dir);
    assert.equal(failed.code, 1, failed.all);
    assert.match(failed.stdout, /\| PG::UndefinedTable: ERROR: {2}relation "users" does not exist/);
    assert.match(
      failed.stdout,
      /Release v3 failed: its release phase failed; the app still runs the previous release/,
    );
    assert.match(failed.stdout, /command: release: bin\/rails db:migrate/);
    assert.doesNotMatch(failed.stdout, /Deployed [0-9a-f]{7} to/);
    // the push went through, but the app does not run it
    assert.equal(await heroku.gitHead("main"), sha);
    assert.equal(heroku.deployedCommit(), null);

    // the same commit again: a push would be a no-op, so the slug is released again (and fails)
    const failure = outcomeFailure(await deploy(heroku, dir, { DEPLOY_LOG_FORMAT: "json" }));
    assert.equal(failure.command, "release: bin/rails db:migrate");
    assert.deepEqual(failure.output.slice(-1), [
      'PG::UndefinedTable: ERROR:  relation "users" does not exist',
    ]);

    // the migration fixed, the same commit once more
    heroku.setReleasePhase({ exitCode: 0, output: ["== 20260101000000 CreateWidgets: migrated"] });
    const again = await deploy(heroku, dir);
    assert.equal(again.code, 0, again.all);
    assert.match(again.stdout, /current release v2; latest v4 is failed\n/);
    assert.match(again.stdout, /releasing it again/);
    assert.equal((await heroku.pushes()).length, 1);
    assert.ok(apiCalls(heroku).includes(`POST /apps/${heroku.app}/releases 201`));
    assert.equal(heroku.deployedCommit(), sha);
    assert.deepEqual(heroku.releases().slice(2).map((r) => r.status), [
      "failed",
      "failed",
      "succeeded",
    ]);
  });
});

Deno.test("Heroku deploy with a wrong key or a missing app exits 2, naming the variable, and pushes nothing", async (t) => {
  await using heroku = await startHerokuStandin();
  await withApp(async (dir) => {
    await t.step("a wrong key", async () => {
      const result = await deploy(heroku, dir, { HEROKU_API_KEY: "HRKU-not-the-right-key" });
      assert.equal(result.code, 2, result.all);
      assert.match(
        result.all,
        /HEROKU_API_KEY was refused by the Heroku API \(401 unauthorized: Invalid credentials provided\.\)/,
      );
      assert.doesNotMatch(result.all, /HRKU-not-the-right-key/);
      assert.doesNotMatch(result.all, /at .*\.ts:\d+/);
    });
    await t.step("an app that does not exist", async () => {
      const result = await deploy(heroku, dir, { HEROKU_APP: "shop-typo" });
      assert.equal(result.code, 2, result.all);
      assert.match(
        result.all,
        /HEROKU_APP: no Heroku app "shop-typo" \(404 not_found: Couldn't find that app\.\)\. This tool never creates apps/,
      );
    });
    await t.step("variables missing or malformed, all reported before any request", async () => {
      const before = heroku.requests().length;
      const malformed = await runCli([], {
        cwd: dir,
        env: { DEPLOY_PROVIDER: "heroku", HEROKU_API_URL: "ftp://nope", APP_NAME: "Bad_Name" },
      });
      assert.equal(malformed.code, 2, malformed.all);
      assert.match(malformed.all, /HEROKU_API_KEY is required/);
      assert.match(malformed.all, /APP_NAME: expected 3 to 30 lowercase letters.*found "Bad_Name"/);
      assert.match(malformed.all, /HEROKU_API_URL: expected the Platform API's http\(s\) URL/);
      const missing = await runCli([], { cwd: dir, env: { DEPLOY_PROVIDER: "heroku" } });
      assert.equal(missing.code, 2, missing.all);
      assert.match(
        missing.all,
        /HEROKU_API_KEY is required[^]*APP_NAME is required: expected the Heroku app's name in APP_NAME or HEROKU_APP/,
      );
      assert.equal(heroku.requests().length, before);
    });
    assert.equal(heroku.gitRequests().length, 0);
    assert.deepEqual([...heroku.requests().map((r) => r.method)].filter((m) => m !== "GET"), []);
  });
});

Deno.test("Heroku API calls are retried after a 503 and the deploy succeeds", async () => {
  await using heroku = await startHerokuStandin();
  await withApp(async (dir, sha) => {
    heroku.failRequests(2, { match: /^GET \/apps\/sample-app$/ });
    heroku.failRequests(1, { status: 429, match: /^GET \/apps\/sample-app\/releases\/[\w-]+$/ });
    const result = await deploy(heroku, dir);
    assert.equal(result.code, 0, result.all);
    assert.deepEqual(apiCalls(heroku).slice(0, 3), [
      "GET /apps/sample-app 503",
      "GET /apps/sample-app 503",
      "GET /apps/sample-app 200",
    ]);
    assert.ok(apiCalls(heroku).some((c) => / \/apps\/sample-app\/releases\/[\w-]+ 429$/.test(c)));
    assert.match(
      result.stdout,
      /GET \/apps\/sample-app answered 503 service_unavailable: retrying in/,
    );
    assert.equal(heroku.deployedCommit(), sha);
  });
});

Deno.test("Heroku deploy from a shallow clone to a fresh app pushes the whole history it needs", async () => {
  await using heroku = await startHerokuStandin();
  const origin = await makeRepo([
    { files: { Procfile: PROCFILE }, message: "One" },
    { files: { "a.txt": "a" }, message: "Two" },
    { files: { "b.txt": "b" }, message: "Three" },
  ]);
  const clone = await Deno.makeTempDir({ prefix: "deploy-shallow-" });
  try {
    await git(clone, "clone", "--quiet", "--depth", "1", `file://${origin}`, ".");
    assert.equal((await git(clone, "rev-parse", "--is-shallow-repository")).trim(), "true");
    const sha = (await git(clone, "rev-parse", "HEAD")).trim();
    const result = await deploy(heroku, clone);
    assert.equal(result.code, 0, result.all);
    assert.equal(await heroku.gitHead("main"), sha);
    assert.equal(heroku.deployedCommit(), sha);
  } finally {
    await Deno.remove(origin, { recursive: true });
    await Deno.remove(clone, { recursive: true });
  }
});

Deno.test("Heroku deploy never shows the API key: not in output, argv, or files left behind", async () => {
  await using heroku = await startHerokuStandin({
    apiKey: "HRKU-aaaabbbb-cccc-4ddd-8eee-ffff00001111",
  });
  const home = await Deno.makeTempDir({ prefix: "deploy-home-" });
  const tmp = await Deno.makeTempDir({ prefix: "deploy-tmp-" });
  try {
    await withApp(async (dir) => {
      await heroku.setBuildDelay(1);
      const commandLines = new Set<string>();
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const ps = await new Deno.Command("ps", {
            signal: AbortSignal.timeout(COMMAND_TIMEOUT_MS),
            args: ["-eo", "args"],
            stdout: "piped",
          })
            .output();
          for (const line of new TextDecoder().decode(ps.stdout).split("\n")) {
            commandLines.add(line);
          }
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
      })();
      let result: CliResult;
      try {
        result = await deploy(heroku, dir, {
          HOME: home,
          TMPDIR: tmp,
          XDG_CONFIG_HOME: `${home}/.config`,
        });
      } finally {
        sampling = false;
        await sampler;
      }
      assert.equal(result.code, 0, result.all);
      const lines = [...commandLines];
      // the sampler saw the push while it ran, so the argv check below means something
      assert.ok(
        lines.some((l) => /git(-remote-http| push| remote-http).*127\.0\.0\.1/.test(l)),
        lines.join("\n"),
      );
      assert.deepEqual(lines.filter((l) => l.includes(heroku.apiKey)), []);
      assert.ok(!result.all.includes(heroku.apiKey));
      assert.ok(!result.all.includes(encodeURIComponent(heroku.apiKey)));
      // no credential store, askpass script or config file kept the key
      for (const root of [home, tmp, dir]) {
        for await (const file of walk(root)) {
          const text = await Deno.readTextFile(file).catch(() => "");
          assert.ok(!text.includes(heroku.apiKey), `${file} holds the key`);
        }
      }
      assert.deepEqual([...Deno.readDirSync(tmp)], []);
    });
  } finally {
    await Deno.remove(home, { recursive: true });
    await Deno.remove(tmp, { recursive: true });
  }
});

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* walk(path);
    else if (entry.isFile) yield path;
  }
}

interface ProviderResult {
  ok: boolean;
  code?: number;
  stdout?: string;
  tail?: string[];
  message?: string;
  exitCode?: number | null;
  output?: string[];
}

/** Calls the provider's run() or process() in a process of its own, as a layer would. */
async function provider(heroku: HerokuStandin, cwd: string, args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    signal: AbortSignal.timeout(COMMAND_TIMEOUT_MS),
    args: ["run", "--quiet", `--config=${CONFIG}`, ...PERMISSION_FLAGS, PROVIDER_RUN, ...args],
    cwd,
    env: herokuEnv(heroku),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const line = stdout.split("\n").find((l) => l.startsWith("RESULT "));
  assert.ok(line, `${stdout}\n${new TextDecoder().decode(out.stderr)}`);
  return { log: stdout, result: JSON.parse(line.slice("RESULT ".length)) as ProviderResult };
}

Deno.test("Heroku run() attaches to a one-off dyno over TLS and returns the command's exit status", async (t) => {
  await using heroku = await startHerokuStandin();
  await heroku.fakeBin("rake", `printf '[%s]\\n' "$@"; echo "migrations pending" >&2; exit 3`);
  const dir = await makeRepo([{ files: { Procfile: PROCFILE }, message: "One" }]);
  try {
    await t.step("a non-zero exit status, with noThrow", async () => {
      const args = ["db:migrate", "two words", `it's "quoted"`, "$HOME", ""];
      const { log, result } = await provider(heroku, dir, [
        "run",
        "--no-throw",
        "--",
        "rake",
        ...args,
      ]);
      assert.equal(result.ok, true, log);
      assert.equal(result.code, 3);
      // every argument came back exactly, through the dyno's shell
      assert.equal(result.stdout, `${args.map((a) => `[${a}]`).join("\n")}\nmigrations pending\n`);
      assert.match(log, /\$ heroku run rake db:migrate 'two words'/);
      assert.match(log, /\| \[two words\]\n/);
      assert.doesNotMatch(log, /heroku-command-exit-status/);
      const dyno = heroku.dynos().at(-1)!;
      assert.equal(dyno.body.attach, true);
      assert.ok(typeof dyno.body.time_to_live === "number" && dyno.body.time_to_live > 0);
      assert.equal(heroku.sessions().at(-1)!.exitCode, 0);
    });
    await t.step("a non-zero exit status throws, with the output's tail", async () => {
      const { result } = await provider(heroku, dir, ["run", "--", "rake", "db:migrate"]);
      assert.equal(result.ok, false);
      assert.match(
        result.message!,
        /^Command failed with exit code 3: heroku run rake db:migrate$/,
      );
      assert.equal(result.exitCode, 3);
      assert.deepEqual(result.output, ["[db:migrate]", "migrations pending"]);
    });
    await t.step("zero", async () => {
      const { result } = await provider(heroku, dir, ["run", "--", "true"]);
      assert.deepEqual([result.ok, result.code, result.stdout], [true, 0, ""]);
    });
    await t.step("a time limit", async () => {
      const started = Date.now();
      const { result } = await provider(heroku, dir, [
        "run",
        "--timeout",
        "500",
        "--",
        "sleep",
        "30",
      ]);
      assert.equal(result.ok, false);
      assert.match(result.message!, /timed out after 1s|timed out after 0s/);
      assert.ok(Date.now() - started < 10_000);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Heroku process() restarts, stops and starts a process type through the formation", async () => {
  await using heroku = await startHerokuStandin();
  await withApp(async (dir) => {
    assert.equal((await deploy(heroku, dir)).code, 0);
    for (const action of ["restart", "stop", "start"]) {
      const { result, log } = await provider(heroku, dir, ["process", "web", action]);
      assert.equal(result.ok, true, log);
    }
    const calls = apiCalls(heroku).filter((c) => /formation/.test(c));
    assert.deepEqual(calls, [
      "DELETE /apps/sample-app/formations/web 202",
      "POST /apps/sample-app/formations/web/actions/stop 202",
      "GET /apps/sample-app/formation/web 200",
      "DELETE /apps/sample-app/formations/web 202",
    ]);
    const { result } = await provider(heroku, dir, ["process", "clock", "restart"]);
    assert.equal(result.ok, false);
    assert.match(
      result.message!,
      /DELETE \/apps\/sample-app\/formations\/clock failed with 404 not_found: Couldn't find that formation\./,
    );
  });
});

Deno.test("Heroku deploy of a new commit on top of the deployed one pushes a fast-forward", async () => {
  await using heroku = await startHerokuStandin();
  await withApp(async (dir, first) => {
    assert.equal((await deploy(heroku, dir)).code, 0);
    const second = await addCommit(dir, { files: { "c.txt": "c" }, message: "Second" });
    const result = await deploy(heroku, dir);
    assert.equal(result.code, 0, result.all);
    assert.deepEqual((await heroku.pushes()).map((p) => [p.before, p.after]), [
      ["0".repeat(40), first],
      [first, second],
    ]);
    assert.equal(heroku.deployedCommit(), second);
    assert.match(result.stdout, /current release v3\n/);
    assert.match(result.stdout, /Release v4 of [0-9a-f]{7} succeeded/);
  });
});
