/**
 * Runs `provider.run(ARGS)` or `provider.process(TYPE, ACTION)` of the Heroku layer, the way other
 * layers call them, in a process of its own: the stand-in's CA reaches it only through DENO_CERT,
 * which Deno reads at startup. Settings come from the environment (HEROKU_*, APP_NAME). Prints the
 * log, then one line `RESULT {json}`.
 *
 * Usage: deno run ...PERMISSION_FLAGS heroku_provider_run.ts run [--no-throw] [--timeout MS] -- ARGS...
 *        deno run ...PERMISSION_FLAGS heroku_provider_run.ts process TYPE ACTION
 */
import heroku from "../../layers/providers/heroku.ts";
import { coreVariables } from "../../src/core_variables.ts";
import { errorMessage } from "../../src/errors.ts";
import { createLogger } from "../../src/logger.ts";
import type { ProcessAction, Provider } from "../../src/provider.ts";
import { Secrets } from "../../src/secrets.ts";
import { createShell } from "../../src/shell.ts";
import { createRuntime } from "../../src/runtime.ts";

const secrets = new Secrets();
const env = Deno.env.toObject();
const logger = createLogger({ secrets, color: false });
const config = heroku.variables.parse(env);
secrets.add(config.HEROKU_API_KEY);
const provider = await heroku.setup({
  config,
  core: coreVariables.parse({}),
  on: () => {},
  runtime: createRuntime({ shell: createShell({ secrets }), logger, secrets, cwd: Deno.cwd(), env })
    .runtime,
}) as Provider;

const [mode, ...rest] = Deno.args;
const encoder = new TextEncoder();
const print = (value: unknown) =>
  Deno.stdout.writeSync(encoder.encode(`RESULT ${secrets.mask(JSON.stringify(value))}\n`));
try {
  if (mode === "run") {
    const dashes = rest.indexOf("--");
    const flags = rest.slice(0, dashes);
    const timeout = flags.indexOf("--timeout");
    const output = await provider.run(rest.slice(dashes + 1), {
      noThrow: flags.includes("--no-throw"),
      ...(timeout >= 0 ? { timeoutMs: Number(flags[timeout + 1]) } : {}),
    });
    print({ ok: true, code: output.code, stdout: output.stdout, tail: output.tail });
  } else {
    await provider.process(rest[0]!, rest[1] as ProcessAction);
    print({ ok: true });
  }
} catch (error: unknown) {
  const fields = error instanceof Error ? { ...error } : {};
  print({ ok: false, name: (error as Error).name, message: errorMessage(error), ...fields });
}
