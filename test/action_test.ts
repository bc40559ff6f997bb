import assert from "node:assert/strict";
import { parse } from "yaml";

// a command that hangs fails its test instead of holding CI
const COMMAND_TIMEOUT_MS = 60_000;

const ROOT = new URL("..", import.meta.url).pathname;

interface ActionStep {
  id?: string;
  env?: Record<string, string>;
  run?: string;
}
interface Action {
  inputs: Record<string, { required?: boolean; default?: string }>;
  outputs: Record<string, { value: string }>;
  runs: { using: string; steps: ActionStep[] };
}

async function loadAction(): Promise<Action> {
  return parse(await Deno.readTextFile(`${ROOT}action.yml`)) as Action;
}

/** Runs scripts/action-run with a fake `deploy` that prints its arguments and environment. */
async function actionRun(inputs: Record<string, string>, extraEnv: Record<string, string> = {}) {
  const dir = await Deno.makeTempDir({ prefix: "action_run_" });
  try {
    await Deno.writeTextFile(
      `${dir}/deploy`,
      `#!/bin/sh\nfor a in "$@"; do printf 'arg=%s\\n' "$a"; done\nenv | sort\n`,
    );
    await Deno.chmod(`${dir}/deploy`, 0o755);
    const out = await new Deno.Command("bash", {
      signal: AbortSignal.timeout(COMMAND_TIMEOUT_MS),
      args: [`${ROOT}scripts/action-run`],
      cwd: dir,
      clearEnv: true,
      env: { PATH: `${dir}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`, ...extraEnv, ...inputs },
      stdin: "null",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    const lines = stdout.split("\n");
    return {
      code: out.code,
      stdout,
      args: lines.filter((l) => l.startsWith("arg=")).map((l) => l.slice(4)),
      env: new Map(
        lines.filter((l) => !l.startsWith("arg=") && l.includes("=")).map((l) => {
          const eq = l.indexOf("=");
          return [l.slice(0, eq), l.slice(eq + 1)] as const;
        }),
      ),
      files: (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("action.yml is a composite action that installs, then runs deploy", async () => {
  const action = await loadAction();
  assert.equal(action.runs.using, "composite");
  const [install, run] = action.runs.steps;
  assert.match(install!.run!, /scripts\/install\.sh/);
  assert.match(install!.run!, /GITHUB_PATH/);
  assert.equal(run!.id, "deploy");
  assert.match(run!.run!, /scripts\/action-run/);
  for (const output of ["status", "sha", "release"]) {
    assert.equal(action.outputs[output]?.value, `\${{ steps.deploy.outputs.${output} }}`);
  }
});

Deno.test("every action input reaches a step through the environment, never the script", async () => {
  const action = await loadAction();
  const [install, run] = action.runs.steps;
  const passed = new Map<string, string>();
  for (const step of [install!, run!]) {
    for (const [name, value] of Object.entries(step.env ?? {})) {
      const input = value.match(/^\$\{\{ inputs\.([\w-]+) \}\}$/)?.[1];
      if (input) passed.set(input, name);
    }
    assert.doesNotMatch(step.run ?? "", /\$\{\{\s*inputs\./, "inputs pasted into a script");
  }
  for (const input of Object.keys(action.inputs)) {
    if (input === "working-directory") continue; // a step setting, not a variable
    assert.ok(passed.has(input), `input ${input} is not passed to any step`);
  }
  assert.equal(passed.get("version"), "DEPLOY_INPUT_VERSION");
  assert.equal(passed.get("app-name"), "DEPLOY_INPUT_APP_NAME");
});

Deno.test("action-run maps inputs to deploy's variables and leaves empty ones out", async () => {
  const result = await actionRun({
    DEPLOY_INPUT_PROVIDER: "dokku",
    DEPLOY_INPUT_APP_NAME: "myapp",
    DEPLOY_INPUT_DOKKU_HOST: "dokku@dokku.example.com",
    DEPLOY_INPUT_SSH_PRIVATE_KEY: "-----BEGIN KEY-----\nabc\n-----END KEY-----",
    DEPLOY_INPUT_LAYERS: "-rails",
    DEPLOY_INPUT_HEROKU_API_KEY: "",
    DEPLOY_INPUT_COMMAND: "deploy",
    DEPLOY_INPUT_ARGS: "",
  }, { SSH_KNOWN_HOSTS: "from-job-env" });
  assert.equal(result.code, 0, result.stdout);
  assert.deepEqual(result.args, []);
  assert.equal(result.env.get("DEPLOY_PROVIDER"), "dokku");
  assert.equal(result.env.get("APP_NAME"), "myapp");
  assert.equal(result.env.get("DOKKU_HOST"), "dokku@dokku.example.com");
  assert.equal(result.env.get("DEPLOY_LAYERS"), "-rails");
  assert.ok(result.env.has("SSH_PRIVATE_KEY"));
  assert.ok(!result.env.has("HEROKU_API_KEY"), "an empty input is not passed as an empty variable");
  assert.equal(result.env.get("SSH_KNOWN_HOSTS"), "from-job-env", "the job's env still applies");
  assert.deepEqual([...result.env.keys()].filter((k) => k.startsWith("DEPLOY_INPUT_")), []);
});

Deno.test("action-run passes plan and check, and extra args as words without running them", async (t) => {
  await t.step("plan with extra arguments", async () => {
    const result = await actionRun({
      DEPLOY_INPUT_COMMAND: "plan",
      DEPLOY_INPUT_ARGS: "--provider heroku $(touch pwned) `touch pwned2`",
    });
    assert.equal(result.code, 0, result.stdout);
    assert.deepEqual(result.args, [
      "plan",
      "--provider",
      "heroku",
      "$(touch",
      "pwned)",
      "`touch",
      "pwned2`",
    ]);
    assert.ok(!result.files.includes("pwned") && !result.files.includes("pwned2"));
  });
  await t.step("check", async () => {
    assert.deepEqual((await actionRun({ DEPLOY_INPUT_COMMAND: "check" })).args, ["check"]);
  });
  await t.step("rollback with --to, and status", async () => {
    const rollback = await actionRun({
      DEPLOY_INPUT_COMMAND: "rollback",
      DEPLOY_INPUT_ARGS: "--to v41",
    });
    assert.deepEqual(rollback.args, ["rollback", "--to", "v41"]);
    assert.deepEqual((await actionRun({ DEPLOY_INPUT_COMMAND: "status" })).args, ["status"]);
  });
  await t.step("an unknown command is refused with exit code 2", async () => {
    const result = await actionRun({ DEPLOY_INPUT_COMMAND: "rm -rf" });
    assert.equal(result.code, 2);
    assert.match(
      result.stdout,
      /::error::deploy action: command must be deploy, plan, check, rollback, status or destroy/,
    );
    assert.deepEqual(result.args, []);
  });
});

Deno.test("action-run maps command destroy to deploy destroy --review, and review to DEPLOY_REVIEW", async () => {
  const destroy = await actionRun({ DEPLOY_INPUT_COMMAND: "destroy" });
  assert.equal(destroy.code, 0, destroy.stdout);
  assert.deepEqual(destroy.args, ["destroy", "--review"]);
  const review = await actionRun({ DEPLOY_INPUT_COMMAND: "deploy", DEPLOY_INPUT_REVIEW: "true" });
  assert.deepEqual(review.args, []);
  assert.equal(review.env.get("DEPLOY_REVIEW"), "true");
  assert.ok(!review.env.has("DEPLOY_INPUT_REVIEW"));
});
