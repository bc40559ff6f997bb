/**
 * Integration tests of the Dokku provider: the real CLI (`deno run` with the binary's permissions)
 * against a real sshd whose forced command speaks Dokku's SSH interface, and real git.
 *
 * Every run gets its own TMPDIR, and every run is checked to leave nothing there: the private key
 * directory (`deploy-ssh-*`) must be gone on every exit.
 */
import assert from "node:assert/strict";
import dokku from "../layers/providers/dokku.ts";
import { coreVariables } from "../src/core_variables.ts";
import {
  MIGRATE_COMMAND,
  QUIET_COMMAND,
  QUIET_COMMAND_WITH_APP,
} from "../layers/applications/rails.ts";
import { CommandError, ConfigError, DeployError } from "../src/errors.ts";
import { EventManager } from "../src/event_manager.ts";
import type { Runtime } from "../src/layer.ts";
import { createRuntime } from "../src/runtime.ts";
import { createLogger } from "../src/logger.ts";
import type { Provider } from "../src/provider.ts";
import { Secrets } from "../src/secrets.ts";
import { createShell } from "../src/shell.ts";
import { addCommit, type CliResult, git, makeRepo, runCli } from "./_cli.ts";
import { type DokkuSandbox, type DokkuSandboxOptions, startDokkuSandbox } from "./sandbox/dokku.ts";

// a command that hangs fails its test instead of holding CI
const COMMAND_TIMEOUT_MS = 60_000;

const APP = "shop";
const PROCFILE = { files: { "Procfile": "web: bundle exec puma\n" }, message: "Add a Procfile" };

/** A temporary directory that `await using` removes. */
async function tempDir(prefix: string): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** A fresh app repository with one commit, removed by `await using`. */
async function appRepo(): Promise<{ path: string } & AsyncDisposable> {
  const path = await makeRepo([PROCFILE]);
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** Variables of a deploy to the sandbox, with strict host-key checking. */
function dokkuEnv(
  sandbox: DokkuSandbox,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    DEPLOY_PROVIDER: "dokku",
    DOKKU_HOST: sandbox.dokkuHost,
    APP_NAME: APP,
    SSH_PRIVATE_KEY: sandbox.privateKey,
    SSH_KNOWN_HOSTS: sandbox.knownHosts,
    // these tests deploy new apps on purpose; the test of a missing app leaves it out
    DOKKU_CREATE_APP: "true",
    ...extra,
  };
}

interface DeployOptions {
  /** The app repository. */
  cwd: string;
  /** The run's variables. */
  env: Record<string, string>;
  /** TMPDIR of the run. @default a new short directory */
  tmpdir?: string;
  /** Called with the running CLI (to signal it). */
  onSpawn?: (child: Deno.ChildProcess) => void | Promise<void>;
}

/**
 * A short TMPDIR of its own, removed by `await using`. Short, because ssh's ControlMaster socket
 * lives in it and a Unix socket path has at most 107 bytes (see the long-TMPDIR test below).
 */
async function shortTmp(): Promise<{ path: string } & AsyncDisposable> {
  for (;;) {
    const path = `/tmp/t${Math.random().toString(36).slice(2, 8)}`;
    try {
      await Deno.mkdir(path, { mode: 0o700 });
    } catch (e: unknown) {
      if (e instanceof Deno.errors.AlreadyExists) continue;
      throw e;
    }
    return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
  }
}

/** Runs the CLI in its own TMPDIR and checks that the run left nothing behind there. */
async function deploy(args: string[], options: DeployOptions): Promise<CliResult> {
  await using tmp = options.tmpdir ? undefined : await shortTmp();
  const tmpdir = options.tmpdir ?? tmp!.path;
  const result = await runCli(args, {
    cwd: options.cwd,
    env: { ...options.env, TMPDIR: tmpdir },
    onSpawn: options.onSpawn,
  });
  const left = [...Deno.readDirSync(tmpdir)].map((e) => e.name);
  assert.deepEqual(left, [], `the run left ${left.join(", ")} in TMPDIR:\n${result.all}`);
  return result;
}

/** The argv of every call the sandbox received. */
async function calls(sandbox: DokkuSandbox): Promise<string[][]> {
  return (await sandbox.calls()).map((c) => c.argv);
}

/** The first round of a run: three commands at once, in any order. */
const ROUND = ["apps:report shop", "git:report shop", "version"];

/**
 * Checks the calls from `from` on: a string is one call ("argv joined"), an array a round of
 * concurrent calls in any order.
 */
async function assertCalls(sandbox: DokkuSandbox, from: number, expected: (string | string[])[]) {
  const actual = (await calls(sandbox)).slice(from).map((c) => c.join(" "));
  const normalized: string[] = [];
  let i = 0;
  for (const item of expected) {
    if (typeof item === "string") {
      normalized.push(actual[i] === item ? item : `${actual[i]} (expected ${item})`);
      i++;
    } else {
      normalized.push(...actual.slice(i, i + item.length).toSorted());
      i += item.length;
    }
  }
  assert.deepEqual([...normalized, ...actual.slice(i)], expected.flat());
}

/** Runs plain git with the sandbox's own ssh options (to set up server state behind the tool's back). */
function sandboxGit(
  sandbox: DokkuSandbox,
  cwd: string,
  ...args: string[]
): Promise<Deno.CommandOutput> {
  return new Deno.Command("git", {
    signal: AbortSignal.timeout(COMMAND_TIMEOUT_MS),
    args,
    cwd,
    env: { GIT_SSH_COMMAND: ["ssh", ...sandbox.sshArgs].join(" "), GIT_TERMINAL_PROMPT: "0" },
    stdout: "piped",
    stderr: "piped",
  }).output();
}

function appUrl(sandbox: DokkuSandbox, app = APP): string {
  return `ssh://${sandbox.user}@127.0.0.1:${sandbox.port}/${app}`;
}

/** Fails when any line of the key (or its base64 form) appears in `text`. */
function assertNoKey(text: string, key: string) {
  for (const line of key.split("\n").map((l) => l.trim()).filter((l) => l.length >= 6)) {
    assert.ok(!text.includes(line), `a line of the private key appears in the output: ${line}`);
  }
  assert.ok(!text.includes(btoa(key).slice(0, 40)), "the base64 key appears in the output");
}

function head(sha: string): string {
  return sha.slice(0, 7);
}

