/**
 * The seed's whole flow, end to end: the real CLI (`deno run` with the binary's permissions) deploys
 * a Rails app with Sidekiq to the Dokku sandbox, with the real sentry-cli against a fake Sentry and
 * every notifier against local webhook recorders. The order is checked on the servers' side.
 */
import assert from "node:assert/strict";
import { type CliResult, git, makeRepo, runCli } from "./_cli.ts";
import {
  type DokkuCall,
  type DokkuSandbox,
  type DokkuSandboxOptions,
  startDokkuSandbox,
} from "./sandbox/dokku.ts";
import { QUIET_COMMAND } from "../layers/applications/rails.ts";
import { type SentryApi, type SentryApiMode, startSentryApi } from "./sandbox/sentry_api.ts";
import {
  type RecorderMode,
  startWebhookRecorder,
  type WebhookRecorder,
} from "./sandbox/webhook_recorder.ts";

const APP = "shop";
const TOKEN = "sntrys_flow-test-token-0123456789abcdef";
const LOCK =
  "GEM\n  remote: https://rubygems.org/\n  specs:\n    rails (7.1.3)\n    sidekiq (7.2.1)\n\n" +
  "DEPENDENCIES\n  rails (~> 7.1)\n  sidekiq\n";
const PROCFILE =
  "web: bundle exec puma -C config/puma.rb\nworker: bundle exec sidekiq -C config/sidekiq.yml\n";
const NOTIFIERS = ["mattermost", "slack", "discord", "teams", "webhook"] as const;
type NotifierName = typeof NOTIFIERS[number];
const URL_VARIABLES: Record<NotifierName, string> = {
  mattermost: "MATTERMOST_WEBHOOK_URL",
  slack: "SLACK_WEBHOOK_URL",
  discord: "DISCORD_WEBHOOK_URL",
  teams: "TEAMS_WEBHOOK_URL",
  webhook: "DEPLOY_WEBHOOK_URL",
};

/** A fake `bundle` on the sandbox: records each call, and fails `db:migrate` when asked to. */
function bundleScript(log: string, failMigration: boolean): string {
  return `#!/bin/sh
printf '%s %s\\n' "$(date +%s%3N)" "$*" >> '${log}'
case "$*" in
  *db:migrate*)
    echo "== 20260101000000 AddIndexToUsers: migrating"
    ${
    failMigration
      ? `echo 'PG::DuplicateTable: ERROR:  relation "index_users_on_email" already exists' >&2
    exit 1`
      : 'echo "== 20260101000000 AddIndexToUsers: migrated (0.0021s)"'
  }
    ;;
  *quiet!*) printf 2 ;;
esac
exit 0
`;
}

interface Flow extends AsyncDisposable {
  sandbox: DokkuSandbox;
  /** The sandbox's calls since the setup deploy. */
  calls(): Promise<DokkuCall[]>;
  sentry: SentryApi;
  hooks: Record<NotifierName, WebhookRecorder>;
  repo: string;
  sha: string;
  env: Record<string, string>;
  /** `bundle` calls on the server: [ms, args]. */
  bundle(): Promise<[number, string][]>;
}

