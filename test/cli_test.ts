import assert from "node:assert/strict";
import { LAYERS } from "../layers/mod.ts";
import { parseCommandLine } from "../src/cli.ts";
import { coreVariables } from "../src/core_variables.ts";
import { VERSION } from "../src/version.ts";

function parse(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const invocation = parseCommandLine(args, LAYERS, {
    write: (text) => out.push(text),
    writeError: (text) => err.push(text),
  });
  return { invocation, out: out.join(""), err: err.join("") };
}

Deno.test("parseCommandLine runs a deploy when no command is given", () => {
  const { invocation, out, err } = parse([]);
  assert.deepEqual(invocation, { kind: "run", command: "deploy", flags: {} });
  assert.equal(out + err, "");
});

Deno.test("parseCommandLine reads the plan and check commands", async (t) => {
  for (const command of ["plan", "check"] as const) {
    await t.step(command, () => {
      assert.deepEqual(parse([command]).invocation, { kind: "run", command, flags: {} });
    });
  }
});

Deno.test("parseCommandLine reads every flag", () => {
  const { invocation } = parse([
    "--provider",
    "dokku",
    "--layers",
    "rails,-sentry",
    "--environment",
    "staging",
    "--force",
    "--force-push",
    "--config",
    "config/deploy.yml",
    "--log-format",
    "json",
  ]);
  assert.deepEqual(invocation, {
    kind: "run",
    command: "deploy",
    flags: {
      provider: "dokku",
      layers: "rails,-sentry",
      environment: "staging",
      force: true,
      forcePush: true,
      config: "config/deploy.yml",
      logFormat: "json",
    },
  });
});

Deno.test("parseCommandLine takes flags before or after plan and check", async (t) => {
  await t.step("after", () => {
    assert.deepEqual(parse(["check", "--provider", "heroku", "--force"]).invocation, {
      kind: "run",
      command: "check",
      flags: { provider: "heroku", force: true },
    });
  });
  await t.step("before", () => {
    assert.deepEqual(parse(["--provider", "heroku", "plan"]).invocation, {
      kind: "run",
      command: "plan",
      flags: { provider: "heroku" },
    });
  });
  await t.step("after wins over before", () => {
    const { invocation } = parse(["--provider", "heroku", "plan", "--provider", "dokku"]);
    assert.equal(invocation.kind === "run" && invocation.flags.provider, "dokku");
  });
});

Deno.test("parseCommandLine prints the version and exits 0", async (t) => {
  for (const flag of ["--version", "-V"]) {
    await t.step(flag, () => {
      const { invocation, out } = parse([flag]);
      assert.deepEqual(invocation, { kind: "exit", code: 0 });
      assert.equal(out.trim(), VERSION);
    });
  }
});

Deno.test("parseCommandLine --help exits 0 and lists every variable of every layer", async (t) => {
  const { invocation, out } = parse(["--help"]);
  assert.deepEqual(invocation, { kind: "exit", code: 0 });
  await t.step("the commands, flags and examples", () => {
    for (const text of ["plan", "check", "--provider", "--force-push", "Examples:"]) {
      assert.ok(out.includes(text), `--help lacks ${text}`);
    }
  });
  await t.step("the run-wide variables", () => {
    for (const name of Object.keys(coreVariables.shape)) {
      assert.match(out, new RegExp(`^ +${name} `, "m"), `--help lacks ${name}`);
    }
  });
  for (const layer of LAYERS) {
    await t.step(`the ${layer.name} layer and its variables`, () => {
      assert.ok(out.includes(`${layer.name} (${layer.kind}): ${layer.description}`));
      for (const name of Object.keys(layer.variables.shape)) {
        assert.match(out, new RegExp(`^ +${name} `, "m"), `--help lacks ${name}`);
      }
    });
  }
  await t.step("which variables are required, secret or defaulted", () => {
    assert.match(out, /^ +APP_NAME +.*\[required\]/m);
    assert.match(out, /^ +SSH_PRIVATE_KEY +.*\[secret\]/m);
    assert.match(out, /^ +SSH_CONNECT_TIMEOUT +.*\[default: 15\]/m);
  });
});

Deno.test("parseCommandLine shows a command's help and exits 0", () => {
  const { invocation, out } = parse(["plan", "--help"]);
  assert.deepEqual(invocation, { kind: "exit", code: 0 });
  assert.match(out, /Usage: deploy plan/);
});

Deno.test("parseCommandLine exits 2 on a usage error", async (t) => {
  const cases: [string[], RegExp][] = [
    [["--nope"], /unknown option '--nope'/],
    [["plan", "--nope"], /unknown option '--nope'/],
    [["--provider"], /argument missing/],
    [["deploy-now"], /.+/],
  ];
  for (const [args, message] of cases) {
    await t.step(args.join(" "), () => {
      const { invocation, err } = parse(args);
      assert.deepEqual(invocation, { kind: "exit", code: 2 });
      assert.match(err, message);
      assert.match(err, /run deploy --help/);
    });
  }
});

Deno.test({
  name: "parseCommandLine --help lists DEPLOY_LOG_FORMAT, which the tool reads",
  fn() {
    assert.match(parse(["--help"]).out, /^ +DEPLOY_LOG_FORMAT /m);
  },
});
