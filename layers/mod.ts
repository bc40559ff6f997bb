/**
 * Every layer the tool knows, in registration order (which breaks priority ties). Adding a layer
 * is one file under `layers/` plus its line here; `test/layers_test.ts` fails for a file left out.
 *
 * @module
 */
import type { AnyLayer } from "../src/plan.ts";
import dokku from "./providers/dokku.ts";
import heroku from "./providers/heroku.ts";
import rails from "./applications/rails.ts";
import sentry from "./third_parties/sentry.ts";
import healthcheck from "./checks/healthcheck.ts";
import mattermost from "./notifiers/mattermost.ts";
import slack from "./notifiers/slack.ts";
import discord from "./notifiers/discord.ts";
import teams from "./notifiers/teams.ts";
import webhook from "./notifiers/webhook.ts";

/** All layers. */
export const LAYERS: readonly AnyLayer[] = [
  dokku,
  heroku,
  rails,
  sentry,
  healthcheck,
  mattermost,
  slack,
  discord,
  teams,
  webhook,
];