Deno.test("deploy pushes HEAD to a new app, skips it next time, rebuilds with FORCE_DEPLOY and pushes a new commit", async (t) => {
  await using sandbox = await startDokkuSandbox();
  await using repo = await appRepo();
  const env = dokkuEnv(sandbox);
  const first = (await git(repo.path, "rev-parse", "HEAD")).trim();

  await t.step("a missing app is exit 2 naming APP_NAME, and nothing is created", async () => {
    const result = await deploy([], { cwd: repo.path, env: { ...env, DOKKU_CREATE_APP: "false" } });
    assert.equal(result.code, 2, result.all);
    assert.match(
      result.all,
      /APP_NAME "shop": 127\.0\.0\.1 has no such app \(Dokku: "App shop does not exist"\)\. Create it with "dokku apps:create shop" on the server, or set DOKKU_CREATE_APP=true/,
    );
    // no git command (git-upload-pack would have created it)
    await assertCalls(sandbox, 0, [ROUND]);
    assert.equal((await sandbox.admin(["apps:exists", APP])).code, 1);
  });

  await t.step(
    "a first deploy creates the app on request and pushes HEAD over one SSH connection",
    async () => {
      const result = await deploy([], { cwd: repo.path, env });
      assert.equal(result.code, 0, result.all);
      assert.equal(await sandbox.deployedSha(APP), first);
      assert.equal(await sandbox.runningSha(APP), first);
      await assertCalls(sandbox, 3, [
        ROUND,
        "apps:create shop",
        ["apps:report shop", "git:report shop"],
        "git-receive-pack shop",
      ]);
      assert.match(result.stdout, /Creating shop \(DOKKU_CREATE_APP=true\)/);
      assert.match(result.stdout, /Dokku has no record of a git deploy of shop/);
      assert.match(result.stdout, /Server is using dokku version 0\.35\.12/);
      assert.match(result.stdout, /remote: -----> Building shop from herokuish/);
      assert.match(result.stdout, new RegExp(`Deployed ${head(first)} to shop`));
      assert.equal(await sandbox.connections(), 2);
      // the sandbox's build lines start with \e[1G, as Dokku's do: a CI log must not get them
      assert.ok(
        !result.stdout.includes("\x1b"),
        `escape codes in stdout: ${JSON.stringify(result.stdout)}`,
      );
      assert.doesNotMatch(result.stdout, /SSH_KNOWN_HOSTS is not set/);
      assert.equal(result.stderr, "");
    },
  );

  await t.step("a second run of the same commit skips the push", async () => {
    const result = await deploy([], { cwd: repo.path, env });
    assert.equal(result.code, 0, result.all);
    assert.match(result.stdout, new RegExp(`shop already runs ${head(first)}: nothing to deploy`));
    assert.match(result.stdout, /what Dokku last deployed, from apps:report/);
    assert.doesNotMatch(result.stdout, /Pushing/);
    // one round: no git command at all to decide
    await assertCalls(sandbox, 10, [ROUND]);
    assert.equal(await sandbox.connections(), 3);
  });

  await t.step(
    "FORCE_DEPLOY=true on the same commit rebuilds the app instead of pushing",
    async () => {
      const result = await deploy([], { cwd: repo.path, env: { ...env, FORCE_DEPLOY: "true" } });
      assert.equal(result.code, 0, result.all);
      await assertCalls(sandbox, 13, [ROUND, "ps:rebuild shop"]);
      assert.match(result.stdout, /\$ dokku ps:rebuild shop\n.*-----> Cleaning up/);
      assert.match(result.stdout, /Building shop from herokuish/);
      assert.equal(await sandbox.deployedSha(APP), first);
    },
  );

  await t.step("a new commit is pushed and deployed", async () => {
    const second = await addCommit(repo.path, {
      files: { "app.rb": "puts 1\n" },
      message: "Add the app",
    });
    const result = await deploy([], { cwd: repo.path, env });
    assert.equal(result.code, 0, result.all);
    assert.equal(await sandbox.deployedSha(APP), second);
    await assertCalls(sandbox, 17, [ROUND, "git-receive-pack shop"]);
    assert.equal(await sandbox.runningSha(APP), second);
    assert.match(
      result.stdout,
      new RegExp(`deploy: ${head(second)} "Add the app" to shop \\(production\\) on dokku`),
    );
    assert.match(result.stdout, new RegExp(`Deployed ${head(second)} to shop`));
    assert.equal(await sandbox.connections(), 5);
  });
});

Deno.test("deploy pushes from a shallow clone: the whole history to a new app, a deepening for an older one", async (t) => {
  await using sandbox = await startDokkuSandbox();
  await using origin = await appRepo();
  // more commits than the first deepening step (50), so that deepening cannot reach the root
  const script =
    'for i in $(seq 60); do git -c user.name=A -c user.email=a@example.com commit -q --allow-empty -m "c$i"; done';
  assert.ok(
    (await new Deno.Command("bash", {
      signal: AbortSignal.timeout(COMMAND_TIMEOUT_MS),
      args: ["-c", script],
      cwd: origin.path,
    }).output()).success,
  );
  const shas = (await git(origin.path, "rev-list", "HEAD")).trim().split("\n");
  assert.equal(shas.length, 61);
  await using clones = await tempDir("dt-clones-");
  const clone = async (name: string) => {
    await git(clones.path, "clone", "--quiet", "--depth", "1", `file://${origin.path}`, name);
    const dir = `${clones.path}/${name}`;
    assert.equal((await git(dir, "rev-parse", "--is-shallow-repository")).trim(), "true");
    return dir;
  };

  await t.step(
    "a shallow clone deployed to a new app is built once and leaves the full history on the server",
    async () => {
      const dir = await clone("fresh");
      const result = await deploy([], { cwd: dir, env: dokkuEnv(sandbox, { APP_NAME: "fresh" }) });
      assert.equal(result.code, 0, result.all);
      assert.equal(await sandbox.deployedSha("fresh"), shas[0]);
      const count = await git(
        dir,
        "--git-dir",
        sandbox.repoPath("fresh"),
        "rev-list",
        "--count",
        "master",
      );
      assert.equal(count.trim(), "61");
      // Dokku builds in its pre-receive hook, which git runs before it refuses a shallow update:
      // a first push that is refused is a whole build (and release) for nothing
      const builds = result.stdout.match(/Building fresh from herokuish/g) ?? [];
      assert.equal(builds.length, 1, "the server built the app more than once");
      assert.equal((await calls(sandbox)).filter((c) => c[0] === "git-receive-pack").length, 1);
    },
  );

  await t.step(
    "a shallow clone whose app runs an older commit deepens, and stays shallow",
    async () => {
      const older = shas[5]!;
      const pushed = await sandboxGit(
        sandbox,
        origin.path,
        "push",
        "--quiet",
        appUrl(sandbox, "older"),
        `${older}:refs/heads/master`,
      );
      assert.equal(pushed.code, 0, new TextDecoder().decode(pushed.stderr));
      const dir = await clone("older");
      const result = await deploy([], { cwd: dir, env: dokkuEnv(sandbox, { APP_NAME: "older" }) });
      assert.equal(result.code, 0, result.all);
      assert.equal(await sandbox.deployedSha("older"), shas[0]);
      assert.match(
        result.stdout,
        new RegExp(`Shallow clone: fetching 50 more commits to reach the deployed ${head(older)}`),
      );
      assert.equal((await git(dir, "rev-parse", "--is-shallow-repository")).trim(), "true");
      assert.equal((await git(dir, "rev-list", "--count", "HEAD")).trim(), "51");
    },
  );
});

