import assert from "node:assert/strict";
import {
  binaryName,
  compileArgs,
  CompileUsageError,
  ENTRYPOINT,
  formatChecksums,
  parseCompileArgs,
  sha256Hex,
  TARGETS,
} from "../scripts/compile.ts";
import { PERMISSION_FLAGS } from "../scripts/permissions.ts";

// a command that hangs fails its test instead of holding CI
const COMMAND_TIMEOUT_MS = 60_000;

const ROOT = new URL("..", import.meta.url).pathname;

/** An environment with only the given variables, in the shape `parseCompileArgs` reads. */
function envOf(vars: Record<string, string> = {}) {
  return { get: (name: string) => vars[name] };
}

async function run(cmd: string, args: string[], options: Deno.CommandOptions = {}) {
  const out = await new Deno.Command(cmd, {
    signal: AbortSignal.timeout(COMMAND_TIMEOUT_MS),
    args,
    stdin: "null",
    ...options,
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

Deno.test("compileArgs compiles with exactly the shared permission flags", () => {
  const args = compileArgs({ output: "dist/deploy" });
  assert.deepEqual(args, ["compile", ...PERMISSION_FLAGS, "--output", "dist/deploy", ENTRYPOINT]);
  // flags after the entrypoint would be the program's arguments, not deno's
  assert.equal(args.at(-1), ENTRYPOINT);
  assert.ok(!args.includes("-A") && !args.includes("--allow-all"));
});

Deno.test("compileArgs names the target for a cross-compile", () => {
  assert.deepEqual(
    compileArgs({ target: "aarch64-apple-darwin", output: "dist/deploy-aarch64-apple-darwin" }),
    [
      "compile",
      ...PERMISSION_FLAGS,
      "--output",
      "dist/deploy-aarch64-apple-darwin",
      "--target",
      "aarch64-apple-darwin",
      ENTRYPOINT,
    ],
  );
});

Deno.test("binaryName gives deploy-<target>, with .exe only for Windows", () => {
  assert.deepEqual(TARGETS.map((t) => binaryName(t)), [
    "deploy-x86_64-unknown-linux-gnu",
    "deploy-aarch64-unknown-linux-gnu",
    "deploy-x86_64-apple-darwin",
    "deploy-aarch64-apple-darwin",
    "deploy-x86_64-pc-windows-msvc.exe",
  ]);
  assert.equal(binaryName(undefined, "linux"), "deploy");
  assert.equal(binaryName(undefined, "windows"), "deploy.exe");
});

Deno.test("parseCompileArgs plans the host build, one target, or every target", async (t) => {
  await t.step("no arguments: the host, into dist/deploy", () => {
    assert.deepEqual(parseCompileArgs([], envOf()), {
      targets: [undefined],
      outDir: "dist",
      checksums: false,
    });
  });
  await t.step("--all: the five release targets and SHA256SUMS", () => {
    assert.deepEqual(parseCompileArgs(["--all", "--out-dir", "out"], envOf()), {
      targets: [...TARGETS],
      outDir: "out",
      checksums: true,
    });
  });
  await t.step("--target, repeated and with =", () => {
    const plan = parseCompileArgs(
      ["--target", "aarch64-unknown-linux-gnu", "--target=x86_64-apple-darwin"],
      envOf({ DENORT_BIN: "/opt/denort" }),
    );
    assert.deepEqual(plan.targets, ["aarch64-unknown-linux-gnu", "x86_64-apple-darwin"]);
    assert.equal(plan.checksums, false);
  });
});

Deno.test("parseCompileArgs reports every problem at once", () => {
  assert.throws(
    () => parseCompileArgs(["--target", "riscv64-linux", "--bogus", "--out-dir"], envOf()),
    (e: unknown) => {
      assert.ok(e instanceof CompileUsageError);
      assert.equal(e.exitCode, 2);
      assert.equal(e.problems.length, 3);
      assert.match(e.message, /Unknown target "riscv64-linux"/);
      assert.match(e.message, /Unknown argument "--bogus"/);
      assert.match(e.message, /--out-dir needs a value/);
      return true;
    },
  );
});

Deno.test("parseCompileArgs refuses --all while DENORT_BIN pins one runtime", () => {
  assert.throws(
    () => parseCompileArgs(["--all"], envOf({ DENORT_BIN: "/opt/denort" })),
    { name: "CompileUsageError", message: /DENORT_BIN/ },
  );
  assert.throws(
    () => parseCompileArgs(["--all", "--target", "x86_64-apple-darwin"], envOf()),
    /exclude each other/,
  );
});

Deno.test("formatChecksums writes a file that sha256sum -c accepts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "compile_sums_" });
  try {
    const entries = [];
    for (const [name, text] of [["deploy-b", "second"], ["deploy-a.exe", "first"]]) {
      const data = new TextEncoder().encode(text!);
      await Deno.writeFile(`${dir}/${name}`, data);
      entries.push({ name: name!, sha256: await sha256Hex(data) });
    }
    const sums = formatChecksums(entries);
    assert.equal(sums.split("\n")[0]?.endsWith("  deploy-a.exe"), true, "sorted by name");
    await Deno.writeTextFile(`${dir}/SHA256SUMS`, sums);
    const check = await run("sha256sum", ["-c", "SHA256SUMS"], { cwd: dir });
    assert.equal(check.code, 0, check.stdout + check.stderr);
    await Deno.writeTextFile(`${dir}/deploy-b`, "tampered");
    assert.notEqual((await run("sha256sum", ["-c", "SHA256SUMS"], { cwd: dir })).code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the compile task rejects bad arguments with exit code 2 and no stack trace", async () => {
  const result = await run(Deno.execPath(), ["task", "-q", "compile", "--target", "nope", "--x"], {
    cwd: ROOT,
  });
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /Unknown target "nope"/);
  assert.match(result.stderr, /Unknown argument "--x"/);
  assert.doesNotMatch(result.stderr, /\bat .*compile\.ts:\d+/);
});

Deno.test("the compiled binary runs --version and plan", async (t) => {
  const denort = Deno.env.get("DENORT_BIN");
  await t.step({
    name: "compiles with DENORT_BIN and runs the binary",
    ignore: !denort,
    async fn() {
      const out = await Deno.makeTempDir({ prefix: "compile_real_" });
      try {
        const compiled = await run(Deno.execPath(), ["task", "-q", "compile", "--out-dir", out], {
          cwd: ROOT,
        });
        assert.equal(compiled.code, 0, compiled.stderr);
        const binary = `${out}/${binaryName()}`;
        const { version } = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`));
        const shown = await run(binary, ["--version"], { cwd: out });
        assert.equal(shown.code, 0, shown.stderr);
        assert.match(shown.stdout, new RegExp(version.replaceAll(".", "\\.")));

        const repo = `${out}/app`;
        await Deno.mkdir(repo);
        const git = (...args: string[]) => run("git", args, { cwd: repo });
        await git("init", "-q");
        await git(
          "-c",
          "user.name=t",
          "-c",
          "user.email=t@example.com",
          "commit",
          "--allow-empty",
          "-qm",
          "init",
        );
        const plan = await run(binary, ["plan"], {
          cwd: repo,
          clearEnv: true,
          env: {
            PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
            HOME: out,
            DEPLOY_PROVIDER: "dokku",
            APP_NAME: "sample-app",
            DOKKU_HOST: "dokku@127.0.0.1:2222",
          },
        });
        assert.equal(plan.code, 0, plan.stdout + plan.stderr);
        assert.match(plan.stdout, /dokku/);
      } finally {
        await Deno.remove(out, { recursive: true });
      }
    },
  });
});
