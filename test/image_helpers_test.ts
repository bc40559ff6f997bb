import assert from "node:assert/strict";
import { sha256Hex } from "../scripts/compile.ts";

// a command that hangs fails its test instead of holding CI
const COMMAND_TIMEOUT_MS = 60_000;

const SHARED = new URL("../images/_shared/", import.meta.url).pathname;

/**
 * A sandbox for the image build helpers: fake `curl` (serves files from a fixture directory by URL
 * basename and logs each URL), `unzip` (writes a fake denort) and `patchelf` (logs its arguments).
 */
async function sandbox() {
  const dir = await Deno.makeTempDir({ prefix: "image_helpers_" });
  const bin = `${dir}/bin`;
  const files = `${dir}/files`;
  await Deno.mkdir(bin);
  await Deno.mkdir(files);
  const fakes: Record<string, string> = {
    curl: `#!/bin/sh
out=""; url=""
while [ $# -gt 0 ]; do
  case "$1" in --output) out="$2"; shift 2 ;; --*) shift ;; *) url="$1"; shift ;; esac
done
echo "$url" >>"${dir}/curl.log"
[ -f "${files}/\${url##*/}" ] || { echo "curl: (22) 404" >&2; exit 22; }
cp "${files}/\${url##*/}" "\${out:-\${url##*/}}"
`,
    unzip: `#!/bin/sh\necho "unzip $*" >>"${dir}/unzip.log"\nprintf 'denort runtime' >denort\n`,
    patchelf: `#!/bin/sh\nfor a in "$@"; do echo "$a"; done >>"${dir}/patchelf.log"\n`,
  };
  for (const [name, text] of Object.entries(fakes)) {
    await Deno.writeTextFile(`${bin}/${name}`, text);
    await Deno.chmod(`${bin}/${name}`, 0o755);
  }
  const read = (name: string) => Deno.readTextFile(`${dir}/${name}`).catch(() => "");
  return {
    out: `${dir}/out`,
    async serve(name: string, body: string): Promise<string> {
      const data = new TextEncoder().encode(body);
      await Deno.writeFile(`${files}/${name}`, data);
      return await sha256Hex(data);
    },
    async run(script: string, env: Record<string, string>) {
      const out = await new Deno.Command("sh", {
        signal: AbortSignal.timeout(COMMAND_TIMEOUT_MS),
        args: [`${SHARED}${script}`],
        clearEnv: true,
        env: {
          PATH: `${bin}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
          OUT_DIR: `${dir}/out`,
          ...env,
        },
        stdin: "null",
      }).output();
      return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
    },
    curlLog: async () => (await read("curl.log")).trim().split("\n").filter(Boolean),
    patchelfArgs: async () => (await read("patchelf.log")).trim().split("\n").filter(Boolean),
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

Deno.test("install-sentry-cli.sh installs the pinned release for the target architecture", async (t) => {
  const cases = [["amd64", "sentry-cli-Linux-x86_64"], [
    "arm64",
    "sentry-cli-Linux-aarch64",
  ]] as const;
  for (const [arch, asset] of cases) {
    await t.step(arch, async () => {
      await using box = await sandbox();
      const sha = await box.serve(asset, `#!/bin/sh\necho sentry-cli ${arch}\n`);
      const result = await box.run("install-sentry-cli.sh", {
        TARGETARCH: arch,
        SENTRY_CLI_VERSION: "2.58.6",
        SENTRY_CLI_SHA256_AMD64: arch === "amd64" ? sha : "0".repeat(64),
        SENTRY_CLI_SHA256_ARM64: arch === "arm64" ? sha : "0".repeat(64),
      });
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(await box.curlLog(), [
        `https://downloads.sentry-cdn.com/sentry-cli/2.58.6/${asset}`,
      ]);
      assert.match(
        await Deno.readTextFile(`${box.out}/sentry-cli`),
        new RegExp(`sentry-cli ${arch}`),
      );
      assert.equal((await Deno.stat(`${box.out}/sentry-cli`)).mode! & 0o777, 0o755);
    });
  }
});

Deno.test("install-sentry-cli.sh refuses a download whose checksum differs", async () => {
  await using box = await sandbox();
  await box.serve("sentry-cli-Linux-x86_64", "tampered");
  const result = await box.run("install-sentry-cli.sh", {
    TARGETARCH: "amd64",
    SENTRY_CLI_VERSION: "2.58.6",
    SENTRY_CLI_SHA256_AMD64: "1".repeat(64),
    SENTRY_CLI_SHA256_ARM64: "1".repeat(64),
  });
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, /FAILED|did NOT match/);
  assert.equal(await exists(`${box.out}/sentry-cli`), false);
});

Deno.test("fetch-denort.sh verifies denort and points it at the private glibc", async (t) => {
  const cases = [
    ["amd64", "x86_64-unknown-linux-gnu", "ld-linux-x86-64.so.2"],
    ["arm64", "aarch64-unknown-linux-gnu", "ld-linux-aarch64.so.1"],
  ] as const;
  for (const [arch, target, loader] of cases) {
    await t.step(`${arch}: the release's .sha256sum`, async () => {
      await using box = await sandbox();
      const zip = `denort-${target}.zip`;
      const sha = await box.serve(zip, `zip for ${target}`);
      await box.serve(`${zip}.sha256sum`, `${sha.toUpperCase()}  ${zip}\n`);
      const result = await box.run("fetch-denort.sh", { TARGETARCH: arch, DENO_VERSION: "2.9.6" });
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(await box.curlLog(), [
        `https://github.com/denoland/deno/releases/download/v2.9.6/${zip}`,
        `https://github.com/denoland/deno/releases/download/v2.9.6/${zip}.sha256sum`,
      ]);
      assert.deepEqual(await box.patchelfArgs(), [
        "--set-interpreter",
        `/usr/local/lib/glibc/${loader}`,
        "--set-rpath",
        "/usr/local/lib/glibc",
        "denort",
      ]);
      assert.equal((await Deno.readTextFile(`${box.out}/target`)).trim(), target);
      assert.equal(await Deno.readTextFile(`${box.out}/denort`), "denort runtime");
    });
  }

  await t.step("a pinned checksum wins over the release's file", async () => {
    await using box = await sandbox();
    const sha = await box.serve("denort-x86_64-unknown-linux-gnu.zip", "zip");
    const result = await box.run("fetch-denort.sh", {
      TARGETARCH: "amd64",
      DENO_VERSION: "2.9.6",
      DENORT_SHA256_AMD64: sha,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal((await box.curlLog()).length, 1, "no .sha256sum download when pinned");
  });

  await t.step("a mismatch stops the build before anything is patched", async () => {
    await using box = await sandbox();
    const zip = "denort-aarch64-unknown-linux-gnu.zip";
    await box.serve(zip, "tampered zip");
    await box.serve(`${zip}.sha256sum`, `${"a".repeat(64)}  ${zip}\n`);
    const result = await box.run("fetch-denort.sh", { TARGETARCH: "arm64", DENO_VERSION: "2.9.6" });
    assert.notEqual(result.code, 0);
    assert.deepEqual(await box.patchelfArgs(), []);
    assert.equal(await exists(`${box.out}/denort`), false);
  });

  await t.step("an unsupported architecture is refused", async () => {
    await using box = await sandbox();
    const result = await box.run("fetch-denort.sh", { TARGETARCH: "s390x", DENO_VERSION: "2.9.6" });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /unsupported TARGETARCH "s390x"/);
  });
});