Deno.test("deploy of a failing build exits 1 and shows the build's output and the failed command", async (t) => {
  await using sandbox = await startDokkuSandbox();
  await using repo = await appRepo();
  const sha = (await git(repo.path, "rev-parse", "HEAD")).trim();

  await t.step("in text", async () => {
    await sandbox.failNextBuild("Gemfile.lock is out of date");
    const result = await deploy([], { cwd: repo.path, env: dokkuEnv(sandbox) });
    assert.equal(result.code, 1, result.all);
    assert.match(
      result.stdout,
      /remote: -----> Compiling shop\n.*remote: {2}! {5}Gemfile\.lock is out of date/,
    );
    assert.match(result.stdout, /error: Deploy failed: dokku failed during deploy/);
    assert.match(
      result.stdout,
      new RegExp(`command: git push ssh://\\S+/shop ${sha}:refs/heads/master \\(exit code 1\\)`),
    );
    assert.doesNotMatch(result.stdout, /Deployed /);
    assert.equal(await sandbox.deployedSha(APP), null);
    assert.ok(!result.all.includes("    at "), result.all);
  });

  await t.step("in JSON, with the failure context in the outcome record", async () => {
    await sandbox.failNextBuild("Gemfile.lock is out of date");
    const result = await deploy(["--log-format", "json"], {
      cwd: repo.path,
      env: dokkuEnv(sandbox),
    });
    assert.equal(result.code, 1, result.all);
    const records = result.stdout.trimEnd().split("\n").map((line) => JSON.parse(line));
    const outcome = records.find((r) => r.type === "outcome");
    assert.equal(outcome.status, "failed");
    assert.equal(outcome.exit_code, 1);
    assert.equal(outcome.failure.event, "deploy");
    assert.equal(outcome.failure.layer, "dokku");
    assert.match(outcome.failure.command, /^git push /);
    assert.equal(outcome.failure.exitCode, 1);
    assert.ok(outcome.failure.output.length <= 20);
    assert.ok(
      outcome.failure.output.some((l: string) => l.endsWith(" !     Gemfile.lock is out of date")),
      JSON.stringify(outcome.failure.output),
    );
    assert.ok(!JSON.stringify(outcome).includes("\x1b"), "escape codes in the failure context");
    assertNoKey(result.all, sandbox.privateKey);
  });
});

Deno.test("deploy refuses a non-fast-forward push unless FORCE_PUSH=true", async () => {
  await using sandbox = await startDokkuSandbox();
  await using repo = await appRepo();
  const env = dokkuEnv(sandbox);
  assert.equal((await deploy([], { cwd: repo.path, env })).code, 0);
  // someone else deployed a commit this repository does not have
  await using other = await tempDir("dt-other-");
  await git(other.path, "clone", "--quiet", repo.path, "other");
  const theirs = await addCommit(`${other.path}/other`, {
    files: { "hotfix.rb": "x\n" },
    message: "Hotfix",
  });
  const pushed = await sandboxGit(
    sandbox,
    `${other.path}/other`,
    "push",
    "--quiet",
    appUrl(sandbox),
    `${theirs}:refs/heads/master`,
  );
  assert.equal(pushed.code, 0, new TextDecoder().decode(pushed.stderr));
  const ours = await addCommit(repo.path, { files: { "feature.rb": "y\n" }, message: "Feature" });

  const rejected = await deploy([], { cwd: repo.path, env });
  assert.equal(rejected.code, 1, rejected.all);
  assert.match(rejected.all, /non-fast-forward/);
  assert.match(rejected.all, /FORCE_PUSH=true/);
  assert.equal(await sandbox.deployedSha(APP), theirs);

  const forced = await deploy([], { cwd: repo.path, env: { ...env, FORCE_PUSH: "true" } });
  assert.equal(forced.code, 0, forced.all);
  assert.equal(await sandbox.deployedSha(APP), ours);
  assert.match(forced.stdout, /\$ git push --force /);
});

Deno.test("deploy rejects bad input with one message, exit code 2, before touching the server", async (t) => {
  await using sandbox = await startDokkuSandbox();
  await using repo = await appRepo();
  const untouched = async () => {
    assert.deepEqual(await calls(sandbox), []);
    assert.equal(await sandbox.connections(), 0);
  };

  await t.step("every wrong variable is listed at once", async () => {
    const result = await deploy([], {
      cwd: repo.path,
      env: dokkuEnv(sandbox, {
        DOKKU_HOST: "bad:host:x",
        APP_NAME: "My_App",
        DOKKU_BRANCH: "two words",
        FORCE_PUSH: "maybe",
        DEPLOY_LAYERS: "-nope",
      }),
    });
    assert.equal(result.code, 2, result.all);
    assert.match(result.stderr, /Invalid configuration \(5 problems\)/);
    assert.match(result.stderr, /DOKKU_HOST: expected \[user@\]host\[:port\], found "bad:host:x"/);
    assert.match(
      result.stderr,
      /APP_NAME: expected lowercase letters, digits, dots and dashes.*found "My_App"/,
    );
    assert.match(result.stderr, /DOKKU_BRANCH: expected a branch name, found "two words"/);
    assert.match(result.stderr, /FORCE_PUSH: expected true or false, found "maybe"/);
    assert.match(result.stderr, /DEPLOY_LAYERS: unknown layer "nope"/);
    assert.ok(!result.all.includes("    at "), result.all);
    assertNoKey(result.all, sandbox.privateKey);
    await untouched();
  });

  await t.step("a missing DEPLOY_PROVIDER is listed with the other run-wide problems", async () => {
    const env = dokkuEnv(sandbox, { FORCE_DEPLOY: "banana", DEPLOY_LAYERS: "dokku" });
    delete env.DEPLOY_PROVIDER;
    const result = await deploy([], { cwd: repo.path, env });
    assert.equal(result.code, 2, result.all);
    assert.match(result.stderr, /DEPLOY_PROVIDER is required: expected one of dokku/);
    assert.match(result.stderr, /FORCE_DEPLOY: expected true or false, found "banana"/);
    assert.match(
      result.stderr,
      /DEPLOY_LAYERS: "dokku" is a provider; choose it with DEPLOY_PROVIDER/,
    );
    assert.ok(!result.all.includes("    at "), result.all);
    await untouched();
  });

  await t.step("SSH_PRIVATE_KEY that is no key is refused without showing it", async () => {
    const result = await deploy([], {
      cwd: repo.path,
      env: dokkuEnv(sandbox, { SSH_PRIVATE_KEY: "hunter2-not-a-key" }),
    });
    assert.equal(result.code, 2, result.all);
    assert.match(result.all, /SSH_PRIVATE_KEY: expected the key text/);
    assert.ok(!result.all.includes("hunter2-not-a-key"), result.all);
    assert.ok(!result.all.includes("    at "), result.all);
    await untouched();
  });

  await t.step(
    "a key with a passphrase is refused with the other problems, before any connection",
    async () => {
      await using keys = await tempDir("dt-locked-key-");
      const keyFile = `${keys.path}/key`;
      const made = await new Deno.Command("ssh-keygen", {
        signal: AbortSignal.timeout(COMMAND_TIMEOUT_MS),
        args: ["-q", "-t", "ed25519", "-N", "a passphrase", "-C", "t", "-f", keyFile],
      }).output();
      assert.ok(made.success);
      try {
        const locked = await Deno.readTextFile(keyFile);
        const result = await deploy([], {
          cwd: repo.path,
          env: dokkuEnv(sandbox, { SSH_PRIVATE_KEY: locked, APP_NAME: "Bad_Name" }),
        });
        assert.equal(result.code, 2, result.all);
        assert.match(result.stderr, /SSH_PRIVATE_KEY: the key has a passphrase/);
        assert.match(result.stderr, /APP_NAME: expected lowercase/);
        assertNoKey(result.all, locked);
      } finally {
        await Deno.remove(keyFile).catch(() => {});
        await Deno.remove(`${keyFile}.pub`).catch(() => {});
      }
      await untouched();
    },
  );

  await t.step("deploy.yml with an unknown and a secret key names their lines", async () => {
    await Deno.writeTextFile(
      `${repo.path}/deploy.yml`,
      `# settings\nAPP_NAME: shop\nDOKKU_HOTS: typo.example.com\nSSH_PRIVATE_KEY: hunter2-in-the-repo\n`,
    );
    try {
      const result = await deploy([], { cwd: repo.path, env: dokkuEnv(sandbox) });
      assert.equal(result.code, 2, result.all);
      assert.match(result.stderr, /deploy\.yml:3: unknown setting DOKKU_HOTS/);
      assert.match(result.stderr, /deploy\.yml:4: SSH_PRIVATE_KEY is a secret/);
      assert.ok(!result.all.includes("hunter2-in-the-repo"), result.all);
      assert.ok(!result.all.includes("    at "), result.all);
    } finally {
      await Deno.remove(`${repo.path}/deploy.yml`);
    }
    await untouched();
  });

  await t.step("a usage error exits 2", async () => {
    const result = await deploy(["--no-such-flag"], { cwd: repo.path, env: dokkuEnv(sandbox) });
    assert.equal(result.code, 2, result.all);
    assert.match(result.stderr, /unknown option '--no-such-flag'/);
    await untouched();
  });
});

