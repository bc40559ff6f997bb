/**
 * A generic JSON webhook: POSTs a documented, versioned event payload (`deploy.notification`
 * version 1, see the README) to DEPLOY_WEBHOOK_URL.
 *
 * @module
 */
import { z } from "zod";
import type { Notification } from "../../src/notification.ts";
import { defineNotifier } from "../../src/notify.ts";
import { variable } from "../../src/variables.ts";
import { VERSION } from "../../src/version.ts";

const variables = z.object({
  DEPLOY_WEBHOOK_URL: variable(z.url({ error: "expected a URL" }), {
    description: "URL that receives a JSON event (deploy.notification v1) for each message",
    secret: true,
  }),
});

/** The payload's schema name and version; a field's meaning never changes within a version. */
export const WEBHOOK_SCHEMA = { name: "deploy.notification", version: 1 } as const;

/** The generic webhook's event payload of a message. */
export function webhookPayload(message: Notification): Record<string, unknown> {
  const failure = message.failure;
  return {
    schema: WEBHOOK_SCHEMA.name,
    version: WEBHOOK_SCHEMA.version,
    event: `deploy.${message.kind}`,
    title: message.title,
    app: message.app,
    environment: message.environment,
    provider: message.provider,
    commit: {
      sha: message.commit.sha,
      short_sha: message.commit.shortSha,
      title: message.commit.title,
      author: message.commit.author,
      ref: message.commit.ref ?? null,
      url: message.commit.url ?? null,
    },
    actor: message.actor,
    pipeline_url: message.pipelineUrl ?? null,
    job_url: message.jobUrl ?? null,
    started_at: message.startedAt,
    duration_ms: message.durationMs ?? null,
    failure: failure
      ? {
        reason: failure.reason,
        event: failure.event,
        layer: failure.layer,
        message: failure.message,
        command: failure.command ?? null,
        exit_code: failure.exitCode ?? null,
        output: failure.output,
      }
      : null,
    // additive in version 1: null unless the run rolled back (deploy rollback, or after a failure)
    rollback: message.rollback
      ? {
        kind: message.rollback.kind,
        to: message.rollback.to,
        commit: message.rollback.commit,
        ok: message.rollback.ok ?? null,
        error: message.rollback.error ?? null,
      }
      : null,
    tool: { name: "deploy", version: VERSION },
  };
}

export default defineNotifier({
  name: "webhook",
  label: "Webhook",
  description: "POSTs a versioned JSON event for the start, success, skip and failure of a deploy",
  variables,
  urlVariable: "DEPLOY_WEBHOOK_URL",
  url: (config) => config.DEPLOY_WEBHOOK_URL,
  payload: webhookPayload,
  headers: (message) => ({ "x-deploy-event": `deploy.${message.kind}` }),
});
