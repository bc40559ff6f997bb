import assert from "node:assert/strict";
import { ciFromEnv, commitUrl } from "../src/ci.ts";

const SHA = "0123456789abcdef0123456789abcdef01234567";

const GITLAB = {
  GITLAB_CI: "true",
  CI_COMMIT_SHA: SHA,
  CI_COMMIT_REF_NAME: "main",
  CI_COMMIT_TITLE: "Add cart",
  CI_ENVIRONMENT_NAME: "staging",
  CI_PIPELINE_URL: "https://gitlab.example.com/shop/web/-/pipelines/42",
  CI_JOB_URL: "https://gitlab.example.com/shop/web/-/jobs/4242",
  CI_PROJECT_URL: "https://gitlab.example.com/shop/web",
  GITLAB_USER_LOGIN: "ada",
};

const GITHUB = {
  GITHUB_ACTIONS: "true",
  GITHUB_SHA: SHA,
  GITHUB_REF_NAME: "main",
  GITHUB_SERVER_URL: "https://github.example.com",
  GITHUB_REPOSITORY: "shop/web",
  GITHUB_RUN_ID: "987654",
  GITHUB_ACTOR: "grace",
};

Deno.test("ciFromEnv reads GitLab CI's variables", () => {
  assert.deepEqual(ciFromEnv(GITLAB), {
    system: "gitlab",
    sha: SHA,
    ref: "main",
    title: "Add cart",
    environment: "staging",
    pipelineUrl: "https://gitlab.example.com/shop/web/-/pipelines/42",
    jobUrl: "https://gitlab.example.com/shop/web/-/jobs/4242",
    projectUrl: "https://gitlab.example.com/shop/web",
    actor: "ada",
  });
});

Deno.test("ciFromEnv leaves out GitLab variables that are unset or empty", () => {
  const info = ciFromEnv({ GITLAB_CI: "true", CI_COMMIT_SHA: SHA, CI_ENVIRONMENT_NAME: "" });
  assert.deepEqual(info, { system: "gitlab", sha: SHA });
});

Deno.test("ciFromEnv reads GitHub Actions' variables and builds the run URL", () => {
  assert.deepEqual(ciFromEnv(GITHUB), {
    system: "github",
    sha: SHA,
    ref: "main",
    pipelineUrl: "https://github.example.com/shop/web/actions/runs/987654",
    jobUrl: "https://github.example.com/shop/web/actions/runs/987654",
    projectUrl: "https://github.example.com/shop/web",
    actor: "grace",
  });
});

Deno.test("ciFromEnv defaults GitHub's server to github.com", () => {
  const { GITHUB_SERVER_URL: _, ...env } = GITHUB;
  assert.equal(ciFromEnv(env).projectUrl, "https://github.com/shop/web");
});

Deno.test("ciFromEnv gives no GitHub URLs without the repository", () => {
  const info = ciFromEnv({ GITHUB_ACTIONS: "true", GITHUB_SHA: SHA, GITHUB_RUN_ID: "1" });
  assert.deepEqual(info, { system: "github", sha: SHA });
});

Deno.test("ciFromEnv falls back to local outside CI", async (t) => {
  await t.step("no CI variables", () => assert.deepEqual(ciFromEnv({}), { system: "local" }));
  await t.step("empty CI variables", () => {
    assert.deepEqual(ciFromEnv({ GITLAB_CI: "", GITHUB_ACTIONS: "" }), { system: "local" });
  });
});

Deno.test("commitUrl links to the commit on the project's page", async (t) => {
  await t.step("GitLab", () => {
    assert.equal(
      commitUrl(ciFromEnv(GITLAB), SHA),
      `https://gitlab.example.com/shop/web/-/commit/${SHA}`,
    );
  });
  await t.step("GitHub", () => {
    assert.equal(
      commitUrl(ciFromEnv(GITHUB), SHA),
      `https://github.example.com/shop/web/commit/${SHA}`,
    );
  });
  await t.step("no project page", () => {
    assert.equal(commitUrl({ system: "local" }, SHA), undefined);
  });
});

Deno.test("ciFromEnv gives no run URL without GITHUB_RUN_ID", () => {
  const info = ciFromEnv({
    GITHUB_ACTIONS: "true",
    GITHUB_SHA: SHA,
    GITHUB_REPOSITORY: "shop/web",
  });
  assert.deepEqual(info, {
    system: "github",
    sha: SHA,
    projectUrl: "https://github.com/shop/web",
  });
});

Deno.test("ciFromEnv knows GitLab by CI_COMMIT_SHA alone", () => {
  assert.deepEqual(ciFromEnv({ CI_COMMIT_SHA: SHA, CI_COMMIT_REF_NAME: "main" }), {
    system: "gitlab",
    sha: SHA,
    ref: "main",
  });
});
