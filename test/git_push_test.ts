/**
 * push()'s decisions as pure unit tests: a recording shell answers git the way a repository in each
 * state would (shallow or not, the deployed commit an ancestor after how many fetches), and the
 * test checks which git commands ran, with which environment. test/git_test.ts runs real git.
 */
import assert from "node:assert/strict";
import { DeployError } from "../src/errors.ts";
import { currentBranch, lsRemote, push, type PushOptions } from "../src/git.ts";
import { type Answer, recordingShell } from "./_doubles.ts";

const SHA = "0123456789abcdef0123456789abcdef01234567";
const REMOTE_SHA = "fedcba9876543210fedcba9876543210fedcba98";
const URL = "ssh://dokku@dokku.example.com:22/shop";
const SSH_ENV = { GIT_SSH_COMMAND: "ssh -i /tmp/key" };

/** A repository as git answers for it: shallow or not, which commits it has after each fetch. */
interface Repo {
  shallow: boolean;
  /** Fetches after which the remote's commit is an ancestor of the pushed one; -1: never. */
  hasRemoteAfter: number;
  /** What each push answers, in turn. */
  pushes: Answer[];
}

function gitDouble(repo: Repo) {
  let fetches = 0;
  let pushes = 0;
  const shell = recordingShell((cmd) => {
    const [, verb, ...rest] = cmd;
    if (verb === "rev-parse") return { stdout: `${repo.shallow}\n` };
    if (verb === "remote") return { stdout: "origin\n" };
    if (verb === "merge-base") {
      const present = repo.hasRemoteAfter >= 0 && fetches >= repo.hasRemoteAfter;
      return { code: present ? 0 : 1 };
    }
    if (verb === "fetch") {
      fetches++;
      if (rest.includes("--unshallow")) repo.shallow = false;
      return {};
    }
    if (verb === "push") return repo.pushes[pushes++] ?? {};
    return undefined;
  });
  return shell;
}

function options(shell: ReturnType<typeof gitDouble>, extra: Partial<PushOptions> = {}) {
  return {
    shell,
    cwd: "/repo",
    env: SSH_ENV,
    url: URL,
    sha: SHA,
    branch: "master",
    remoteSha: REMOTE_SHA,
    ...extra,
  };
}

const verbs = (shell: ReturnType<typeof gitDouble>) =>
  shell.ran.map((cmd) => cmd.slice(1).join(" "));

Deno.test("git.push pushes a full clone at once, the sha to the branch", async () => {
  const shell = gitDouble({ shallow: false, hasRemoteAfter: 0, pushes: [] });
  await push(options(shell));
  assert.deepEqual(verbs(shell), [
    "rev-parse --is-shallow-repository",
    `push ${URL} ${SHA}:refs/heads/master`,
  ]);
  const pushCall = shell.calls.at(-1)!;
  assert.equal(pushCall.options.env?.GIT_SSH_COMMAND, SSH_ENV.GIT_SSH_COMMAND);
});

Deno.test("git.push with FORCE_PUSH pushes with --force", async () => {
  const shell = gitDouble({ shallow: false, hasRemoteAfter: 0, pushes: [] });
  await push(options(shell, { force: true }));
  assert.deepEqual(verbs(shell).at(-1), `push --force ${URL} ${SHA}:refs/heads/master`);
});

Deno.test("git.push deepens a shallow clone step by step until the deployed commit is an ancestor", async () => {
  const shell = gitDouble({ shallow: true, hasRemoteAfter: 2, pushes: [] });
  await push(options(shell));
  const fetches = shell.calls.filter((call) => call.cmd[1] === "fetch");
  assert.deepEqual(fetches.map((call) => call.cmd.slice(1).join(" ")), [
    `fetch --quiet --no-tags --deepen=50 origin ${SHA}`,
    `fetch --quiet --no-tags --deepen=500 origin ${SHA}`,
  ]);
  // history comes from origin, which the provider's SSH key is not for
  for (const call of fetches) assert.equal(call.options.env?.GIT_SSH_COMMAND, undefined);
  assert.match(verbs(shell).at(-1)!, /^push /);
});

Deno.test("git.push does not fetch when the deployed commit is already an ancestor", async () => {
  const shell = gitDouble({ shallow: true, hasRemoteAfter: 0, pushes: [] });
  await push(options(shell));
  assert.equal(shell.ran.filter((cmd) => cmd[1] === "fetch").length, 0);
});

Deno.test("git.push unshallows a shallow clone up front for a new app", async () => {
  const shell = gitDouble({ shallow: true, hasRemoteAfter: -1, pushes: [] });
  await push(options(shell, { remoteSha: null }));
  assert.deepEqual(verbs(shell).slice(1), [
    "remote",
    `fetch --quiet --no-tags --unshallow origin ${SHA}`,
    `push ${URL} ${SHA}:refs/heads/master`,
  ]);
});

