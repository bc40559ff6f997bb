import assert from "node:assert/strict";
import {
  buildNotification,
  COLORS,
  escapeMarkdown,
  facts,
  fitStart,
  formatDuration,
  MARKDOWN,
  type Notification,
  type NotificationKind,
  OUTPUT_CHARS,
  outputBlock,
  outputTail,
} from "../src/notification.ts";
import { mattermostPayload } from "../layers/notifiers/mattermost.ts";
import { slackPayload } from "../layers/notifiers/slack.ts";
import { discordPayload } from "../layers/notifiers/discord.ts";
import { teamsPayload } from "../layers/notifiers/teams.ts";
import { webhookPayload } from "../layers/notifiers/webhook.ts";
import { fakeContext } from "./_deploy_context.ts";
import { VERSION } from "../src/version.ts";

const TOKEN = "glpat-SECRET-token-123";
const KINDS: NotificationKind[] = ["started", "succeeded", "skipped", "failed"];

/** The four messages of a run whose migration failed, 83 s after the start. */
function messages(): Record<NotificationKind, Notification> {
  const { ctx } = fakeContext({ secrets: [TOKEN] });
  ctx.failure = {
    reason: "error",
    event: "post_deploy",
    layer: "rails",
    message: "Command failed with exit code 1: dokku run shop bundle exec rails db:migrate",
    command: "dokku run shop bundle exec rails db:migrate",
    exitCode: 1,
    output: [
      "== 20260101000000 AddIndexToUsers: migrating",
      'PG::DuplicateTable: ERROR:  relation "index_users_on_email" already exists',
      `DATABASE_URL=postgres://app:${TOKEN}@db/shop`,
      "```",
    ],
  };
  const now = () => ctx.startedAt + 83_000;
  return Object.fromEntries(
    KINDS.map((kind) => [kind, buildNotification(ctx, kind, { now })]),
  ) as Record<
    NotificationKind,
    Notification
  >;
}

const FORMATS: Record<string, (message: Notification) => unknown> = {
  mattermost: (message) =>
    mattermostPayload(message, {
      MATTERMOST_CHANNEL: "deploys",
      MATTERMOST_USERNAME: "deploy",
      MATTERMOST_ICON_URL: "https://example.com/rocket.png",
    }),
  slack: slackPayload,
  discord: discordPayload,
  teams: teamsPayload,
  webhook: webhookPayload,
};

for (const [format, payload] of Object.entries(FORMATS)) {
  Deno.test(`The ${format} payloads of start, success, skip and failure match test/snapshots/${format}.json`, async () => {
    const all = messages();
    const actual = Object.fromEntries(KINDS.map((kind) => [kind, payload(all[kind])]));
    // JSON round trip: the snapshot holds what goes on the wire
    // the tool's version is left out, so that a release does not change every snapshot
    const wire = JSON.parse(
      JSON.stringify(actual).replaceAll(`deploy ${VERSION}`, "deploy VERSION")
        .replaceAll(`"version":"${VERSION}"`, `"version":"VERSION"`),
    );
    const path = new URL(`./snapshots/${format}.json`, import.meta.url);
    if (Deno.env.get("UPDATE_SNAPSHOTS") === "1") {
      await Deno.writeTextFile(path, JSON.stringify(wire, null, 2) + "\n");
    }
    assert.deepEqual(wire, JSON.parse(await Deno.readTextFile(path)));
    const text = JSON.stringify(wire);
    assert.ok(!text.includes(TOKEN), "a secret in the output tail is masked");
  });
}

Deno.test("buildNotification gives each outcome its colour and title", () => {
  const all = messages();
  assert.deepEqual(KINDS.map((kind) => all[kind].color), [
    COLORS.started,
    COLORS.succeeded,
    COLORS.skipped,
    COLORS.failed,
  ]);
  assert.deepEqual(KINDS.map((kind) => all[kind].title), [
    "Deploying shop to production",
    "Deployed shop to production",
    "Skipped deploying shop to production: it already runs this commit",
    "Deploy of shop to production failed",
  ]);
  assert.equal(all.started.durationMs, undefined);
  assert.equal(all.succeeded.durationMs, 83_000);
  assert.equal(all.succeeded.failure, undefined);
});

Deno.test("buildNotification says a cancelled run was cancelled", () => {
  const { ctx } = fakeContext();
  ctx.failure = {
    reason: "cancelled",
    event: "deploy",
    layer: "dokku",
    message: "Cancelled by SIGTERM",
    output: [],
  };
  assert.equal(
    buildNotification(ctx, "failed").title,
    "Deploy of shop to production was cancelled",
  );
});