Deno.test("deploy takes flags over env, env over deploy.yml, and deploy.yml over defaults", async () => {
  // 0.38.4 and later report an unset deploy branch, so DOKKU_BRANCH=main may become it
  await using sandbox = await startDokkuSandbox({ version: "0.38.5" });
  await using repo = await appRepo();
  await Deno.writeTextFile(
    `${repo.path}/deploy.yml`,
    [
      "DEPLOY_PROVIDER: heroku",
      "APP_NAME: from-file",
      "DOKKU_BRANCH: main",
      "DEPLOY_ENVIRONMENT: from-file",
      "environments:",
      "  staging:",
      "    APP_NAME: shop-staging",
      "",
    ].join("\n"),
  );
  const env = dokkuEnv(sandbox, { DEPLOY_PROVIDER: "nope", DEPLOY_ENVIRONMENT: "from-env" });
  delete env.APP_NAME;

  // --provider beats env's "nope" and the file's "heroku"; the file's APP_NAME and DOKKU_BRANCH apply
  const fromFile = await deploy(["--provider", "dokku"], { cwd: repo.path, env });
  assert.equal(fromFile.code, 0, fromFile.all);
  assert.match(fromFile.stdout, /to from-file \(from-env\) on dokku/);
  assert.deepEqual(
    await sandbox.deployedSha("from-file", "main"),
    (await git(repo.path, "rev-parse", "HEAD")).trim(),
  );

  // env's APP_NAME beats the file's; --environment beats env and selects the file's overlay...
  const overlay = await deploy(["--provider", "dokku", "--environment", "staging"], {
    cwd: repo.path,
    env,
  });
  assert.equal(overlay.code, 0, overlay.all);
  assert.match(overlay.stdout, /to shop-staging \(staging\) on dokku/);
  // ...which env's APP_NAME still beats
  const fromEnv = await deploy(["--provider", "dokku", "--environment", "staging"], {
    cwd: repo.path,
    env: { ...env, APP_NAME: "from-env" },
  });
  assert.equal(fromEnv.code, 0, fromEnv.all);
  assert.match(fromEnv.stdout, /to from-env \(staging\) on dokku/);
  assert.deepEqual(
    (await calls(sandbox)).filter((c) => c[0] === "git-receive-pack"),
    [["git-receive-pack", "from-file"], ["git-receive-pack", "shop-staging"], [
      "git-receive-pack",
      "from-env",
    ]],
  );
});

/** What a run cancelled during a slow build left: its result and what was seen meanwhile. */
interface Cancelled {
  result: CliResult;
  /** ms from the first signal to the end of the run. */
  stoppedAfter: number;
  /** TMPDIR entries while the build slept. */
  sshDirs: string[];
  /** Every process's command line while the build slept. */
  argvs: string[];
  /** Command lines of processes of the run left after it ended. */
  leftProcesses: string[];
  /** TMPDIR entries after the run. */
  leftFiles: string[];
}

const BUILD_SECONDS = 6;

/** Deploys with a slow build and sends SIGTERM `signals` times (300 ms apart) once it sleeps. */
async function cancelDuringBuild(sandbox: DokkuSandbox, signals: number): Promise<Cancelled> {
  await using repo = await appRepo();
  await using tmp = await shortTmp();
  await sandbox.slowNextBuild(BUILD_SECONDS);
  let signalledAt = 0;
  let sshDirs: string[] = [];
  let argvs: string[] = [];
  const result = await runCli([], {
    cwd: repo.path,
    env: dokkuEnv(sandbox, { TMPDIR: tmp.path }),
    onSpawn: (child) => {
      // not awaited: runCli reads the output meanwhile
      // the run creates the app and connects first: slow on a loaded machine
      sandbox.buildSleeping(90_000).then(async () => {
        sshDirs = [...Deno.readDirSync(tmp.path)].map((e) => e.name);
        argvs = await commandLines();
        signalledAt = Date.now();
        for (let i = 0; i < signals; i++) {
          if (i > 0) await new Promise((resolve) => setTimeout(resolve, 300));
          child.kill("SIGTERM");
        }
      }).catch(() => {}); // a build that never starts fails the assertion below
    },
  });
  const stoppedAfter = Date.now() - signalledAt;
  assert.ok(signalledAt > 0, "the build never started");
  // give a process that is on its way out a moment
  await new Promise((resolve) => setTimeout(resolve, 100));
  return {
    result,
    stoppedAfter,
    sshDirs,
    argvs,
    leftProcesses: (await commandLines()).filter((a) => a.includes(tmp.path)),
    leftFiles: [...Deno.readDirSync(tmp.path)].map((e) => e.name),
  };
}

