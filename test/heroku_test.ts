/**
 * The Heroku provider end to end: the real CLI (`deno run` with the compile permissions) against
 * the local stand-in (git http-backend, Platform API, rendezvous over TLS).
 */
import assert from "node:assert/strict";
import { PERMISSION_FLAGS } from "../scripts/permissions.ts";
import { addCommit, type CliResult, git, makeRepo, runCli } from "./_cli.ts";
import { type HerokuStandin, startHerokuStandin } from "./sandbox/heroku.ts";
import { type GitRequest, handleGit } from "./sandbox/heroku_git.ts";

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
): Promise<CliResult> {
  return await runCli([], { cwd, env: herokuEnv(heroku, extra) });
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

/** The log lines of a run with DEPLOY_LOG_FORMAT=json. */
function logLines(result: CliResult): string[] {
  return result.stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l))
    .filter((r) => r.type === "log").map((r) => r.message as string);
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
    // the build output streamed indented; the push lasted until the release phase ended, and its
    // output was shown once, by the push
    assert.match(result.stdout, /\n {4}\| remote: -----> Building on the Heroku-24 stack\n/);
    assert.match(
      result.stdout,
      /\| remote: Running release command\.\.\.\n[^]*\| remote: Migrating to CreateWidgets[^]*\| remote: Waiting for release\.\.\.\. done\.\n[^]*-> main\n/,
    );
    assert.equal(result.stdout.split("Migrating to CreateWidgets").length, 2, result.stdout);
    assert.deepEqual(heroku.streamRequests(), []);
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
    const failed = await deploy(heroku, dir, { DEPLOY_LOG_FORMAT: "json" });
    const pushed = outcomeFailure(failed);
    // shown once, by the push; the failure's tail read from the output stream, without the key
    assert.deepEqual(
      logLines(failed).filter((l) => l.includes("PG::UndefinedTable")),
      ['remote: PG::UndefinedTable: ERROR:  relation "users" does not exist'],
    );
    assert.match(failed.stdout, /remote: Waiting for release\.\.\.\. failed\./);
    assert.deepEqual(pushed.output, [
      "== 20260101000000 CreateWidgets: migrating",
      'PG::UndefinedTable: ERROR:  relation "users" does not exist',
    ]);
    assert.ok(heroku.streamRequests().length > 0);
    assert.ok(heroku.streamRequests().every((r) => r.headers.authorization === undefined));
    assert.match(
      pushed.message,
      /Release v3 failed: its release phase failed; the app still runs the previous release/,
    );
    assert.equal(pushed.command, "release: bin/rails db:migrate");
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
    heroku.failRequests(1, { status: 429, match: /^GET \/apps\/sample-app\/slugs\/[\w-]+$/ });
    const result = await deploy(heroku, dir);
    assert.equal(result.code, 0, result.all);
    assert.deepEqual(apiCalls(heroku).slice(0, 3), [
      "GET /apps/sample-app 503",
      "GET /apps/sample-app 503",
      "GET /apps/sample-app 200",
    ]);
    assert.ok(apiCalls(heroku).some((c) => / \/apps\/sample-app\/slugs\/[\w-]+ 429$/.test(c)));
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
  // the user's own credential helper would store whatever git got from the others
  await Deno.writeTextFile(`${home}/.gitconfig`, "[credential]\n\thelper = store\n");
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
      assert.ok(heroku.gitRequests().some((r) => r.authorized && r.method === "POST"));
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
      // noThrow returns a command's failure, never a time limit's
      const { result: kept } = await provider(heroku, dir, [
        "run",
        "--no-throw",
        "--timeout",
        "500",
        "--",
        "sleep",
        "30",
      ]);
      assert.equal(kept.ok, false);
      assert.match(kept.message!, /timed out after/);
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

/** A deploy that leaves Heroku's repo holding the commit while the app does not run it. */
async function failReleasePhase(heroku: HerokuStandin, dir: string): Promise<void> {
  heroku.setReleasePhase({ exitCode: 1, output: ["boom"], durationMs: 50, startDelayMs: 0 });
  const failed = await deploy(heroku, dir);
  assert.equal(failed.code, 1, failed.all);
}

