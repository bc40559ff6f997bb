/**
 * The pure parts of each provider's rollback and status: what `--to` accepts, the rollback point
 * after a failed deploy, the Dokku git:report argv, and Dokku's deploy time from its answer.
 */
import assert from "node:assert/strict";
import { DOKKU_ROLLBACK_TO, dokkuRollbackPoint } from "../layers/providers/dokku/rollback.ts";
import { dokkuStatus, lastUpdatedCommand } from "../layers/providers/dokku/status.ts";
import { HEROKU_ROLLBACK_TO, herokuRollbackPoint } from "../layers/providers/heroku/rollback.ts";
import { runningRelease } from "../layers/providers/heroku/history.ts";
import { recordingShell } from "./_doubles.ts";

const SHA = "fedcba9876543210fedcba9876543210fedcba98";

Deno.test("--to accepts v123, 123 or a release id on Heroku, and a 7 to 40 digit sha on Dokku", () => {
  for (const ok of ["v1", "V42", "123", "01234567-89ab-cdef-0123-456789abcdef"]) {
    assert.ok(HEROKU_ROLLBACK_TO.test(ok), ok);
  }
  for (const bad of ["", "v", "v1.2", "latest", "abc1234", "-v1", "v1; rm -rf /"]) {
    assert.ok(!HEROKU_ROLLBACK_TO.test(bad), bad);
  }
  for (const ok of ["abc1234", SHA]) assert.ok(DOKKU_ROLLBACK_TO.test(ok), ok);
  for (const bad of ["abc123", "v12", "HEAD~1", "ABC1234", `${SHA}0`, "--upload-pack=x"]) {
    assert.ok(!DOKKU_ROLLBACK_TO.test(bad), bad);
  }
});

Deno.test("After a failed deploy, the rollback point is what ran before, only a succeeded release", () => {
  assert.deepEqual(dokkuRollbackPoint(SHA), {
    commit: SHA,
    reason: "the commit it ran before this deploy",
  });
  assert.equal(dokkuRollbackPoint(null), null, "a new app has nothing to put back");
  const release = { id: "r41", version: 41, status: "succeeded", slug: { id: "s" } };
  assert.deepEqual(herokuRollbackPoint(release, SHA), {
    commit: SHA,
    release: "v41",
    id: "r41",
    reason: "the release current before this deploy",
  });
  assert.equal(herokuRollbackPoint({ ...release, status: "failed" }, SHA), null);
  assert.equal(herokuRollbackPoint({ ...release, slug: null }, null), null, "config-only");
  assert.equal(herokuRollbackPoint(undefined, null), null);
});

Deno.test("runningRelease is the one marked current, else the newest that succeeded", () => {
  const r = (version: number, status: string, current?: boolean) => ({ version, status, current });
  assert.equal(runningRelease([r(5, "failed"), r(4, "succeeded"), r(3, "succeeded")])?.version, 4);
  assert.equal(runningRelease([r(5, "succeeded"), r(4, "succeeded", true)])?.version, 4);
  assert.equal(runningRelease([r(5, "pending")]), undefined);
});

Deno.test("Dokku status reads the deploy time from git:report, and does without it", async (t) => {
  assert.deepEqual(lastUpdatedCommand("shop"), ["git:report", "shop", "--git-last-updated-at"]);
  const shell = recordingShell(() => ({ stdout: `${SHA}\trefs/heads/main\n` }));
  const deps = (answer: { code: number; stdout: string } | Error) => ({
    git: () => Promise.resolve({ shell, cwd: "/app" }),
    dokku: (args: string[]) => {
      assert.deepEqual(args, ["git:report", "shop", "--git-last-updated-at"]);
      return answer instanceof Error
        ? Promise.reject(answer)
        : Promise.resolve({ ...answer, stderr: "", tail: [] });
    },
    url: "ssh://dokku@host:22/shop",
    branch: "main",
    app: "shop",
    host: "host",
  });
  await t.step("epoch seconds", async () => {
    const status = await dokkuStatus(deps({ code: 0, stdout: "1767225600\n" }));
    assert.equal(status.commit, SHA);
    assert.equal(status.releasedAt, "2026-01-01T00:00:00.000Z");
    assert.deepEqual(status.details, { Host: "host", Branch: "main" });
  });
  await t.step("an older Dokku, a packed ref, or a failing command: unknown", async () => {
    for (const answer of [{ code: 1, stdout: "" }, { code: 0, stdout: "\n" }, new Error("x")]) {
      assert.equal((await dokkuStatus(deps(answer))).releasedAt, undefined);
    }
  });
  assert.deepEqual(shell.calls[0]!.cmd, [
    "git",
    "ls-remote",
    "ssh://dokku@host:22/shop",
    "refs/heads/main",
  ]);
});
