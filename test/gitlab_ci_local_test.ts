/**
 * The GitLab side with a real client: gitlab-ci-local (npm `gitlab-ci-local`, installed by .ci/run)
 * validates the project's .gitlab-ci.yml and the template against GitLab's CI JSON schema, and
 * runs a sample app's pipeline that includes the template, from a clone laid out as GitLab Runner
 * leaves it, deploying to the Dokku sandbox.
 *
 * No Docker here: `--force-shell-executor` runs the template's `image:` job in a shell on this
 * machine (gitlab-ci-local src/job.ts, imageName(): the flag makes it return null, so the job
 * script runs with bash in the project directory, commit 4e945cd). What the image would bring is
 * provided instead: `deploy` on PATH (test/_deploy_bin.ts) and DEPLOY_PROVIDER, which the image's
 * ENV presets. gitlab-ci-local also needs rsync (it copies tracked files before any job).
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { writeDeployBin } from "./_deploy_bin.ts";
import { startDokkuSandbox } from "./sandbox/dokku.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const TEMPLATE = `${ROOT}templates/gitlab/deploy.gitlab-ci.yml`;

async function run(
  cmd: string[],
  options: { cwd: string; env?: Record<string, string>; timeoutMs?: number },
): Promise<{ code: number; output: string }> {
  const out = await new Deno.Command(cmd[0]!, {
    args: cmd.slice(1),
    cwd: options.cwd,
    env: { GIT_TERMINAL_PROMPT: "0", ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(options.timeoutMs ?? 60_000),
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: out.code, output: decode(out.stdout) + decode(out.stderr) };
}

async function git(cwd: string, ...args: string[]): Promise<string> {
  const result = await run(
    ["git", "-c", "user.name=A", "-c", "user.email=a@example.com", ...args],
    {
      cwd,
    },
  );
  assert.equal(result.code, 0, `git ${args.join(" ")}: ${result.output}`);
  return result.output.trim();
}

/** The gitlab-ci-local command: its npm package, run by Deno (it needs Node 22's Set methods). */
async function gitlabCiLocal(): Promise<string[]> {
  const root = (await run(["npm", "root", "-g"], { cwd: ROOT })).output.trim();
  const entry = `${root}/gitlab-ci-local/dist/index.js`;
  try {
    await Deno.stat(entry);
  } catch {
    assert.fail(
      `gitlab-ci-local is not installed (${entry}): run .ci/run, or npm install -g gitlab-ci-local`,
    );
  }
  return [Deno.execPath(), "run", "-A", entry];
}

/** A git repository holding `files` in one commit, removed by `await using`. */
async function pipelineRepo(
  files: Record<string, string>,
): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "deploy-gcl-" });
  await git(path, "init", "-q", "--initial-branch=main");
  for (const [name, text] of Object.entries(files)) {
    await Deno.mkdir(`${path}/${name}`.replace(/\/[^/]*$/, ""), { recursive: true });
    await Deno.writeTextFile(`${path}/${name}`, text);
  }
  await git(path, "add", "--all");
  await git(path, "commit", "-q", "-m", "Pipeline");
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

Deno.test("gitlab-ci-local validates the project's .gitlab-ci.yml against GitLab's CI schema", async (t) => {
  const gcl = await gitlabCiLocal();
  await t.step("the project's pipeline, release jobs included", async () => {
    await using repo = await pipelineRepo({
      ".gitlab-ci.yml": await Deno.readTextFile(`${ROOT}.gitlab-ci.yml`),
    });
    const result = await run([...gcl, "--list-all", "--no-color"], { cwd: repo.path });
    assert.equal(result.code, 0, result.output);
    assert.match(result.output, /json schema validated/);
    for (const job of ["ok", "binaries", "images", "upload", "release"]) {
      assert.match(result.output, new RegExp(`^${job}\\s`, "m"), result.output);
    }
  });
  await t.step('a script item holding ": " is refused (the check can fail)', async () => {
    await using repo = await pipelineRepo({
      ".gitlab-ci.yml": 'job:\n  script:\n    - echo "version": 1\n',
    });
    const result = await run([...gcl, "--list-all", "--no-color"], { cwd: repo.path });
    assert.notEqual(result.code, 0, result.output);
  });
});