Deno.test("buildNotification leaves the commit unlinked when the project's page is unknown", () => {
  const { ctx } = fakeContext({ ci: { system: "local" } });
  const message = buildNotification(ctx, "succeeded");
  assert.equal(message.commit.url, undefined);
  assert.equal(message.actor, "Ada Lovelace");
  const commit = facts(message, MARKDOWN).find((fact) => fact.title === "Commit");
  assert.equal(commit?.value, "`0123456` Fix the login");
  assert.equal(facts(message, MARKDOWN).find((fact) => fact.title === "CI"), undefined);
});

Deno.test("buildNotification masks secrets in every field, commit title included", () => {
  const { ctx } = fakeContext({ secrets: [TOKEN] });
  ctx.commit.title = `Rotate ${TOKEN}`;
  ctx.failure = {
    reason: "error",
    event: "deploy",
    layer: "dokku",
    message: `bad ${TOKEN}`,
    command: `x ${TOKEN}`,
    exitCode: 2,
    output: [TOKEN],
  };
  const text = JSON.stringify(buildNotification(ctx, "failed"));
  assert.ok(!text.includes(TOKEN));
  assert.match(text, /Rotate \*\*\*/);
});

Deno.test("The failure facts name the event, layer, command and exit code, without repeating the command", () => {
  const titles = facts(messages().failed, MARKDOWN).map((fact) => [fact.title, fact.value]);
  assert.deepEqual(titles.slice(-3), [
    ["Failed in", "post_deploy (rails)"],
    ["Command", "`dokku run shop bundle exec rails db:migrate`"],
    ["Exit code", "1"],
  ]);
});

Deno.test("outputBlock keeps the tail short and cannot be closed early by a fence in the output", () => {
  const { ctx } = fakeContext();
  ctx.failure = {
    reason: "error",
    event: "deploy",
    layer: "dokku",
    message: "push failed",
    output: Array.from({ length: 40 }, (_, i) => `line ${i} ${"x".repeat(80)}`).concat("```"),
  };
  const block = outputBlock(buildNotification(ctx, "failed"));
  assert.ok(block.startsWith("```\n…"));
  assert.ok(block.endsWith("\n'''\n```"));
  assert.ok(block.length <= OUTPUT_CHARS + 20);
  assert.equal(block.match(/```/g)?.length, 2);
});

Deno.test("formatDuration writes seconds, minutes and hours", () => {
  assert.deepEqual([formatDuration(4_400), formatDuration(65_000), formatDuration(3_720_000)], [
    "4s",
    "1m 05s",
    "1h 02m",
  ]);
});

Deno.test("Markdown links survive parentheses and spaces in a URL", () => {
  assert.equal(
    MARKDOWN.link("job [1]", "https://x.test/a (b)"),
    "[job 1](https://x.test/a%20%28b%29)",
  );
});

/** A failed run whose commit title, error, command and output are `text`-heavy. */
function hostileMessage(options: { title: string; text?: string }): Notification {
  const { ctx } = fakeContext();
  ctx.commit.title = options.title;
  const text = options.text ?? options.title;
  ctx.failure = {
    reason: "error",
    event: "deploy",
    layer: "dokku",
    message: `failed: ${text}`,
    command: `git push ${text}`,
    exitCode: 1,
    output: Array.from({ length: 30 }, () => text.slice(0, 300)),
  };
  return buildNotification(ctx, "failed");
}

/** Every string in a JSON value. */
function strings(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value && typeof value === "object") return Object.values(value).flatMap(strings);
  return [];
}

Deno.test("Slack escapes < and > in a commit title: no <!channel> ping, no disguised link", () => {
  const payload = slackPayload(
    hostileMessage({ title: "<!channel> fix & <https://evil.example|docs>" }),
  );
  const text = JSON.stringify(payload);
  assert.ok(!text.includes("<!channel>"), text);
  assert.ok(!text.includes("<https://evil.example"), text);
  assert.match(text, /&lt;!channel&gt; fix &amp; &lt;https:\/\/evil\.example\|docs&gt;/);
});

Deno.test("Mattermost, Discord and Teams show a link-shaped commit title as text", async (t) => {
  const message = hostileMessage({ title: "[click](https://evil.example) **now**" });
  const payloads: Record<string, unknown> = {
    mattermost: mattermostPayload(message, {}),
    discord: discordPayload(message),
    teams: teamsPayload(message),
  };
  for (const [name, payload] of Object.entries(payloads)) {
    await t.step(name, () => {
      // code spans and blocks show their text literally; Adaptive Cards have neither, so Teams
      // text is checked whole
      const literal = (s: string) =>
        name === "teams" ? s : s.replace(/```[\s\S]*?```/g, "").replace(/`[^`]*`/g, "");
      const all = strings(payload);
      assert.ok(!all.some((s) => literal(s).includes("[click](")), JSON.stringify(payload));
      assert.ok(
        all.some((s) => s.includes("\\[click\\]\\(https://evil.example\\) \\*\\*now\\*\\*")),
        JSON.stringify(payload),
      );
    });
  }
  await t.step("the escapes are CommonMark's: every backslash escapes the next character", () => {
    assert.equal(
      escapeMarkdown("a_b*c`d[e](f)<g>#|~\\"),
      "a\\_b\\*c\\`d\\[e\\]\\(f\\)\\<g\\>\\#\\|\\~\\\\",
    );
  });
});

