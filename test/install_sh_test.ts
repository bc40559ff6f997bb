import assert from "node:assert/strict";
import { formatChecksums, sha256Hex, TARGETS } from "../scripts/compile.ts";

// a command that hangs fails its test instead of holding CI
const COMMAND_TIMEOUT_MS = 60_000;

const SCRIPT = new URL("../scripts/install.sh", import.meta.url).pathname;

/** A fake release binary: a shell script that says which target and version it is. */
function fakeBinary(target: string, version: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(`#!/bin/sh\necho "deploy ${version} ${target}"\n`);
}

function assetName(target: string): string {
  return `deploy-${target}${target.includes("windows") ? ".exe" : ""}`;
}

/** Builds a release's files: every target's binary plus SHA256SUMS. */
async function release(
  version: string,
  options: { tamper?: boolean; omit?: string } = {},
): Promise<Map<string, Uint8Array<ArrayBuffer>>> {
  const files = new Map<string, Uint8Array<ArrayBuffer>>();
  const entries = [];
  for (const target of TARGETS) {
    const name = assetName(target);
    const genuine = fakeBinary(target, version);
    files.set(name, genuine);
    if (name !== options.omit) entries.push({ name, sha256: await sha256Hex(genuine) });
    if (options.tamper) {
      files.set(name, new TextEncoder().encode(`#!/bin/sh\necho "pwned ${target}"\n`));
    }
  }
  files.set("SHA256SUMS", new TextEncoder().encode(formatChecksums(entries)));
  return files;
}

