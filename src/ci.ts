/**
 * CI metadata, from GitLab CI or GitHub Actions variables. Without CI, the caller falls back to the
 * local git repository.
 *
 * @module
 */

/** What the CI system says about the run. Absent fields are unknown. */
export interface CiInfo {
  /** The CI system. */
  system: "gitlab" | "github" | "local";
  /** The commit sha CI built. */
  sha?: string;
  /** The branch or tag. */
  ref?: string;
  /** The commit's title. */
  title?: string;
  /** The deployment environment's name. */
  environment?: string;
  /** The pipeline (GitLab) or workflow run (GitHub). */
  pipelineUrl?: string;
  /** The job. */
  jobUrl?: string;
  /** The project's web page. */
  projectUrl?: string;
  /** Who started the run. */
  actor?: string;
}

/** Reads CI metadata from the environment. */
export function ciFromEnv(env: Readonly<Record<string, string | undefined>>): CiInfo {
  const get = (name: string) => env[name] || undefined;
  if (get("GITLAB_CI") || get("CI_COMMIT_SHA")) {
    return prune({
      system: "gitlab",
      sha: get("CI_COMMIT_SHA"),
      ref: get("CI_COMMIT_REF_NAME"),
      title: get("CI_COMMIT_TITLE"),
      environment: get("CI_ENVIRONMENT_NAME"),
      pipelineUrl: get("CI_PIPELINE_URL"),
      jobUrl: get("CI_JOB_URL"),
      projectUrl: get("CI_PROJECT_URL"),
      actor: get("GITLAB_USER_LOGIN"),
    });
  }
  if (get("GITHUB_ACTIONS") || get("GITHUB_SHA")) {
    const server = get("GITHUB_SERVER_URL") ?? "https://github.com";
    const repository = get("GITHUB_REPOSITORY");
    const projectUrl = repository ? `${server}/${repository}` : undefined;
    const runId = get("GITHUB_RUN_ID");
    const runUrl = projectUrl && runId ? `${projectUrl}/actions/runs/${runId}` : undefined;
    return prune({
      system: "github",
      sha: get("GITHUB_SHA"),
      ref: get("GITHUB_REF_NAME"),
      pipelineUrl: runUrl,
      jobUrl: runUrl,
      projectUrl,
      actor: get("GITHUB_ACTOR"),
    });
  }
  return { system: "local" };
}

/** The web page of a commit, when the project's page is known. */
export function commitUrl(ci: CiInfo, sha: string): string | undefined {
  if (!ci.projectUrl) return undefined;
  return ci.system === "gitlab"
    ? `${ci.projectUrl}/-/commit/${sha}`
    : `${ci.projectUrl}/commit/${sha}`;
}

function prune(info: CiInfo): CiInfo {
  return Object.fromEntries(Object.entries(info).filter(([, v]) => v !== undefined)) as CiInfo;
}
