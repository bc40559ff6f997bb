import assert from "node:assert/strict";
import rails, {
  MIGRATE_COMMAND,
  parseProcessTypes,
  QUIET_COMMAND,
} from "../layers/applications/rails.ts";
import { HandlerError } from "../src/errors.ts";
import { fakeContext, type FakeContextOptions, setUpLayer } from "./_deploy_context.ts";

const PROCFILE =
  "web: bundle exec puma\nworker: bundle exec sidekiq\nmailers: bin/sidekiq -q mailers\n";
const LOCK = "GEM\n  specs:\n    rails (7.1.3)\n\nDEPENDENCIES\n  rails\n";

/** An app directory with the given files, removed when disposed. */
async function appDir(files: Record<string, string>): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "rails-test-" });
  for (const [name, text] of Object.entries(files)) {
    await Deno.writeTextFile(`${path}/${name}`, text);
  }
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

async function run(
  files: Record<string, string>,
  vars: Record<string, string>,
  events: ("configure" | "pre_deploy" | "deploy" | "post_deploy" | "deploy_failed")[],
  options: FakeContextOptions = {},
) {
  await using dir = await appDir(files);
  const manager = await setUpLayer(rails, vars, { runtime: { cwd: dir.path } });
  const fake = fakeContext({ cwd: dir.path, ...options });
  fake.ctx.state.rails = {};
  let error: unknown;
  for (const event of events) {
    try {
      if (event === "deploy_failed") await manager.emit(event, fake.ctx, { isolate: true });
      else await manager.emit(event, fake.ctx);
    } catch (e: unknown) {
      error = e;
      break;
    }
  }
  return { ...fake, error };
}

Deno.test("Rails is enabled when Gemfile.lock lists rails", async () => {
  await using app = await appDir({ "Gemfile.lock": LOCK });
  await using other = await appDir({ "Gemfile.lock": "GEM\n  specs:\n    sinatra (4.0.0)\n" });
  assert.equal(await rails.enabled({ vars: {}, cwd: app.path }), true);
  assert.equal(await rails.enabled({ vars: {}, cwd: other.path }), false);
});

Deno.test("Rails quiets Sidekiq through the provider at the start of pre_deploy", async () => {
  const { calls, log, error } = await run({ Procfile: PROCFILE }, {}, ["configure", "pre_deploy"]);
  assert.equal(error, undefined);
  assert.deepEqual(calls, [{ kind: "run", cmd: [...QUIET_COMMAND] }]);
  assert.match(log(), /Sidekiq process types \(from the Procfile\): worker, mailers/);
});

Deno.test("Rails does not quiet Sidekiq when SIDEKIQ_QUIET_ON_DEPLOY=false or no type runs it", async () => {
  const off = await run({ Procfile: PROCFILE }, { SIDEKIQ_QUIET_ON_DEPLOY: "false" }, [
    "pre_deploy",
    "deploy_failed",
  ]);
  assert.deepEqual(off.calls, []);
  const none = await run({ Procfile: "web: bundle exec puma\n" }, {}, [
    "configure",
    "pre_deploy",
    "deploy_failed",
  ]);
  assert.deepEqual(none.calls, []);
  assert.match(none.log(), /No Sidekiq process types/);
});

Deno.test("Rails restarts the quieted process types when the deploy fails", async () => {
  const { calls } = await run({ Procfile: PROCFILE }, {}, ["pre_deploy", "deploy_failed"]);
  assert.deepEqual(calls.slice(1), [
    { kind: "process", type: "worker", action: "restart" },
    { kind: "process", type: "mailers", action: "restart" },
  ]);
});

Deno.test("Rails restarts nothing when the run failed before quieting", async () => {
  const { calls } = await run({ Procfile: PROCFILE }, {}, ["configure", "deploy_failed"]);
  assert.deepEqual(calls, []);
});

Deno.test("SIDEKIQ_PROCESSES overrides the detected process types", async () => {
  const { calls } = await run({ Procfile: PROCFILE }, { SIDEKIQ_PROCESSES: "jobs, critical" }, [
    "pre_deploy",
    "deploy_failed",
  ]);
  assert.deepEqual(calls.slice(1).map((c) => c.kind === "process" && c.type), ["jobs", "critical"]);
  assert.equal(rails.variables.safeParse({ SIDEKIQ_PROCESSES: "worker;rm -rf" }).success, false);
  assert.deepEqual(parseProcessTypes("a,b c"), ["a", "b", "c"]);
});

