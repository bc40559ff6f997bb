/**
 * `heroku run` without the Heroku CLI: a one-off dyno created through the Platform API, attached
 * over rendezvous, its exit status read from the marker the command prints last.
 *
 * @module
 */
import { CommandError, DeployError } from "../../../src/errors.ts";
import type { HerokuApi } from "./api.ts";
import type { Logger } from "../../../src/logger.ts";
import { attach, parseAttachUrl, withExitStatus } from "./rendezvous.ts";
import { TailBuffer } from "../../../src/lines.ts";
import { type CommandOutput, commandText, quoteArg } from "../../../src/shell.ts";

/** How {@linkcode runOneOff} runs. */
export interface OneOffOptions {
  logger: Logger | undefined;
  timeoutMs: number;
  noThrow: boolean;
  signal: AbortSignal;
  mask: (text: string) => string;
}

/** Runs `cmd` in a one-off dyno attached over rendezvous, and returns its exit status. */
export async function runOneOff(
  api: HerokuApi,
  app: string,
  cmd: readonly string[],
  options: OneOffOptions,
): Promise<CommandOutput> {
  const display = options.mask(`heroku run ${commandText(cmd)}`);
  options.logger?.command(display);
  const dyno = await api.createDyno(app, {
    // the dyno runs the string with a shell: quote each argument so that it comes back whole
    command: withExitStatus(cmd.map(quoteArg).join(" ")),
    attach: true,
    force_no_tty: true,
    // Heroku ends the dyno a little after we stop waiting for it
    time_to_live: Math.ceil(options.timeoutMs / 1000) + 60,
  });
  const target = dyno.attach_url ? parseAttachUrl(dyno.attach_url) : null;
  if (!target) {
    throw new DeployError(
      `Heroku started ${dyno.name} without a rendezvous attach_url: cannot read its output`,
    );
  }
  const tail = new TailBuffer();
  const lines: string[] = [];
  const result = await attach(target, {
    timeoutMs: options.timeoutMs,
    signal: options.signal,
    onLine: (line) => {
      lines.push(line);
      tail.push(options.mask(line));
      options.logger?.output(line);
    },
  });
  const code = result.timedOut ? 124 : result.exitCode ?? 255;
  const output: CommandOutput = {
    code,
    stdout: lines.map((l) => `${l}\n`).join(""),
    stderr: "",
    tail: tail.lines(),
  };
  if (code === 0 || (options.noThrow && !result.timedOut)) return output;
  const why = result.timedOut
    ? `timed out after ${Math.round(options.timeoutMs / 1000)}s`
    : result.exitCode === null
    ? `${dyno.name} ended without reporting an exit status`
    : `failed with exit code ${code}`;
  throw new CommandError(`Command ${why}: ${display}`, {
    command: display,
    exitCode: result.exitCode,
    output: output.tail,
  });
}