Deno.test("Heroku push lasts until the release phase ends: HEROKU_RELEASE_TIMEOUT (seconds) bounds it", async () => {
  await using heroku = await startHerokuStandin();
  await withApp(async (dir) => {
    heroku.setReleasePhase({ durationMs: 60_000, output: ["a slow migration"] });
    const started = Date.now();
    const result = await deploy(heroku, dir, { HEROKU_RELEASE_TIMEOUT: "2" });
    const elapsed = Date.now() - started;
    assert.equal(result.code, 1, result.all);
    assert.match(
      result.stdout,
      /The push of [0-9a-f]{7} did not end within 2s \(HEROKU_RELEASE_TIMEOUT\)/,
    );
    assert.match(result.stdout, /remote: Running release command\.\.\./);
    // two seconds, the kill's grace and the CLI's start, not the release phase's minute
    assert.ok(elapsed >= 2_000 && elapsed < 9_000, `${elapsed}ms`);
    assert.equal(heroku.releases().at(-1)!.status, "pending");
  });
});

Deno.test("Heroku release of a slug again waits at most HEROKU_RELEASE_TIMEOUT seconds", async () => {
  await using heroku = await startHerokuStandin();
  await withApp(async (dir) => {
    await failReleasePhase(heroku, dir);
    heroku.setReleasePhase({ durationMs: 60_000, output: ["a slow migration"] });
    const started = Date.now();
    const result = await deploy(heroku, dir, { HEROKU_RELEASE_TIMEOUT: "2" });
    const elapsed = Date.now() - started;
    assert.equal(result.code, 1, result.all);
    assert.match(result.stdout, /releasing it again/);
    assert.match(result.stdout, /Release v4 still pending after 2s \(HEROKU_RELEASE_TIMEOUT\)/);
    assert.ok(elapsed >= 2_000 && elapsed < 9_000, `${elapsed}ms`);
  });
});

Deno.test("Heroku release output: 404 until the release command starts, NUL keepalives dropped, never the API key", async () => {
  await using heroku = await startHerokuStandin();
  await withApp(async (dir, sha) => {
    await failReleasePhase(heroku, dir);
    const before = heroku.streamRequests().length;
    heroku.setStreamKeepalive(20);
    heroku.setReleasePhase({
      output: ["== CreateWidgets: migrating", "== CreateWidgets: migrated"],
      durationMs: 600,
      startDelayMs: 400,
    });
    const result = await deploy(heroku, dir);
    assert.equal(result.code, 0, result.all);
    assert.equal(heroku.deployedCommit(), sha);
    assert.ok(heroku.streamKeepalives() > 0, "the stream sent no keepalive");
    assert.ok(!result.all.includes("\0"), JSON.stringify(result.stdout));
    assert.match(
      result.stdout,
      /\n {4}\| == CreateWidgets: migrating\n {4}\| == CreateWidgets: migrated\n/,
    );
    assert.equal(result.stdout.split("CreateWidgets: migrated").length, 2, result.stdout);
    const streams = heroku.streamRequests().slice(before);
    assert.deepEqual([streams[0]?.status, streams.at(-1)?.status], [404, 200]);
    for (const request of heroku.streamRequests()) {
      assert.equal(request.headers.authorization, undefined);
      assert.ok(!JSON.stringify(request.headers).includes(heroku.apiKey));
    }
  });
});

Deno.test("Heroku retried deploy of a commit Heroku built releases that commit's slug, not the newest one", async () => {
  await using heroku = await startHerokuStandin();
  await withApp(async (dir, first) => {
    assert.equal((await deploy(heroku, dir)).code, 0);
    const second = await addCommit(dir, { files: { "b.txt": "b" }, message: "Second" });
    await failReleasePhase(heroku, dir);
    // a config change: a release of the slug the app runs (the first commit's), newer than the
    // second commit's release
    heroku.setReleasePhase(null);
    await heroku.setConfig("FEATURE_FLAG");
    assert.deepEqual(heroku.releases().slice(2).map((r) => [r.commit, r.status]), [
      [first, "succeeded"],
      [second, "failed"],
      [first, "succeeded"],
    ]);
    const result = await deploy(heroku, dir);
    assert.equal(result.code, 0, result.all);
    assert.match(result.stdout, /\(release v4, failed\), but the app does not run it/);
    assert.equal(heroku.deployedCommit(), second);
    assert.deepEqual(heroku.releases().at(-1), {
      version: 6,
      status: "succeeded",
      commit: second,
      current: true,
      description: `Deploy of ${second.slice(0, 7)}, again (v4 failed)`,
    });
    assert.equal((await heroku.pushes()).length, 2);
  });
});