Deno.test("gitlab-ci-local validates the template in a pipeline that includes it, and refuses one without a deploy stage", async (t) => {
  const gcl = await gitlabCiLocal();
  const template = await Deno.readTextFile(TEMPLATE);
  const pipeline = (stages: string) =>
    `stages: ${stages}\ninclude:\n  - local: ci/deploy.gitlab-ci.yml\n` +
    "deploy:production:\n  extends: .deploy:production\n  variables:\n    DOKKU_HOST: dokku@dokku.example.com\n    APP_NAME: shop\n";
  await t.step("with a deploy stage", async () => {
    await using repo = await pipelineRepo({
      ".gitlab-ci.yml": pipeline("[build, deploy]"),
      "ci/deploy.gitlab-ci.yml": template,
    });
    const result = await run([...gcl, "--list-all", "--no-color"], { cwd: repo.path });
    assert.equal(result.code, 0, result.output);
    assert.match(result.output, /json schema validated/);
    assert.match(result.output, /^deploy:production\s+deploy\s/m);
  });
  await t.step("without one", async () => {
    await using repo = await pipelineRepo({
      ".gitlab-ci.yml": pipeline("[build, test]"),
      "ci/deploy.gitlab-ci.yml": template,
    });
    const result = await run([...gcl, "--list-all", "--no-color"], { cwd: repo.path });
    assert.notEqual(result.code, 0, result.output);
    assert.match(result.output, /deploy/);
  });
});

