import assert from "node:assert/strict";
import rails, {
  MIGRATE_COMMAND,
  parseProcessTypes,
  QUIET_COMMAND,
  QUIET_COMMAND_WITH_APP,
} from "../layers/applications/rails.ts";
import { runArgProblems } from "../layers/providers/dokku/run_args.ts";
import { ConfigError, exitCodeOf, HandlerError } from "../src/errors.ts";
import { fakeContext, type FakeContextOptions, setUpLayer } from "./_deploy_context.ts";

const PROCFILE =
  "web: bundle exec puma\nworker: bundle exec sidekiq\nmailers: bin/sidekiq -q mailers\n";
// what the Dokku provider refuses, for the tests of the configure check
const dokkuProblems = (cmd: readonly string[]) =>
  runArgProblems(cmd).map((p) => `"${p.word}": ${p.reason}`);

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
  options: FakeContextOptions & { commandProblems?: (cmd: readonly string[]) => string[] } = {},
) {
  await using dir = await appDir(files);
  const manager = await setUpLayer(rails, vars, { runtime: { cwd: dir.path } });
  const fake = fakeContext({ cwd: dir.path, ...options });
  if (options.commandProblems) {
    Object.assign(fake.ctx.provider, { commandProblems: options.commandProblems });
  }
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
  const without = await run(files, { AUTO_MIGRATE_ON_DEPLOY: "true" }, ["post_deploy"], {
    provider: "other",
  });
  assert.deepEqual(without.calls, [{ kind: "run", cmd: [...MIGRATE_COMMAND] }]);
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

Deno.test("The quiet command needs no quoting, and loads the app only when it sets Sidekiq's Redis", async () => {
  assert.deepEqual(dokkuProblems(QUIET_COMMAND), []);
  assert.deepEqual(dokkuProblems(QUIET_COMMAND_WITH_APP), []);
  assert.deepEqual(dokkuProblems(MIGRATE_COMMAND), []);
  await using dir = await appDir({ Procfile: PROCFILE });
  await Deno.mkdir(`${dir.path}/config/initializers`, { recursive: true });
  await Deno.writeTextFile(
    `${dir.path}/config/initializers/sidekiq.rb`,
    'Sidekiq.configure_client do |config|\n  config.redis = { url: ENV["QUEUE_REDIS"] }\nend\n',
  );
  const manager = await setUpLayer(rails, {}, { runtime: { cwd: dir.path } });
  const fake = fakeContext({ cwd: dir.path });
  await manager.emit("pre_deploy", fake.ctx);
  assert.deepEqual(fake.calls, [{ kind: "run", cmd: [...QUIET_COMMAND_WITH_APP] }]);
});

Deno.test("SIDEKIQ_QUIET_COMMAND replaces the quiet command; quieted is said only on success", async () => {
  const ok = await run({ Procfile: PROCFILE }, { SIDEKIQ_QUIET_COMMAND: "bin/quiet  all" }, [
    "pre_deploy",
  ]);
  assert.deepEqual(ok.calls, [{ kind: "run", cmd: ["bin/quiet", "all"] }]);
  assert.match(ok.log(), /Sidekiq quieted \(worker, mailers\)/);
  const failed = await run({ Procfile: PROCFILE }, { SIDEKIQ_QUIET_COMMAND: "bin/quiet" }, [
    "pre_deploy",
  ], { onRun: () => ({ code: 100, lines: ["setuidgid: usage"] }) });
  assert.equal(failed.error, undefined);
  assert.doesNotMatch(failed.log(), /Sidekiq quieted/);
  assert.match(failed.log(), /warning: rails: quiet Sidekiq failed/);
});

Deno.test("The quiet says how many processes it quieted, and warns when it found none", async () => {
  const two = await run({ Procfile: PROCFILE }, {}, ["pre_deploy"], {
    onRun: () => ({ stdout: "2" }),
  });
  assert.match(two.log(), /Sidekiq quieted \(2 processes, worker, mailers\)/);
  const none = await run({ Procfile: PROCFILE }, {}, ["pre_deploy"], {
    onRun: () => ({ stdout: "0" }),
  });
  assert.doesNotMatch(none.log(), /Sidekiq quieted/);
  assert.match(none.log(), /found no Sidekiq process in Redis/);
  // only a last line that is a number is a count
  const other = await run({ Procfile: PROCFILE }, {}, ["pre_deploy"], {
    onRun: () => ({ stdout: "Quieting on run.1234\n" }),
  });
  assert.match(other.log(), /Sidekiq quieted \(worker, mailers\)/);
});

Deno.test("A command the provider would change is refused in configure with exit 2, naming the variable and the word", async () => {
  const { error, calls } = await run(
    { Procfile: PROCFILE },
    {
      AUTO_MIGRATE_ON_DEPLOY: "true",
      RAILS_MIGRATE_COMMAND: "bin/rails db:migrate --trace",
      SIDEKIQ_QUIET_COMMAND: "bin/rails runner Sidekiq::ProcessSet.new.each(&:quiet!)",
    },
    ["configure", "pre_deploy", "post_deploy"],
    { commandProblems: dokkuProblems },
  );
  assert.equal(exitCodeOf(error), 2);
  let cause: unknown = error;
  while (cause instanceof Error && !(cause instanceof ConfigError)) cause = cause.cause;
  assert.ok(cause instanceof ConfigError);
  assert.match(
    cause.message,
    /^SIDEKIQ_QUIET_COMMAND: cannot send "Sidekiq::ProcessSet\.new\.each\(&:quiet!\)"/m,
  );
  assert.match(cause.message, /^RAILS_MIGRATE_COMMAND: cannot send "--trace"/m);
  assert.deepEqual(calls, []);
});

Deno.test("On Dokku, app.json's predeploy runs the migrations instead, and the log says so", async () => {
  const files = {
    "app.json": JSON.stringify({
      scripts: { dokku: { predeploy: "bundle exec rails db:migrate" } },
    }),
  };
  const dokku = await run(files, { AUTO_MIGRATE_ON_DEPLOY: "true" }, ["post_deploy"], {
    label: "Dokku",
    capabilities: ["release-phase", "app-json-predeploy"],
  });
  assert.deepEqual(dokku.calls, []);
  assert.match(dokku.log(), /scripts\.dokku\.predeploy runs on Dokku .*not migrating twice/);
  const heroku = await run(files, { AUTO_MIGRATE_ON_DEPLOY: "true" }, ["post_deploy"], {
    provider: "heroku",
    capabilities: ["release-phase"],
  });
  assert.deepEqual(heroku.calls, [{ kind: "run", cmd: [...MIGRATE_COMMAND] }]);
});
