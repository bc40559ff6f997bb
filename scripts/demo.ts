/**
 * `deno task demo`: a real deploy to the Dokku sandbox (a real sshd on 127.0.0.1 speaking Dokku's
 * SSH interface), with the tool's output streamed to the terminal, then what the server saw: the
 * calls it received, the commit it now runs, and how many SSH connections the deploy opened.
 * Everything (sshd, temp dirs) is removed at the end, also on Ctrl-C.
 *
 * ```sh
 * deno task demo                     # Dokku
 * deno task demo --provider heroku   # Heroku stand-in (scripts/demo_heroku.ts)
 * DEMO_SLOW_BUILD=10 deno task demo  # a 10 s build: press Ctrl-C to watch a cancelled deploy
 * ```
 *
 * @module
 */
// deno-lint-ignore-file no-console -- a script that prints for a person at a terminal
import { type DokkuSandbox, startDokkuSandbox } from "../test/sandbox/dokku.ts";
import { PERMISSION_FLAGS } from "./permissions.ts";

const MAIN = new URL("../src/main.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;
const APP = "demo-shop";
// how long the deploy gets to notice a Ctrl-C by itself before the demo sends it SIGTERM
const FORWARD_AFTER_MS = 3_000;

/** The sample app: what a small Rails app puts in its repository, as far as a deploy cares. */
const SAMPLE_APP: Record<string, string> = {
  "Gemfile": 'source "https://rubygems.org"\n\ngem "rails", "~> 8.0"\ngem "puma"\n',
  "Procfile": "web: bundle exec puma -C config/puma.rb\nworker: bundle exec sidekiq\n",
  "config.ru": 'require_relative "config/environment"\nrun Rails.application\n',
  "README.md": "# demo-shop\n\nA sample app for `deno task demo`.\n",
};

/** Options of {@linkcode demoDokku}. */
export interface DemoOptions {
  /** Aborted on Ctrl-C: the deploy gets the signal, then everything is cleaned up. */
  signal?: AbortSignal;
}

/** Runs the Dokku demo and returns the deploy's exit code. */
export async function demoDokku(options: DemoOptions = {}): Promise<number> {
  const bold = (text: string) => Deno.stdout.isTerminal() ? `\x1b[1m${text}\x1b[0m` : text;
  const step = (text: string) => console.log(`\n${bold(`### ${text}`)}\n`);

  step("Starting the Dokku sandbox (sshd on 127.0.0.1) and a sample app repository");
  await using sandbox = await startDokkuSandbox();
  await using repo = await sampleRepo();
  const slow = Number(Deno.env.get("DEMO_SLOW_BUILD") ?? 0);
  if (Number.isInteger(slow) && slow > 0) await sandbox.slowNextBuild(slow);
  const head = (await git(repo.path, ["rev-parse", "HEAD"])).trim();
  console.log(`sshd:        ${sandbox.dokkuHost} (host key ${sandbox.hostKeyFingerprint})`);
  console.log(`app repo:    ${repo.path} at ${head.slice(0, 7)}`);
  // as an admin does once on a real server: the tool never creates an app by accident
  const created = await sandbox.admin(["apps:create", APP]);
  if (created.code !== 0) throw new Error(`Cannot create ${APP}: ${created.stderr}`);
  console.log(`app:         ${APP} (created with dokku apps:create)`);
  const env = {
    DEPLOY_PROVIDER: "dokku",
    DOKKU_HOST: sandbox.dokkuHost,
    APP_NAME: APP,
    SSH_PRIVATE_KEY: sandbox.privateKey,
    SSH_KNOWN_HOSTS: sandbox.knownHosts,
  };
  const shown = Object.entries(env).map(([k, v]) =>
    `${k}=${
      k === "SSH_PRIVATE_KEY"
        ? "(the sandbox's key)"
        : k === "SSH_KNOWN_HOSTS"
        ? "(its host key)"
        : v
    }`
  );
  console.log(`variables:   ${shown.join(" ")}`);

  if (options.signal?.aborted) return 130;
  step("Running: deploy   (the real CLI, with the compiled binary's permissions)");
  const code = await runDeploy(repo.path, env, options.signal);
  if (options.signal?.aborted) return 130;

  step("What happened on the server");
  await report(sandbox, head, code);
  return code;
}

async function runDeploy(
  cwd: string,
  env: Record<string, string>,
  signal?: AbortSignal,
): Promise<number> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", `--config=${CONFIG}`, ...PERMISSION_FLAGS, MAIN],
    cwd,
    env,
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  // Ctrl-C reaches the whole foreground process group, so the deploy has it already: a second
  // signal would make it exit at once. Pass a signal on only when the deploy did not get one.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const forward = () => {
    timer = setTimeout(() => {
      try {
        child.kill("SIGTERM");
      } catch {
        // already ended
      }
    }, FORWARD_AFTER_MS);
  };
  signal?.addEventListener("abort", forward, { once: true });
  try {
    return (await child.status).code;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", forward);
  }
}

