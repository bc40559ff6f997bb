/**
 * The command line: `deploy` (a deploy, so `script: deploy` works), `deploy plan`, `deploy check`,
 * `deploy rollback [--to X]` and `deploy status`. Exit codes: 0 deployed or skipped, 1 failed,
 * 2 bad input, 130/143 cancelled.
 *
 * @module
 */
import { Command, CommanderError, Option } from "commander";
import type { CommandFlags, CommandName } from "./commands.ts";
import { EXAMPLES, variablesHelp } from "./help.ts";
import type { AnyLayer } from "./plan.ts";
import { VERSION } from "./version.ts";

/** What a parsed command line asks for. */
export type Invocation =
  | { kind: "run"; command: CommandName; flags: CommandFlags }
  | { kind: "exit"; code: number };

/** Options of {@linkcode parseCommandLine}. */
export interface ParseOptions {
  /** Receives --help and --version text. */
  write: (text: string) => void;
  /** Receives usage errors. */
  writeError: (text: string) => void;
}

/** Parses the arguments (without the program name). Usage errors exit with code 2. */
export function parseCommandLine(
  args: readonly string[],
  layers: readonly AnyLayer[],
  options: ParseOptions,
): Invocation {
  let invocation: Invocation = { kind: "exit", code: 0 };
  const withRunOptions = (command: Command) =>
    command
      .addOption(new Option("--provider <name>", "where to deploy (DEPLOY_PROVIDER)"))
      .addOption(
        new Option("--layers <list>", "force layers on or off, as in DEPLOY_LAYERS=rails,-sentry"),
      )
      .addOption(new Option("--environment <name>", "environment name (DEPLOY_ENVIRONMENT)"))
      .addOption(new Option("--force", "deploy even when the app runs this commit (FORCE_DEPLOY)"))
      .addOption(new Option("--force-push", "push with --force (FORCE_PUSH)"))
      .addOption(new Option("--config <path>", "settings file (default: deploy.yml when present)"))
      .addOption(new Option("--log-format <format>", "text or json (DEPLOY_LOG_FORMAT)"))
      .addOption(new Option("--review", "deploy to the branch's review app (DEPLOY_REVIEW)"));
  const program = withRunOptions(new Command("deploy"))
    .description(
      "Deploys the current commit to Dokku or Heroku, with the layers its variables enable",
    )
    .version(VERSION, "-V, --version", "print the version")
    .configureOutput({ writeOut: options.write, writeErr: options.writeError })
    .exitOverride()
    // options after `plan` or `check` belong to that command
    .enablePositionalOptions()
    .showHelpAfterError("(run deploy --help for usage)")
    .addHelpText("after", `\n${EXAMPLES}\n\n${variablesHelp(layers)}`)
    .action((flags) => {
      invocation = { kind: "run", command: "deploy", flags };
    });
  for (
    const [name, description] of [
      [
        "plan",
        "print the enabled layers and each event's handlers in run order, touching no server",
      ],
      ["check", "run configure only: check the variables and the connection"],
      [
        "rollback",
        "put back the release before the running one, or --to a named one, with the deploy's events",
      ],
      ["status", "print what the app runs now (commit, release, deploy time), touching nothing"],
      ["destroy", "with --review: destroy the branch's review app, only one deploy created"],
    ] as const
  ) {
    const command = withRunOptions(new Command(name));
    if (name === "rollback") {
      command.addOption(
        new Option("--to <release>", "Heroku: v123 or a release id; Dokku: a commit sha"),
      );
    }
    program.addCommand(
      command.description(description).exitOverride()
        .showHelpAfterError("(run deploy --help for usage)")
        .configureOutput({ writeOut: options.write, writeErr: options.writeError })
        .action((flags) => {
          // `deploy --provider x plan` and `deploy plan --provider x` mean the same
          invocation = { kind: "run", command: name, flags: { ...program.opts(), ...flags } };
        }),
    );
  }
  try {
    program.parse([...args], { from: "user" });
  } catch (error: unknown) {
    if (error instanceof CommanderError) {
      const ok = ["commander.helpDisplayed", "commander.version", "commander.help"].includes(
        error.code,
      );
      return { kind: "exit", code: ok ? 0 : 2 };
    }
    throw error;
  }
  return invocation;
}