Deno.test("a sample app's pipeline including the template deploys to Dokku from a GitLab Runner shallow clone with File variables", async () => {
  const gcl = await gitlabCiLocal();
  await using sandbox = await startDokkuSandbox();
  const root = await Deno.makeTempDir({ prefix: "deploy-gcl-run-" });
  try {
    const template = await Deno.readTextFile(TEMPLATE);
    const depth =
      (parse(template) as { ".deploy": { variables: { GIT_DEPTH: string } } })[".deploy"]
        .variables.GIT_DEPTH;
    assert.equal(depth, "50");

    // the app on "GitLab": 80 commits; the server runs the 70th from the top, which a branch
    // cut then still points at
    const origin = `${root}/origin`;
    await Deno.mkdir(`${origin}/ci`, { recursive: true });
    await git(origin, "init", "-q", "--initial-branch=main");
    await Deno.writeTextFile(`${origin}/Procfile`, "web: bundle exec puma\n");
    await Deno.writeTextFile(`${origin}/ci/deploy.gitlab-ci.yml`, template);
    await Deno.writeTextFile(
      `${origin}/.gitlab-ci.yml`,
      [
        "stages: [build, deploy]",
        "include:",
        "  - local: ci/deploy.gitlab-ci.yml",
        "deploy:staging:",
        "  extends: .deploy:staging",
        "  variables:",
        `    DOKKU_HOST: "${sandbox.dokkuHost}"`,
        "    APP_NAME: shop",
        "",
      ].join("\n"),
    );
    await git(origin, "add", "--all");
    await git(origin, "commit", "-q", "-m", "Add the app");
    for (let i = 1; i < 80; i++) await git(origin, "commit", "-q", "--allow-empty", "-m", `c${i}`);
    const head = await git(origin, "rev-parse", "HEAD");
    const deployed = await git(origin, "rev-parse", "HEAD~70");
    await git(origin, "branch", "release-cut", deployed);
    const seeded = await run([
      "git",
      "push",
      "-q",
      `ssh://${sandbox.user}@127.0.0.1:${sandbox.port}/shop`,
      `${deployed}:refs/heads/master`,
    ], { cwd: origin, env: { GIT_SSH_COMMAND: ["ssh", ...sandbox.sshArgs].join(" ") } });
    assert.equal(seeded.code, 0, seeded.output);
    assert.equal(await sandbox.deployedSha("shop"), deployed);

    // GitLab Runner's clone (gitlab-runner shells/abstract.go, writeRefspecFetchCmd): init, the
    // origin remote (refspec +refs/heads/*:refs/remotes/origin/*), a fetch of the refspecs with
    // --depth GIT_DEPTH, then a detached checkout of the pipeline's sha
    const clone = `${root}/clone`;
    await Deno.mkdir(clone);
    await git(clone, "init", "-q");
    await git(clone, "remote", "add", "origin", `file://${origin}`);
    await git(
      clone,
      "fetch",
      "-q",
      "origin",
      "+refs/heads/*:refs/remotes/origin/*",
      "--depth",
      depth,
      "--prune",
    );
    await git(clone, "checkout", "-f", "-q", head);
    assert.equal(await git(clone, "rev-parse", "--is-shallow-repository"), "true");
    assert.equal(
      await git(clone, "cat-file", "-t", deployed),
      "commit",
      "the branch cut is absent",
    );

    // the project's CI/CD variables: the key and known hosts as "File" variables, as GitLab's SSH
    // guide has users create them; the job sees paths. DEPLOY_PROVIDER is the image's ENV.
    await Deno.writeTextFile(
      `${clone}/.gitlab-ci-local-variables.yml`,
      JSON.stringify({
        SSH_PRIVATE_KEY: { type: "file", values: { "*": sandbox.privateKey } },
        SSH_KNOWN_HOSTS: { type: "file", values: { "*": sandbox.knownHosts + "\n" } },
        DEPLOY_PROVIDER: "dokku",
      }),
    );
    await Deno.mkdir(`${root}/bin`);
    await writeDeployBin(`${root}/bin`);
    const result = await run([
      ...gcl,
      "--home",
      `${root}/home`,
      "--force-shell-executor",
      "--no-color",
      // the runner gives the branch in CI_COMMIT_BRANCH; a detached clone cannot tell
      // gitlab-ci-local, which reads it from git
      "--variable",
      "CI_COMMIT_BRANCH=main",
      "--ignore-predefined-vars",
      "CI_COMMIT_BRANCH",
      "deploy:staging",
    ], {
      cwd: clone,
      env: { PATH: `${root}/bin:${Deno.env.get("PATH")}` },
      timeoutMs: 180_000,
    });
    assert.equal(result.code, 0, result.output);
    assert.match(result.output, /json schema validated/);
    assert.match(result.output, /PASS\s+deploy:staging/);
    assert.equal(await sandbox.deployedSha("shop"), head);
    assert.match(result.output, /Shallow clone: fetching 50 more commits to reach the deployed/);
    assert.doesNotMatch(result.output, /FORCE_PUSH/);
    // strict host-key checking from the known_hosts file, not trust on first use
    assert.doesNotMatch(result.output, /trusting .* host key on first use/);
    assert.match(result.output, /\(staging\) on dokku/);
    for (const line of sandbox.privateKey.split("\n").filter((l) => l.length > 20)) {
      assert.ok(!result.output.includes(line), "the key's text in the job log");
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("gitlab-ci-local validates a pipeline with the review-app jobs of the template", async () => {
  const gcl = await gitlabCiLocal();
  const template = await Deno.readTextFile(TEMPLATE);
  const vars = "  variables:\n    DOKKU_HOST: dokku@dokku.example.com\n    APP_NAME: shop\n";
  await using repo = await pipelineRepo({
    ".gitlab-ci.yml": "stages: [build, deploy]\ninclude:\n  - local: ci/deploy.gitlab-ci.yml\n" +
      `deploy:review:\n  extends: .deploy:review\n${vars}` +
      `deploy:review:stop:\n  extends: .deploy:review:stop\n${vars}`,
    "ci/deploy.gitlab-ci.yml": template,
  });
  const result = await run([...gcl, "--list-all", "--no-color"], { cwd: repo.path });
  assert.equal(result.code, 0, result.output);
  assert.match(result.output, /json schema validated/);
  assert.match(result.output, /^deploy:review\s+deploy\s/m);
  assert.match(result.output, /^deploy:review:stop\s+deploy\s/m);
  assert.match(template, /on_stop: deploy:review:stop/);
  assert.match(template, /dotenv: deploy\.env/);
});
