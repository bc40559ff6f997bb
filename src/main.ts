/**
 * The entrypoint: `deno run -A src/main.ts ...` behaves like the compiled `deploy ...`. This is the
 * only place that calls `Deno.exit`; everything below throws.
 *
 * @module
 */
import { LAYERS } from "../layers/mod.ts";
import { parseCommandLine } from "./cli.ts";
import { type Io, runCommand } from "./commands.ts";
import { ConfigError, DeployError, errorMessage, exitCodeOf } from "./errors.ts";
import { envSecrets, writeCiErrorReport } from "./ci_report.ts";

/** Runs the CLI and returns the exit code. */
export async function main(args: readonly string[], io: Io): Promise<number> {
  try {
    const invocation = parseCommandLine(args, LAYERS, io);
    if (invocation.kind === "exit") return invocation.code;
    return await runCommand(invocation.command, invocation.flags, LAYERS, io);
  } catch (error: unknown) {
    if (error instanceof ConfigError || error instanceof DeployError) {
      io.writeError(`deploy: ${error.message}\n`);
      const code = exitCodeOf(error);
      // a GitHub step that ends before its run began still gets its annotation and outputs
      await writeCiErrorReport({
        status: code === 2 ? "invalid" : "failed",
        message: error.message,
        mask: (text) => envSecrets(io.env, LAYERS.map((l) => l.variables)).mask(text),
      }, io).catch(() => {});
      return code;
    }
    // not a user's mistake: a bug, so the stack helps whoever reports it
    io.writeError(
      `deploy: internal error: ${errorMessage(error)}\n${
        error instanceof Error ? error.stack : ""
      }\n`,
    );
    return 1;
  }
}

function write(stream: { writeSync(p: Uint8Array): number }) {
  const encoder = new TextEncoder();
  return (text: string) => {
    const bytes = encoder.encode(text);
    let written = 0;
    while (written < bytes.length) written += stream.writeSync(bytes.subarray(written));
  };
}

if (import.meta.main) {
  const code = await main(Deno.args, {
    env: Deno.env.toObject(),
    cwd: Deno.cwd(),
    write: write(Deno.stdout),
    writeError: write(Deno.stderr),
    isTerminal: Deno.stdout.isTerminal(),
    exit: (code) => Deno.exit(code),
    handleSignals: true,
  });
  Deno.exit(code);
}
