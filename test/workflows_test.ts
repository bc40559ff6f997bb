import assert from "node:assert/strict";
import { parse } from "yaml";

const ROOT = new URL("..", import.meta.url).pathname;

/** The pipeline and template files whose commands must point at real tasks and scripts. */
const YAML_FILES = [
  ".github/workflows/ci.yml",
  ".github/workflows/release.yml",
  ".gitlab-ci.yml",
  "templates/gitlab/deploy.gitlab-ci.yml",
  "action.yml",
];
const DOCKERFILES = ["images/dokku/Dockerfile", "images/heroku/Dockerfile"];

/** Every string value in a parsed YAML document, keys included. */
function strings(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value !== null && typeof value === "object") {
    return Object.entries(value).flatMap(([k, v]) => [k, ...strings(v)]);
  }
  return [];
}

async function loadYaml(file: string): Promise<unknown> {
  return parse(await Deno.readTextFile(`${ROOT}${file}`));
}

/** The texts to search: the YAML files' string values, and the Dockerfiles' instructions. */
async function texts(): Promise<Map<string, string[]>> {
  const result = new Map<string, string[]>();
  for (const file of YAML_FILES) result.set(file, strings(await loadYaml(file)));
  for (const file of DOCKERFILES) {
    const text = await Deno.readTextFile(`${ROOT}${file}`);
    result.set(file, text.split("\n").filter((l) => !l.trimStart().startsWith("#")));
  }
  return result;
}

Deno.test("every deno task the pipelines, templates and Dockerfiles run exists", async () => {
  const { tasks } = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  const named = new Set<string>();
  for (const [file, values] of await texts()) {
    for (const value of values) {
      for (const match of value.matchAll(/\bdeno task (?:-q )?([\w:-]+)/g)) {
        named.add(match[1]!);
        assert.ok(
          match[1]! in tasks,
          `${file} runs "deno task ${match[1]}", which deno.json lacks`,
        );
      }
    }
  }
  // the checks must have found the tasks the release depends on, or they checked nothing
  for (const task of ["ok", "compile"]) {
    assert.ok(named.has(task), `no file runs deno task ${task}`);
  }
});

Deno.test("every script the pipelines, templates and Dockerfiles name exists", async () => {
  const named = new Set<string>();
  for (const [file, values] of await texts()) {
    for (const value of values) {
      for (
        const match of value.matchAll(/(?:^|[\s"'/=(])((?:scripts|images\/_shared)\/[\w./-]+)/g)
      ) {
        const path = match[1]!.replace(/[.,]$/, "");
        named.add(path);
        const info = await Deno.stat(`${ROOT}${path}`).catch(() => undefined);
        assert.ok(info?.isFile, `${file} names ${path}, which does not exist`);
      }
    }
  }
  for (
    const script of [
      "scripts/build-images",
      "scripts/smoke-image",
      "scripts/install.sh",
      "scripts/action-run",
    ]
  ) {
    assert.ok(named.has(script), `no pipeline uses ${script}`);
  }
});

Deno.test("local reusable workflows the workflows call exist", async () => {
  const release = await loadYaml(".github/workflows/release.yml") as {
    jobs: Record<string, { uses?: string }>;
  };
  const local = Object.values(release.jobs).map((j) => j.uses).filter((u) => u?.startsWith("./"));
  assert.ok(local.length > 0, "the release runs the CI checks first");
  for (const uses of local) {
    const workflow = await loadYaml(uses!.slice(2)) as { on: Record<string, unknown> };
    assert.ok("workflow_call" in workflow.on, `${uses} cannot be called: no workflow_call trigger`);
  }
});

Deno.test("the pipelines use the Deno and sentry-cli versions the images pin", async () => {
  const dockerfile = await Deno.readTextFile(`${ROOT}images/dokku/Dockerfile`);
  const deno = dockerfile.match(/^ARG DENO_VERSION=(\S+)$/m)?.[1];
  const sentry = dockerfile.match(/^ARG SENTRY_CLI_VERSION=(\S+)$/m)?.[1];
  assert.ok(deno && sentry);
  const found: string[] = [];
  for (
    const file of [".github/workflows/ci.yml", ".github/workflows/release.yml", ".gitlab-ci.yml"]
  ) {
    const text = await Deno.readTextFile(`${ROOT}${file}`);
    const denoPins = [
      ...text.matchAll(/deno-version: "?([\d.]+)"?/g),
      ...text.matchAll(/DENO_VERSION: "([\d.]+)"/g),
      ...text.matchAll(/denoland\/deno:([\d.]+)/g),
    ];
    for (const pin of denoPins) {
      found.push(pin[1]!);
      assert.equal(pin[1], deno, `${file} pins Deno ${pin[1]}, the images ${deno}`);
    }
    for (const pin of text.matchAll(/SENTRY_CLI_VERSION: "([\d.]+)"/g)) {
      assert.equal(pin[1], sentry, `${file} pins sentry-cli ${pin[1]}, the images ${sentry}`);
    }
  }
  assert.ok(found.length >= 3, "the Deno pins were found");
});

Deno.test("the GitLab template only defines hidden jobs around a .deploy job", async () => {
  const file = "templates/gitlab/deploy.gitlab-ci.yml";
  const template = await loadYaml(file) as Record<string, Record<string, unknown>>;
  const keywords = new Set(["variables", "include", "stages", "default", "workflow"]);
  for (const key of Object.keys(template)) {
    assert.ok(
      key.startsWith(".") || keywords.has(key),
      `"${key}" would run in every including pipeline`,
    );
  }
  const deploy = template[".deploy"]!;
  assert.equal(typeof deploy.image, "string");
  assert.deepEqual(deploy.script, ["deploy"]);
  assert.equal(deploy.resource_group, "$CI_ENVIRONMENT_NAME");
  for (
    const [job, environment] of [[".deploy:staging", "staging"], [
      ".deploy:production",
      "production",
    ]]
  ) {
    assert.equal(template[job!]!.extends, ".deploy");
    assert.deepEqual(template[job!]!.environment, { name: environment });
  }
  // a manual rollback job per environment, with --to only when DEPLOY_ROLLBACK_TO is set
  const rollback = template[".deploy:rollback"]!;
  assert.deepEqual(rollback.script, [
    'deploy rollback ${DEPLOY_ROLLBACK_TO:+--to "$DEPLOY_ROLLBACK_TO"}',
  ]);
  assert.equal((rollback.rules as Record<string, unknown>[])[0]!.when, "manual");
  for (const environment of ["staging", "production"]) {
    const job = template[`.deploy:${environment}:rollback`]!;
    assert.equal(job.extends, ".deploy:rollback");
    assert.deepEqual(job.environment, { name: environment });
  }
  const text = await Deno.readTextFile(`${ROOT}${file}`);
  assert.match(
    text,
    /#.*GIT_DEPTH[^\n]*\n(#[^\n]*\n)*?[^\n]*shallow/,
    "a comment warns about GIT_DEPTH",
  );
});
