import assert from "node:assert/strict";
import { hasReleasePhase, parseProcfile, readProcfile, sidekiqTypes } from "../src/procfile.ts";
import { isRailsApp, listsRails } from "../layers/applications/rails/gemfile_lock.ts";

const PROCFILE = `# the app's processes
web: bundle exec puma -C config/puma.rb
worker: bundle exec sidekiq -C config/sidekiq.yml
mailers:bin/sidekiq -q mailers

release: bundle exec rails db:migrate
swarm: bundle exec sidekiqswarm
clock: bundle exec clockwork lib/clock.rb
sidekiq_web: bundle exec rackup sidekiq_web.ru
`;

Deno.test("parseProcfile reads process types and commands, skipping comments and blank lines", () => {
  const procfile = parseProcfile(PROCFILE);
  assert.deepEqual([...procfile.types.keys()], [
    "web",
    "worker",
    "mailers",
    "release",
    "swarm",
    "clock",
    "sidekiq_web",
  ]);
  assert.equal(procfile.types.get("mailers"), "bin/sidekiq -q mailers");
});

Deno.test("sidekiqTypes finds the types whose command runs the sidekiq executable", () => {
  assert.deepEqual(sidekiqTypes(parseProcfile(PROCFILE)), ["worker", "mailers", "swarm"]);
  assert.deepEqual(sidekiqTypes(parseProcfile("web: puma\nworker: bundle exec good_job\n")), []);
});

Deno.test("sidekiqTypes never counts the release process", () => {
  assert.deepEqual(sidekiqTypes(parseProcfile("release: bundle exec sidekiq --version\n")), []);
});

Deno.test("hasReleasePhase tells whether the Procfile declares release:", () => {
  assert.equal(hasReleasePhase(parseProcfile(PROCFILE)), true);
  assert.equal(hasReleasePhase(parseProcfile("web: puma\r\nworker: sidekiq\r\n")), false);
});

Deno.test("readProcfile treats a missing Procfile as no process types", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assert.equal((await readProcfile(dir)).types.size, 0);
    await Deno.writeTextFile(`${dir}/Procfile`, "worker: sidekiq\n");
    assert.deepEqual(sidekiqTypes(await readProcfile(dir)), ["worker"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const LOCK = `GEM
  remote: https://rubygems.org/
  specs:
    actionpack (7.1.3)
      rails-html-sanitizer (~> 1.6)
    rails (7.1.3)
      actionpack (= 7.1.3)
    sidekiq (7.2.1)

PLATFORMS
  x86_64-linux

DEPENDENCIES
  rails (~> 7.1.3)
  sidekiq
`;

Deno.test("listsRails finds rails in a Gemfile.lock and not in a gem that merely depends on it", () => {
  assert.equal(listsRails(LOCK), true);
  assert.equal(listsRails("GEM\n  specs:\n    railties (7.1.3)\n"), true);
  assert.equal(
    listsRails(
      "GEM\n  specs:\n    sinatra (4.0.0)\n      rails-html-sanitizer (~> 1.6)\n      rails (>= 6)\n",
    ),
    false,
  );
  assert.equal(listsRails("GEM\n  specs:\n    rails-html-sanitizer (1.6.0)\n"), false);
});

Deno.test("isRailsApp is false without a Gemfile.lock", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assert.equal(await isRailsApp(dir), false);
    await Deno.writeTextFile(`${dir}/Gemfile.lock`, LOCK);
    assert.equal(await isRailsApp(dir), true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parseProcfile lets a later line of a process type win, as the file's reader would", () => {
  const procfile = parseProcfile("worker: bundle exec sidekiq\nworker: bundle exec good_job\n");
  assert.equal(procfile.types.get("worker"), "bundle exec good_job");
  assert.deepEqual(sidekiqTypes(procfile), []);
});

Deno.test("parseProcfile reads a process type written with blanks around the colon", () => {
  const procfile = parseProcfile("web : bundle exec puma\nworker\t:bundle exec sidekiq\n");
  assert.deepEqual([...procfile.types], [["web", "bundle exec puma"], [
    "worker",
    "bundle exec sidekiq",
  ]]);
});
