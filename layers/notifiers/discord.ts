/**
 * Discord: posts to a channel webhook, one embed per message, coloured by the outcome. Mentions
 * are disabled, so that a commit title cannot ping anyone.
 *
 * @module
 */
import { z } from "zod";
import {
  facts,
  fitStart,
  MARKDOWN,
  type Notification,
  outputBlock,
} from "../../src/notification.ts";
import { defineNotifier } from "../../src/notify.ts";
import { variable } from "../../src/variables.ts";
import { VERSION } from "../../src/version.ts";

const variables = z.object({
  DISCORD_WEBHOOK_URL: variable(z.url({ error: "expected the channel webhook's URL" }), {
    description: "Discord webhook URL; turns the Discord notifier on",
    secret: true,
  }),
});

// Discord's limits: embed title 256 characters, field value 1024
// (https://discord.com/developers/docs/resources/message#embed-object-embed-limits)
const TITLE_CHARS = 256;
const FIELD_CHARS = 1024;

/** The Discord payload of a message. */
export function discordPayload(message: Notification): Record<string, unknown> {
  const link = message.jobUrl ?? message.pipelineUrl;
  const output = outputBlock(message);
  return {
    allowed_mentions: { parse: [] },
    embeds: [{
      // an embed title is plain text: no Markdown to escape
      title: fitStart(message.title, TITLE_CHARS, (text) => text),
      ...(link ? { url: link } : {}),
      color: Number.parseInt(message.color.slice(1), 16),
      ...(output ? { description: output } : {}),
      // escaped, then fitted, by facts(): a cut after escaping could split an escape
      fields: facts(message, MARKDOWN, { maxValue: FIELD_CHARS }).map((fact) => ({
        name: fact.title,
        value: fact.value,
        inline: fact.short,
      })),
      footer: { text: `deploy ${VERSION}` },
    }],
  };
}

export default defineNotifier({
  name: "discord",
  label: "Discord",
  description: "Posts the start, success, skip and failure of a deploy to Discord",
  variables,
  urlVariable: "DISCORD_WEBHOOK_URL",
  url: (config) => config.DISCORD_WEBHOOK_URL,
  payload: discordPayload,
});