Deno.test("deploy cancelled by SIGTERM during the push exits 143, removes its ssh dir and leaves no ssh master", async () => {
  await using sandbox = await startDokkuSandbox();
  const run = await cancelDuringBuild(sandbox, 1);
  const { result } = run;
  assert.equal(result.code, 143, result.all);
  assert.match(result.stdout, new RegExp(`Compiling shop \\(this takes ${BUILD_SECONDS}s\\)`));
  assert.match(result.stdout, /Received SIGTERM/);
  assert.match(result.stdout, /Deploy failed: cancelled by SIGTERM during deploy \(dokku\)/);
  assert.doesNotMatch(result.stdout, /Deployed /);
  // Dokku 0.35 has no builds:cancel: the log says the build goes on
  assert.match(result.stdout, /Dokku 0\.35\.12 cannot cancel a build .*may go on/);
  assert.ok(!(await calls(sandbox)).some((c) => c[0] === "builds:cancel"));
  // while it ran, the key was in no process's argv, and the run had its private ssh directory...
  assert.ok(run.argvs.some((a) => a.includes("/deploy-ssh-")), "no ssh process seen");
  assertNoKey(run.argvs.join("\n"), sandbox.privateKey);
  assert.equal(run.sshDirs.length, 1, `expected one deploy-ssh-* dir: ${run.sshDirs.join(", ")}`);
  assert.match(run.sshDirs[0]!, /^deploy-ssh-/);
  // ...which it removed, and no ssh master (or other process of the run) is left
  assert.deepEqual(run.leftFiles, []);
  assert.deepEqual(run.leftProcesses, []);
});

Deno.test("deploy cancelled by SIGTERM stops the running push instead of waiting for the build", async () => {
  await using sandbox = await startDokkuSandbox();
  const run = await cancelDuringBuild(sandbox, 1);
  assert.equal(run.result.code, 143, run.result.all);
  assert.ok(
    run.stoppedAfter < (BUILD_SECONDS - 3) * 1000,
    `the run ended ${run.stoppedAfter} ms after SIGTERM: it waited for the build (${BUILD_SECONDS} s)`,
  );
});

Deno.test("deploy cancelled during the push on Dokku 0.38 cancels the build on the server", async () => {
  await using sandbox = await startDokkuSandbox({ version: "0.38.5" });
  const run = await cancelDuringBuild(sandbox, 1);
  assert.equal(run.result.code, 143, run.result.all);
  assert.ok((await calls(sandbox)).some((c) => c.join(" ") === "builds:cancel shop"));
  assert.match(run.result.stdout, /Cancelled the build of shop on the server \(builds:cancel\)/);
  // the build was stopped: it never deployed, even after it would have finished
  await new Promise((resolve) => setTimeout(resolve, BUILD_SECONDS * 1000));
  assert.equal(await sandbox.runningSha(APP), null);
  assert.deepEqual(run.leftFiles, []);
});

Deno.test("deploy given a second SIGTERM exits at once and still leaves no ssh master", async () => {
  await using sandbox = await startDokkuSandbox();
  const run = await cancelDuringBuild(sandbox, 2);
  assert.equal(run.result.code, 143, run.result.all);
  assert.ok(
    run.stoppedAfter < 3000,
    `the run ended ${run.stoppedAfter} ms after the first SIGTERM`,
  );
  assert.deepEqual(run.leftFiles, []);
  assert.deepEqual(run.leftProcesses, [], "the ControlMaster outlived the run");
});

/** The command lines of every process on the machine. */
async function commandLines(): Promise<string[]> {
  const lines: string[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const cmdline = await Deno.readTextFile(`/proc/${entry.name}/cmdline`).catch(() => "");
    if (cmdline) lines.push(cmdline.replaceAll("\0", " "));
  }
  return lines;
}

Deno.test("deploy works with a long TMPDIR, as on macOS (/var/folders/.../T)", async () => {
  await using sandbox = await startDokkuSandbox();
  await using repo = await appRepo();
  await using tmp = await shortTmp();
  // macOS: TMPDIR=/var/folders/zz/zyxvpxvq6csfxvn_n0000000000000/T/ (49 characters)
  const tmpdir = `${tmp.path}/folders/zz/zyxvpxvq6csfxvn_n00000000000/T`;
  await Deno.mkdir(tmpdir, { recursive: true });
  const result = await deploy([], { cwd: repo.path, env: dokkuEnv(sandbox), tmpdir });
  assert.equal(result.code, 0, result.all);
  assert.notEqual(await sandbox.deployedSha(APP), null);
});

Deno.test("deploy accepts SSH_PRIVATE_KEY as text, base64 or a path and never shows the key", async (t) => {
  await using sandbox = await startDokkuSandbox();
  await using repo = await appRepo();
  const forms: [string, string][] = [
    ["text", sandbox.privateKey],
    ["base64", btoa(sandbox.privateKey)],
    ["path", sandbox.privateKeyPath],
  ];
  for (const [form, value] of forms) {
    await t.step(`as ${form}`, async () => {
      const app = `key-${form}`;
      const result = await deploy([], {
        cwd: repo.path,
        env: dokkuEnv(sandbox, { APP_NAME: app, SSH_PRIVATE_KEY: value }),
      });
      assert.equal(result.code, 0, result.all);
      assert.equal(
        await sandbox.deployedSha(app),
        (await git(repo.path, "rev-parse", "HEAD")).trim(),
      );
      assertNoKey(result.all, sandbox.privateKey);
    });
  }

  await t.step(
    "without SSH_KNOWN_HOSTS the host key is trusted on first use with a warning",
    async () => {
      const env = dokkuEnv(sandbox, { APP_NAME: "tofu" });
      delete env.SSH_KNOWN_HOSTS;
      const result = await deploy([], { cwd: repo.path, env });
      assert.equal(result.code, 0, result.all);
      assert.match(result.stdout, /warning: SSH_KNOWN_HOSTS is not set/);
      assert.ok(result.stdout.includes(sandbox.hostKeyFingerprint), result.stdout);
      assert.notEqual(await sandbox.deployedSha("tofu"), null);
    },
  );

  await t.step(
    "a wrong SSH_KNOWN_HOSTS refuses the connection, with a clear message and no push",
    async () => {
      const before = (await sandbox.calls()).length;
      const otherKey = (await Deno.readTextFile(`${sandbox.privateKeyPath}.pub`)).split(" ")[1]!;
      const wrong = sandbox.knownHosts.replace(/AAAA\S+/, otherKey);
      const result = await deploy([], {
        cwd: repo.path,
        env: dokkuEnv(sandbox, { APP_NAME: "strict", SSH_KNOWN_HOSTS: wrong }),
      });
      assert.notEqual(result.code, 0, result.all);
      assert.match(
        result.all,
        /Cannot connect to \S+@127\.0\.0\.1 port \d+: 127\.0\.0\.1's host key has CHANGED/,
      );
      assert.equal((await sandbox.calls()).length, before);
      assert.equal(await sandbox.deployedSha("strict"), null);
      assert.ok(!result.all.includes("    at "), result.all);
    },
  );
});

