/**
 * Slack: posts to an incoming webhook, a coloured attachment holding Block Kit sections.
 *
 * @module
 */
import { z } from "zod";
import {
  facts,
  fitStart,
  type Markup,
  type Notification,
  outputTail,
} from "../../src/notification.ts";
import { defineNotifier } from "../../src/notify.ts";
import { variable } from "../../src/variables.ts";

const variables = z.object({
  SLACK_WEBHOOK_URL: variable(z.url({ error: "expected the incoming webhook's URL" }), {
    description: "Slack incoming webhook URL; turns the Slack notifier on",
    secret: true,
  }),
});

// Slack's mrkdwn: &, < and > are control characters, links are <url|text>
const escape = (text: string) =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const SLACK: Markup = {
  link: (text, url) =>
    `<${url.replace(/[|>\s]/g, encodeURIComponent)}|${escape(text).replace(/\|/g, "/")}>`,
  code: (text) => `\`${escape(text).replaceAll("`", "'")}\``,
  escape,
};
// a section holds at most 10 fields, each of at most 2,000 characters, and a section's text at
// most 3,000: beyond them Slack refuses the whole message (https://docs.slack.dev/reference/block-kit/blocks/section-block)
const FIELDS_PER_SECTION = 10;
const FIELD_CHARS = 2000;
const SECTION_CHARS = 3000;

/** The Slack payload of a message. */
export function slackPayload(message: Notification): Record<string, unknown> {
  const link = message.jobUrl ?? message.pipelineUrl;
  const max = SECTION_CHARS - 2;
  const title = link
    ? fitStart(message.title, max, (text) => SLACK.link(text, link))
    : fitStart(message.title, max, escape);
  const fields = facts(message, SLACK, { maxValue: FIELD_CHARS - 20 }).map((fact) => ({
    type: "mrkdwn",
    text: `*${fact.title}*\n${fact.value}`,
  }));
  const blocks: unknown[] = [{ type: "section", text: { type: "mrkdwn", text: `*${title}*` } }];
  for (let i = 0; i < fields.length; i += FIELDS_PER_SECTION) {
    blocks.push({ type: "section", fields: fields.slice(i, i + FIELDS_PER_SECTION) });
  }
  // escaped before it is cut, so the cut bounds what Slack receives
  const tail = outputTail(message, escape);
  if (tail) {
    blocks.push({ type: "section", text: { type: "mrkdwn", text: "```\n" + tail + "\n```" } });
  }
  return {
    // the top-level text is what notifications and screen readers show
    text: `${escape(message.title)} (${message.commit.shortSha})`,
    attachments: [{ color: message.color, blocks }],
  };
}

export default defineNotifier({
  name: "slack",
  label: "Slack",
  description: "Posts the start, success, skip and failure of a deploy to Slack",
  variables,
  urlVariable: "SLACK_WEBHOOK_URL",
  url: (config) => config.SLACK_WEBHOOK_URL,
  payload: slackPayload,
});
