/**
 * Mattermost: posts to an incoming webhook, one message attachment per message, coloured by the
 * outcome.
 *
 * @module
 */
import { z } from "zod";
import { facts, MARKDOWN, type Notification, outputBlock } from "../../src/notification.ts";
import { defineNotifier } from "../../src/notify.ts";
import { variable } from "../../src/variables.ts";
import { VERSION } from "../../src/version.ts";

const variables = z.object({
  MATTERMOST_WEBHOOK_URL: variable(
    z.url({ error: "expected the incoming webhook's URL" }),
    {
      description: "Mattermost incoming webhook URL; turns the Mattermost notifier on",
      secret: true,
    },
  ),
  MATTERMOST_CHANNEL: variable(z.string().optional(), {
    description: "Channel to post to, instead of the webhook's own",
    example: "deploys",
  }),
  MATTERMOST_USERNAME: variable(z.string().optional(), {
    description: "Name the messages are posted under",
    example: "deploy",
  }),
  MATTERMOST_ICON_URL: variable(z.url({ error: "expected a URL" }).optional(), {
    description: "Picture the messages are posted with",
  }),
});

/** The Mattermost payload of a message. */
export function mattermostPayload(
  message: Notification,
  config: Pick<
    z.output<typeof variables>,
    "MATTERMOST_CHANNEL" | "MATTERMOST_USERNAME" | "MATTERMOST_ICON_URL"
  >,
): Record<string, unknown> {
  const link = message.jobUrl ?? message.pipelineUrl;
  const output = outputBlock(message);
  return {
    ...(config.MATTERMOST_CHANNEL ? { channel: config.MATTERMOST_CHANNEL } : {}),
    ...(config.MATTERMOST_USERNAME ? { username: config.MATTERMOST_USERNAME } : {}),
    ...(config.MATTERMOST_ICON_URL ? { icon_url: config.MATTERMOST_ICON_URL } : {}),
    attachments: [{
      fallback: `${message.title} (${message.commit.shortSha})`,
      color: message.color,
      title: message.title,
      ...(link ? { title_link: link } : {}),
      ...(output ? { text: output } : {}),
      fields: facts(message, MARKDOWN),
      footer: `deploy ${VERSION}`,
    }],
  };
}

export default defineNotifier({
  name: "mattermost",
  label: "Mattermost",
  description: "Posts the start, success, skip and failure of a deploy to Mattermost",
  variables,
  urlVariable: "MATTERMOST_WEBHOOK_URL",
  url: (config) => config.MATTERMOST_WEBHOOK_URL,
  payload: mattermostPayload,
});
