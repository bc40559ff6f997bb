import assert from "node:assert/strict";

// a command that hangs fails its test instead of holding CI
const COMMAND_TIMEOUT_MS = 60_000;

const ROOT = new URL("..", import.meta.url).pathname;
const PROVIDERS = ["dokku", "heroku"] as const;

/** One Dockerfile instruction, continuation lines joined. */
interface Instruction {
  keyword: string;
  args: string;
}

/** A build stage: its FROM line and the instructions that follow it. */
interface Stage {
  from: string;
  name: string | undefined;
  instructions: Instruction[];
}

function parseDockerfile(text: string): { globalArgs: Map<string, string>; stages: Stage[] } {
  const lines = text.split("\n").filter((l) => !/^\s*#/.test(l));
  const joined = lines.join("\n").replace(/\\\n/g, " ");
  const instructions = joined.split("\n").map((l) => l.trim()).filter(Boolean).map((l) => {
    const [keyword, ...rest] = l.split(/\s+/);
    return { keyword: keyword!.toUpperCase(), args: rest.join(" ") };
  });
  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === "FROM") {
      const parts = ins.args.split(/\s+/).filter((p) => !p.startsWith("--platform"));
      const as = parts.findIndex((p) => p.toUpperCase() === "AS");
      stages.push({ from: parts[0]!, name: as >= 0 ? parts[as + 1] : undefined, instructions: [] });
    } else if (stages.length === 0) {
      if (ins.keyword === "ARG") {
        const [name, value = ""] = ins.args.split("=");
        globalArgs.set(name!, value);
      }
    } else {
      stages.at(-1)!.instructions.push(ins);
    }
  }
  return { globalArgs, stages };
}

/** Expands ${NAME} with the global ARG defaults. */
function expand(value: string, args: Map<string, string>): string {
  return value.replace(/\$\{(\w+)\}/g, (_, name: string) => args.get(name) ?? `\${${name}}`);
}

/** ARG defaults declared inside one stage. */
function stageArgs(stage: Stage): Map<string, string> {
  const args = new Map<string, string>();
  for (const ins of stage.instructions.filter((i) => i.keyword === "ARG")) {
    const eq = ins.args.indexOf("=");
    if (eq >= 0) args.set(ins.args.slice(0, eq), ins.args.slice(eq + 1).replace(/^"|"$/g, ""));
    else args.set(ins.args, "");
  }
  return args;
}

function argsOf(stage: Stage, keyword: string): string[] {
  return stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);
}

async function load(provider: string) {
  const text = await Deno.readTextFile(`${ROOT}images/${provider}/Dockerfile`);
  return { text, ...parseDockerfile(text) };
}

