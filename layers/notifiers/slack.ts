/**
 * Slack: posts to an incoming webhook, a coloured attachment holding Block Kit sections.
 *
 * @module
 */
import { z } from "zod";
import { facts, type Markup, type Notification, outputTail } from "../../src/notification.ts";
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
// a section holds at most 10 fields
const FIELDS_PER_SECTION = 10;

/** The Slack payload of a message. */
export function slackPayload(message: Notification): Record<string, unknown> {
  const link = message.jobUrl ?? message.pipelineUrl;
  const title = link ? SLACK.link(message.title, link) : escape(message.title);
  const fields = facts(message, SLACK).map((fact) => ({
    type: "mrkdwn",
    text: `*${fact.title}*\n${fact.value}`,
  }));
  const blocks: unknown[] = [{ type: "section", text: { type: "mrkdwn", text: `*${title}*` } }];
  for (let i = 0; i < fields.length; i += FIELDS_PER_SECTION) {
    blocks.push({ type: "section", fields: fields.slice(i, i + FIELDS_PER_SECTION) });
  }
  const tail = outputTail(message);
  if (tail) {
    blocks.push({
      type: "section",
      text: { type: "mrkdwn", text: "```\n" + escape(tail) + "\n```" },
    });
  }
  return {
    // the top-level text is what notifications and screen readers show
    text: `${message.title} (${message.commit.shortSha})`,
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
