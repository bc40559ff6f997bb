import assert from "node:assert/strict";
import { describeRunArgProblems, runArgProblems } from "../layers/providers/dokku/run_args.ts";
import { type DokkuSandboxOptions, startDokkuSandbox } from "./sandbox/dokku.ts";

// a command that hangs fails its test instead of holding CI
const COMMAND_TIMEOUT_MS = 60_000;

/** The four modes that change what a program receives. */
const MODES: [string, DokkuSandboxOptions][] = [
  ["Dokku 0.35 + herokuish", { version: "0.35.12", builder: "herokuish" }],
  ["Dokku 0.35 + Dockerfile", { version: "0.35.12", builder: "dockerfile" }],
  ["Dokku 0.33 + herokuish", { version: "0.33.9", builder: "herokuish" }],
  ["Dokku 0.33 + Dockerfile", { version: "0.33.9", builder: "dockerfile" }],
];

/** Words the provider sends: the defaults of the Rails layer and ordinary commands. */
const ACCEPTED = [
  "bundle",
  "exec",
  "rails",
  "db:migrate",
  "ruby",
  "-rsidekiq/api",
  "-r./config/environment",
  "-eSidekiq::ProcessSet.new.map{_1.quiet!}.size.display",
  "VERSION=20240101000000",
  "db:migrate:with_data",
  "--verbose",
  "-n1",
  "a,b",
  "100%",
  "key=value@host:1/2+3^4",
];

/** Words refused, each with the mode in which Dokku changes it (proof the refusal is needed). */
const REFUSED: [string, number][] = [
  ["", 2],
  ["a b", 0],
  ["two\nlines", 1],
  ["--app", 1],
  ["--trace", 1],
  ["-n", 1],
  ["-e", 1],
  ["-E", 1],
  ["--version", 1],
  ["--help", 1],
  ["$HOME", 0],
  ["Sidekiq::ProcessSet.new.each(&:quiet!)", 0],
  ["'quoted'", 0],
  ['"quoted"', 0],
  ["back\\slash", 0],
  ["a|b", 0],
  ["a;b", 0],
  ["*", 0],
  ["?", 0],
  ["~", 0],
  ["#hash", 0],
  ["{a,b}", 0],
];

Deno.test("runArgProblems accepts plain words and refuses each word Dokku would change", () => {
  assert.deepEqual(runArgProblems(ACCEPTED), []);
  for (const [word] of REFUSED) {
    assert.equal(runArgProblems([word]).length, 1, `"${word}" should be refused`);
  }
  assert.match(
    describeRunArgProblems("RAILS_MIGRATE_COMMAND", ["rails", "--trace", "$X"])!,
    /^RAILS_MIGRATE_COMMAND: cannot send "--trace" \(Dokku reads it .*\); "\$X" \(a buildpack/,
  );
  assert.equal(describeRunArgProblems("X", ["rails"]), undefined);
});

Deno.test(
  "Accepted words reach the program exactly in every mode; each refused word is changed in one",
  {
    sanitizeResources: false,
  },
  async (t) => {
    for (const [name, options] of MODES) {
      await t.step(name, async () => {
        await using dokku = await startDokkuSandbox(options);
        const dir = await Deno.makeTempDir({ prefix: "run_args_" });
        try {
          const git = (...args: string[]) =>
            new Deno.Command("git", {
              signal: AbortSignal.timeout(COMMAND_TIMEOUT_MS),
              args: ["-c", "user.name=T", "-c", "user.email=t@example.com", ...args],
              cwd: dir,
              env: { GIT_SSH_COMMAND: ["ssh", ...dokku.sshArgs].join(" ") },
              stdout: "null",
              stderr: "null",
            }).output();
          await git("init", "-q");
          await Deno.writeTextFile(`${dir}/f`, "f");
          await git("add", "f");
          await git("commit", "-q", "-m", "f");
          await git("push", `ssh://${dokku.user}@127.0.0.1:${dokku.port}/web-app`, "HEAD:master");
          const ssh = async (command: string) =>
            new TextDecoder().decode(
              (await new Deno.Command("ssh", {
                signal: AbortSignal.timeout(COMMAND_TIMEOUT_MS),
                args: [...dokku.sshArgs, `${dokku.user}@127.0.0.1`, command],
                stdout: "null",
                stderr: "piped",
              }).output()).stderr,
            );
          // the provider sends accepted words bare, separated by single spaces
          await ssh(["run", "web-app", "true", ...ACCEPTED].join(" "));
          assert.deepEqual((await dokku.programRuns()).at(-1)?.argv, ["true", ...ACCEPTED]);
          const index = MODES.findIndex(([n]) => n === name);
          for (const [word, mode] of REFUSED) {
            if (mode !== index) continue;
            const before = (await dokku.programRuns()).length;
            // bare, or quoted for xargs: neither brings the word back whole in this mode
            for (const sent of [word, `'${word.replaceAll("'", `'"'"'`)}'`]) {
              const stderr = await ssh(`run web-app true ${sent} end`);
              const runs = await dokku.programRuns();
              const argv = runs.length > before ? runs.at(-1)!.argv : [];
              // --trace arrives whole, but prints Dokku's internals
              const traced = /^\+ /m.test(stderr);
              assert.ok(
                traced || JSON.stringify(argv) !== JSON.stringify(["true", word, "end"]),
                `"${word}" sent as ${sent}`,
              );
            }
          }
        } finally {
          await Deno.remove(dir, { recursive: true });
        }
      });
    }
  },
);
