/**
 * The action's run step as a GitHub runner runs it: the step's `env:` from action.yml with the
 * inputs substituted the way the runner maps a composite action's inputs (an input not given is
 * its default, or the empty string), GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files, the real CLI,
 * and the Dokku sandbox. What the step leaves is parsed by the runner's rules.
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { addCommit, git, makeRepo } from "./_cli.ts";
import { writeDeployBin } from "./_deploy_bin.ts";
import { parseOutputFile, workflowCommands } from "./_github_runner.ts";
import { startDokkuSandbox } from "./sandbox/dokku.ts";

const ROOT = new URL("..", import.meta.url).pathname;

interface Action {
  inputs: Record<string, { default?: string }>;
  runs: { steps: { id?: string; env?: Record<string, string>; run?: string }[] };
}

/** The run step's environment with `inputs` substituted, as the runner evaluates `${{ inputs.x }}`. */
async function stepEnv(inputs: Record<string, string>): Promise<Record<string, string>> {
  const action = parse(await Deno.readTextFile(`${ROOT}action.yml`)) as Action;
  const step = action.runs.steps.find((s) => s.id === "deploy")!;
  for (const name of Object.keys(inputs)) assert.ok(name in action.inputs, `no input ${name}`);
  return Object.fromEntries(
    Object.entries(step.env ?? {}).map(([name, value]) => {
      const input = value.match(/^\$\{\{ inputs\.([\w-]+) \}\}$/)?.[1];
      assert.ok(input, `${name} is not an input`);
      return [name, inputs[input] ?? action.inputs[input]?.default ?? ""];
    }),
  );
}

interface StepResult {
  code: number;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  summary: string;
}

