/**
 * Microsoft Teams: posts an Adaptive Card to a Teams webhook. Adaptive Cards, not the older
 * MessageCard: Teams' Workflows webhooks, which replace the retired Office 365 connectors, accept
 * Adaptive Cards only.
 *
 * @module
 */
import { z } from "zod";
import {
  escapeMarkdown,
  facts,
  MARKDOWN,
  type Markup,
  type Notification,
  type NotificationKind,
  outputTail,
} from "../../src/notification.ts";
import { defineNotifier } from "../../src/notify.ts";
import { variable } from "../../src/variables.ts";

const variables = z.object({
  TEAMS_WEBHOOK_URL: variable(z.url({ error: "expected the webhook's URL" }), {
    description: "Microsoft Teams (Workflows) webhook URL; turns the Teams notifier on",
    secret: true,
  }),
});

// Adaptive Card Markdown has no code spans (https://learn.microsoft.com/en-us/adaptive-cards/authoring-cards/text-features):
// a backtick would show as is and the command inside would render as Markdown, so code is escaped text
const TEAMS: Markup = { ...MARKDOWN, code: (text) => escapeMarkdown(text) };

// Adaptive Cards have no free colours: these are the theme's colours of each outcome
const COLOR: Record<NotificationKind, string> = {
  started: "Accent",
  succeeded: "Good",
  skipped: "Default",
  failed: "Attention",
};

/** The Teams payload (a message with one Adaptive Card) of a message. */
export function teamsPayload(message: Notification): Record<string, unknown> {
  const link = message.jobUrl ?? message.pipelineUrl;
  // TextBlocks render Markdown (https://learn.microsoft.com/en-us/adaptive-cards/authoring-cards/text-features),
  // monospaced ones too: the output is escaped like every other text from the run
  const tail = outputTail(message, escapeMarkdown);
  const body: unknown[] = [
    {
      type: "TextBlock",
      text: escapeMarkdown(message.title),
      weight: "Bolder",
      size: "Medium",
      color: COLOR[message.kind],
      wrap: true,
    },
    {
      type: "FactSet",
      facts: facts(message, TEAMS).map((fact) => ({ title: fact.title, value: fact.value })),
    },
  ];
  if (tail) {
    // one block per line: Teams clients differ in how they break a TextBlock's single newlines
    body.push({
      type: "Container",
      items: tail.split("\n").map((line) => ({
        type: "TextBlock",
        text: line || " ",
        fontType: "Monospace",
        size: "Small",
        spacing: "None",
        wrap: true,
      })),
    });
  }
  return {
    type: "message",
    attachments: [{
      contentType: "application/vnd.microsoft.card.adaptive",
      contentUrl: null,
      content: {
        $schema: "http://adaptivecards.io/schemas/adaptive-card.json",
        type: "AdaptiveCard",
        version: "1.4",
        msteams: { width: "Full" },
        body,
        ...(link
          ? { actions: [{ type: "Action.OpenUrl", title: "Open the CI job", url: link }] }
          : {}),
      },
    }],
  };
}

export default defineNotifier({
  name: "teams",
  label: "Teams",
  description: "Posts the start, success, skip and failure of a deploy to Microsoft Teams",
  variables,
  urlVariable: "TEAMS_WEBHOOK_URL",
  url: (config) => config.TEAMS_WEBHOOK_URL,
  payload: teamsPayload,
});
