import assert from "node:assert/strict";
import { CommandError } from "../src/errors.ts";
import { createLogger } from "../src/logger.ts";
import { Secrets } from "../src/secrets.ts";
import { commandText, createShell, quoteArg } from "../src/shell.ts";

const SECRET = "tok-3f9a8c7e5d";

function setup() {
  const secrets = new Secrets();
  secrets.add(SECRET);
  const lines: string[] = [];
  const logger = createLogger({ secrets, color: false, write: (text) => lines.push(text) });
  return { secrets, shell: createShell({ secrets }), logger, log: () => lines.join("") };
}

Deno.test("createShell passes each argument literally, without shell interpretation", async () => {
  const { shell } = setup();
  const args = ["$HOME", "a;b", "`id`", "$(whoami)", "it's", 'say "hi"', "*", "a b", ""];
  const { stdout, code } = await shell.run(["printf", "%s\\n", ...args]);
  assert.equal(code, 0);
  assert.equal(stdout, args.map((a) => `${a}\n`).join(""));
});

Deno.test("createShell returns stdout, stderr and exit code", async () => {
  const { shell } = setup();
  const result = await shell.run(["sh", "-c", "echo out; echo err >&2; exit 4"], {
    noThrow: true,
  });
  assert.equal(result.code, 4);
  assert.equal(result.stdout, "out\n");
  assert.equal(result.stderr, "err\n");
  // stdout and stderr are separate pipes: their relative order is not defined
  assert.deepEqual(result.tail.toSorted(), ["err", "out"]);
});

