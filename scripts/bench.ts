/**
 * `scripts/bench [--runs N]`: times deploys to the Dokku sandbox against a plain bash script that
 * does the same steps with the same key, and counts SSH connections per deploy.
 *
 * Each timed round adds one commit to a shared app repo, then every variant deploys it to its own
 * app (so every push is an incremental one, and noise hits all variants alike):
 *
 * - `plain`: bash running `ssh version`, `git ls-remote`, `git push`, `ssh run APP true`; each
 *   step opens its own connection.
 * - `plain-3`: the same without the `run` step, to compare with the CLI, which has no layer that
 *   calls `provider.run` yet.
 * - `cli`: the real CLI, `deno run` with the compiled binary's permission flags (version,
 *   ls-remote, push). It pays Deno's startup and module loading on every run.
 * - `cli-cached`: the same with `--cached-only`.
 * - `engine`: the same engine in this process (`runCommand` with the real layers plus one that
 *   calls `provider.run(["true"])` in post_deploy): all four steps, without Deno's startup.
 * - `engine-3`: the same without that layer; `engine` minus `engine-3` is what one run costs.
 * - `startup`: `deploy --version` through `deno run`, the fixed cost the `cli` figures include.
 *
 * `--latency MS` puts a proxy on loopback between the deploys and the sandbox that delays every
 * chunk by MS milliseconds each way (so 2 x MS of round-trip time), runs only `plain` and `engine`
 * (the same four steps), and prints the round trips each deploy cost next to the time.
 *
 * @module
 */
// deno-lint-ignore-file no-console -- a script that prints its figures
import { z } from "zod";
import { LAYERS } from "../layers/mod.ts";
import { runCommand } from "../src/commands.ts";
import { defineLayer } from "../src/layer.ts";
import { type DokkuSandbox, startDokkuSandbox } from "../test/sandbox/dokku.ts";
import { startLatencyProxy } from "./bench_proxy.ts";
import { PERMISSION_FLAGS } from "./permissions.ts";

