/**
 * push() from shallow clones laid out as GitLab Runner and actions/checkout leave them, against real
 * git repositories: an origin, a server repository, and a clone.
 */
import assert from "node:assert/strict";
import { push, type PushOptions } from "../src/git.ts";
import { DeployError } from "../src/errors.ts";
import { Secrets } from "../src/secrets.ts";
import { createShell } from "../src/shell.ts";
import { createLogger } from "../src/logger.ts";

async function git(cwd: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("git", {
    args: ["-c", "user.name=A", "-c", "user.email=a@example.com", ...args],
    cwd,
    stdout: "piped",
    stderr: "piped",
    env: { GIT_TERMINAL_PROMPT: "0" },
  }).output();
  if (!out.success) {
    throw new Error(`git ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout).trim();
}

async function commits(cwd: string, count: number, prefix: string): Promise<void> {
  for (let i = 1; i <= count; i++) {
    await git(cwd, "commit", "-q", "--allow-empty", "-m", `${prefix}${i}`);
  }
}

interface World extends AsyncDisposable {
  root: string;
  origin: string;
  server: string;
  clone: string;
}

/** An origin with `total` commits on main, a server repository, and an empty clone directory. */
async function world(total: number): Promise<World> {
  const root = await Deno.makeTempDir({ prefix: "deploy-git-" });
  const origin = `${root}/origin`;
  const server = `${root}/server.git`;
  const clone = `${root}/clone`;
  await Deno.mkdir(origin);
  await git(origin, "init", "-q", "--initial-branch=main");
  await commits(origin, total, "c");
  await git(root, "init", "-q", "--bare", server);
  await Deno.mkdir(clone);
  return {
    root,
    origin,
    server,
    clone,
    [Symbol.asyncDispose]: () => Deno.remove(root, { recursive: true }),
  };
}

/**
 * Clones the way GitLab Runner does for a pipeline with GIT_DEPTH (gitlab-runner
 * shells/abstract.go, writeRefspecFetchCmd): `git init`, `git remote add origin` (which configures
 * `+refs/heads/*:refs/remotes/origin/*`), `git fetch origin <refspecs> --depth N`, then
 * `git checkout -f -q <sha>`, a detached HEAD. The refspecs here fetch every branch.
 */
async function runnerClone(w: World, depth: number, sha: string): Promise<void> {
  await git(w.clone, "init", "-q");
  await git(w.clone, "remote", "add", "origin", `file://${w.origin}`);
  await git(
    w.clone,
    "fetch",
    "-q",
    "origin",
    "+refs/heads/*:refs/remotes/origin/*",
    "+refs/tags/*:refs/tags/*",
    "--depth",
    String(depth),
  );
  await git(w.clone, "checkout", "-f", "-q", sha);
  assert.equal(await git(w.clone, "rev-parse", "--is-shallow-repository"), "true");
}

/** Puts `sha` (with its history from origin) on the server's master branch. */
async function serverAt(w: World, sha: string): Promise<void> {
  await git(w.origin, "push", "-q", w.server, `${sha}:refs/heads/master`);
}

function options(w: World, sha: string, remoteSha: string | null, lines: string[]): PushOptions {
  const secrets = new Secrets();
  return {
    shell: createShell({ secrets }),
    cwd: w.clone,
    url: `file://${w.server}`,
    sha,
    branch: "master",
    remoteSha,
    logger: createLogger({
      secrets,
      write: (text) => lines.push(text),
      format: "text",
      color: false,
      terminal: false,
      folding: "none",
    }),
  };
}

async function has(dir: string, sha: string): Promise<boolean> {
  const out = await new Deno.Command("git", {
    args: ["cat-file", "-e", `${sha}^{commit}`],
    cwd: dir,
  })
    .output();
  return out.success;
}

Deno.test("push from a runner-style shallow clone deepens until the deployed commit is an ancestor, though another branch points at it", async () => {
  await using w = await world(130);
  const head = await git(w.origin, "rev-parse", "HEAD");
  const deployed = await git(w.origin, "rev-parse", "HEAD~100");
  // a branch cut at the deployed commit, and not deleted: it brings that commit into the clone
  // without the 50 commits between it and the clone's boundary
  await git(w.origin, "branch", "release-cut", deployed);
  await serverAt(w, deployed);
  await runnerClone(w, 20, head);
  assert.ok(await has(w.clone, deployed), "the other branch did not bring the deployed commit");
  // a branch pushed after the clone: fetching only what the push needs leaves it out
  await git(w.origin, "checkout", "-q", "-b", "late");
  await commits(w.origin, 3, "late");
  const late = await git(w.origin, "rev-parse", "HEAD");

  const lines: string[] = [];
  await push(options(w, head, deployed, lines));

  assert.equal(await git(w.server, "rev-parse", "refs/heads/master"), head);
  assert.equal(await git(w.clone, "merge-base", "--is-ancestor", deployed, head), "");
  assert.match(lines.join(""), /fetching 50 more commits to reach the deployed/);
  assert.doesNotMatch(lines.join(""), /FORCE_PUSH/);
  assert.equal(await has(w.clone, late), false, "the deepening fetched every branch");
  // 20 + 50 + 500 would be all 130: it stopped at the step that reached the deployed commit
  assert.equal(await git(w.clone, "rev-list", "--count", "HEAD"), "130");
});

Deno.test("push from a shallow clone names FORCE_PUSH only when the server's branch really diverged", async (t) => {
  await t.step("diverged: rejected with FORCE_PUSH, after fetching the whole history", async () => {
    await using w = await world(80);
    const head = await git(w.origin, "rev-parse", "HEAD");
    // the server's branch has a commit origin never had
    await git(w.origin, "checkout", "-q", "-b", "hotfix", "HEAD~70");
    await commits(w.origin, 1, "hotfix");
    const diverged = await git(w.origin, "rev-parse", "HEAD");
    await serverAt(w, diverged);
    await git(w.origin, "checkout", "-q", "main");
    await git(w.origin, "branch", "-D", "hotfix");
    await runnerClone(w, 5, head);
    const lines: string[] = [];
    await assert.rejects(
      push(options(w, head, diverged, lines)),
      (error: unknown) => {
        assert.ok(error instanceof DeployError);
        assert.match(error.message, /non-fast-forward.*set FORCE_PUSH=true/);
        return true;
      },
    );
    assert.equal(await git(w.server, "rev-parse", "refs/heads/master"), diverged);
    // the verdict comes from the commit's whole history, not from a shallow boundary
    assert.equal(await git(w.clone, "rev-list", "--count", "HEAD"), "80");

    await push({ ...options(w, head, diverged, []), force: true });
    assert.equal(await git(w.server, "rev-parse", "refs/heads/master"), head);
  });

  await t.step("moved since ls-remote: rejected without FORCE_PUSH advice", async () => {
    await using w = await world(60);
    const head = await git(w.origin, "rev-parse", "HEAD~1");
    const before = await git(w.origin, "rev-parse", "HEAD~3");
    // another deploy pushed origin's newer HEAD after this run read the server's branch
    await serverAt(w, await git(w.origin, "rev-parse", "HEAD"));
    await runnerClone(w, 50, head);
    await assert.rejects(push(options(w, head, before, [])), (error: unknown) => {
      assert.ok(error instanceof DeployError);
      assert.match(error.message, /moved while .* run the deploy again/);
      assert.doesNotMatch(error.message, /FORCE_PUSH/);
      return true;
    });
  });
});

Deno.test("push deepens through the clone's refspec when the server does not serve a commit by its sha", async () => {
  await using w = await world(90);
  const head = await git(w.origin, "rev-parse", "HEAD~1");
  const deployed = await git(w.origin, "rev-parse", "HEAD~60");
  await serverAt(w, deployed);
  await runnerClone(w, 10, head);
  // protocol v0 without uploadpack.allowReachableSHA1InWant refuses an unadvertised commit
  await git(w.clone, "config", "protocol.version", "0");
  const lines: string[] = [];
  await push(options(w, head, deployed, lines));
  assert.equal(await git(w.server, "rev-parse", "refs/heads/master"), head);
  assert.match(lines.join(""), /does not serve .* by itself, fetching its branches/);
});

Deno.test("push from a shallow clone to a server without the history sends all of it", async () => {
  await using w = await world(40);
  const head = await git(w.origin, "rev-parse", "HEAD");
  await git(w.origin, "branch", "other", "HEAD~30");
  await runnerClone(w, 3, head);
  await push(options(w, head, null, []));
  assert.equal(await git(w.server, "rev-list", "--count", "master"), "40");
});