async function report(sandbox: DokkuSandbox, head: string, code: number): Promise<void> {
  const calls = await sandbox.calls();
  const start = calls[0]?.at ?? 0;
  console.log(`The deploy exited with ${code} and sent ${calls.length} commands:`);
  for (const call of calls) {
    console.log(`  +${String(call.at - start).padStart(4)} ms  ${call.argv.join(" ")}`);
  }
  const deployed = await sandbox.deployedSha(APP);
  console.log(
    `\nThe app's master branch: ${deployed ?? "(none)"}` +
      (deployed === head ? "  = HEAD of the app repo" : `  but HEAD is ${head}`),
  );
  const connections = await sandbox.connections();
  console.log(
    `SSH connections opened:  ${connections}` +
      (connections === 1
        ? "  (one ControlMaster, shared by ssh and git)"
        : `  (expected 1: one ControlMaster for the run)`),
  );
  console.log(
    "\nStopping the sandbox and removing the sample repo. `deno task test` runs the full suite.",
  );
}

async function sampleRepo(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "deploy-demo-" });
  const dispose = () => Deno.remove(path, { recursive: true }).catch(() => {});
  try {
    for (const [name, text] of Object.entries(SAMPLE_APP)) {
      await Deno.writeTextFile(`${path}/${name}`, text);
    }
    await git(path, ["init", "--quiet", "--initial-branch=main"]);
    await git(path, ["add", "--all"]);
    await git(path, [
      "-c",
      "user.name=Demo",
      "-c",
      "user.email=demo@example.com",
      "commit",
      "--quiet",
      "-m",
      "Sample app for the demo",
    ]);
  } catch (e: unknown) {
    await dispose();
    throw e;
  }
  return { path, [Symbol.asyncDispose]: dispose };
}

async function git(cwd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command("git", { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`git ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

/** Loads scripts/demo_heroku.ts, or explains that it is not there. */
async function demoHerokuModule(): Promise<
  { demoHeroku: (options?: DemoOptions) => unknown } | undefined
> {
  const url = new URL("./demo_heroku.ts", import.meta.url);
  try {
    await Deno.stat(url);
  } catch {
    console.error(
      "deno task demo --provider heroku needs scripts/demo_heroku.ts, which is not in this checkout yet",
    );
    return undefined;
  }
  return await import(url.href);
}

/** The provider asked for, "help", or undefined for arguments the demo does not take. */
function parseArgs(args: string[]): string | undefined {
  if (args.length === 0) return "dokku";
  if (args.length === 1 && ["--help", "-h"].includes(args[0]!)) return "help";
  if (args.length === 1 && args[0]!.startsWith("--provider=")) return args[0]!.slice(11);
  if (args.length === 2 && args[0] === "--provider") return args[1];
  return undefined;
}

if (import.meta.main) {
  const provider = parseArgs(Deno.args);
  if (provider !== "dokku" && provider !== "heroku") {
    if (provider !== "help") {
      console.error(`demo: cannot use the arguments "${Deno.args.join(" ")}"`);
    }
    console.error("usage: deno task demo [--provider dokku|heroku]");
    Deno.exit(provider === "help" ? 0 : 2);
  }
  const controller = new AbortController();
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) return; // a second Ctrl-C: cleanup is already under way
    interrupted = true;
    console.error("\ndemo: interrupted, cleaning up...");
    controller.abort();
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  let code = 1;
  try {
    if (provider === "heroku") {
      const module = await demoHerokuModule();
      if (module) {
        const result = await module.demoHeroku({ signal: controller.signal });
        code = typeof result === "number" ? result : 0;
      }
    } else {
      code = await demoDokku({ signal: controller.signal });
    }
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
  Deno.exit(interrupted ? 130 : code);
}