/** A runtime like src/commands.ts builds, with a logger that collects its text. */
function testRuntime(
  cwd: string,
): { runtime: Runtime; output: string[]; cleanup: () => Promise<void> } {
  const secrets = new Secrets();
  const output: string[] = [];
  const logger = createLogger({
    secrets,
    write: (text) => output.push(text),
    format: "text",
    color: false,
  });
  const { runtime, cleanUp: cleanup } = createRuntime({
    shell: createShell({ secrets }),
    logger,
    secrets,
    cwd,
  });
  return { runtime, output, cleanup };
}

async function dokkuProvider(sandbox: DokkuSandbox, runtime: Runtime): Promise<Provider> {
  const config = dokku.variables.parse({
    DOKKU_HOST: sandbox.dokkuHost,
    APP_NAME: APP,
    SSH_PRIVATE_KEY: sandbox.privateKey,
    SSH_KNOWN_HOSTS: sandbox.knownHosts,
  });
  runtime.secrets.add(sandbox.privateKey);
  const provider = await dokku.setup({
    config,
    core: coreVariables.parse({}),
    on: new EventManager().forLayer("dokku"),
    runtime,
  });
  assert.ok(provider);
  return provider;
}

/** The modes in which what a program receives differs. */
const MODES: [string, DokkuSandboxOptions][] = [
  ["Dokku 0.35, herokuish", { version: "0.35.12", builder: "herokuish" }],
  ["Dokku 0.35, Dockerfile", { version: "0.35.12", builder: "dockerfile" }],
  ["Dokku 0.33, herokuish", { version: "0.33.9", builder: "herokuish" }],
  ["Dokku 0.33, Dockerfile", { version: "0.33.9", builder: "dockerfile" }],
];

Deno.test(
  "Dokku provider run: the program gets the Rails commands exactly in every mode, or they are refused",
  {
    sanitizeResources: false,
  },
  async (t) => {
    for (const [name, options] of MODES) {
      await t.step(name, async () => {
        await using sandbox = await startDokkuSandbox(options);
        await using repo = await appRepo();
        const sha = (await git(repo.path, "rev-parse", "HEAD")).trim();
        const pushed = await sandboxGit(sandbox, repo.path, "push", appUrl(sandbox), "HEAD:master");
        assert.equal(pushed.code, 0, new TextDecoder().decode(pushed.stderr));
        const { runtime, output, cleanup } = testRuntime(repo.path);
        try {
          const provider = await dokkuProvider(sandbox, runtime);
          assert.equal(await provider.deployedCommit(), sha);
          await sandbox.fakeBin("bundle", 'echo "bundle got $#"; [ "$2" != fail ]');
          for (const cmd of [QUIET_COMMAND, QUIET_COMMAND_WITH_APP, MIGRATE_COMMAND]) {
            const result = await provider.run(cmd);
            assert.equal(result.code, 0, result.stderr);
            assert.deepEqual((await sandbox.programRuns()).at(-1)?.argv, [...cmd]);
          }
          assert.match(output.join(""), /\| bundle got 5\n/);

          // refused before anything is sent
          const before = (await sandbox.calls()).length;
          for (const word of ["$HOME", "a b", "--trace", "-n", "(&:quiet!)"]) {
            await assert.rejects(provider.run(["echo", word]), ConfigError);
            assert.equal(provider.commandProblems!(["echo", word]).length, 1);
          }
          assert.equal((await sandbox.calls()).length, before);

          const failed = await provider.run(["bundle", "exec", "fail"], { noThrow: true });
          assert.equal(failed.code, 1);
          const error = await provider.run(["bundle", "exec", "fail"]).then(
            () => undefined,
            (e) => e,
          );
          assert.ok(error instanceof CommandError, String(error));
          assert.match(error.command, /^dokku run shop bundle exec fail$/);
          assertNoKey(output.join(""), sandbox.privateKey);
        } finally {
          await cleanup();
        }
      });
    }
  },
);

Deno.test(
  "Dokku provider process restarts one type, the whole app before 0.26, and never stops or starts by type",
  {
    sanitizeResources: false,
  },
  async (t) => {
    for (
      const [version, restarted, calledWith] of [
        ["0.35.12", "worker", "ps:restart shop worker"],
        ["0.25.7", "*", "ps:restart shop"],
      ] as const
    ) {
      await t.step(`Dokku ${version}`, async () => {
        await using sandbox = await startDokkuSandbox({ version });
        await using repo = await appRepo();
        await sandboxGit(sandbox, repo.path, "push", appUrl(sandbox), "HEAD:master");
        const { runtime, output, cleanup } = testRuntime(repo.path);
        try {
          const provider = await dokkuProvider(sandbox, runtime);
          await provider.process("worker", "restart");
          assert.equal((await calls(sandbox)).at(-1)?.join(" "), calledWith);
          assert.deepEqual((await sandbox.processEvents()).at(-1), {
            action: "restart",
            app: APP,
            type: restarted,
          });
          if (restarted === "*") {
            assert.match(
              output.join(""),
              /restarts one process type only since 0\.26\.0: restarting all of shop/,
            );
          }
          const events = (await sandbox.processEvents()).length;
          for (const action of ["stop", "start"] as const) {
            await assert.rejects(
              provider.process("web", action),
              (e: unknown) => e instanceof DeployError && /all of shop/.test(e.message),
            );
          }
          assert.equal((await sandbox.processEvents()).length, events, "nothing was stopped");
        } finally {
          await cleanup();
        }
      });
    }
  },
);

Deno.test("Dokku provider refuses a DOKKU_BRANCH the server does not deploy, before pushing", async () => {
  await using sandbox = await startDokkuSandbox({ deployBranch: "main" });
  await using repo = await appRepo();
  const env = dokkuEnv(sandbox, { DOKKU_BRANCH: "master" });
  const refused = await deploy([], { cwd: repo.path, env });
  assert.equal(refused.code, 2, refused.all);
  assert.match(
    refused.all,
    /DOKKU_BRANCH is "master", but Dokku deploys shop from "main" \(git:report\).*Set DOKKU_BRANCH=main/,
  );
  assert.equal((await calls(sandbox)).filter((c) => c[0]?.startsWith("git-")).length, 0);
  assert.equal(await sandbox.deployedSha(APP, "master"), null);
  // a run after that failure deploys: without DOKKU_BRANCH it pushes to the server's branch
  const sha = (await git(repo.path, "rev-parse", "HEAD")).trim();
  delete env.DOKKU_BRANCH;
  const deployed = await deploy([], { cwd: repo.path, env });
  assert.equal(deployed.code, 0, deployed.all);
  assert.match(deployed.stdout, /Pushing \w{7} to 127\.0\.0\.1 \(shop, branch main\)/);
  assert.equal(await sandbox.runningSha(APP), sha);
});

