import assert from "node:assert/strict";
import { prepareShallowPush, rootsMissingOnServer } from "../layers/providers/dokku/history.ts";
import { createLogger } from "../src/logger.ts";
import { Secrets } from "../src/secrets.ts";
import { createShell } from "../src/shell.ts";

// a command that hangs fails its test instead of holding CI
const COMMAND_TIMEOUT_MS = 60_000;

async function git(cwd: string, ...args: string[]): Promise<{ code: number; out: string }> {
  const out = await new Deno.Command("git", {
    signal: AbortSignal.timeout(COMMAND_TIMEOUT_MS),
    args: ["-c", "user.name=T", "-c", "user.email=t@example.com", ...args],
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code: out.code, out: decoder.decode(out.stdout) + decoder.decode(out.stderr) };
}

/**
 * origin: c1 - c2 - c3 - merge(c3, s3), with s1 - s2 - s3 branching off c1; the server has c2. A
 * clone of depth 3 holds c2, and its shallow roots are c2 and s2: s2 is not in the server's history,
 * although the clone holds the server's commit (deepening alone would not help).
 */
async function setUp(dir: string): Promise<{ clone: string; server: string; c2: string }> {
  const origin = `${dir}/origin`;
  await Deno.mkdir(origin);
  await git(origin, "init", "-q", "-b", "main");
  const commit = async (name: string) => {
    await Deno.writeTextFile(`${origin}/${name}`, name);
    await git(origin, "add", name);
    await git(origin, "commit", "-q", "-m", name);
    return (await git(origin, "rev-parse", "HEAD")).out.trim();
  };
  const c1 = await commit("c1");
  const c2 = await commit("c2");
  await commit("c3");
  await git(origin, "checkout", "-q", "-b", "side", c1);
  await commit("s1");
  await commit("s2");
  await commit("s3");
  await git(origin, "checkout", "-q", "main");
  await git(origin, "merge", "-q", "--no-edit", "side");
  const server = `${dir}/server.git`;
  await git(dir, "init", "-q", "--bare", server);
  assert.equal((await git(origin, "push", "-q", server, `${c2}:refs/heads/master`)).code, 0);
  const clone = `${dir}/clone`;
  await git(dir, "clone", "-q", "--depth", "3", `file://${origin}`, clone);
  return { clone, server, c2 };
}

Deno.test("A shallow clone's push is refused by git unless its history is made sufficient first", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "history_" });
  const secrets = new Secrets();
  let log = "";
  const options = {
    shell: createShell({ secrets }),
    cwd: "",
    logger: createLogger({ secrets, write: (text) => (log += text), color: false }),
  };
  try {
    await t.step("without preparation git refuses the push", async () => {
      await Deno.mkdir(`${dir}/a`, { recursive: true });
      const { clone, server } = await setUp(`${dir}/a`);
      const pushed = await git(clone, "push", server, "HEAD:refs/heads/master");
      assert.notEqual(pushed.code, 0);
      assert.match(pushed.out, /shallow update not allowed/);
    });
    await t.step("prepareShallowPush makes the first push succeed", async () => {
      await Deno.mkdir(`${dir}/b`, { recursive: true });
      const { clone, server, c2 } = await setUp(`${dir}/b`);
      const opts = { ...options, cwd: clone };
      assert.ok((await rootsMissingOnServer(c2, opts)).length > 0);
      await prepareShallowPush(c2, opts);
      assert.deepEqual(await rootsMissingOnServer(c2, opts), []);
      const pushed = await git(clone, "push", server, "HEAD:refs/heads/master");
      assert.equal(pushed.code, 0, pushed.out);
      assert.match(log, /Shallow clone: fetching 50 more commits to reach the deployed/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
