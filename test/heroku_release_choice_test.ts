/**
 * Heroku's choice of the release that belongs to a commit, as pure logic: releases (newest first)
 * and the commit each slug was built from, held in memory.
 */
import assert from "node:assert/strict";
import type { HerokuRelease } from "../layers/providers/heroku/api.ts";
import { currentRelease, releaseOfCommit } from "../layers/providers/heroku/release.ts";

const A = "a".repeat(40);
const B = "b".repeat(40);

function release(version: number, slug: string | null, fields: Partial<HerokuRelease> = {}) {
  return {
    id: `r${version}`,
    version,
    status: "succeeded",
    slug: slug ? { id: slug } : null,
    ...fields,
  } as HerokuRelease;
}

/** A slug lookup from a table, counting what it was asked. */
function slugs(table: Record<string, string>) {
  const asked: string[] = [];
  return {
    asked,
    commitOf: (slugId: string) => {
      asked.push(slugId);
      return Promise.resolve(table[slugId] ?? null);
    },
  };
}

// v5: a config change (same slug as v4); v4: the deploy of B; v3: the deploy of A; v2: add-on
const HISTORY = [
  release(5, "slug-b", { current: true, description: "Set FOO config vars" }),
  release(4, "slug-b"),
  release(3, "slug-a"),
  release(2, null, { description: "Enable Logplex" }),
];

Deno.test("releaseOfCommit finds the newest release built from the commit, not merely the newest", async () => {
  const lookup = slugs({ "slug-a": A, "slug-b": B });
  assert.equal((await releaseOfCommit(HISTORY, A, lookup.commitOf))?.version, 3);
  assert.equal((await releaseOfCommit(HISTORY, B, lookup.commitOf))?.version, 5);
});

Deno.test("releaseOfCommit only looks after the version the deploy started from", async () => {
  const lookup = slugs({ "slug-a": A, "slug-b": B });
  // the push of B created v4; v5 is a config change that came after it: both are B's
  assert.equal((await releaseOfCommit(HISTORY, B, lookup.commitOf, 3))?.version, 5);
  // nothing after v3 was built from A: the push has not made its release yet
  assert.equal(await releaseOfCommit(HISTORY, A, lookup.commitOf, 3), undefined);
});

Deno.test("releaseOfCommit skips releases without a slug and stops at the first match", async () => {
  const lookup = slugs({ "slug-a": A, "slug-b": B });
  assert.equal(await releaseOfCommit(HISTORY, "c".repeat(40), lookup.commitOf), undefined);
  assert.deepEqual(lookup.asked, ["slug-b", "slug-b", "slug-a"], "the slugless v2 is not asked");
  const first = slugs({ "slug-a": A, "slug-b": B });
  await releaseOfCommit(HISTORY, B, first.commitOf);
  assert.deepEqual(first.asked, ["slug-b"]);
});

Deno.test("currentRelease is the release marked current, else the newest that succeeded", () => {
  assert.equal(currentRelease(HISTORY)?.version, 5);
  const unmarked = [release(7, "s", { status: "failed" }), release(6, "s"), release(5, "s")];
  assert.equal(currentRelease(unmarked)?.version, 6);
  assert.equal(currentRelease([release(1, "s", { status: "pending" })]), undefined);
});