Deno.test("Dokku provider decides from what Dokku deployed, not from a branch git:sync moved", async () => {
  await using sandbox = await startDokkuSandbox();
  await using repo = await appRepo();
  const env = dokkuEnv(sandbox);
  const first = (await git(repo.path, "rev-parse", "HEAD")).trim();
  assert.equal((await deploy([], { cwd: repo.path, env })).code, 0);
  const second = await addCommit(repo.path, { files: { "b.rb": "b\n" }, message: "B" });
  // an admin syncs the branch to the new commit without building it
  assert.equal((await sandbox.admin(["git:sync", APP, repo.path, "HEAD"])).code, 0);
  assert.equal(await sandbox.deployedSha(APP), second);
  assert.equal(await sandbox.runningSha(APP), first);
  const result = await deploy([], { cwd: repo.path, env });
  assert.equal(result.code, 0, result.all);
  assert.match(result.stdout, new RegExp(`shop runs ${head(first)} \\(what Dokku last deployed`));
  assert.doesNotMatch(result.stdout, /nothing to deploy/);
  // the push alone changed nothing (the branch was there): the tool saw it and made Dokku build
  assert.match(result.stdout, /master already pointed at \w{7}, which Dokku had not deployed/);
  assert.equal(await sandbox.runningSha(APP), second);
  assert.equal(
    (await sandbox.admin(["apps:report", APP, "--app-deploy-source-metadata"])).stdout,
    `${second}\n`,
  );
  const refs = await sandboxGit(sandbox, repo.path, "ls-remote", appUrl(sandbox));
  assert.doesNotMatch(new TextDecoder().decode(refs.stdout), /refs\/tags\//, "the tag was removed");
});

Deno.test("Dokku provider before 0.26 decides from the deploy branch's ref, and says so", async () => {
  await using sandbox = await startDokkuSandbox({ version: "0.25.7" });
  await using repo = await appRepo();
  const env = dokkuEnv(sandbox);
  assert.equal((await deploy([], { cwd: repo.path, env })).code, 0);
  const again = await deploy([], { cwd: repo.path, env });
  assert.equal(again.code, 0, again.all);
  assert.match(again.stdout, /records no deploy source \(since 0\.26\.0\)/);
  assert.match(again.stdout, /nothing to deploy/);
});

Deno.test("deploy colours its output only with FORCE_COLOR, never with NO_COLOR, and never moves the cursor", async (t) => {
  await using sandbox = await startDokkuSandbox();
  await using repo = await appRepo();

  await t.step("NO_COLOR beats FORCE_COLOR", async () => {
    const result = await deploy([], {
      cwd: repo.path,
      env: dokkuEnv(sandbox, { APP_NAME: "plain", FORCE_COLOR: "1", NO_COLOR: "1" }),
    });
    assert.equal(result.code, 0, result.all);
    assert.ok(!result.stdout.includes("\x1b"), JSON.stringify(result.stdout));
  });

  await t.step(
    "FORCE_COLOR colours the log but keeps cursor-control codes out of a non-terminal",
    async () => {
      const result = await deploy([], {
        cwd: repo.path,
        env: dokkuEnv(sandbox, { APP_NAME: "coloured", FORCE_COLOR: "1" }),
      });
      assert.equal(result.code, 0, result.all);
      // deno-lint-ignore no-control-regex
      assert.match(result.stdout, /\x1b\[(1|2|3\d)m/);
      // the build lines' \e[1G (cursor to column 1) must not reach a CI log, colour or not
      // deno-lint-ignore no-control-regex
      const controls = result.stdout.replace(/\x1b\[[0-9;]*m/g, "").match(
        // deno-lint-ignore no-control-regex
        /\x1b\[[0-9;?]*[A-Za-z]/g,
      );
      assert.equal(
        controls,
        null,
        `cursor-control codes in a non-TTY log: ${JSON.stringify(controls)}`,
      );
    },
  );
});

Deno.test("deploy on GitLab CI folds each event into a section", async () => {
  await using sandbox = await startDokkuSandbox();
  await using repo = await appRepo();
  const sha = (await git(repo.path, "rev-parse", "HEAD")).trim();
  const result = await deploy([], {
    cwd: repo.path,
    env: dokkuEnv(sandbox, {
      GITLAB_CI: "true",
      CI_COMMIT_SHA: sha,
      CI_COMMIT_REF_NAME: "main",
      CI_COMMIT_TITLE: "Title from GitLab",
      CI_ENVIRONMENT_NAME: "staging",
    }),
  });
  assert.equal(result.code, 0, result.all);
  assert.match(result.stdout, /deploy: \w{7} "Title from GitLab" to shop \(staging\)/);
  // deno-lint-ignore no-control-regex
  const starts = [...result.stdout.matchAll(/\x1b\[0Ksection_start:(\d+):(\w+)\r\x1b\[0K/g)].map((
    m,
  ) => m[2]);
  // deno-lint-ignore no-control-regex
  const ends = [...result.stdout.matchAll(/\x1b\[0Ksection_end:(\d+):(\w+)\r\x1b\[0K/g)].map((m) =>
    m[2]
  );
  assert.deepEqual(starts, ["deploy_configure_0", "deploy_deploy_0"]);
  assert.deepEqual(ends, starts);
  const configure = result.stdout.indexOf("section_start:");
  assert.ok(result.stdout.indexOf("Server is using dokku version") > configure);
  assert.ok(
    result.stdout.indexOf("Server is using dokku version") < result.stdout.indexOf("section_end:"),
  );
  // besides GitLab's own markers, no escape codes
  // deno-lint-ignore no-control-regex
  const rest = result.stdout.replace(/\x1b\[0Ksection_(start|end):\d+:\w+\r\x1b\[0K/g, "");
  assert.ok(!rest.includes("\x1b"), JSON.stringify(rest));
});

Deno.test("deploy on GitHub Actions groups events, writes the step summary and outputs, and annotates a failure", async (t) => {
  await using sandbox = await startDokkuSandbox();
  await using repo = await appRepo();
  await using files = await tempDir("dt-gh-");
  const sha = (await git(repo.path, "rev-parse", "HEAD")).trim();
  const summary = `${files.path}/summary.md`;
  const outputs = `${files.path}/output`;
  const env = dokkuEnv(sandbox, {
    GITHUB_ACTIONS: "true",
    GITHUB_SHA: sha,
    GITHUB_REF_NAME: "main",
    GITHUB_REPOSITORY: "acme/shop",
    GITHUB_RUN_ID: "42",
    GITHUB_STEP_SUMMARY: summary,
    GITHUB_OUTPUT: outputs,
    DEPLOY_ENVIRONMENT: "production",
  });

  await t.step("a deploy", async () => {
    const result = await deploy([], { cwd: repo.path, env });
    assert.equal(result.code, 0, result.all);
    assert.match(
      result.stdout,
      /^::group::Configure\n[\s\S]*?^::endgroup::\n::group::Deploy\n[\s\S]*?^::endgroup::$/m,
    );
    const text = await Deno.readTextFile(summary);
    assert.match(text, /deploy succeeded: shop \(production\)/);
    assert.match(text, /\| App \| shop on dokku \|/);
    assert.match(text, /\| Environment \| production \|/);
    assert.match(text, new RegExp(`\\| Commit \\| \`${head(sha)}\` Add a Procfile \\|`));
    assert.match(text, /\| Outcome \| succeeded \|/);
    assert.match(text, /\| configure \| \d+\.\ds \|/);
    assert.match(text, /\| deploy \| \d+\.\ds \|/);
    assert.equal(
      await Deno.readTextFile(outputs),
      `status=succeeded\nsha=${sha}\nrelease=${head(sha)}\n`,
    );
    assert.doesNotMatch(result.stdout, /::error/);
  });

  await t.step("a failed deploy", async () => {
    await Deno.remove(outputs);
    const next = await addCommit(repo.path, { files: { "x.rb": "x\n" }, message: "Break it" });
    await sandbox.failNextBuild("Build exploded");
    const result = await deploy([], { cwd: repo.path, env: { ...env, GITHUB_SHA: next } });
    assert.equal(result.code, 1, result.all);
    assert.match(
      result.stdout,
      /^::error title=deploy failed in deploy \(dokku\)::git push \S+ \S+ exited with 1$/m,
    );
    assert.match(await Deno.readTextFile(outputs), /^status=failed$/m);
    assert.match(
      await Deno.readTextFile(summary),
      /deploy failed: shop[\s\S]*\| deploy \(failed\) \|/,
    );
    assertNoKey(result.all + await Deno.readTextFile(summary), sandbox.privateKey);
  });
});

Deno.test("deploy --log-format json writes one JSON record per line and no secret", async () => {
  await using sandbox = await startDokkuSandbox();
  await using repo = await appRepo();
  const sha = (await git(repo.path, "rev-parse", "HEAD")).trim();
  const result = await deploy(["--log-format", "json"], { cwd: repo.path, env: dokkuEnv(sandbox) });
  assert.equal(result.code, 0, result.all);
  const records = result.stdout.trimEnd().split("\n").map((line, i) => {
    try {
      return JSON.parse(line);
    } catch {
      assert.fail(`line ${i + 1} is not JSON: ${line}`);
    }
  });
  const events = records.filter((r) => r.type === "event_start").map((r) => r.event);
  assert.deepEqual(events, ["configure", "deploy"]);
  assert.deepEqual(records.filter((r) => r.type === "event_end").map((r) => [r.event, r.status]), [
    ["configure", "ok"],
    ["deploy", "ok"],
  ]);
  const outcome = records.filter((r) => r.type === "outcome");
  assert.equal(outcome.length, 1);
  assert.equal(outcome[0].status, "succeeded");
  assert.equal(outcome[0].sha, sha);
  assert.equal(outcome[0].app, APP);
  assert.ok(
    records.some((r) => r.type === "log" && /Server is using dokku version/.test(r.message)),
  );
  assert.ok(!result.stdout.includes("\x1b"));
  assertNoKey(result.all, sandbox.privateKey);
  assert.equal(await sandbox.deployedSha(APP), sha);
});

Deno.test("deploy plan lists the handlers in order without connecting, and deploy check only configures", async (t) => {
  await using sandbox = await startDokkuSandbox();
  await using repo = await appRepo();

  await t.step("plan", async () => {
    const result = await deploy(["plan"], { cwd: repo.path, env: dokkuEnv(sandbox) });
    assert.equal(result.code, 0, result.all);
    assert.match(result.stdout, /^Provider: dokku$/m);
    assert.match(result.stdout, /^Layers: dokku \(provider\)$/m);
    assert.match(
      result.stdout,
      /^configure\n +10 +dokku: connect, check the Dokku version, the app and its deploy branch\npre_deploy: \(no handlers\)\ndeploy\n +100 +dokku: push the commit to shop\n/m,
    );
    assert.deepEqual(await calls(sandbox), []);
    assert.equal(await sandbox.connections(), 0);
  });

  await t.step("check of a mistyped app fails with exit 2 and creates nothing", async () => {
    const env = dokkuEnv(sandbox, { DOKKU_CREATE_APP: "false" });
    const result = await deploy(["check"], { cwd: repo.path, env });
    assert.equal(result.code, 2, result.all);
    assert.match(result.all, /APP_NAME "shop": 127\.0\.0\.1 has no such app/);
    await assertCalls(sandbox, 0, [ROUND]);
    assert.equal((await sandbox.admin(["apps:exists", APP])).code, 1);
  });

  await t.step("check", async () => {
    assert.equal((await sandbox.admin(["apps:create", APP])).code, 0);
    const env = dokkuEnv(sandbox, { DOKKU_CREATE_APP: "false" });
    const result = await deploy(["check"], { cwd: repo.path, env });
    assert.equal(result.code, 0, result.all);
    assert.match(result.stdout, /Server is using dokku version 0\.35\.12/);
    assert.match(result.stdout, /Configuration and connection are fine/);
    assert.doesNotMatch(result.stdout, /Pushing/);
    await assertCalls(sandbox, 3, [ROUND]);
    assert.equal(await sandbox.deployedSha(APP), null);
    assert.equal(await sandbox.connections(), 2);
  });
});

Deno.test("Dokku provider refuses a command whose first word names a Procfile process type, before anything reaches the server", async () => {
  await using sandbox = await startDokkuSandbox();
  await using repo = await appRepo();
  const { runtime, cleanup } = testRuntime(repo.path);
  try {
    const provider = await dokkuProvider(sandbox, runtime);
    // the app's Procfile declares web: dokku run would run "bundle exec puma" instead of "web now"
    const problems = provider.commandProblems?.(["web", "now"]) ?? [];
    assert.equal(problems.length, 1, problems.join("\n"));
    assert.match(problems[0]!, /^"web": it names a Procfile process type/);
    assert.deepEqual(provider.commandProblems?.(["bundle", "exec", "rails", "db:migrate"]), []);
    await assert.rejects(provider.run(["web", "now"]), ConfigError);
    assert.deepEqual(await sandbox.calls(), []);
  } finally {
    await cleanup();
  }
});
