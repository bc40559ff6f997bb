/**
 * Compiles `src/main.ts` into the self-contained `deploy` binary.
 *
 * ```sh
 * deno task compile                          # host only          -> dist/deploy
 * deno task compile --target aarch64-unknown-linux-gnu            -> dist/deploy-aarch64-unknown-linux-gnu
 * deno task compile --all                    # every target       -> dist/deploy-<target>[.exe] + dist/SHA256SUMS
 * deno task compile --out-dir /tmp/out       # anywhere else
 * ```
 *
 * The permission flags come from `scripts/permissions.ts`, the one place they are defined.
 * `deno compile` reads `DENORT_BIN` itself (a local denort, the runtime the program is embedded
 * into); this script only refuses it with `--all`, where one runtime cannot serve five targets.
 *
 * @module
 */

import { PERMISSION_FLAGS } from "./permissions.ts";

/** Every target a release ships, as `deno compile --target` spells it. */
export const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
] as const;

/** One release target. */
export type Target = typeof TARGETS[number];

/** The program that is compiled. */
export const ENTRYPOINT = "src/main.ts";

/** Where binaries go unless `--out-dir` says otherwise. */
export const DIST_DIR = "dist";

/** Name of the checksum file written next to the release binaries. */
export const CHECKSUMS_FILE = "SHA256SUMS";

/** A mistake in this script's arguments: reported without a stack trace, exit code 2. */
export class CompileUsageError extends Error {
  override name = "CompileUsageError";
  /** Exit code for a user's mistake. */
  readonly exitCode = 2;
  /** Every problem found, one line each. */
  readonly problems: readonly string[];

  constructor(problems: readonly string[], options?: ErrorOptions) {
    super(
      `Cannot compile (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n` +
        problems.map((p) => `  - ${p}`).join("\n"),
      options,
    );
    this.problems = problems;
  }
}

/** What one run of the script builds. */
export interface CompilePlan {
  /** The targets to build; `undefined` means the host, written as plain `deploy`. */
  targets: readonly (Target | undefined)[];
  /** Directory the binaries are written to. */
  outDir: string;
  /** Whether `SHA256SUMS` is written (always with `--all`). */
  checksums: boolean;
}

/** True when `value` is one of {@linkcode TARGETS}. */
export function isTarget(value: string): value is Target {
  return (TARGETS as readonly string[]).includes(value);
}

/** The file name of the binary for `target`, or for the host when `target` is undefined. */
export function binaryName(target?: Target, hostOs: string = Deno.build.os): string {
  if (target === undefined) return hostOs === "windows" ? "deploy.exe" : "deploy";
  return `deploy-${target}${target.includes("windows") ? ".exe" : ""}`;
}

/** Options of {@linkcode compileArgs}. */
export interface CompileArgsOptions {
  /** The target triple; omit it to build for the host. */
  target?: Target;
  /** The output file. */
  output: string;
  /**
   * The module to compile.
   * @default {ENTRYPOINT}
   */
  entrypoint?: string;
}

/** The `deno` arguments that compile one binary (everything after the `deno` program). */
export function compileArgs(options: CompileArgsOptions): string[] {
  const args = ["compile", ...PERMISSION_FLAGS, "--output", options.output];
  if (options.target !== undefined) args.push("--target", options.target);
  args.push(options.entrypoint ?? ENTRYPOINT);
  return args;
}

/**
 * Turns the script's arguments into a plan, checking them against the environment.
 *
 * Every problem is collected before anything is thrown, so one run shows all of them.
 */
export function parseCompileArgs(
  argv: readonly string[],
  env: { get(name: string): string | undefined } = Deno.env,
): CompilePlan {
  const problems: string[] = [];
  let all = false;
  let outDir = DIST_DIR;
  const targets: Target[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.startsWith("--") && arg.includes("=")
      ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
      : [arg, undefined];
    const value = (): string | undefined => {
      if (inline !== undefined) return inline;
      const next = argv[i + 1];
      if (next === undefined || next.startsWith("--")) {
        problems.push(`${flag} needs a value`);
        return undefined;
      }
      i++;
      return next;
    };
    switch (flag) {
      case "--all":
        all = true;
        break;
      case "--target": {
        const target = value();
        if (target === undefined) break;
        if (isTarget(target)) targets.push(target);
        else problems.push(`Unknown target "${target}": expected one of ${TARGETS.join(", ")}`);
        break;
      }
      case "--out-dir": {
        const dir = value();
        if (dir !== undefined) outDir = dir;
        break;
      }
      default:
        problems.push(`Unknown argument "${arg}": expected --all, --target <triple> or --out-dir`);
    }
  }
  if (all && targets.length > 0) problems.push("--all and --target exclude each other");
  if (all && env.get("DENORT_BIN")) {
    problems.push(
      "DENORT_BIN is set, but one denort serves one target: unset it to build every target",
    );
  }
  if (problems.length > 0) throw new CompileUsageError(problems);
  if (all) return { targets: TARGETS, outDir, checksums: true };
  return { targets: targets.length > 0 ? targets : [undefined], outDir, checksums: false };
}

/** Lowercase hex SHA-256 of `data`. */
export async function sha256Hex(data: BufferSource): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", data);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** One file's entry in `SHA256SUMS`. */
export interface ChecksumEntry {
  /** File name, without a directory. */
  name: string;
  /** Lowercase hex SHA-256. */
  sha256: string;
}

/** Formats `sha256sum`-compatible text (`<hash>  <name>` per line, sorted by name). */
export function formatChecksums(entries: readonly ChecksumEntry[]): string {
  return [...entries]
    .sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
    .map((e) => `${e.sha256}  ${e.name}\n`)
    .join("");
}

/** Runs `deno compile` for every target of `plan`, then writes the checksums. */
export async function compile(plan: CompilePlan): Promise<string[]> {
  await Deno.mkdir(plan.outDir, { recursive: true });
  const written: string[] = [];
  const entries: ChecksumEntry[] = [];
  for (const target of plan.targets) {
    const name = binaryName(target);
    const output = `${plan.outDir}/${name}`;
    const { code } = await new Deno.Command("deno", {
      args: compileArgs({ target, output }),
      stdin: "null",
    }).spawn().status;
    if (code !== 0) {
      throw new Error(`deno compile for ${target ?? "the host"} failed with exit code ${code}`);
    }
    written.push(output);
    if (plan.checksums) {
      entries.push({ name, sha256: await sha256Hex(await Deno.readFile(output)) });
    }
  }
  if (plan.checksums) {
    const file = `${plan.outDir}/${CHECKSUMS_FILE}`;
    await Deno.writeTextFile(file, formatChecksums(entries));
    written.push(file);
  }
  return written;
}

if (import.meta.main) {
  try {
    const written = await compile(parseCompileArgs(Deno.args));
    // deno-lint-ignore no-console
    console.error(`Wrote ${written.join(", ")}`);
  } catch (e: unknown) {
    // deno-lint-ignore no-console
    console.error(e instanceof Error ? e.message : String(e));
    Deno.exit(e instanceof CompileUsageError ? e.exitCode : 1);
  }
}