Deno.test("createShell passes env, cwd and stdin to the command", async () => {
  const { shell } = setup();
  const dir = await Deno.makeTempDir();
  try {
    const { stdout } = await shell.run(["sh", "-c", 'echo "$GREETING"; pwd; cat'], {
      env: { GREETING: "hello there" },
      cwd: dir,
      stdin: "from stdin\n",
    });
    assert.equal(stdout, `hello there\n${await Deno.realPath(dir)}\nfrom stdin\n`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("createShell throws a CommandError with the masked command, exit code and a 20-line tail", async () => {
  const { shell } = setup();
  const script = 'for i in $(seq 1 30); do echo "line $i"; done; echo "token $1" >&2; exit 3';
  const error = await shell.run(["sh", "-c", script, "sh", SECRET]).then(
    () => assert.fail("run should have thrown"),
    (e: unknown) => e,
  );
  assert.ok(error instanceof CommandError, String(error));
  assert.equal(error.exitCode, 3);
  assert.ok(error.command.endsWith("sh ***"), error.command);
  assert.ok(!error.command.includes(SECRET));
  assert.ok(!error.message.includes(SECRET), error.message);
  assert.match(error.message, /exit code 3/);
  assert.equal(error.output.length, 20);
  assert.equal(error.output[0], "line 12");
  assert.equal(error.output.at(-2), "line 30");
  assert.equal(error.output.at(-1), "token ***");
});

Deno.test("createShell shows the display text instead of the argv, masked", async () => {
  const { shell, logger, log } = setup();
  await assert.rejects(
    shell.run(["false"], { display: `dokku run shop --token ${SECRET}`, logger }),
    (error: unknown) => {
      assert.ok(error instanceof CommandError);
      assert.equal(error.command, "dokku run shop --token ***");
      return true;
    },
  );
  assert.equal(log(), "$ dokku run shop --token ***\n");
});

Deno.test("createShell streams output to the logger line by line, masked", async () => {
  const { shell, logger, log } = setup();
  const script = `printf 'one\\ntwo'; sleep 0.05; printf ' halves\\n'; echo "key ${SECRET}"; ` +
    `printf 'counting 10%%\\rcounting 100%%\\n'; printf 'no newline at end'`;
  await shell.run(["sh", "-c", script], { logger });
  const lines = log().split("\n");
  assert.ok(lines[0]!.startsWith("$ sh -c "), lines[0]);
  assert.ok(!log().includes(SECRET), log());
  assert.deepEqual(lines.slice(1), [
    "| one",
    "| two halves",
    "| key ***",
    "| counting 100%",
    "| no newline at end",
    "",
  ]);
});

Deno.test("createShell streams stderr to the logger too", async () => {
  const { shell, logger, log } = setup();
  await shell.run(["sh", "-c", `echo "warn ${SECRET}" >&2`], { logger });
  assert.match(log(), /\n\| warn \*\*\*\n$/);
});

Deno.test("createShell with noThrow returns a failed command's result", async () => {
  const { shell } = setup();
  const result = await shell.run(["sh", "-c", "echo nope; exit 7"], { noThrow: true });
  assert.equal(result.code, 7);
  assert.deepEqual(result.tail, ["nope"]);
});

Deno.test("createShell cancel() kills a running command and leaves later ones alone", async () => {
  const { shell } = setup();
  const started = performance.now();
  const running = shell.run(["sleep", "30"], { noThrow: true });
  await new Promise((resolve) => setTimeout(resolve, 200));
  shell.cancel();
  const result = await running;
  assert.notEqual(result.code, 0);
  assert.ok(performance.now() - started < 5_000, "sleep was not killed");
  const after = await shell.run(["echo", "still works"]);
  assert.equal(after.stdout, "still works\n");
});

Deno.test({
  name: "createShell cancel() also stops a command whose child process keeps its output open",
  async fn() {
    const { shell } = setup();
    const started = performance.now();
    const running = shell.run(["sh", "-c", "sleep 5; echo done"], { noThrow: true });
    await new Promise((resolve) => setTimeout(resolve, 200));
    shell.cancel();
    const result = await running;
    assert.notEqual(result.code, 0);
    assert.ok(performance.now() - started < 2_000, "run() waited for the orphaned child");
  },
});

Deno.test("createShell kills a command that runs past timeoutMs", async () => {
  const { shell } = setup();
  const started = performance.now();
  const result = await shell.run(["sleep", "30"], { timeoutMs: 200, noThrow: true });
  assert.notEqual(result.code, 0);
  assert.ok(performance.now() - started < 5_000);
});

Deno.test("quoteArg quotes for display the way a POSIX shell reads it back", async (t) => {
  const cases: [string, string][] = [
    ["plain-word_1.2/x:y@z", "plain-word_1.2/x:y@z"],
    ["a b", "'a b'"],
    ["$HOME", "'$HOME'"],
    ["it's", `'it'"'"'s'`],
    ["", "''"],
  ];
  for (const [arg, quoted] of cases) {
    await t.step(JSON.stringify(arg), () => assert.equal(quoteArg(arg), quoted));
  }
  await t.step("sh reads commandText back into the same arguments", async () => {
    const args = ["it's", "$HOME", "a b", "", "`id`", 'q"q'];
    const { shell } = setup();
    const { stdout } = await shell.run([
      "sh",
      "-c",
      `printf '%s\\n' ${commandText(args)}`,
    ]);
    assert.equal(stdout, args.map((a) => `${a}\n`).join(""));
  });
});

Deno.test("createShell withholds secret variables from commands unless a command is given one", async () => {
  const secrets = new Secrets();
  const shell = createShell({ secrets, withhold: ["DEPLOY_TEST_WITHHELD"] });
  Deno.env.set("DEPLOY_TEST_WITHHELD", "inherited-secret");
  try {
    const script = 'printf "%s" "${DEPLOY_TEST_WITHHELD:-unset}"';
    assert.equal((await shell.run(["sh", "-c", script])).stdout, "unset");
    const given = await shell.run(["sh", "-c", script], { env: { DEPLOY_TEST_WITHHELD: "given" } });
    assert.equal(given.stdout, "given");
  } finally {
    Deno.env.delete("DEPLOY_TEST_WITHHELD");
  }
});

Deno.test("createShell counts a cancelled command as failed, even when it exits 0 on SIGTERM", async () => {
  const { shell } = setup();
  const running = shell.run(
    ["sh", "-c", "trap 'kill $! 2>/dev/null; exit 0' TERM; sleep 30 >/dev/null 2>&1 & wait"],
    { noThrow: true },
  );
  await new Promise((resolve) => setTimeout(resolve, 300));
  shell.cancel();
  const result = await running;
  assert.equal(result.code, 143);
  assert.ok(result.error, "a cancelled command carries its error");
});

Deno.test("createShell keeps a redrawn progress line as a terminal shows it, in the log and the tail", async () => {
  const { shell, logger, log } = setup();
  const result = await shell.run(
    ["sh", "-c", "printf 'Writing 10%%\\rWriting 100%%\\rWritten   \\r\\ndone\\r\\n'; exit 4"],
    { logger, noThrow: true },
  );
  assert.deepEqual(result.tail, ["Written", "done"]);
  assert.match(log(), /\n\| Written\n\| done\n$/);
});

Deno.test({
  name: "createShell gives a command no stdin unless asked: it never reads the deploy's own",
  async fn() {
    const script = `
      import { createShell } from ${
      JSON.stringify(new URL("../src/shell.ts", import.meta.url).href)
    };
      import { Secrets } from ${JSON.stringify(new URL("../src/secrets.ts", import.meta.url).href)};
      const shell = createShell({ secrets: new Secrets() });
      const read = ["sh", "-c", 'read -r line; echo "read:$line"'];
      console.log((await shell.run(read, { noThrow: true })).stdout.trim());
      console.log((await shell.run(read, { stdin: "given\\n" })).stdout.trim());
    `;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", script],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // what a CI job's stdin might hold
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode("the job's input\n"));
    await writer.close();
    const timer = setTimeout(() => child.kill(), 20_000);
    const { stdout, stderr } = await child.output();
    clearTimeout(timer);
    const decoded = new TextDecoder();
    assert.equal(decoded.decode(stdout), "read:\nread:given\n", decoded.decode(stderr));
  },
});