Deno.test("A failing quiet command warns and the deploy goes on; the workers are still restarted on failure", async () => {
  const { calls, log, error } = await run({ Procfile: PROCFILE }, {}, [
    "pre_deploy",
    "deploy_failed",
  ], {
    onRun: () => ({ code: 1, lines: ["uninitialized constant Sidekiq"] }),
  });
  assert.equal(error, undefined);
  assert.match(log(), /warning: rails: quiet Sidekiq failed/);
  assert.equal(calls.filter((c) => c.kind === "process").length, 2);
});

Deno.test("AUTO_MIGRATE_ON_DEPLOY=true runs the migrations in post_deploy", async () => {
  const off = await run({ Procfile: PROCFILE }, { SIDEKIQ_QUIET_ON_DEPLOY: "false" }, [
    "post_deploy",
  ]);
  assert.deepEqual(off.calls, []);
  const on = await run({}, { AUTO_MIGRATE_ON_DEPLOY: "true" }, ["post_deploy"]);
  assert.deepEqual(on.calls, [{ kind: "run", cmd: [...MIGRATE_COMMAND] }]);
});

Deno.test("RAILS_MIGRATE_COMMAND replaces the migration command", async () => {
  const { calls } = await run({}, {
    AUTO_MIGRATE_ON_DEPLOY: "true",
    RAILS_MIGRATE_COMMAND: "bin/rails  db:migrate:with_data",
  }, ["post_deploy"]);
  assert.deepEqual(calls, [{ kind: "run", cmd: ["bin/rails", "db:migrate:with_data"] }]);
});

Deno.test("On Heroku a Procfile release: process runs the migrations instead, and the log says so", async () => {
  const files = { Procfile: "web: puma\nrelease: bundle exec rails db:migrate\n" };
  const onHeroku = {
    provider: "heroku",
    label: "Heroku",
    capabilities: ["release-phase"] as const,
  };
  const heroku = await run(files, { AUTO_MIGRATE_ON_DEPLOY: "true" }, ["post_deploy"], onHeroku);
  assert.deepEqual(heroku.calls, []);
  assert.match(heroku.log(), /release: process runs on Heroku .*not migrating twice/);
  const dokku = await run(files, { AUTO_MIGRATE_ON_DEPLOY: "true" }, ["post_deploy"], {
    provider: "dokku",
  });
  assert.deepEqual(dokku.calls, [{ kind: "run", cmd: [...MIGRATE_COMMAND] }]);
  const noRelease = await run({ Procfile: "web: puma\n" }, { AUTO_MIGRATE_ON_DEPLOY: "true" }, [
    "post_deploy",
  ], onHeroku);
  assert.equal(noRelease.calls.length, 1);
});

Deno.test("A failed migration fails the run with the command and its output", async () => {
  const { error } = await run({}, { AUTO_MIGRATE_ON_DEPLOY: "true" }, ["post_deploy"], {
    onRun: () => ({ code: 1, lines: ["PG::UndefinedTable: ERROR"] }),
  });
  assert.ok(error instanceof HandlerError);
  assert.equal(error.event, "post_deploy");
  assert.equal(error.layer, "rails");
  const cause = error.cause as { command: string; exitCode: number; output: string[] };
  assert.match(cause.command, /bundle exec rails db:migrate/);
  assert.equal(cause.exitCode, 1);
  assert.deepEqual(cause.output, ["PG::UndefinedTable: ERROR"]);
});

Deno.test("Rails runs its handlers in the order the deploy needs", async () => {
  await using dir = await appDir({ Procfile: PROCFILE });
  const events = await setUpLayer(rails, { AUTO_MIGRATE_ON_DEPLOY: "true" }, {
    runtime: { cwd: dir.path },
  });
  const quiet = events.handlers("pre_deploy")[0]!;
  assert.deepEqual([quiet.description, quiet.priority, quiet.soft], ["quiet Sidekiq", 20, true]);
  const migrate = events.handlers("post_deploy")[0]!;
  assert.deepEqual([migrate.description, migrate.soft], [
    "run bundle exec rails db:migrate",
    false,
  ]);
  assert.equal(events.handlers("deploy_failed")[0]!.priority, 10);
});
