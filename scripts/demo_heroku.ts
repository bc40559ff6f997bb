/**
 * `deno task demo --provider heroku`: two real deploys of a sample Rails app to the local Heroku
 * stand-in (the Platform API, `git http-backend` behind basic auth, and a rendezvous TLS endpoint),
 * with the tool's output streamed to the terminal, then what the stand-in saw: the API calls, the
 * pushes, the releases and the one-off dynos. Everything is removed at the end, also on Ctrl-C.
 *
 * ```sh
 * deno task demo --provider heroku
 * DEMO_SLOW_BUILD=10 deno task demo --provider heroku   # a 10 s build, to try Ctrl-C
 * ```
 *
 * @module
 */
// deno-lint-ignore-file no-console -- a script that prints for a person at a terminal
import { type HerokuStandin, startHerokuStandin } from "../test/sandbox/heroku.ts";
import { PERMISSION_FLAGS } from "./permissions.ts";

const MAIN = new URL("../src/main.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;
const APP = "demo-shop";

/** The sample app: what a small Rails app on Heroku puts in its repository, as far as a deploy cares. */
const SAMPLE_APP: Record<string, string> = {
  "Gemfile": 'source "https://rubygems.org"\n\ngem "rails", "~> 8.0"\ngem "puma"\ngem "sidekiq"\n',
  "Gemfile.lock": [
    "GEM",
    "  remote: https://rubygems.org/",
    "  specs:",
    "    puma (6.6.0)",
    "    rails (8.0.2)",
    "    sidekiq (8.0.4)",
    "",
    "DEPENDENCIES",
    "  puma",
    "  rails (~> 8.0)",
    "  sidekiq",
    "",
  ].join("\n"),
  "Procfile": [
    "web: bundle exec puma -C config/puma.rb",
    "worker: bundle exec sidekiq",
    "release: bin/rails db:migrate",
    "",
  ].join("\n"),
  "config.ru": 'require_relative "config/environment"\nrun Rails.application\n',
  "README.md": "# demo-shop\n\nA sample app for `deno task demo --provider heroku`.\n",
};

// what `bundle exec rails runner ...` prints in a one-off dyno of the stand-in
const FAKE_BUNDLE = `#!/bin/sh
echo "Quieting 2 Sidekiq processes on $DYNO"
exit 0
`;

/** Options of {@linkcode demoHeroku}. */
export interface DemoHerokuOptions {
  /** Aborted on Ctrl-C: the deploy gets the signal, then everything is cleaned up. */
  signal?: AbortSignal;
}

/** Runs the Heroku demo and returns the exit code of the last deploy. */
export async function demoHeroku(options: DemoHerokuOptions = {}): Promise<number> {
  const bold = (text: string) => Deno.stdout.isTerminal() ? `\x1b[1m${text}\x1b[0m` : text;
  const step = (text: string) => console.log(`\n${bold(`### ${text}`)}\n`);

  step("Starting the Heroku stand-in (API, git and rendezvous on 127.0.0.1) and a sample app");
  await using heroku = await startHerokuStandin({ app: APP });
  await using repo = await sampleRepo();
  await heroku.fakeBin("bundle", FAKE_BUNDLE);
  heroku.setReleasePhase({
    output: [
      "== 20260101000000 CreateProducts: migrating ==================================",
      "-- create_table(:products)",
      "   -> 0.0042s",
      "== 20260101000000 CreateProducts: migrated (0.0043s) =========================",
    ],
    durationMs: 400,
  });
  const slow = Number(Deno.env.get("DEMO_SLOW_BUILD") ?? 0);
  if (Number.isInteger(slow) && slow > 0) await heroku.setBuildDelay(slow);
  console.log(`API:         ${heroku.apiUrl}`);
  console.log(`git:         ${heroku.gitUrl}/${APP}.git (basic auth, password = the API key)`);
  console.log(`rendezvous:  TLS, CA in ${heroku.certFile} (given to the tool as DENO_CERT)`);
  const env = {
    DEPLOY_PROVIDER: "heroku",
    APP_NAME: APP,
    HEROKU_API_KEY: heroku.apiKey,
    HEROKU_API_URL: heroku.apiUrl,
    HEROKU_GIT_URL: heroku.gitUrl,
    DENO_CERT: heroku.certFile,
  };
  console.log(
    `variables:   ${
      Object.entries(env).map(([k, v]) =>
        `${k}=${k === "HEROKU_API_KEY" ? "(the stand-in's key)" : v}`
      )
        .join(" ")
    }`,
  );

  if (options.signal?.aborted) return 130;
  step("Deploy 1: a new app   (the real CLI, with the compiled binary's permissions)");
  let code = await runDeploy(repo.path, env, options.signal);
  if (options.signal?.aborted) return 130;
  if (code === 0) {
    await Deno.writeTextFile(`${repo.path}/README.md`, "# demo-shop\n\nNow with products.\n");
    await commit(repo.path, "Describe the products");
    step("Deploy 2: a new commit (the Rails layer first quiets Sidekiq in a one-off dyno)");
    code = await runDeploy(repo.path, env, options.signal);
    if (options.signal?.aborted) return 130;
  }

  step("What the Heroku stand-in saw");
  await report(heroku, repo.path, code);
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
  const forward = () => {
    try {
      child.kill("SIGINT");
    } catch {
      // already ended
    }
  };
  signal?.addEventListener("abort", forward, { once: true });
  try {
    return (await child.status).code;
  } finally {
    signal?.removeEventListener("abort", forward);
  }
}

async function report(heroku: HerokuStandin, repo: string, code: number): Promise<void> {
  const requests = heroku.requests();
  const start = requests[0]?.at ?? 0;
  console.log(`The last deploy exited with ${code}. Platform API calls (${requests.length}):`);
  for (const request of requests) {
    const range = request.headers.range ? `  (Range: ${request.headers.range})` : "";
    console.log(
      `  +${
        String(request.at - start).padStart(5)
      } ms  ${request.status}  ${request.method} ${request.path}${range}`,
    );
  }
  const git = heroku.gitRequests();
  console.log(
    `\ngit requests: ${git.length} (${
      git.filter((r) => r.status === 401).length
    } answered 401 before git asked its credential helper)`,
  );
  for (const push of await heroku.pushes()) {
    console.log(
      `  push ${push.ref}: ${push.before.slice(0, 7)} -> ${
        push.after.slice(0, 7)
      } (${push.outcome})`,
    );
  }
  const streams = heroku.streamRequests();
  console.log(
    `\nrelease output stream requests: ${streams.length} (each push showed its release phase itself;` +
      ` ${streams.filter((r) => r.headers.authorization !== undefined).length} carried a key)`,
  );
  console.log("\nReleases:");
  for (const release of heroku.releases()) {
    console.log(
      `  v${release.version}  ${release.status.padEnd(9)} ${
        release.current ? "current" : "       "
      }  ${release.commit?.slice(0, 7) ?? "-------"}  ${release.description}`,
    );
  }
  for (const session of heroku.sessions()) {
    const command = session.command.replace(
      / ; echo "\uFFFF heroku-command-exit-status: \$\?"$/,
      "",
    );
    console.log(`\nOne-off dyno ${session.dyno} ran: ${command}`);
    console.log(
      `  (followed by the exit-status marker the tool reads, as \`heroku run --exit-code\` does)`,
    );
  }
  const head = (await gitOut(repo, ["rev-parse", "HEAD"])).trim();
  const deployed = heroku.deployedCommit();
  console.log(
    `\nThe app runs ${deployed?.slice(0, 7) ?? "(nothing)"}` +
      (deployed === head ? "  = HEAD of the app repo" : `  but HEAD is ${head.slice(0, 7)}`),
  );
  console.log(
    "\nStopping the stand-in and removing the sample repo. `deno task test` runs the full suite.",
  );
}

async function sampleRepo(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "deploy-demo-heroku-" });
  const dispose = () => Deno.remove(path, { recursive: true }).catch(() => {});
  try {
    for (const [name, text] of Object.entries(SAMPLE_APP)) {
      await Deno.writeTextFile(`${path}/${name}`, text);
    }
    await gitOut(path, ["init", "--quiet", "--initial-branch=main"]);
    await commit(path, "Sample app for the demo");
  } catch (e: unknown) {
    await dispose();
    throw e;
  }
  return { path, [Symbol.asyncDispose]: dispose };
}

async function commit(path: string, message: string): Promise<void> {
  await gitOut(path, ["add", "--all"]);
  await gitOut(path, [
    "-c",
    "user.name=Demo",
    "-c",
    "user.email=demo@example.com",
    "commit",
    "--quiet",
    "-m",
    message,
  ]);
}

async function gitOut(cwd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command("git", { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`git ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

if (import.meta.main) {
  Deno.exit(await demoHeroku());
}
