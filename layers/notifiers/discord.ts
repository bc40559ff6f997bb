/**
 * Discord: posts to a channel webhook, one embed per message, coloured by the outcome. Mentions
 * are disabled, so that a commit title cannot ping anyone.
 *
 * @module
 */
import { z } from "zod";
import { facts, MARKDOWN, type Notification, outputBlock } from "../../src/notification.ts";
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
const clip = (text: string, max: number) => text.length > max ? `${text.slice(0, max - 1)}…` : text;

/** The Discord payload of a message. */
export function discordPayload(message: Notification): Record<string, unknown> {
  const link = message.jobUrl ?? message.pipelineUrl;
  const output = outputBlock(message);
  return {
    allowed_mentions: { parse: [] },
    embeds: [{
      title: clip(message.title, 256),
      ...(link ? { url: link } : {}),
      color: Number.parseInt(message.color.slice(1), 16),
      ...(output ? { description: output } : {}),
      fields: facts(message, MARKDOWN).map((fact) => ({
        name: fact.title,
        value: clip(fact.value, 1024),
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