const MAIN = new URL("../src/main.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;

/** The plain script: the steps of a deploy (plus one `run`), one ssh connection each. */
const PLAIN_SCRIPT = `#!/usr/bin/env bash
set -euo pipefail
# usage: plain.sh KEY KNOWN_HOSTS USER PORT APP SHA RUN(yes|no)
key="$1" known_hosts="$2" user="$3" port="$4" app="$5" sha="$6" run="$7"
ssh_opts=(-F /dev/null -i "$key" -o IdentitiesOnly=yes -o BatchMode=yes -o ConnectTimeout=15
  -o "UserKnownHostsFile=$known_hosts" -o StrictHostKeyChecking=yes)
export GIT_SSH_COMMAND="ssh ${"$"}{ssh_opts[*]}" GIT_TERMINAL_PROMPT=0
url="ssh://$user@127.0.0.1:$port/$app"
ssh "${"$"}{ssh_opts[@]}" -p "$port" "$user@127.0.0.1" version >/dev/null
# a new app does not exist until its first push: ls-remote fails then
deployed="$(git ls-remote "$url" refs/heads/master 2>/dev/null | cut -f1 || true)"
if [[ "$deployed" != "$sha" ]]; then
  git push --quiet "$url" "$sha:refs/heads/master" 2>/dev/null
fi
if [[ "$run" == yes ]]; then
  ssh "${"$"}{ssh_opts[@]}" -p "$port" "$user@127.0.0.1" run "$app" true
fi
`;

interface Variant {
  /** Short name for the table. */
  name: string;
  /** What it measures. */
  what: string;
  /** Runs one deploy of the repo's HEAD (`sha`) to `app`; throws when it fails. */
  deploy(sha: string): Promise<void>;
  /** Its app on the sandbox. */
  app: string;
  /** Whether it deploys (counts connections); `startup` does not. */
  deploys: boolean;
}

interface Figures {
  times: number[];
  connections: number[];
  roundTrips: number[];
}

/** Where the deploys connect: the sandbox itself, or the latency proxy in front of it. */
interface Target {
  port: number;
  knownHosts: string;
  knownHostsPath: string;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function exec(
  cmd: string,
  args: string[],
  options: Deno.CommandOptions = {},
): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped", ...options })
    .output();
  const decoder = new TextDecoder();
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} exited with ${out.code}:\n${decoder.decode(out.stdout)}${
        decoder.decode(out.stderr)
      }`,
    );
  }
  return decoder.decode(out.stdout);
}

/** A layer for the `engine` variant: one `provider.run` after the push, as the Rails layer does. */
const benchLayer = defineLayer({
  name: "bench",
  kind: "application",
  description: "One provider.run after the push",
  variables: z.object({}),
  enabled: () => true,
  setup({ on }) {
    on("post_deploy", { priority: 100, description: "run `true` in the app" }, async (ctx) => {
      await ctx.provider.run(["true"], { stream: false });
    });
  },
});

function variants(
  sandbox: DokkuSandbox,
  repo: string,
  script: string,
  target: Target,
): Variant[] {
  const env = (app: string) => ({
    DEPLOY_PROVIDER: "dokku",
    DOKKU_HOST: `${sandbox.user}@127.0.0.1:${target.port}`,
    APP_NAME: app,
    SSH_PRIVATE_KEY: sandbox.privateKey,
    SSH_KNOWN_HOSTS: target.knownHosts,
    // the warm-up round deploys new apps
    DOKKU_CREATE_APP: "true",
  });
  const plain = (app: string, run: boolean) => async (sha: string) => {
    await exec("bash", [
      script,
      sandbox.privateKeyPath,
      target.knownHostsPath,
      sandbox.user,
      String(target.port),
      app,
      sha,
      run ? "yes" : "no",
    ], { cwd: repo });
  };
  const cli = (app: string, extra: string[]) => async () => {
    await exec(Deno.execPath(), [
      "run",
      "--quiet",
      ...extra,
      `--config=${CONFIG}`,
      ...PERMISSION_FLAGS,
      MAIN,
    ], {
      cwd: repo,
      // only what a CI job would have, so this machine's CI_* or DEPLOY_* variables stay out
      env: {
        PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
        HOME: Deno.env.get("HOME") ?? "/",
        ...env(app),
      },
      clearEnv: true,
    });
  };
  const engine = (app: string, withRun: boolean) => async () => {
    let log = "";
    const code = await runCommand("deploy", {}, withRun ? [...LAYERS, benchLayer] : LAYERS, {
      env: env(app),
      cwd: repo,
      write: (text) => log += text,
      writeError: (text) => log += text,
      isTerminal: false,
      exit: (code) => {
        throw new Error(`exit ${code}`);
      },
      handleSignals: false,
    });
    if (code !== 0) throw new Error(`engine deploy exited with ${code}:\n${log}`);
  };
  return [
    {
      name: "plain",
      what: "bash: ssh version, ls-remote, push, ssh run",
      deploy: plain("b-plain", true),
      app: "b-plain",
      deploys: true,
    },
    {
      name: "plain-3",
      what: "bash: ssh version, ls-remote, push",
      deploy: plain("b-plain3", false),
      app: "b-plain3",
      deploys: true,
    },
    {
      name: "cli",
      what: "deno run src/main.ts (binary's flags): version, ls-remote, push",
      deploy: cli("b-cli", []),
      app: "b-cli",
      deploys: true,
    },
    {
      name: "cli-cached",
      what: "the same with deno run --cached-only",
      deploy: cli("b-cached", ["--cached-only"]),
      app: "b-cached",
      deploys: true,
    },
    {
      name: "engine",
      what:
        "runCommand in-process: one round (version, apps:report, git:report), push, provider.run",
      deploy: engine("b-engine", true),
      app: "b-engine",
      deploys: true,
    },
    {
      name: "engine-3",
      what: "runCommand in-process: one round (version, apps:report, git:report), push",
      deploy: engine("b-engine3", false),
      app: "b-engine3",
      deploys: true,
    },
    {
      name: "startup",
      what: "deno run src/main.ts --version (the fixed cost inside cli)",
      deploy: async () => {
        await exec(Deno.execPath(), [
          "run",
          "--quiet",
          `--config=${CONFIG}`,
          ...PERMISSION_FLAGS,
          MAIN,
          "--version",
        ]);
      },
      app: "",
      deploys: false,
    },
  ];
}

async function commit(repo: string, n: number): Promise<string> {
  await Deno.writeTextFile(`${repo}/round.txt`, `${n}\n`);
  await exec("git", ["add", "round.txt"], { cwd: repo });
  await exec("git", [
    "-c",
    "user.name=Bench",
    "-c",
    "user.email=bench@example.com",
    "commit",
    "--quiet",
    "-m",
    `Round ${n}`,
  ], { cwd: repo });
  return (await exec("git", ["rev-parse", "HEAD"], { cwd: repo })).trim();
}

async function bench(runs: number, latencyMs: number | undefined): Promise<void> {
  await using sandbox = await startDokkuSandbox();
  await using proxy = latencyMs === undefined
    ? undefined
    : await startLatencyProxy(sandbox.port, latencyMs);
  const dir = await Deno.makeTempDir({ prefix: "deploy-bench-" });
  try {
    let target: Target = {
      port: sandbox.port,
      knownHosts: sandbox.knownHosts,
      knownHostsPath: sandbox.knownHostsPath,
    };
    if (proxy) {
      const knownHosts = sandbox.knownHosts.replace(`]:${sandbox.port} `, `]:${proxy.port} `);
      await Deno.writeTextFile(`${dir}/known_hosts`, `${knownHosts}\n`);
      target = { port: proxy.port, knownHosts, knownHostsPath: `${dir}/known_hosts` };
    }
    const repo = `${dir}/app`;
    await Deno.mkdir(repo);
    await exec("git", ["init", "--quiet", "--initial-branch=main"], { cwd: repo });
    await Deno.writeTextFile(`${repo}/Procfile`, "web: bundle exec puma\n");
    const script = `${dir}/plain.sh`;
    await Deno.writeTextFile(script, PLAIN_SCRIPT, { mode: 0o755 });
    const all = variants(sandbox, repo, script, target).filter((v) =>
      !proxy || v.name === "plain" || v.name === "engine"
    );
    const figures = new Map<string, Figures>(
      all.map((v) => [v.name, { times: [], connections: [], roundTrips: [] }]),
    );
    await exec("ssh", [...sandbox.sshArgs, `${sandbox.user}@127.0.0.1`, "version"]); // warms sshd's first fork
    console.log(
      `Dokku sandbox at ${sandbox.dokkuHost}; ${runs} timed rounds after one warm-up round.` +
        (proxy ? ` Through a proxy adding ${latencyMs} ms each way.` : ""),
    );
    // Ctrl-C ends the current round, then the sandbox and the temp dir are removed as usual
    let interrupted = false;
    const onSignal = () => {
      interrupted = true;
    };
    Deno.addSignalListener("SIGINT", onSignal);
    Deno.addSignalListener("SIGTERM", onSignal);
    let done = 0; // timed rounds completed
    for (let round = 0; round <= runs && !interrupted; round++) {
      const sha = await commit(repo, round);
      const samples: [Variant, number, number, number][] = [];
      for (const variant of all) {
        const before = await sandbox.connections();
        const tripsBefore = proxy?.roundTrips() ?? 0;
        const started = performance.now();
        try {
          await variant.deploy(sha);
        } catch (e: unknown) {
          if (interrupted) break; // Ctrl-C reached the deploy too
          throw e;
        }
        const ms = performance.now() - started;
        const connections = (await sandbox.connections()) - before;
        const roundTrips = (proxy?.roundTrips() ?? 0) - tripsBefore;
        if (variant.deploys && (await sandbox.deployedSha(variant.app)) !== sha) {
          throw new Error(`${variant.name} did not deploy ${sha}`);
        }
        samples.push([variant, ms, connections, roundTrips]);
      }
      // the warm-up round creates the apps and fills caches; an interrupted round is dropped
      if (round === 0 || interrupted) continue;
      for (const [variant, ms, connections, roundTrips] of samples) {
        figures.get(variant.name)!.times.push(ms);
        figures.get(variant.name)!.connections.push(connections);
        figures.get(variant.name)!.roundTrips.push(roundTrips);
      }
      done++;
      await Deno.stdout.write(new TextEncoder().encode(done === 1 ? "timed rounds: ." : "."));
    }
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
    console.log("\n");
    if (interrupted) console.log(`interrupted after ${done} timed rounds`);
    if (done > 0 && proxy) printLatency(all, figures, done, latencyMs!);
    else if (done > 0) print(all, figures, done);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

function printLatency(all: Variant[], figures: Map<string, Figures>, runs: number, ms: number) {
  console.log(`variant     median  round trips/deploy  ssh conns/deploy  what (${runs} rounds)`);
  for (const v of all) {
    const f = figures.get(v.name)!;
    console.log(
      `${v.name.padEnd(10)} ${median(f.times).toFixed(0).padStart(5)} ms ${
        String(median(f.roundTrips)).padStart(19)
      } ${String(median(f.connections)).padStart(17)}  ${v.what}`,
    );
  }
  const trips = (name: string) => median(figures.get(name)!.roundTrips);
  console.log(
    `\nround trips per deploy at ${2 * ms} ms RTT: tool ${trips("engine")}, plain script ${
      trips("plain")
    }`,
  );
}

function print(all: Variant[], figures: Map<string, Figures>, runs: number) {
  const med = (name: string) => median(figures.get(name)!.times);
  console.log(
    `variant     median    min    max  ssh conns/deploy  what (median of ${runs} rounds)`,
  );
  for (const v of all) {
    const f = figures.get(v.name)!;
    const conns = v.deploys ? String(median(f.connections)) : "-";
    console.log(
      `${v.name.padEnd(10)} ${med(v.name).toFixed(0).padStart(5)} ms ${
        Math.min(...f.times).toFixed(0).padStart(5)
      } ${Math.max(...f.times).toFixed(0).padStart(5)}  ${conns.padStart(16)}  ${v.what}`,
    );
  }
  const ratio = (a: number, b: number) => (a / b).toFixed(2);
  const conns = (name: string) => median(figures.get(name)!.connections);
  // the CLI has no layer that calls provider.run yet: add what one run costs the engine
  const runCost = med("engine") - med("engine-3");
  const lines = [
    "",
    "ratios of medians (target <= 1.00):",
    `  engine / plain               = ${
      ratio(med("engine"), med("plain"))
    }  same 4 steps, in-process: the engine without Deno's startup`,
    `  cli / plain-3                = ${
      ratio(med("cli"), med("plain-3"))
    }  same 3 steps, the tool as it runs here (deno run)`,
    `  cli-cached / plain-3         = ${
      ratio(med("cli-cached"), med("plain-3"))
    }  the same with deno run --cached-only`,
    `  (cli + run) / plain          = ${
      ratio(med("cli") + runCost, med("plain"))
    }  4 steps; the run step's cost (${runCost.toFixed(0)} ms = engine - engine-3) added to cli`,
    `  (cli - startup) / plain-3    = ${
      ratio(med("cli") - med("startup"), med("plain-3"))
    }  the CLI's deploy work, its startup taken out`,
    `ssh connections per deploy: tool ${conns("cli")} (engine ${conns("engine")}), plain script ${
      conns("plain")
    }`,
  ];
  console.log(lines.join("\n"));
}

if (import.meta.main) {
  const value = (flag: string) => {
    const i = Deno.args.indexOf(flag);
    return i >= 0 ? Number(Deno.args[i + 1]) : undefined;
  };
  const runs = value("--runs") ?? 10;
  const latency = value("--latency");
  const known = new Set(["--runs", "--latency"]);
  const bad = Deno.args.some((a, j) => !known.has(a) && !known.has(Deno.args[j - 1] ?? ""));
  if (
    !Number.isInteger(runs) || runs < 1 || bad ||
    (latency !== undefined && !(Number.isInteger(latency) && latency >= 0))
  ) {
    console.error(
      "usage: scripts/bench [--runs N] [--latency MS]   (N >= 1, default 10; MS each way)",
    );
    Deno.exit(2);
  }
  await bench(runs, latency);
}