async function startFlow(
  options: {
    failMigration?: boolean;
    hookMode?: RecorderMode;
    sentryMode?: SentryApiMode;
    depth?: number;
    /** The Dokku sandbox's mode. @default Dokku 0.35 with herokuish */
    dokku?: DokkuSandboxOptions;
    /** Procfile of the deployed commit. @default web and worker */
    procfile?: string;
  } = {},
): Promise<Flow> {
  const sandbox = await startDokkuSandbox(options.dokku);
  const sentry = await startSentryApi({ mode: options.sentryMode ?? "ok" });
  const hooks = Object.fromEntries(
    await Promise.all(
      NOTIFIERS.map(async (name) => [name, await startWebhookRecorder({ mode: options.hookMode })]),
    ),
  ) as Record<NotifierName, WebhookRecorder>;
  const origin = await makeRepo([
    {
      files: { "Gemfile.lock": LOCK, Procfile: options.procfile ?? PROCFILE },
      message: "Start the shop",
    },
    { files: { "app.rb": "puts 1\n" }, message: "Add the app" },
    { files: { "app.rb": "puts 2\n" }, message: "Fix the login" },
  ]);
  let repo = origin;
  if (options.depth) {
    repo = await Deno.makeTempDir({ prefix: "deploy-clone-" });
    await git(repo, "clone", "--quiet", "--depth", String(options.depth), `file://${origin}`, ".");
  }
  const sha = (await git(repo, "rev-parse", "HEAD")).trim();
  const previous = (await git(origin, "rev-parse", "HEAD~1")).trim();
  const bundleLog = `${sandbox.stateDir}/bundle.log`;
  await sandbox.fakeBin("bundle", bundleScript(bundleLog, options.failMigration ?? false));
  const env: Record<string, string> = {
    DEPLOY_PROVIDER: "dokku",
    DOKKU_HOST: sandbox.dokkuHost,
    APP_NAME: APP,
    SSH_PRIVATE_KEY: sandbox.privateKey,
    SSH_KNOWN_HOSTS: sandbox.knownHosts,
    DOKKU_CREATE_APP: "true",
    AUTO_MIGRATE_ON_DEPLOY: "true",
    SENTRY_AUTH_TOKEN: TOKEN,
    SENTRY_ORG: "acme",
    SENTRY_PROJECT: "shop",
    SENTRY_URL: sentry.url,
    SENTRY_TIMEOUT: "2",
    NOTIFY_TIMEOUT: "1",
    NOTIFY_RETRIES: "1",
    GITLAB_CI: "true",
    CI_COMMIT_SHA: sha,
    CI_COMMIT_REF_NAME: "main",
    CI_ENVIRONMENT_NAME: "staging",
    CI_PROJECT_URL: "https://gitlab.example.com/acme/shop",
    CI_PIPELINE_URL: "https://gitlab.example.com/acme/shop/-/pipelines/42",
    CI_JOB_URL: "https://gitlab.example.com/acme/shop/-/jobs/4242",
    GITLAB_USER_LOGIN: "ada",
    ...Object.fromEntries(
      NOTIFIERS.map((name) => [URL_VARIABLES[name], hooks[name].url(`/hooks/${name}-secret-id`)]),
    ),
  };
  const stop = async () => {
    await Promise.all(Object.values(hooks).map((hook) => hook.stop()));
    await sentry.stop();
    await sandbox.stop();
    await Deno.remove(origin, { recursive: true });
    if (repo !== origin) await Deno.remove(repo, { recursive: true });
  };
  // the app already runs the previous commit (pushed with the provider alone), so workers run
  const setup = await deploy({ repo: origin, env } as Flow, {
    CI_COMMIT_SHA: previous,
    DEPLOY_LAYERS: ["rails", "sentry", ...NOTIFIERS].map((name) => `-${name}`).join(","),
  }).catch(async (e: unknown) => {
    await stop();
    throw e;
  });
  if (setup.code !== 0) {
    await stop();
    assert.fail(`the setup deploy failed:\n${setup.all}`);
  }
  const baseline = (await sandbox.calls()).length;
  return {
    sandbox,
    calls: async () => (await sandbox.calls()).slice(baseline),
    sentry,
    hooks,
    repo,
    sha,
    env,
    bundle: async () => {
      const text = await Deno.readTextFile(bundleLog).catch(() => "");
      return text.split("\n").filter(Boolean).map((line) => {
        const [at, ...args] = line.split(" ");
        return [Number(at), args.join(" ")];
      });
    },
    [Symbol.asyncDispose]: stop,
  };
}

