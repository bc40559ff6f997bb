/**
 * The Dokku sandbox's model of real Dokku (issue 9, behaviours 1 to 10), each checked through a real
 * ssh connection and asserting what the app's program received.
 */
import assert from "node:assert/strict";
import { type DokkuSandbox, type DokkuSandboxOptions, startDokkuSandbox } from "./sandbox/dokku.ts";
import { xargsQuote } from "../layers/providers/dokku/xargs_quote.ts";

// a command that hangs fails its test instead of holding CI
const COMMAND_TIMEOUT_MS = 60_000;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function exec(
  cmd: string,
  args: string[],
  options: Deno.CommandOptions = {},
): Promise<Result> {
  const out = await new Deno.Command(cmd, {
    signal: AbortSignal.timeout(COMMAND_TIMEOUT_MS),
    args,
    stdout: "piped",
    stderr: "piped",
    ...options,
  })
    .output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

function ssh(dokku: DokkuSandbox, command: string): Promise<Result> {
  return exec("ssh", [...dokku.sshArgs, `${dokku.user}@${dokku.host}`, command]);
}

function git(dokku: DokkuSandbox, cwd: string, args: string[]): Promise<Result> {
  return exec("git", ["-c", "user.name=T", "-c", "user.email=t@example.com", ...args], {
    cwd,
    env: { GIT_SSH_COMMAND: ["ssh", ...dokku.sshArgs].join(" "), GIT_TERMINAL_PROMPT: "0" },
  });
}

function url(dokku: DokkuSandbox, app: string): string {
  return `ssh://${dokku.user}@127.0.0.1:${dokku.port}/${app}`;
}

/** A sandbox plus a work tree with one commit holding `files`. */
async function withRepo(
  options: DokkuSandboxOptions,
  files: Record<string, string>,
  fn: (dokku: DokkuSandbox, dir: string, sha: string) => Promise<void>,
): Promise<void> {
  await using dokku = await startDokkuSandbox(options);
  const dir = await Deno.makeTempDir({ prefix: "sandbox_behaviour_" });
  try {
    assert.equal((await git(dokku, dir, ["init", "-q", "-b", "main"])).code, 0);
    for (const [name, text] of Object.entries({ "README": "x", ...files })) {
      await Deno.writeTextFile(`${dir}/${name}`, text);
    }
    await git(dokku, dir, ["add", "."]);
    assert.equal((await git(dokku, dir, ["commit", "-q", "-m", "one"])).code, 0);
    const sha = (await git(dokku, dir, ["rev-parse", "HEAD"])).stdout.trim();
    await fn(dokku, dir, sha);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Creates `app` and deploys the repo's HEAD to it. */
async function deploy(dokku: DokkuSandbox, dir: string, app = "web-app"): Promise<Result> {
  const pushed = await git(dokku, dir, ["push", url(dokku, app), "HEAD:master"]);
  assert.equal(pushed.code, 0, pushed.stderr);
  return pushed;
}

async function lastRun(dokku: DokkuSandbox): Promise<string[] | undefined> {
  return (await dokku.programRuns()).at(-1)?.argv;
}

Deno.test(
  "Dokku >= 0.34 splits with xargs -n 1 and /bin/echo: echo options and newlines change words",
  {
    sanitizeResources: false,
  },
  async () => {
    await withRepo({ builder: "dockerfile" }, {}, async (dokku, dir) => {
      await deploy(dokku, dir);
      const sent = [
        "run",
        "web-app",
        "printf",
        "%s|",
        "a b",
        "-n",
        "-e",
        "-E",
        "two\nlines",
        "'q'",
      ];
      const result = await ssh(dokku, xargsQuote(sent));
      assert.equal(result.code, 0, result.stderr);
      // -n vanished, -e and -E became empty, the newline split the argument
      assert.deepEqual(await lastRun(dokku), [
        "printf",
        "%s|",
        "a b",
        "",
        "",
        "two",
        "lines",
        "'q'",
      ]);

      await ssh(dokku, xargsQuote(["run", "web-app", "printf", "%s|", "--version"]));
      const version = (await lastRun(dokku))!;
      assert.equal(version.slice(0, 2).join(" "), "printf %s|");
      assert.match(version[2]!, /^echo \(GNU coreutils\)/);
      assert.ok(version.length > 3, "--version became several lines, so several words");
    });
  },
);

Deno.test("Dokku <= 0.33 splits a run command on whitespace only and keeps quotes literal", {
  sanitizeResources: false,
}, async () => {
  await withRepo({ version: "0.33.9", builder: "dockerfile" }, {}, async (dokku, dir) => {
    await deploy(dokku, dir);
    await ssh(dokku, `run web-app printf '%s' 'a b' -n`);
    assert.deepEqual(await lastRun(dokku), ["printf", "'%s'", "'a", "b'", "-n"]);
    // config commands went through GNU xargs quoting
    await ssh(dokku, `config:set web-app 'A=b c'`);
    assert.deepEqual((await dokku.calls()).at(-1)?.argv, ["config:set", "web-app", "A=b c"]);
  });
});

Deno.test("Dokku's parse_args honours --app and --trace anywhere in a command", {
  sanitizeResources: false,
}, async () => {
  await withRepo({ builder: "dockerfile" }, {}, async (dokku, dir) => {
    await deploy(dokku, dir);
    await deploy(dokku, dir, "other");
    const traced = await ssh(
      dokku,
      xargsQuote(["run", "web-app", "sh", "-c", "echo TRACE=$TRACE", "x", "--trace"]),
    );
    assert.match(traced.stderr, /^\+ /m, "set -x lines reach the client");
    assert.ok(traced.stderr.split("\n").filter((l) => l.startsWith("+")).length > 5);
    assert.match(traced.stdout, /^TRACE=true$/m);

    const moved = await ssh(dokku, "run web-app printenv APP --app other");
    // the command went to "other", and "web-app" became the program
    assert.equal(moved.code, 127);
    const last = (await dokku.programRuns()).at(-1);
    assert.deepEqual([last?.app, last?.argv], [
      "other",
      ["web-app", "printenv", "APP", "--app", "other"],
    ]);
  });
});

Deno.test(
  "herokuish's /exec evaluates run arguments again",
  { sanitizeResources: false },
  async (t) => {
    const quiet = "Sidekiq::ProcessSet.new.each(&:quiet!)";
    await t.step(
      "Dokku >= 0.34 with herokuish: parentheses are a shell syntax error, exit 100",
      async () => {
        await withRepo({}, {}, async (dokku, dir) => {
          await deploy(dokku, dir);
          await dokku.fakeBin("bundle", "exit 0");
          const result = await ssh(
            dokku,
            xargsQuote(["run", "web-app", "bundle", "exec", "rails", "runner", quiet]),
          );
          assert.equal(result.code, 100);
          assert.match(result.stderr, /syntax error/);
          assert.deepEqual(await dokku.programRuns(), []);
        });
      },
    );
    await t.step("Dokku >= 0.34 with herokuish: $VARS expand, words re-split", async () => {
      await withRepo({}, {}, async (dokku, dir) => {
        await deploy(dokku, dir);
        await ssh(dokku, xargsQuote(["run", "web-app", "printf", "%s,", "$APP", "a b"]));
        assert.deepEqual(await lastRun(dokku), ["printf", "%s,", "web-app", "a", "b"]);
      });
    });
    await t.step("Dokku <= 0.33 with a Dockerfile: the quotes arrive literally", async () => {
      await withRepo({ version: "0.33.9", builder: "dockerfile" }, {}, async (dokku, dir) => {
        await deploy(dokku, dir);
        await dokku.fakeBin("bundle", "exit 0");
        const result = await ssh(
          dokku,
          xargsQuote(["run", "web-app", "bundle", "exec", "rails", "runner", quiet]),
        );
        assert.equal(result.code, 0, result.stderr);
        assert.deepEqual(await lastRun(dokku), ["bundle", "exec", "rails", "runner", `'${quiet}'`]);
      });
    });
  },
);

Deno.test("A push to a branch that is not the deploy branch warns, exits 0 and moves the ref", {
  sanitizeResources: false,
}, async () => {
  await withRepo({ version: "0.38.5", deployBranch: "main" }, {}, async (dokku, dir, sha) => {
    const pushed = await deploy(dokku, dir);
    assert.match(pushed.stderr, /WARNING: deploy did not complete, you must push to main/);
    assert.equal(await dokku.deployedSha("web-app"), sha);
    assert.equal(await dokku.runningSha("web-app"), null);
    assert.equal(
      (await ssh(dokku, "apps:report web-app --app-deploy-source-metadata")).stdout,
      "\n",
    );
    assert.equal(
      (await ssh(dokku, "git:report web-app --git-computed-deploy-branch")).stdout,
      "main\n",
    );
  });
});

Deno.test("With no deploy branch set, a first push to another branch becomes the deploy branch", {
  sanitizeResources: false,
}, async () => {
  await withRepo({}, {}, async (dokku, dir, sha) => {
    const pushed = await git(dokku, dir, ["push", url(dokku, "web-app"), "HEAD:main"]);
    assert.match(pushed.stderr, /Set main as deploy-branch/);
    assert.equal(await dokku.runningSha("web-app"), sha);
    assert.equal((await ssh(dokku, "git:report web-app --git-deploy-branch")).stdout, "main\n");
  });
});

Deno.test("git-upload-pack (ls-remote) creates a missing app unless auto-creation is disabled", {
  sanitizeResources: false,
}, async () => {
  await withRepo({}, {}, async (dokku, dir) => {
    const listed = await git(dokku, dir, ["ls-remote", url(dokku, "typo")]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.equal((await ssh(dokku, "apps:exists typo")).code, 0, "ls-remote created the app");
  });
  await withRepo({ autoCreate: false }, {}, async (dokku, dir) => {
    const listed = await git(dokku, dir, ["ls-remote", url(dokku, "typo")]);
    assert.notEqual(listed.code, 0);
    assert.match(listed.stderr, / ! {5}App auto-creation disabled\./);
    assert.match(listed.stderr, /create an app with 'dokku apps:create typo'/);
    const exists = await ssh(dokku, "apps:exists typo");
    assert.deepEqual([exists.code, exists.stderr], [1, " !     App typo does not exist\n"]);
  });
});

Deno.test("apps:report records what a push deployed; git:sync moves the ref without deploying", {
  sanitizeResources: false,
}, async () => {
  await withRepo({}, {}, async (dokku, dir, sha) => {
    await deploy(dokku, dir);
    const report = await ssh(dokku, "apps:report web-app");
    assert.match(report.stdout, /^=====> web-app app information$/m);
    assert.match(report.stdout, /^ {7}App deploy source: +git-push$/m);
    assert.match(report.stdout, new RegExp(`^ {7}App deploy source metadata: +${sha}$`, "m"));

    await Deno.writeTextFile(`${dir}/two`, "2");
    await git(dokku, dir, ["add", "two"]);
    await git(dokku, dir, ["commit", "-q", "-m", "two"]);
    const second = (await git(dokku, dir, ["rev-parse", "HEAD"])).stdout.trim();
    assert.equal((await dokku.admin(["git:sync", "web-app", dir, "main"])).code, 0);
    assert.equal(await dokku.deployedSha("web-app"), second, "the ref moved");
    assert.equal(await dokku.runningSha("web-app"), sha, "nothing was built");
    assert.equal(
      (await ssh(dokku, "apps:report web-app --app-deploy-source-metadata")).stdout,
      `${sha}\n`,
    );
  });
  await withRepo({ version: "0.25.7" }, {}, async (dokku, dir) => {
    await deploy(dokku, dir);
    const old = await ssh(dokku, "apps:report web-app --app-deploy-source-metadata");
    assert.equal(old.code, 1);
    assert.match(old.stderr, /Invalid flag passed/);
  });
});

Deno.test("A Procfile release: and app.json predeploy run inside the push", {
  sanitizeResources: false,
}, async () => {
  const files = {
    "Procfile": "web: bundle exec puma\nrelease: bundle exec rails db:migrate\n",
    "app.json": JSON.stringify({
      scripts: { dokku: { predeploy: "bundle exec rake assets:check" } },
    }),
  };
  await withRepo({}, files, async (dokku, dir) => {
    await dokku.fakeBin("bundle", 'echo "bundle $*"');
    const pushed = await deploy(dokku, dir);
    assert.match(pushed.stderr, /Executing release task from Procfile in ephemeral container/);
    assert.deepEqual((await dokku.programRuns()).map((r) => [r.kind, r.argv]), [
      ["predeploy", ["bash", "-c", "bundle exec rake assets:check"]],
      ["release", ["bash", "-c", "bundle exec rails db:migrate"]],
    ]);
  });
});

Deno.test("ps:stop and ps:start ignore a process type; ps:restart honours it since 0.26", {
  sanitizeResources: false,
}, async () => {
  for (const [version, restarted] of [["0.35.12", "worker"], ["0.25.7", "*"]] as const) {
    await withRepo({ version }, {}, async (dokku, dir) => {
      await deploy(dokku, dir);
      await ssh(dokku, "ps:stop web-app worker");
      await ssh(dokku, "ps:start web-app worker");
      await ssh(dokku, "ps:restart web-app worker");
      assert.deepEqual((await dokku.processEvents()).slice(1).map((e) => [e.action, e.type]), [
        ["stop", "*"],
        ["start", "*"],
        ["restart", restarted],
      ]);
    });
  }
});

Deno.test("App names may contain dots", { sanitizeResources: false }, async () => {
  await using dokku = await startDokkuSandbox();
  assert.equal((await ssh(dokku, "apps:create shop.example")).code, 0);
  assert.equal((await ssh(dokku, "apps:exists shop.example")).code, 0);
  const bad = await ssh(dokku, "apps:create Shop");
  assert.match(bad.stderr, /lowercase alphanumerics, dots, and hyphens/);
});

Deno.test("A shallow push is built by the pre-receive hook before git refuses it", {
  sanitizeResources: false,
}, async () => {
  await withRepo({}, {}, async (dokku, dir) => {
    for (const n of ["two", "three"]) {
      await Deno.writeTextFile(`${dir}/${n}`, n);
      await git(dokku, dir, ["add", n]);
      await git(dokku, dir, ["commit", "-q", "-m", n]);
    }
    const shallow = `${dir}/shallow`;
    assert.equal(
      (await git(dokku, dir, ["clone", "-q", "--depth", "1", `file://${dir}`, shallow])).code,
      0,
    );
    const head = (await git(dokku, shallow, ["rev-parse", "HEAD"])).stdout.trim();
    const pushed = await git(dokku, shallow, ["push", url(dokku, "web-app"), "HEAD:master"]);
    assert.notEqual(pushed.code, 0);
    assert.match(pushed.stderr, /Application deployed/);
    assert.match(pushed.stderr, /shallow update not allowed/);
    assert.equal(await dokku.runningSha("web-app"), head, "it was built and deployed");
    assert.equal(await dokku.deployedSha("web-app"), null, "but git refused the ref");
  });
});

Deno.test("run:stop stops a running one-off container; builds:cancel needs 0.38", {
  sanitizeResources: false,
}, async () => {
  await withRepo({ builder: "dockerfile" }, {}, async (dokku, dir) => {
    await deploy(dokku, dir);
    const running = ssh(dokku, "run web-app sleep 30");
    for (let i = 0; !(await ssh(dokku, "run:list web-app")).stdout.includes(".run."); i++) {
      assert.ok(i < 100, "the run did not start");
      await new Promise((r) => setTimeout(r, 50));
    }
    const stopped = await ssh(dokku, "run:stop web-app");
    assert.match(stopped.stdout, /Stopping web-app\.run\.\d+/);
    assert.notEqual((await running).code, 0);
    const cancel = await ssh(dokku, "builds:cancel web-app");
    assert.match(cancel.stderr, /`builds:cancel` is not a dokku command/);
  });
});
