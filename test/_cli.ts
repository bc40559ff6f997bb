/**
 * Runs the real CLI the way users run the binary: `deno run` on src/main.ts with exactly the
 * permission flags `deno compile` uses, so a missing permission fails a test here.
 *
 * @module
 */
import { PERMISSION_FLAGS } from "../scripts/permissions.ts";

const MAIN = new URL("../src/main.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;

// CI variables of the machine running the tests must not leak into the tool's view of its run
const CI_VARIABLES =
  /^(CI|GITLAB_CI|GITHUB_ACTIONS|CI_.*|GITHUB_.*|GITLAB_.*|DEPLOY_.*|FORCE_.*|NO_COLOR|FORCE_COLOR)$/;

// a deploy against a sandbox takes seconds; a hang must fail the test, not hold CI
const CLI_TIMEOUT_MS = 120_000;

/** Options of {@linkcode runCli}. */
export interface RunCliOptions {
  /** The app repository to run in. */
  cwd: string;
  /** Variables for this run, on top of the test process's environment (CI variables removed). */
  env?: Record<string, string>;
  /** Called with the child once it runs (to send it a signal). */
  onSpawn?: (child: Deno.ChildProcess) => void | Promise<void>;
  /** Kills the CLI and fails the test after this long, so a hang fails fast. @default 120 s */
  timeoutMs?: number;
}

/** What the CLI did. */
export interface CliResult {
  /** Exit code. */
  code: number;
  /** Everything on stdout. */
  stdout: string;
  /** Everything on stderr. */
  stderr: string;
  /** Both, for "never appears anywhere" checks. */
  all: string;
}

/** Runs `deploy ARGS` in `options.cwd`. */
export async function runCli(args: string[], options: RunCliOptions): Promise<CliResult> {
  const env = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([name]) => !CI_VARIABLES.test(name)),
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", `--config=${CONFIG}`, ...PERMISSION_FLAGS, MAIN, ...args],
    cwd: options.cwd,
    env: { ...env, ...options.env },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, options.timeoutMs ?? CLI_TIMEOUT_MS);
  let output: Deno.CommandOutput;
  try {
    await options.onSpawn?.(child);
    output = await child.output();
  } finally {
    clearTimeout(timer);
  }
  if (timedOut) {
    throw new Error(
      `deploy ${args.join(" ")} still ran after ${options.timeoutMs ?? CLI_TIMEOUT_MS} ms`,
    );
  }
  const stdout = new TextDecoder().decode(output.stdout);
  const stderr = new TextDecoder().decode(output.stderr);
  return { code: output.code, stdout, stderr, all: stdout + stderr };
}

/** Creates a git repository with one commit per entry of `commits`; returns its path. */
export async function makeRepo(
  commits: { files: Record<string, string>; message: string }[],
): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "deploy-app-" });
  await git(dir, "init", "--quiet", "--initial-branch=main");
  for (const commit of commits) await addCommit(dir, commit);
  return dir;
}

/** Adds one commit to the repository at `dir`; returns its sha. */
export async function addCommit(
  dir: string,
  commit: { files: Record<string, string>; message: string },
): Promise<string> {
  for (const [path, text] of Object.entries(commit.files)) {
    const full = `${dir}/${path}`;
    await Deno.mkdir(full.slice(0, full.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(full, text);
  }
  await git(dir, "add", "--all");
  await git(
    dir,
    "-c",
    "user.name=Ada Lovelace",
    "-c",
    "user.email=ada@example.com",
    "commit",
    "--quiet",
    "-m",
    commit.message,
  );
  return (await git(dir, "rev-parse", "HEAD")).trim();
}

/** Runs git in `dir` and returns its stdout; throws on failure. */
export async function git(dir: string, ...args: string[]): Promise<string> {
  const output = await new Deno.Command("git", { args, cwd: dir, stdout: "piped", stderr: "piped" })
    .output();
  if (!output.success) {
    throw new Error(`git ${args.join(" ")} failed: ${new TextDecoder().decode(output.stderr)}`);
  }
  return new TextDecoder().decode(output.stdout);
}