Deno.test("Slack fields stay within 2,000 characters and sections within 3,000, after escaping", () => {
  // each character escapes to five (&amp;): a cut before escaping would be five times too long
  const payload = slackPayload(hostileMessage({ title: "&<>".repeat(2000) })) as {
    attachments: { blocks: { text?: { text: string }; fields?: { text: string }[] }[] }[];
  };
  const blocks = payload.attachments[0]!.blocks;
  let fields = 0;
  for (const block of blocks) {
    if (block.text) assert.ok(block.text.text.length <= 3000, `${block.text.text.length}`);
    for (const field of block.fields ?? []) {
      fields++;
      assert.ok(field.text.length <= 2000, `${field.text.length}`);
      // no escape cut in half: every & starts a whole entity
      assert.doesNotMatch(field.text, /&(?!amp;|lt;|gt;)/);
    }
  }
  assert.ok(fields >= 5);
  const tail = blocks.at(-1)!.text!.text;
  assert.ok(tail.length <= OUTPUT_CHARS + 8, `${tail.length}`);
  assert.doesNotMatch(tail, /&(?!amp;|lt;|gt;)/);
});

Deno.test("Discord fields stay within 1,024 characters after escaping, with no escape cut in half", () => {
  const payload = discordPayload(hostileMessage({ title: "*_[".repeat(1500) })) as {
    embeds: { fields: { value: string }[]; title: string }[];
  };
  for (const field of payload.embeds[0]!.fields) {
    assert.ok(field.value.length <= 1024, `${field.value.length}`);
    assert.match(field.value, /^(?:[^\\]|\\.)*$/s, "a backslash without its character");
  }
});

Deno.test("outputTail is bounded after the service's escaping", () => {
  const message = hostileMessage({ title: "t", text: "<".repeat(300) });
  const escaped = outputTail(message, (text) => text.replaceAll("<", "&lt;"));
  assert.ok(escaped.length <= OUTPUT_CHARS, `${escaped.length}`);
  assert.ok(escaped.startsWith("…&lt;"));
  assert.ok(escaped.endsWith("&lt;"));
});

Deno.test("formatDuration turns a full minute and a full hour into the next unit", () => {
  assert.deepEqual([formatDuration(59_400), formatDuration(60_000), formatDuration(3_600_000)], [
    "59s",
    "1m 00s",
    "1h 00m",
  ]);
});

Deno.test("fitStart uses every character the limit allows", () => {
  assert.equal(fitStart("abcdefgh", 8, (t) => t), "abcdefgh");
  assert.equal(fitStart("abcdefgh", 5, (t) => t), "abcd…");
  assert.equal(fitStart("a*b*c*d*", 6, escapeMarkdown), "a\\*b…");
});

Deno.test("The CI fact links a GitHub run once, since its job and run pages are the same", () => {
  const run = "https://github.com/acme/shop/actions/runs/7";
  const { ctx } = fakeContext({
    ci: {
      system: "github",
      pipelineUrl: run,
      jobUrl: run,
      projectUrl: "https://github.com/acme/shop",
    },
  });
  const ci = facts(buildNotification(ctx, "succeeded"), MARKDOWN).find((f) => f.title === "CI");
  assert.equal(ci?.value, `[pipeline](${run})`);
});