async function runStep(
  inputs: Record<string, string>,
  options: { cwd: string; sha: string },
): Promise<StepResult> {
  const dir = await Deno.makeTempDir({ prefix: "deploy-runner-" });
  try {
    await Deno.mkdir(`${dir}/bin`);
    await writeDeployBin(`${dir}/bin`);
    await Deno.writeTextFile(`${dir}/output`, "");
    await Deno.writeTextFile(`${dir}/summary.md`, "");
    const out = await new Deno.Command("bash", {
      args: [`${ROOT}scripts/action-run`],
      cwd: options.cwd,
      clearEnv: true,
      env: {
        PATH: `${dir}/bin:${Deno.env.get("PATH")}`,
        HOME: Deno.env.get("HOME") ?? dir,
        TMPDIR: "/tmp",
        CI: "true",
        GITHUB_ACTIONS: "true",
        GITHUB_SHA: options.sha,
        GITHUB_REF_NAME: "main",
        GITHUB_REPOSITORY: "acme/shop",
        GITHUB_SERVER_URL: "https://github.com",
        GITHUB_RUN_ID: "7",
        GITHUB_ACTION_PATH: ROOT,
        RUNNER_TEMP: dir,
        GITHUB_OUTPUT: `${dir}/output`,
        GITHUB_STEP_SUMMARY: `${dir}/summary.md`,
        ...await stepEnv(inputs),
      },
      stdin: "null",
      // a deploy that hangs fails the test instead of the suite
      signal: AbortSignal.timeout(120_000),
    }).output();
    return {
      code: out.code,
      stdout: new TextDecoder().decode(out.stdout),
      stderr: new TextDecoder().decode(out.stderr),
      outputs: parseOutputFile(await Deno.readTextFile(`${dir}/output`)),
      summary: await Deno.readTextFile(`${dir}/summary.md`),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "the action's run step deploys, fails and refuses bad input, and always sets its outputs",
  fn: async (t) => {
    await using sandbox = await startDokkuSandbox();
    // as on a real server: the deploy never creates an app (the Dokku provider refuses a missing one)
    assert.equal((await sandbox.admin(["apps:create", "shop"])).code, 0);
    const repo = await makeRepo([
      { files: { Procfile: "web: bundle exec puma\n" }, message: "Add a Procfile" },
    ]);
    try {
      const sha = await git(repo, "rev-parse", "HEAD").then((s) => s.trim());
      const inputs = {
        provider: "dokku",
        "app-name": "shop",
        "dokku-host": sandbox.dokkuHost,
        "ssh-private-key": sandbox.privateKey,
        "ssh-known-hosts": sandbox.knownHosts,
        environment: "staging",
      };

      await t.step("success, in the environment the input names", async () => {
        const result = await runStep(inputs, { cwd: repo, sha });
        assert.equal(result.code, 0, result.stdout + result.stderr);
        assert.equal(await sandbox.deployedSha("shop"), sha);
        assert.deepEqual(result.outputs, { status: "succeeded", sha, release: sha.slice(0, 7) });
        assert.match(result.summary, /deploy succeeded: shop \(staging\)/);
        assert.deepEqual(workflowCommands(result.stdout).filter((c) => c.command === "error"), []);
      });

      await t.step("a failed build: status failed and one annotation", async () => {
        const next = await addCommit(repo, { files: { "x.rb": "x\n" }, message: "Break it" });
        await sandbox.failNextBuild("Build exploded");
        const result = await runStep(inputs, { cwd: repo, sha: next });
        assert.equal(result.code, 1, result.stdout + result.stderr);
        assert.equal(result.outputs.status, "failed");
        assert.equal(result.outputs.sha, next);
        const errors = workflowCommands(result.stdout + result.stderr).filter((c) =>
          c.command === "error"
        );
        assert.equal(errors.length, 1);
        assert.equal(errors[0]!.properties.title, "deploy failed in deploy (dokku)");
        assert.match(result.summary, /deploy failed: shop \(staging\)/);
        assert.ok(!(result.stdout + result.stderr + result.summary).includes("PRIVATE KEY"));
      });

      await t.step(
        "a failed build with JSON logs: stdout stays JSON, the annotation is well-formed",
        async () => {
          const next = await addCommit(repo, {
            files: { "y.rb": "y\n" },
            message: "Break it again",
          });
          await sandbox.failNextBuild("Build exploded");
          const result = await runStep({ ...inputs, args: "--log-format json" }, {
            cwd: repo,
            sha: next,
          });
          assert.equal(result.code, 1, result.stdout + result.stderr);
          for (const line of result.stdout.trimEnd().split("\n")) {
            assert.doesNotThrow(() => JSON.parse(line), `not JSON: ${line}`);
          }
          const errors = workflowCommands(result.stderr).filter((c) => c.command === "error");
          assert.equal(errors.length, 1, result.stderr);
          assert.match(errors[0]!.data, /^git push \S+ \S+ exited with 1$/);
          assert.equal(result.outputs.status, "failed");
        },
      );

      await t.step("bad input: exit 2, status invalid, an annotation and a summary", async () => {
        const result = await runStep({ ...inputs, "dokku-host": "not a host" }, {
          cwd: repo,
          sha,
        });
        assert.equal(result.code, 2, result.stdout + result.stderr);
        assert.deepEqual(result.outputs, { status: "invalid", sha: "", release: "" });
        const errors = workflowCommands(result.stdout + result.stderr).filter((c) =>
          c.command === "error"
        );
        assert.equal(errors.length, 1, result.stderr);
        assert.match(errors[0]!.data, /DOKKU_HOST/);
        assert.match(result.summary, /invalid configuration[\s\S]*DOKKU_HOST/);
      });

      await t.step("an unknown command input: exit 2 and status invalid", async () => {
        const result = await runStep({ ...inputs, command: "explode" }, { cwd: repo, sha });
        assert.equal(result.code, 2);
        assert.equal(result.outputs.status, "invalid");
      });
    } finally {
      await Deno.remove(repo, { recursive: true });
    }
  },
});