/** A short TMPDIR (ssh's control socket lives there), checked to be left empty. */
async function deploy(flow: Flow, extra: Record<string, string> = {}): Promise<CliResult> {
  const tmp = `/tmp/f${Math.random().toString(36).slice(2, 8)}`;
  await Deno.mkdir(tmp, { mode: 0o700 });
  try {
    const result = await runCli([], {
      cwd: flow.repo,
      env: { ...flow.env, ...extra, TMPDIR: tmp },
    });
    assert.deepEqual(
      [...Deno.readDirSync(tmp)].map((e) => e.name),
      [],
      "the run left files in TMPDIR",
    );
    return result;
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

function find(calls: DokkuCall[], predicate: (argv: string[]) => boolean): DokkuCall {
  const call = calls.find((c) => predicate(c.argv));
  assert.ok(call, `no such call in ${JSON.stringify(calls.map((c) => c.argv))}`);
  return call;
}

const isRun = (argv: string[], word: string) =>
  argv[0] === "run" && argv.some((a) => a.includes(word));

/** Fails when a secret of the flow appears in `text`. */
function assertNoSecrets(flow: Flow, text: string) {
  assert.ok(!text.includes(TOKEN), "the Sentry token appears in the output");
  for (const name of NOTIFIERS) {
    assert.ok(!text.includes(`${name}-secret-id`), `the ${name} webhook URL appears in the output`);
    assert.ok(
      !text.includes(`:${flow.hooks[name].port}`),
      `the ${name} webhook's address appears in the output`,
    );
  }
  for (const line of flow.sandbox.privateKey.split("\n").filter((l) => l.length > 10)) {
    assert.ok(!text.includes(line), "a line of the SSH key appears in the output");
  }
}

function events(hook: WebhookRecorder): string[] {
  return hook.requests().map((r) => (r.json as { event: string }).event);
}

Deno.test("A Rails deploy quiets Sidekiq, pushes, migrates and finalizes the Sentry release, in that order", async () => {
  await using flow = await startFlow();
  const result = await deploy(flow);
  assert.equal(result.code, 0, result.all);
  assert.equal(await flow.sandbox.deployedSha(APP), flow.sha);

  const calls = await flow.calls();
  const quiet = find(calls, (argv) => isRun(argv, "quiet!"));
  const push = find(calls, (argv) => argv[0] === "git-receive-pack");
  const migrate = find(calls, (argv) => isRun(argv, "db:migrate"));
  assert.deepEqual(quiet.argv, ["run", APP, ...QUIET_COMMAND]);
  assert.deepEqual(migrate.argv, ["run", APP, "bundle", "exec", "rails", "db:migrate"]);
  const index = (call: DokkuCall) => calls.indexOf(call);
  assert.ok(
    index(quiet) < index(push) && index(push) < index(migrate),
    JSON.stringify(calls.map((c) => c.argv)),
  );
  // the fake bundle really ran on the server, quiet first
  assert.deepEqual((await flow.bundle()).map(([, args]) => args), [
    "exec ruby -rsidekiq/api -eSidekiq::ProcessSet.new.map{_1.quiet!}.size.display",
    "exec rails db:migrate",
  ]);
  assert.match(result.stdout, /Sidekiq quieted \(2 processes, worker\)/);
  // no worker was restarted by the tool: the release restarts them
  assert.equal(calls.filter((c) => c.argv[0] === "ps:restart").length, 0);

  const actions = flow.sentry.actions();
  assert.deepEqual(actions.map((a) => a.kind), [
    "release",
    "release",
    "commits",
    "finalize",
    "deploy",
  ]);
  const finalize = actions.find((a) => a.kind === "finalize")!;
  assert.ok(
    actions[0]!.at <= quiet.at + 5_000 && actions[0]!.at <= push.at,
    "the release is created before the push",
  );
  assert.ok(finalize.at >= migrate.at, "the release is finalized after the migration");
  assert.equal(actions.at(-1)?.body.environment, "staging");

  for (const name of NOTIFIERS) {
    const hook = flow.hooks[name];
    assert.equal(hook.requests().length, 2, `${name} got the start and success messages`);
    assert.ok(
      hook.requests()[0]!.at <= quiet.at,
      `${name}'s start message comes before the quieting`,
    );
    assert.ok(hook.requests()[1]!.at >= finalize.at, `${name}'s success message comes last`);
  }
  assert.deepEqual(events(flow.hooks.webhook), ["deploy.started", "deploy.succeeded"]);
  const success = flow.hooks.webhook.requests()[1]!.json as Record<string, unknown>;
  assert.equal(success.app, APP);
  assert.equal(success.environment, "staging");
  assert.equal(
    (success.commit as { url: string }).url,
    `https://gitlab.example.com/acme/shop/-/commit/${flow.sha}`,
  );
  assert.equal(success.actor, "ada");
  const mattermost = flow.hooks.mattermost.requests()[1]!.json as {
    attachments: { color: string; title: string }[];
  };
  assert.equal(mattermost.attachments[0]!.color, "#2eb67d");
  assert.equal(mattermost.attachments[0]!.title, "Deployed shop to staging");

  assertNoSecrets(flow, result.all);
});

Deno.test("A failed migration exits 1, names db:migrate in the failure message, and restarts the workers", async () => {
  await using flow = await startFlow({ failMigration: true });
  const result = await deploy(flow);
  assert.equal(result.code, 1, result.all);
  assert.match(result.all, /db:migrate/);

  const calls = await flow.calls();
  const migrate = find(calls, (argv) => isRun(argv, "db:migrate"));
  const restart = find(calls, (argv) => argv[0] === "ps:restart");
  assert.deepEqual(restart.argv, ["ps:restart", APP, "worker"]);
  assert.ok(calls.indexOf(restart) > calls.indexOf(migrate));
  // the release is left unfinalized
  assert.deepEqual(flow.sentry.actions().map((a) => a.kind), ["release", "release", "commits"]);

  for (const name of NOTIFIERS) assert.equal(flow.hooks[name].requests().length, 2, name);
  const failed = flow.hooks.webhook.requests()[1]!.json as {
    event: string;
    failure: { event: string; layer: string; command: string; exit_code: number; output: string[] };
  };
  assert.equal(failed.event, "deploy.failed");
  assert.equal(failed.failure.event, "post_deploy");
  assert.equal(failed.failure.layer, "rails");
  assert.match(failed.failure.command, /bundle exec rails db:migrate/);
  assert.equal(failed.failure.exit_code, 1);
  assert.ok(
    failed.failure.output.some((line) => line.includes("PG::DuplicateTable")),
    JSON.stringify(failed),
  );
  assert.ok(
    flow.hooks.webhook.requests()[1]!.at >= restart.at,
    "the failure message comes after the restart",
  );

  const mattermost = JSON.stringify(flow.hooks.mattermost.requests()[1]!.json);
  assert.match(mattermost, /db:migrate/);
  assert.match(mattermost, /PG::DuplicateTable/);
  assert.match(mattermost, /#d0021b/);
  const slack = JSON.stringify(flow.hooks.slack.requests()[1]!.json);
  assert.match(slack, /db:migrate/);
  assertNoSecrets(flow, result.all);
});

for (const mode of ["500", "hang"] as const) {
  Deno.test(`Chat webhooks and Sentry answering ${mode === "500" ? "500" : "never"} leave the deploy successful`, async () => {
    await using flow = await startFlow({ hookMode: mode, sentryMode: mode });
    const started = performance.now();
    const result = await deploy(flow);
    assert.equal(result.code, 0, result.all);
    assert.equal(await flow.sandbox.deployedSha(APP), flow.sha);
    assert.ok(find(await flow.calls(), (argv) => isRun(argv, "db:migrate")));
    for (const name of ["Mattermost", "Slack", "Discord", "Teams", "Webhook"]) {
      assert.match(
        result.all,
        new RegExp(
          `warning: ${name} notification failed${
            mode === "500"
              ? " with 500 internal error \\(after 2 attempts\\)"
              : ": timed out after 1s"
          }`,
        ),
      );
    }
    assert.match(result.all, /warning: sentry: create the release failed/);
    // hanging: 1 s per message (the notifiers in parallel), then 2 s for Sentry
    assert.ok(performance.now() - started < 30_000);
    assertNoSecrets(flow, result.all);
  });
}

Deno.test("Sentry associates commits when deploying from a --depth 1 clone", async () => {
  await using flow = await startFlow({ depth: 1 });
  const result = await deploy(flow);
  assert.equal(result.code, 0, result.all);
  assert.equal(await flow.sandbox.deployedSha(APP), flow.sha);
  const actions = flow.sentry.actions();
  assert.deepEqual(actions.map((a) => a.kind), [
    "release",
    "release",
    "commits",
    "finalize",
    "deploy",
  ]);
  assert.ok(!/warning: sentry/.test(result.all), result.all);
  assertNoSecrets(flow, result.all);
});

Deno.test("A skipped deploy quiets nothing, sends no start message, and tells the channel it skipped", async () => {
  await using flow = await startFlow();
  assert.equal((await deploy(flow)).code, 0);
  const before = (await flow.calls()).length;
  const result = await deploy(flow);
  assert.equal(result.code, 0, result.all);
  const calls = (await flow.calls()).slice(before);
  assert.ok(!calls.some((c) => c.argv[0] === "run"), JSON.stringify(calls.map((c) => c.argv)));
  assert.deepEqual(events(flow.hooks.webhook).slice(-1), ["deploy.skipped"]);
  assert.equal(flow.hooks.webhook.requests().length, 3);
});

Deno.test("DEPLOY_LAYERS=-rails switches the Rails layer off", async () => {
  await using flow = await startFlow();
  const result = await deploy(flow, {
    DEPLOY_LAYERS: "-rails,-sentry,-slack,-discord,-teams,-mattermost",
  });
  assert.equal(result.code, 0, result.all);
  assert.ok(!(await flow.calls()).some((c) => c.argv[0] === "run"));
  assert.deepEqual(flow.sentry.actions(), []);
  assert.deepEqual(events(flow.hooks.webhook), ["deploy.started", "deploy.succeeded"]);
  assert.equal(flow.hooks.slack.requests().length, 0);
});

Deno.test("Bad Rails, Sentry and notifier settings exit 2 in one message, before any server is touched", async () => {
  await using sandbox = await startDokkuSandbox();
  const repo = await makeRepo([{
    files: { "Gemfile.lock": LOCK, Procfile: PROCFILE },
    message: "Start",
  }]);
  try {
    const secretUrl = "hooks.example.com/services/T000/B000/secret-part";
    const result = await runCli([], {
      cwd: repo,
      env: {
        DEPLOY_PROVIDER: "dokku",
        DOKKU_HOST: sandbox.dokkuHost,
        APP_NAME: APP,
        SSH_PRIVATE_KEY: sandbox.privateKey,
        SSH_KNOWN_HOSTS: sandbox.knownHosts,
        AUTO_MIGRATE_ON_DEPLOY: "sometimes",
        SIDEKIQ_PROCESSES: "worker;reboot",
        SENTRY_AUTH_TOKEN: TOKEN,
        SLACK_WEBHOOK_URL: secretUrl,
        NOTIFY_TIMEOUT: "soon",
      },
    });
    assert.equal(result.code, 2, result.all);
    for (
      const name of [
        "AUTO_MIGRATE_ON_DEPLOY",
        "SIDEKIQ_PROCESSES",
        "SENTRY_ORG",
        "SENTRY_PROJECT",
        "SLACK_WEBHOOK_URL",
        "NOTIFY_TIMEOUT",
      ]
    ) {
      assert.match(result.all, new RegExp(name), `${name} is named`);
    }
    assert.ok(!result.all.includes("secret-part"), "the webhook URL is masked");
    assert.ok(!result.all.includes(TOKEN));
    assert.ok(!/\n\s+at /.test(result.all), "no stack trace");
    assert.deepEqual(await sandbox.calls(), []);
  } finally {
    await Deno.remove(repo, { recursive: true });
  }
});

Deno.test("The Rails commands reach the program exactly in each Dokku mode, in order", {
  sanitizeResources: false,
}, async (t) => {
  const modes: [string, DokkuSandboxOptions][] = [
    ["Dokku 0.35, herokuish", { version: "0.35.12", builder: "herokuish" }],
    ["Dokku 0.35, Dockerfile", { version: "0.35.12", builder: "dockerfile" }],
    ["Dokku 0.33, herokuish", { version: "0.33.9", builder: "herokuish" }],
    ["Dokku 0.33, Dockerfile", { version: "0.33.9", builder: "dockerfile" }],
  ];
  for (const [name, dokku] of modes) {
    await t.step(name, async () => {
      await using flow = await startFlow({ dokku });
      const before = (await flow.sandbox.programRuns()).length;
      const result = await deploy(flow, {
        DEPLOY_LAYERS: ["sentry", ...NOTIFIERS].map((n) => `-${n}`).join(","),
      });
      assert.equal(result.code, 0, result.all);
      const runs = (await flow.sandbox.programRuns()).slice(before).map((r) => r.argv);
      assert.deepEqual(runs, [[...QUIET_COMMAND], ["bundle", "exec", "rails", "db:migrate"]]);
      assert.match(result.stdout, /Sidekiq quieted \(2 processes, worker\)/);
      assert.equal(await flow.sandbox.runningSha(APP), flow.sha);
    });
  }
});

Deno.test(
  "A Procfile release: migrates inside the push on Dokku, and the Rails layer does not migrate again",
  {
    sanitizeResources: false,
  },
  async () => {
    await using flow = await startFlow({
      procfile: `${PROCFILE}release: bundle exec rails db:migrate\n`,
    });
    const before = (await flow.sandbox.programRuns()).length;
    const result = await deploy(flow, {
      DEPLOY_LAYERS: ["sentry", ...NOTIFIERS].map((n) => `-${n}`).join(","),
    });
    assert.equal(result.code, 0, result.all);
    const runs = (await flow.sandbox.programRuns()).slice(before);
    assert.deepEqual(runs.map((r) => [r.kind, r.argv.join(" ")]), [
      ["run", QUIET_COMMAND.join(" ")],
      ["release", "bash -c bundle exec rails db:migrate"],
    ]);
    assert.match(
      result.stdout,
      /release: process runs on Dokku during the deploy: not migrating twice/,
    );
  },
);
