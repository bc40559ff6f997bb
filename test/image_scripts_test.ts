import assert from "node:assert/strict";

// a command that hangs fails its test instead of holding CI
const COMMAND_TIMEOUT_MS = 60_000;

const ROOT = new URL("..", import.meta.url).pathname;

/**
 * A fake `docker` on PATH that records each call (one argument per line, calls separated by a
 * line "--") and fails when its arguments contain $FAKE_DOCKER_FAIL.
 */
async function fakeDocker() {
  const dir = await Deno.makeTempDir({ prefix: "fake_docker_" });
  const log = `${dir}/calls`;
  await Deno.writeTextFile(
    `${dir}/docker`,
    `#!/bin/sh
for arg in "$@"; do printf '%s\\n' "$arg" >>"${log}"; done
printf -- '--\\n' >>"${log}"
case " $* " in *" \${FAKE_DOCKER_FAIL:-@@none@@} "*) echo "boom from fake docker" >&2; exit 1 ;; esac
echo "fake docker output"
`,
  );
  await Deno.chmod(`${dir}/docker`, 0o755);
  return {
    path: `${dir}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
    async calls(): Promise<string[][]> {
      let text = "";
      try {
        text = await Deno.readTextFile(log);
      } catch (e: unknown) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
      return text.split("--\n").filter((c) => c !== "").map((c) => c.trimEnd().split("\n"));
    },
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function run(script: string, args: string[], env: Record<string, string>) {
  const out = await new Deno.Command(`${ROOT}/scripts/${script}`, {
    signal: AbortSignal.timeout(COMMAND_TIMEOUT_MS),
    args,
    env,
    clearEnv: true,
    stdin: "null",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

/** The values that follow each occurrence of `flag` in one docker call. */
function valuesOf(call: string[], flag: string): string[] {
  return call.flatMap((arg, i) => arg === flag && call[i + 1] !== undefined ? [call[i + 1]!] : []);
}

Deno.test("build-images builds both images for amd64 and arm64 and pushes every tag", async () => {
  await using docker = await fakeDocker();
  const result = await run("build-images", ["--prefix", "ghcr.io/acme/deploy", "--push"], {
    PATH: docker.path,
    HOME: "/tmp",
    SOURCE_URL: "https://github.com/acme/deploy",
  });
  assert.equal(result.code, 0, result.stderr);
  const calls = await docker.calls();
  assert.equal(calls.length, 2);
  const { version } = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`));
  const [major, minor] = version.split(".");
  for (const [i, provider] of ["dokku", "heroku"].entries()) {
    const call = calls[i]!;
    assert.deepEqual(call.slice(0, 2), ["buildx", "build"]);
    assert.deepEqual(valuesOf(call, "--platform"), ["linux/amd64,linux/arm64"]);
    assert.deepEqual(valuesOf(call, "--file"), [`${ROOT}images/${provider}/Dockerfile`]);
    assert.deepEqual(valuesOf(call, "--tag"), [
      `ghcr.io/acme/deploy/${provider}:${version}`,
      `ghcr.io/acme/deploy/${provider}:${major}.${minor}`,
      `ghcr.io/acme/deploy/${provider}:${major}`,
      `ghcr.io/acme/deploy/${provider}:latest`,
    ]);
    const buildArgs = valuesOf(call, "--build-arg");
    assert.ok(buildArgs.includes(`DEPLOY_VERSION=${version}`), buildArgs.join(" "));
    assert.ok(buildArgs.includes("SOURCE_URL=https://github.com/acme/deploy"));
    assert.ok(call.includes("--push"));
    assert.equal(call.at(-1), ROOT.replace(/\/$/, ""), "the build context is the repository root");
  }
});

Deno.test("build-images tags a pre-release with its own version only", async () => {
  await using docker = await fakeDocker();
  const result = await run(
    "build-images",
    ["--prefix", "reg/deploy", "--version", "v2.0.0-rc.1", "--provider", "heroku"],
    { PATH: docker.path, HOME: "/tmp" },
  );
  assert.equal(result.code, 0, result.stderr);
  const calls = await docker.calls();
  assert.equal(calls.length, 1);
  assert.deepEqual(valuesOf(calls[0]!, "--tag"), ["reg/deploy/heroku:2.0.0-rc.1"]);
  assert.ok(!calls[0]!.includes("--push"), "no --push unless asked");
});

Deno.test("build-images lists every bad argument and never calls docker", async () => {
  await using docker = await fakeDocker();
  const result = await run(
    "build-images",
    ["--version", "banana", "--provider", "fly", "--load"],
    { PATH: docker.path, HOME: "/tmp" },
  );
  assert.equal(result.code, 2);
  assert.match(result.stderr, /no image prefix/);
  assert.match(result.stderr, /"banana" is not a semantic version/);
  assert.match(result.stderr, /no image for provider "fly"/);
  assert.match(result.stderr, /--load takes one platform/);
  assert.deepEqual(await docker.calls(), []);
});

Deno.test("smoke-image runs deploy, git, ssh and sentry-cli in the image", async () => {
  await using docker = await fakeDocker();
  const image = "ghcr.io/acme/deploy/dokku:1.2.3";
  const result = await run(
    "smoke-image",
    [image, "--platform", "linux/arm64", "--provider", "dokku"],
    { PATH: docker.path, HOME: "/tmp" },
  );
  assert.equal(result.code, 0, result.stderr);
  const calls = await docker.calls();
  for (const call of calls) {
    assert.deepEqual(call.slice(0, 4), ["run", "--rm", "--platform", "linux/arm64"]);
  }
  const commands = calls.map((call) => call.slice(call.indexOf(image) + 1));
  assert.deepEqual(commands.slice(0, 1), [["deploy", "--version"]]);
  assert.match(commands[1]!.join(" "), /^sh -c .*deploy plan$/);
  assert.deepEqual(commands.slice(2, 5), [["git", "--version"], ["ssh", "-V"], [
    "sentry-cli",
    "--version",
  ]]);
  assert.deepEqual(commands[6]!.slice(-2), ["smoke", "dokku"]);
  assert.match(result.stdout, /passed/);
});

Deno.test("smoke-image fails and names the check that failed", async () => {
  await using docker = await fakeDocker();
  const result = await run("smoke-image", ["img:1"], {
    PATH: docker.path,
    HOME: "/tmp",
    FAKE_DOCKER_FAIL: "sentry-cli",
  });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /FAILED {2}sentry-cli --version/);
  assert.match(result.stderr, /boom from fake docker/);
  assert.match(result.stdout, /ok {6}git --version/);
});