Deno.test("Heroku deploy skips a commit whose slug a config-only release runs", async () => {
  await using heroku = await startHerokuStandin();
  await withApp(async (dir, sha) => {
    assert.equal((await deploy(heroku, dir)).code, 0);
    await heroku.setConfig("FEATURE_FLAG");
    assert.equal(heroku.releases().at(-1)!.commit, sha);
    const result = await deploy(heroku, dir);
    assert.equal(result.code, 0, result.all);
    assert.match(result.stdout, /already runs [0-9a-f]{7}: nothing to deploy/);
    assert.equal(heroku.releases().length, 4);
  });
});

Deno.test("Heroku push: FORCE_PUSH=true overwrites a diverged branch; without it the rejection names FORCE_PUSH", async () => {
  await using heroku = await startHerokuStandin();
  const other = await makeRepo([{ files: { Procfile: PROCFILE }, message: "Elsewhere" }]);
  try {
    assert.equal((await deploy(heroku, other)).code, 0);
    const theirs = await heroku.gitHead();
    await withApp(async (dir, sha) => {
      const rejected = await deploy(heroku, dir);
      assert.equal(rejected.code, 1, rejected.all);
      assert.match(rejected.stdout, /set FORCE_PUSH=true to overwrite them/);
      assert.equal(await heroku.gitHead(), theirs);
      const forced = await deploy(heroku, dir, { FORCE_PUSH: "true" });
      assert.equal(forced.code, 0, forced.all);
      assert.equal(await heroku.gitHead(), sha);
      assert.equal(heroku.deployedCommit(), sha);
      assert.deepEqual((await heroku.pushes()).map((p) => [p.before, p.after, p.outcome]), [
        ["0".repeat(40), theirs, "accepted"],
        [theirs, sha, "accepted"],
      ]);
    });
  } finally {
    await Deno.remove(other, { recursive: true });
  }
});

Deno.test("Heroku deploy never takes an ls-remote or API error for a new app", async (t) => {
  await using heroku = await startHerokuStandin();
  await withApp(async (dir) => {
    assert.equal((await deploy(heroku, dir)).code, 0);
    await addCommit(dir, { files: { "c.txt": "c" }, message: "Second" });
    const pushes = (await heroku.pushes()).length;
    await t.step("ls-remote answered 500", async () => {
      heroku.failGit(1, { match: /info\/refs\?service=git-upload-pack/ });
      const result = await deploy(heroku, dir);
      assert.equal(result.code, 1, result.all);
      assert.match(result.stdout, /git ls-remote/);
    });
    await t.step("the releases answered 403", async () => {
      heroku.failRequests(1, { status: 403, match: /^GET \/apps\/sample-app\/releases$/ });
      const result = await deploy(heroku, dir);
      assert.equal(result.code, 1, result.all);
      assert.match(result.stdout, /403/);
    });
    await t.step("the current release's slug answered 404", async () => {
      heroku.failRequests(1, { status: 404, match: /^GET \/apps\/sample-app\/slugs\/[\w-]+$/ });
      const result = await deploy(heroku, dir);
      assert.equal(result.code, 1, result.all);
      assert.match(result.stdout, /404/);
    });
    // each error ended the run: none was taken for an app without a release, which gets a push
    assert.equal((await heroku.pushes()).length, pushes);
  });
});

