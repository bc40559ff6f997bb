/**
 * The GitHub Actions report: annotations, outputs and summaries, parsed by the runner's own rules
 * (test/_github_runner.ts), for a run and for a configuration error before any run.
 */
import assert from "node:assert/strict";
import { errorCommand, writeCiErrorReport, writeCiReport } from "../src/ci_report.ts";
import { Secrets } from "../src/secrets.ts";
import { fakeContext } from "./_deploy_context.ts";
import { parseOutputFile, workflowCommands } from "./_github_runner.ts";
import { runCli } from "./_cli.ts";

async function githubFiles(): Promise<
  { dir: string; env: Record<string, string> } & AsyncDisposable
> {
  const dir = await Deno.makeTempDir({ prefix: "deploy-gh-" });
  return {
    dir,
    env: {
      GITHUB_ACTIONS: "true",
      GITHUB_OUTPUT: `${dir}/output`,
      GITHUB_STEP_SUMMARY: `${dir}/summary.md`,
    },
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

Deno.test("errorCommand escapes the data's newlines, so a multi-line message is one annotation", () => {
  const line = errorCommand("deploy failed", "first line\nsecond: 100%\r\nthird", (t) => t);
  assert.equal(line.split("\n").length, 2, "more than one line");
  assert.ok(line.endsWith("\n"));
  const [command, ...rest] = workflowCommands(line);
  assert.equal(rest.length, 0);
  assert.equal(command?.command, "error");
  assert.equal(command?.data, "first line\nsecond: 100%\r\nthird");
  assert.equal(command?.properties.title, "deploy failed");
});

Deno.test("errorCommand escapes a title holding ',' and ':', which end a property", () => {
  const [command] = workflowCommands(
    errorCommand("deploy failed in deploy (a,b: c)", "x", (t) => t),
  );
  assert.equal(command?.properties.title, "deploy failed in deploy (a,b: c)");
});

Deno.test("errorCommand masks secrets before %-escaping them", async (t) => {
  for (const secret of ["p%40ss-w0rd-secret", "multi\nline-secret-value", "50%-off-token"]) {
    await t.step(JSON.stringify(secret), () => {
      const secrets = new Secrets();
      secrets.add(secret);
      const line = errorCommand(`title ${secret}`, `failed with ${secret}`, (x) => secrets.mask(x));
      const [command] = workflowCommands(line);
      assert.equal(command?.data, "failed with ***");
      assert.equal(command?.properties.title, "title ***");
      for (const part of secret.split("\n")) assert.ok(!line.includes(part), line);
    });
  }
});

Deno.test("writeCiReport of a failed run with JSON logs writes the annotation to stderr, well-formed", async () => {
  await using files = await githubFiles();
  const { ctx } = fakeContext({ secrets: ["hunter2%0Asecret"] });
  ctx.failure = {
    reason: "error",
    event: "deploy",
    layer: "dokku",
    message: "Build failed",
    command: "git push with hunter2%0Asecret",
    exitCode: 1,
    output: [],
  };
  const stdout: string[] = [];
  const stderr: string[] = [];
  await writeCiReport(ctx, { outcome: "failed", exitCode: 1 }, {
    env: files.env,
    write: (t) => stdout.push(t),
    writeError: (t) => stderr.push(t),
    format: "json",
  });
  assert.deepEqual(stdout, [], "a workflow command among the JSON lines");
  const commands = workflowCommands(stderr.join(""));
  assert.equal(commands.length, 1, stderr.join(""));
  assert.equal(commands[0]!.data, "git push with *** exited with 1");
  assert.equal(commands[0]!.properties.title, "deploy failed in deploy (dokku)");
  const outputs = parseOutputFile(await Deno.readTextFile(files.env.GITHUB_OUTPUT!));
  assert.equal(outputs.status, "failed");
});

Deno.test("writeCiReport says invalid for a run that ended with exit 2", async () => {
  await using files = await githubFiles();
  const { ctx } = fakeContext();
  await writeCiReport(ctx, { outcome: "failed", exitCode: 2 }, {
    env: files.env,
    write: () => {},
  });
  const outputs = parseOutputFile(await Deno.readTextFile(files.env.GITHUB_OUTPUT!));
  assert.equal(outputs.status, "invalid");
  assert.match(await Deno.readTextFile(files.env.GITHUB_STEP_SUMMARY!), /deploy invalid/);
});

Deno.test("writeCiErrorReport writes nothing outside GitHub Actions", async () => {
  const written: string[] = [];
  await writeCiErrorReport({ status: "invalid", message: "x" }, {
    env: {},
    write: (t) => written.push(t),
  });
  assert.deepEqual(written, []);
});

Deno.test("a configuration error on GitHub still writes the annotation, the outputs and a summary", async () => {
  await using files = await githubFiles();
  const repo = await Deno.makeTempDir({ prefix: "deploy-gh-app-" });
  try {
    const result = await runCli([], {
      cwd: repo,
      env: {
        ...files.env,
        DEPLOY_PROVIDER: "dokku",
        DOKKU_HOST: "not a host",
        HEROKU_API_KEY: "heroku-secret-value",
        SLACK_WEBHOOK_URL: "https://hooks.slack.com/services/T0/B0/secret%token",
      },
    });
    assert.equal(result.code, 2, result.all);
    const commands = workflowCommands(result.stderr);
    assert.equal(commands.length, 1, result.all);
    assert.equal(commands[0]!.command, "error");
    assert.equal(commands[0]!.properties.title, "deploy: invalid configuration");
    assert.match(commands[0]!.data, /DOKKU_HOST/);
    assert.match(commands[0]!.data, /APP_NAME/, "not every problem is listed");
    const outputs = parseOutputFile(await Deno.readTextFile(files.env.GITHUB_OUTPUT!));
    assert.deepEqual(outputs, { status: "invalid", sha: "", release: "" });
    const summary = await Deno.readTextFile(files.env.GITHUB_STEP_SUMMARY!);
    assert.match(summary, /invalid configuration/);
    assert.match(summary, /DOKKU_HOST/);
    for (const secret of ["heroku-secret-value", "secret%token", "secret%25token"]) {
      assert.ok(!(result.all + summary).includes(secret), secret);
    }
  } finally {
    await Deno.remove(repo, { recursive: true });
  }
});

Deno.test("errorCommand masks a secret whose %-escaped form differs from its URL-encoded one", () => {
  // a space is %20 in a URL but stays a space in workflow-command data
  const secret = "pass word%secret";
  const secrets = new Secrets();
  secrets.add(secret);
  const line = errorCommand("deploy failed", `failed with ${secret}`, (x) => secrets.mask(x));
  assert.equal(workflowCommands(line)[0]?.data, "failed with ***");
  assert.ok(!line.includes("pass word"), line);
});

Deno.test("writeCiReport appends its outputs and summary, and names the release the provider made", async () => {
  await using files = await githubFiles();
  await Deno.writeTextFile(files.env.GITHUB_OUTPUT!, "earlier=kept\n");
  await Deno.writeTextFile(files.env.GITHUB_STEP_SUMMARY!, "# Earlier step\n\n");
  const { ctx } = fakeContext();
  ctx.release = "v42";
  await writeCiReport(ctx, { outcome: "succeeded", exitCode: 0 }, {
    env: files.env,
    write: () => {},
  });
  const outputs = parseOutputFile(await Deno.readTextFile(files.env.GITHUB_OUTPUT!));
  assert.deepEqual(outputs, {
    earlier: "kept",
    status: "succeeded",
    sha: ctx.commit.sha,
    release: "v42",
  });
  const summary = await Deno.readTextFile(files.env.GITHUB_STEP_SUMMARY!);
  assert.ok(summary.startsWith("# Earlier step\n\n"), summary);
  assert.match(summary, /deploy succeeded/);
});

Deno.test("stepSummary keeps a multi-line commit title and failure on their table rows", async () => {
  await using files = await githubFiles();
  const { ctx: base } = fakeContext();
  const ctx = {
    ...base,
    commit: { ...base.commit, title: "Fix cart\n| injected | row |" },
    failure: {
      reason: "error" as const,
      event: "deploy",
      layer: "dokku",
      message: "Build failed:\nline two | with a pipe",
      output: [],
    },
  };
  await writeCiReport(ctx, { outcome: "failed", exitCode: 1 }, { env: files.env, write: () => {} });
  const summary = await Deno.readTextFile(files.env.GITHUB_STEP_SUMMARY!);
  const rows = summary.split("\n");
  const commit = rows.find((row) => row.startsWith("| Commit |"));
  assert.equal(commit, `| Commit | \`${ctx.commit.shortSha}\` Fix cart \\| injected \\| row \\| |`);
  const failed = rows.find((row) => row.startsWith("| Failed |"));
  assert.equal(failed, "| Failed | deploy (dokku): Build failed: line two \\| with a pipe |");
  assert.ok(
    !rows.some((row) => row.startsWith("| injected") || row.startsWith("line two")),
    summary,
  );
});

Deno.test("writeCiErrorReport fences a message that holds a fence with a longer one", async () => {
  await using files = await githubFiles();
  const message = "deploy.yml:3: bad value\n```\nnot the end\n```";
  await writeCiErrorReport({ status: "invalid", message }, { env: files.env, write: () => {} });
  const summary = await Deno.readTextFile(files.env.GITHUB_STEP_SUMMARY!);
  assert.equal(
    summary,
    "### ❌ deploy: invalid configuration\n\n````text\n" + message + "\n````\n\n",
  );
});

Deno.test("writeCiReport marks the failed event in the timing table", async () => {
  await using files = await githubFiles();
  const { ctx } = fakeContext();
  ctx.timings.push({ event: "configure", ms: 1_200, ok: true }, {
    event: "deploy",
    ms: 300,
    ok: false,
  });
  await writeCiReport(ctx, { outcome: "failed", exitCode: 1 }, { env: files.env, write: () => {} });
  const summary = await Deno.readTextFile(files.env.GITHUB_STEP_SUMMARY!);
  assert.match(summary, /\n\| configure \| 1\.2s \|\n\| deploy \(failed\) \| 0\.3s \|\n/);
});

Deno.test("writeCiReport writes nothing outside GitHub Actions", async () => {
  await using files = await githubFiles();
  const { GITHUB_ACTIONS: _, ...env } = files.env;
  const { ctx } = fakeContext();
  ctx.failure = { reason: "error", event: "deploy", layer: "dokku", message: "x", output: [] };
  const written: string[] = [];
  await writeCiReport(ctx, { outcome: "failed", exitCode: 1 }, {
    env,
    write: (t) => written.push(t),
  });
  assert.deepEqual(written, []);
  assert.deepEqual([...Deno.readDirSync(files.dir)], []);
});