Deno.test("git.push unshallows and pushes again after 'shallow update not allowed'", async () => {
  const refused = { code: 1, lines: [" ! [remote rejected] (shallow update not allowed)"] };
  const shell = gitDouble({ shallow: true, hasRemoteAfter: 0, pushes: [refused, {}] });
  await push(options(shell));
  const tail = verbs(shell).filter((v) => /^(push|fetch)/.test(v));
  assert.deepEqual(tail, [
    `push ${URL} ${SHA}:refs/heads/master`,
    `fetch --quiet --no-tags --unshallow origin ${SHA}`,
    `push ${URL} ${SHA}:refs/heads/master`,
  ]);
});

Deno.test("git.push names FORCE_PUSH only when the server's branch diverged", async (t) => {
  const rejected = {
    code: 1,
    lines: [` ! [rejected]        ${SHA} -> master (non-fast-forward)`],
  };
  await t.step("diverged: the deployed commit is not an ancestor", async () => {
    const shell = gitDouble({ shallow: false, hasRemoteAfter: -1, pushes: [rejected] });
    await assert.rejects(push(options(shell)), (error: unknown) => {
      assert.ok(error instanceof DeployError);
      assert.match(error.message, /non-fast-forward.*FORCE_PUSH=true/);
      return true;
    });
  });
  await t.step("moved during the push: run again, no FORCE_PUSH", async () => {
    const shell = gitDouble({ shallow: false, hasRemoteAfter: 0, pushes: [rejected] });
    await assert.rejects(push(options(shell)), (error: unknown) => {
      assert.ok(error instanceof DeployError);
      assert.match(error.message, /moved while .* run the deploy again/);
      assert.doesNotMatch(error.message, /FORCE_PUSH/);
      return true;
    });
  });
});

Deno.test("git.push rethrows any other failure as the shell's command error", async () => {
  const shell = gitDouble({
    shallow: false,
    hasRemoteAfter: 0,
    pushes: [{ code: 128, lines: ["fatal: Could not read from remote repository."] }],
  });
  await assert.rejects(push(options(shell)), (error: unknown) => {
    assert.ok(!(error instanceof DeployError));
    assert.match(String(error), /exit code 128/);
    return true;
  });
});

Deno.test("every git command runs with GIT_TERMINAL_PROMPT=0, origin fetches included", async () => {
  const shell = gitDouble({ shallow: true, hasRemoteAfter: 1, pushes: [] });
  await push(options(shell));
  assert.ok(shell.calls.some((call) => call.cmd[1] === "fetch"));
  for (const call of shell.calls) {
    assert.equal(call.options.env?.GIT_TERMINAL_PROMPT, "0", call.cmd.join(" "));
  }
});

Deno.test("lsRemote answers the sha of exactly the ref asked for", async () => {
  const shell = recordingShell(() => ({
    stdout: `${REMOTE_SHA}\trefs/heads/master-old\n${SHA}\trefs/heads/master\n`,
  }));
  assert.equal(await lsRemote(URL, "refs/heads/master", { shell, cwd: "/repo" }), SHA);
  assert.equal(await lsRemote(URL, "refs/heads/main", { shell, cwd: "/repo" }), null);
  assert.deepEqual(shell.ran[0], ["git", "ls-remote", URL, "refs/heads/master"]);
});

Deno.test("currentBranch is undefined on a detached HEAD", async () => {
  const answer = { stdout: "HEAD\n" };
  const shell = recordingShell(() => answer);
  assert.equal(await currentBranch({ shell, cwd: "/repo" }), undefined);
  answer.stdout = "main\n";
  assert.equal(await currentBranch({ shell, cwd: "/repo" }), "main");
});

Deno.test("git.push does not unshallow a clone that deepening made complete", async () => {
  let shallow = true;
  const rejected = { code: 1, lines: [" ! [rejected] sha -> master (non-fast-forward)"] };
  const shell = recordingShell((cmd) => {
    const [, verb, ...rest] = cmd;
    if (verb === "rev-parse") return { stdout: `${shallow}\n` };
    if (verb === "remote") return { stdout: "origin\n" };
    // the server's branch diverged: its commit never becomes an ancestor
    if (verb === "merge-base") return { code: 1 };
    if (verb === "fetch") {
      // git dies on this: "--unshallow on a complete repository does not make sense" (git/git,
      // builtin/fetch.c, the check of `unshallow` against is_repository_shallow())
      if (rest.includes("--unshallow") && !shallow) return { code: 128 };
      shallow = false;
      return {};
    }
    if (verb === "push") return rejected;
    return undefined;
  });
  await assert.rejects(push(options(shell)), /FORCE_PUSH=true/);
  assert.ok(
    !shell.ran.some((cmd) => cmd.includes("--unshallow")),
    verbs(shell).join("\n"),
  );
});

Deno.test("git.push fetches history from origin when the clone has several remotes", async () => {
  const shell = recordingShell((cmd) => {
    const [, verb] = cmd;
    if (verb === "rev-parse") return { stdout: "true\n" };
    if (verb === "remote") return { stdout: "dokku\norigin\n" };
    if (verb === "merge-base") return { code: shell.ran.some((c) => c[1] === "fetch") ? 0 : 1 };
    return undefined;
  });
  await push(options(shell));
  const fetches = shell.ran.filter((cmd) => cmd[1] === "fetch");
  assert.deepEqual(fetches.map((cmd) => cmd.at(-2)), ["origin"]);
});