Deno.test("Heroku run() takes a rendezvous close without TLS close_notify for an end, and no exit status for a failure", async (t) => {
  await using heroku = await startHerokuStandin();
  const dir = await makeRepo([{ files: { Procfile: PROCFILE }, message: "One" }]);
  try {
    heroku.setRendezvousAbruptClose(true);
    await t.step("the marker is appended as the Heroku CLI does, with a space", async () => {
      const { result, log } = await provider(heroku, dir, ["run", "--", "echo", "Migrations"]);
      assert.deepEqual([result.ok, result.code, result.stdout], [true, 0, "Migrations\n"], log);
      assert.equal(
        heroku.dynos().at(-1)!.command,
        'echo Migrations ; echo "\uFFFF heroku-command-exit-status: $?"',
      );
    });
    await t.step("a non-zero exit status before the abrupt close", async () => {
      const { result, log } = await provider(heroku, dir, ["run", "--no-throw", "--", "false"]);
      assert.deepEqual([result.ok, result.code], [true, 1], log);
    });
    await t.step("a dyno that ends without an exit status fails", async () => {
      // the dyno's shell is killed: the marker never comes
      const killed = ["sh", "-c", "echo migrating; kill -9 $PPID"];
      const thrown = await provider(heroku, dir, ["run", "--", ...killed]);
      assert.equal(thrown.result.ok, false, thrown.log);
      assert.match(thrown.result.message!, /run\.\d+ ended without reporting an exit status/);
      assert.deepEqual(thrown.result.output, ["migrating"]);
      const returned = await provider(heroku, dir, ["run", "--no-throw", "--", ...killed]);
      assert.equal(returned.result.ok, true, returned.log);
      assert.notEqual(returned.result.code, 0);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Heroku deploy from a shallow clone fetches history from origin with the user's credentials, never Heroku's", async () => {
  await using heroku = await startHerokuStandin();
  const home = await Deno.makeTempDir({ prefix: "deploy-home-" });
  const origin = await makeRepo([
    { files: { Procfile: PROCFILE }, message: "One" },
    { files: { "a.txt": "a" }, message: "Two" },
  ]);
  const repos = await Deno.makeTempDir({ prefix: "deploy-origin-" });
  const clone = await Deno.makeTempDir({ prefix: "deploy-shallow-" });
  // origin: a git host that wants its own password, which the user's credential store holds
  const originRequests: GitRequest[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (request) =>
      handleGit(request, {
        reposDir: repos,
        apiKey: "origin-password",
        exists: (name) => name === "shop",
        record: (entry) => originRequests.push(entry),
      }),
  );
  const originUrl = `http://127.0.0.1:${server.addr.port}/shop.git`;
  try {
    await git(repos, "clone", "--quiet", "--bare", origin, "shop.git");
    await Deno.writeTextFile(`${home}/.gitconfig`, "[credential]\n\thelper = store\n");
    await Deno.writeTextFile(
      `${home}/.git-credentials`,
      `http://ci:origin-password@127.0.0.1%3a${server.addr.port}\n`,
    );
    const cloned = await new Deno.Command("git", {
      args: ["clone", "--quiet", "--depth", "1", originUrl, clone],
      env: { HOME: home, GIT_TERMINAL_PROMPT: "0" },
      stderr: "piped",
    }).output();
    assert.ok(cloned.success, new TextDecoder().decode(cloned.stderr));
    const sha = (await git(clone, "rev-parse", "HEAD")).trim();
    const before = originRequests.length;
    const result = await deploy(heroku, clone, { HOME: home });
    assert.equal(result.code, 0, result.all);
    assert.equal(heroku.deployedCommit(), sha);
    const fetches = originRequests.slice(before);
    assert.ok(fetches.some((r) => r.authorized), JSON.stringify(fetches));
    assert.deepEqual(fetches.filter((r) => r.user !== null && r.user !== "ci"), []);
    assert.ok(heroku.gitRequests().every((r) => r.user === null || r.user === "heroku"));
  } finally {
    await server.shutdown();
    for (const dir of [home, origin, repos, clone]) await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Heroku deploy follows its own commit's release, not a config change made during its release phase", async () => {
  await using heroku = await startHerokuStandin();
  await withApp(async (dir) => {
    assert.equal((await deploy(heroku, dir)).code, 0);
    const second = await addCommit(dir, { files: { "b.txt": "b" }, message: "Second" });
    heroku.setReleasePhase({ durationMs: 1_500, output: ["a migration"], startDelayMs: 0 });
    let config: Promise<void> | undefined;
    const watch = setInterval(() => {
      const newest = heroku.releases().at(-1)!;
      // while the push waits for the release phase of the second commit, a config var changes
      if (!config && newest.commit === second && newest.status === "pending") {
        config = heroku.setConfig("MAINTENANCE_BANNER");
      }
    }, 20);
    try {
      const result = await deploy(heroku, dir);
      assert.equal(result.code, 0, result.all);
      assert.ok(config, "no config change happened during the release phase");
      assert.match(result.stdout, new RegExp(`Release v4 of ${second.slice(0, 7)} succeeded`));
      assert.equal(heroku.releases()[4]?.description, "Set MAINTENANCE_BANNER config vars");
    } finally {
      clearInterval(watch);
      await config;
    }
  });
});