/** A local stand-in for GitHub's release downloads; it records every requested path. */
async function startReleaseServer() {
  const releases = new Map<string, Map<string, Uint8Array<ArrayBuffer>>>([
    ["latest", await release("1.1.0")],
    ["v1.0.0", await release("1.0.0")],
    ["v6.6.6", await release("6.6.6", { tamper: true })],
    ["v0.0.1", await release("0.0.1", { omit: assetName(hostTarget()) })],
  ]);
  const requests: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    requests.push(path);
    // GitHub's layout, and GitLab's release-asset permalinks
    const match = path.match(/^\/releases\/(?:latest\/download|download\/([^/]+))\/([^/]+)$/) ??
      path.match(
        /^\/group\/deploy\/-\/releases\/(?:permalink\/latest|([^/]+))\/downloads\/([^/]+)$/,
      );
    const files = match ? releases.get(match[1] ?? "latest") : undefined;
    const body = match && files?.get(match[2]!);
    return body ? new Response(body) : new Response("not found", { status: 404 });
  });
  return {
    baseUrl: `http://127.0.0.1:${server.addr.port}/releases`,
    gitlabUrl: `http://127.0.0.1:${server.addr.port}/group/deploy/-/releases`,
    requests,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

function hostTarget(): string {
  const arch = Deno.build.arch === "aarch64" ? "aarch64" : "x86_64";
  return Deno.build.os === "darwin" ? `${arch}-apple-darwin` : `${arch}-unknown-linux-gnu`;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(cmd: string, args: string[], env: Record<string, string>): Promise<Run> {
  const out = await new Deno.Command(cmd, {
    signal: AbortSignal.timeout(COMMAND_TIMEOUT_MS),
    args,
    env,
    clearEnv: true,
    stdin: "null",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

/** Runs install.sh under POSIX `sh` with only the given environment (plus PATH and HOME). */
function install(env: Record<string, string>, path = Deno.env.get("PATH") ?? "/usr/bin:/bin") {
  return run("sh", [SCRIPT], { PATH: path, ...env });
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
  } catch (e: unknown) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

/** A directory of symlinks to the named programs, to run the script without some tools. */
async function pathWith(programs: string[]): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "install_sh_path_" });
  for (const program of programs) {
    const found = await run("sh", ["-c", `command -v ${program}`], {
      PATH: Deno.env.get("PATH") ?? "",
    });
    if (found.code === 0) await Deno.symlink(found.stdout.trim(), `${dir}/${program}`);
  }
  return dir;
}

const BASE_TOOLS = [
  "sh",
  "uname",
  "mktemp",
  "rm",
  "awk",
  "ls",
  "mkdir",
  "chmod",
  "cp",
  "mv",
  "cat",
];

Deno.test("install.sh installs the verified binary for this machine", async (t) => {
  await using server = await startReleaseServer();
  const home = await Deno.makeTempDir({ prefix: "install_sh_home_" });
  try {
    await t.step("the latest release goes to ~/.local/bin and runs", async () => {
      const result = await install({ HOME: home, DEPLOY_INSTALL_BASE_URL: server.baseUrl });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /checksum verified/);
      const installed = `${home}/.local/bin/deploy`;
      const ran = await run(installed, [], {});
      assert.equal(ran.stdout.trim(), `deploy 1.1.0 ${hostTarget()}`);
      assert.ok(server.requests.includes(`/releases/latest/download/deploy-${hostTarget()}`));
      assert.ok(server.requests.includes("/releases/latest/download/SHA256SUMS"));
      assert.deepEqual(await listDir(`${home}/.local/bin`), ["deploy"]);
    });

    await t.step("DEPLOY_VERSION with or without a v picks that release", async (t) => {
      for (const version of ["1.0.0", "v1.0.0"]) {
        await t.step(version, async () => {
          const dir = `${home}/pinned-${version}`;
          const result = await install({
            HOME: home,
            DEPLOY_INSTALL_BASE_URL: server.baseUrl,
            DEPLOY_VERSION: version,
            DEPLOY_INSTALL_DIR: dir,
          });
          assert.equal(result.code, 0, result.stderr);
          assert.equal(
            (await run(`${dir}/deploy`, [], {})).stdout.trim(),
            `deploy 1.0.0 ${hostTarget()}`,
          );
        });
      }
    });

    await t.step("a GitLab releases URL uses GitLab's download layout", async () => {
      for (const [version, expected] of [["", "1.1.0"], ["1.0.0", "1.0.0"]] as const) {
        const dir = `${home}/gitlab-${version || "latest"}`;
        const result = await install({
          HOME: home,
          DEPLOY_INSTALL_BASE_URL: server.gitlabUrl,
          DEPLOY_INSTALL_DIR: dir,
          ...(version ? { DEPLOY_VERSION: version } : {}),
        });
        assert.equal(result.code, 0, result.stderr);
        const ran = await run(`${dir}/deploy`, [], {});
        assert.equal(ran.stdout.trim(), `deploy ${expected} ${hostTarget()}`);
      }
      const sums = "/downloads/SHA256SUMS";
      assert.ok(server.requests.includes(`/group/deploy/-/releases/permalink/latest${sums}`));
      assert.ok(server.requests.includes(`/group/deploy/-/releases/v1.0.0${sums}`));
    });

    await t.step(
      "DEPLOY_INSTALL_TARGET fetches another target, with .exe for Windows",
      async () => {
        const dir = `${home}/windows`;
        const result = await install({
          HOME: home,
          DEPLOY_INSTALL_BASE_URL: server.baseUrl,
          DEPLOY_INSTALL_TARGET: "x86_64-pc-windows-msvc",
          DEPLOY_INSTALL_DIR: dir,
        });
        assert.equal(result.code, 0, result.stderr);
        assert.deepEqual(await listDir(dir), ["deploy.exe"]);
        assert.match(await Deno.readTextFile(`${dir}/deploy.exe`), /x86_64-pc-windows-msvc/);
      },
    );

    await t.step("wget and shasum stand in when curl and sha256sum are missing", async (t) => {
      const path = await pathWith([...BASE_TOOLS, "wget", "shasum", "perl"]);
      try {
        const probe = await run("sh", ["-c", "command -v wget && command -v shasum"], {
          PATH: path,
        });
        if (probe.code !== 0) {
          await t.step({ name: "wget or shasum is not installed here", ignore: true, fn() {} });
          return;
        }
        const dir = `${home}/wget`;
        const result = await install(
          { HOME: home, DEPLOY_INSTALL_BASE_URL: server.baseUrl, DEPLOY_INSTALL_DIR: dir },
          path,
        );
        assert.equal(result.code, 0, result.stderr);
        assert.equal(
          (await run(`${dir}/deploy`, [], {})).stdout.trim(),
          `deploy 1.1.0 ${hostTarget()}`,
        );
      } finally {
        await Deno.remove(path, { recursive: true });
      }
    });
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("install.sh refuses a tampered binary and changes nothing", async () => {
  await using server = await startReleaseServer();
  const dir = await Deno.makeTempDir({ prefix: "install_sh_tampered_" });
  try {
    const previous = "#!/bin/sh\necho previous\n";
    await Deno.writeTextFile(`${dir}/deploy`, previous);
    const result = await install({
      HOME: dir,
      DEPLOY_INSTALL_BASE_URL: server.baseUrl,
      DEPLOY_VERSION: "6.6.6",
      DEPLOY_INSTALL_DIR: dir,
    });
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`checksum mismatch for deploy-${hostTarget()}`));
    assert.match(result.stderr, /refusing to install/);
    assert.deepEqual(await listDir(dir), ["deploy"]);
    assert.equal(await Deno.readTextFile(`${dir}/deploy`), previous);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("install.sh refuses a binary that SHA256SUMS does not list", async () => {
  await using server = await startReleaseServer();
  const dir = await Deno.makeTempDir({ prefix: "install_sh_unlisted_" });
  try {
    const result = await install({
      HOME: dir,
      DEPLOY_INSTALL_BASE_URL: server.baseUrl,
      DEPLOY_VERSION: "0.0.1",
      DEPLOY_INSTALL_DIR: `${dir}/bin`,
    });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /SHA256SUMS has no entry for deploy-/);
    assert.deepEqual(await listDir(`${dir}/bin`), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("install.sh fails clearly when the release does not exist", async () => {
  await using server = await startReleaseServer();
  const dir = await Deno.makeTempDir({ prefix: "install_sh_missing_" });
  try {
    const result = await install({
      HOME: dir,
      DEPLOY_INSTALL_BASE_URL: server.baseUrl,
      DEPLOY_VERSION: "9.9.9",
      DEPLOY_INSTALL_DIR: `${dir}/bin`,
    });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /cannot download .*\/download\/v9\.9\.9\/deploy-/);
    assert.deepEqual(await listDir(`${dir}/bin`), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("install.sh rejects bad settings with exit code 2 before downloading", async (t) => {
  await using server = await startReleaseServer();
  const cases: [string, Record<string, string>, RegExp][] = [
    ["a plain-HTTP base URL", { DEPLOY_INSTALL_BASE_URL: "http://example.com/r" }, /https:\/\//],
    ["a version that is not one", { DEPLOY_VERSION: "main" }, /is not a version/],
    ["a version with shell characters", { DEPLOY_VERSION: "1.0.0;reboot" }, /is not a version/],
    ["an unknown target", { DEPLOY_INSTALL_TARGET: "riscv64-unknown-linux-gnu" }, /unknown target/],
  ];
  for (const [name, env, message] of cases) {
    await t.step(name, async () => {
      const before = server.requests.length;
      const result = await install({
        HOME: "/nonexistent",
        DEPLOY_INSTALL_BASE_URL: server.baseUrl,
        DEPLOY_INSTALL_DIR: "/nonexistent/bin",
        ...env,
      });
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, message);
      assert.equal(server.requests.length, before);
    });
  }
});