for (const provider of PROVIDERS) {
  Deno.test(`the ${provider} image is a pinned multi-stage Alpine build`, async (t) => {
    const { globalArgs, stages } = await load(provider);
    const stageNames = new Set(stages.map((s) => s.name).filter(Boolean));
    const runtime = stages.at(-1)!;

    await t.step("the runtime stage is Alpine at an exact version", () => {
      const image = expand(runtime.from, globalArgs);
      assert.match(image, /^alpine:\d+\.\d+\.\d+$/, `runtime stage is "${image}"`);
    });

    await t.step("every base image is pinned to a version or a digest", () => {
      for (const stage of stages) {
        if (stageNames.has(stage.from)) continue;
        const image = expand(stage.from, globalArgs);
        assert.doesNotMatch(image, /\$\{/, `unresolved ${stage.from}`);
        const pinned = /@sha256:[0-9a-f]{64}$/.test(image) || /:\d+\.\d+\.\d+$/.test(image);
        assert.ok(pinned, `${image} is not pinned`);
      }
    });

    await t.step("a Deno stage compiles the binary with deno task compile", () => {
      const build = stages.find((s) =>
        argsOf(s, "RUN").some((r) => r.includes("deno task compile"))
      );
      assert.ok(build, "no stage runs deno task compile");
      assert.match(expand(build.from, globalArgs), /^denoland\/deno:/);
      assert.ok(
        stages.indexOf(build) < stages.length - 1,
        "compiling happens before the runtime stage",
      );
      const copies = argsOf(runtime, "COPY");
      assert.ok(
        copies.some((c) =>
          c.includes(`--from=${build.name}`) && c.endsWith("/usr/local/bin/deploy")
        ),
        "the runtime stage puts the compiled binary on PATH as deploy",
      );
    });

    await t.step("git, openssh-client and ca-certificates are installed", () => {
      const apk = argsOf(runtime, "RUN").find((r) => r.includes("apk add"));
      assert.ok(apk, "no apk add in the runtime stage");
      const words = apk.split(/\s+/);
      for (const pkg of ["git", "openssh-client", "ca-certificates"]) {
        assert.ok(words.includes(pkg), `${pkg} is not installed`);
      }
    });

    await t.step(
      "sentry-cli is pinned and its checksum verified for each architecture",
      async () => {
        const stage = stages.find((s) => stageArgs(s).has("SENTRY_CLI_VERSION"));
        assert.ok(stage, "no stage declares SENTRY_CLI_VERSION");
        const args = stageArgs(stage);
        assert.match(args.get("SENTRY_CLI_VERSION")!, /^\d+\.\d+\.\d+$/);
        assert.match(args.get("SENTRY_CLI_SHA256_AMD64")!, /^[0-9a-f]{64}$/);
        assert.match(args.get("SENTRY_CLI_SHA256_ARM64")!, /^[0-9a-f]{64}$/);
        assert.ok(args.has("TARGETARCH"), "the stage must know the target architecture");
        assert.ok(argsOf(stage, "RUN").some((r) => r.includes("install-sentry-cli.sh")));
        const script = await Deno.readTextFile(`${ROOT}images/_shared/install-sentry-cli.sh`);
        assert.match(script, /sha256sum -c/);
        assert.match(script, /SENTRY_CLI_SHA256_AMD64/);
        assert.match(script, /SENTRY_CLI_SHA256_ARM64/);
        assert.ok(
          argsOf(runtime, "COPY").some((c) =>
            c.includes(`--from=${stage.name}`) && c.includes("sentry-cli")
          ),
          "the runtime stage takes sentry-cli from the verifying stage",
        );
      },
    );

    await t.step(`DEPLOY_PROVIDER is preset to ${provider}`, () => {
      assert.ok(argsOf(runtime, "ENV").includes(`DEPLOY_PROVIDER=${provider}`));
    });

    await t.step("no ENTRYPOINT keeps GitLab's script: from running in a shell", () => {
      for (const stage of stages) {
        for (const entrypoint of argsOf(stage, "ENTRYPOINT")) {
          assert.match(entrypoint, /exec "\$@"/, `ENTRYPOINT ${entrypoint} does not exec "$@"`);
        }
      }
      const cmd = argsOf(runtime, "CMD");
      assert.ok(cmd.length === 0 || cmd.at(-1) === '["deploy"]', `CMD is ${cmd.at(-1)}`);
    });

    await t.step("glibc stays private to the deploy binary", async () => {
      assert.ok(
        argsOf(runtime, "COPY").some((c) =>
          /--from=\S+ \/lib\/\*-linux-gnu\/ \/usr\/local\/lib\/glibc\//.test(c)
        ),
        "glibc is copied into /usr/local/lib/glibc",
      );
      for (const env of argsOf(runtime, "ENV")) {
        assert.doesNotMatch(
          env,
          /LD_LIBRARY_PATH|LD_PRELOAD/,
          "a global library path would break git and ssh",
        );
      }
      const script = await Deno.readTextFile(`${ROOT}images/_shared/fetch-denort.sh`);
      assert.match(
        script,
        /patchelf --set-interpreter "\$glibc_dir\/\$loader" --set-rpath "\$glibc_dir"/,
      );
      const build = stages.find((s) =>
        argsOf(s, "RUN").some((r) => r.includes("deno task compile"))
      )!;
      assert.ok(
        argsOf(build, "RUN").some((r) => r.includes("DENORT_BIN=")),
        "compile on the patched runtime",
      );
    });

    await t.step("the image carries OCI labels", () => {
      const labels = argsOf(runtime, "LABEL").join(" ");
      for (const key of ["title", "description", "version", "revision", "source"]) {
        assert.match(
          labels,
          new RegExp(`org\\.opencontainers\\.image\\.${key}=`),
          `no ${key} label`,
        );
      }
      assert.match(labels, new RegExp(`image\\.title="deploy-${provider}"`));
    });

    await t.step("every file the build copies from the context exists", async () => {
      for (const stage of stages) {
        for (const copy of argsOf(stage, "COPY")) {
          if (copy.startsWith("--from=")) continue;
          const sources = copy.split(/\s+/).filter((p) => !p.startsWith("--")).slice(0, -1);
          for (const source of sources) await Deno.stat(`${ROOT}${source}`);
        }
      }
    });
  });
}

Deno.test("the two images are one Dockerfile with the provider swapped", async () => {
  const normalize = (text: string, provider: string) =>
    text.replaceAll(provider, "<provider>")
      .replaceAll(provider[0]!.toUpperCase() + provider.slice(1), "<Provider>");
  const [dokku, heroku] = await Promise.all(PROVIDERS.map(load));
  assert.equal(normalize(heroku!.text, "heroku"), normalize(dokku!.text, "dokku"));
});

Deno.test("the pinned sentry-cli checksums match the official release's", async (t) => {
  const { stages } = await load("dokku");
  const args = stageArgs(stages.find((s) => stageArgs(s).has("SENTRY_CLI_VERSION"))!);
  // @sentry/cli on npm ships the checksums of its release binaries; use it when it is installed
  let checksums: string | undefined;
  let version: string | undefined;
  const root = await new Deno.Command("npm", {
    signal: AbortSignal.timeout(COMMAND_TIMEOUT_MS),
    args: ["root", "-g"],
    stdout: "piped",
    stderr: "null",
  })
    .output().then((o) => new TextDecoder().decode(o.stdout).trim()).catch(() => "");
  try {
    checksums = await Deno.readTextFile(`${root}/@sentry/cli/checksums.txt`);
    version = JSON.parse(await Deno.readTextFile(`${root}/@sentry/cli/package.json`)).version;
  } catch (e: unknown) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const comparable = checksums !== undefined && version === args.get("SENTRY_CLI_VERSION");
  await t.step({
    name: comparable
      ? `sentry-cli ${version}: amd64 and arm64 match checksums.txt`
      : `skipped: @sentry/cli ${
        args.get("SENTRY_CLI_VERSION")
      } is not installed globally to compare with`,
    ignore: !comparable,
    fn() {
      assert.match(
        checksums!,
        new RegExp(`^sentry-cli-Linux-x86_64=${args.get("SENTRY_CLI_SHA256_AMD64")}$`, "m"),
      );
      assert.match(
        checksums!,
        new RegExp(`^sentry-cli-Linux-aarch64=${args.get("SENTRY_CLI_SHA256_ARM64")}$`, "m"),
      );
    },
  });
});

/** Shell scripts under scripts/ and images/: a .sh name or a sh/bash shebang. */
async function shellScripts(): Promise<string[]> {
  const found: string[] = [];
  async function walk(dir: string) {
    for await (const entry of Deno.readDir(`${ROOT}${dir}`)) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else if (entry.isFile) {
        const head = (await Deno.readTextFile(`${ROOT}${path}`)).slice(0, 64);
        if (path.endsWith(".sh") || /^#!\s*\S*(\/env\s+)?\S*\b(ba|da)?sh\b/.test(head)) {
          found.push(path);
        }
      }
    }
  }
  await walk("scripts");
  await walk("images");
  return found.sort();
}

Deno.test("every shell script passes shellcheck", async (t) => {
  const scripts = await shellScripts();
  assert.ok(scripts.includes("scripts/install.sh") && scripts.includes("scripts/build-images"));
  const available = await new Deno.Command("shellcheck", {
    signal: AbortSignal.timeout(COMMAND_TIMEOUT_MS),
    args: ["--version"],
    stdout: "null",
  })
    .output().then((o) => o.success).catch(() => false);
  for (const script of scripts) {
    await t.step({
      name: available
        ? script
        : `${script}: skipped, shellcheck is not installed (apt-get install shellcheck)`,
      ignore: !available,
      async fn() {
        const out = await new Deno.Command("shellcheck", {
          signal: AbortSignal.timeout(COMMAND_TIMEOUT_MS),
          args: ["--external-sources", script],
          cwd: ROOT,
        })
          .output();
        assert.equal(out.code, 0, new TextDecoder().decode(out.stdout));
      },
    });
  }
});
