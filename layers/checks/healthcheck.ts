/**
 * The health check: after the release is live and the migrations ran (`post_deploy`, after the
 * Rails migrations at priority 20), polls DEPLOY_HEALTHCHECK_URL until the app answers as
 * expected, and fails the run when it does not within DEPLOY_HEALTHCHECK_TIMEOUT. With
 * DEPLOY_ROLLBACK_ON_FAILURE=true that failure puts back what ran before.
 *
 * @module
 */
import { z } from "zod";
import { parseExpectedStatus, waitHealthy } from "../../src/healthcheck.ts";
import { defineLayer } from "../../src/layer.ts";
import { flag, seconds, variable } from "../../src/variables.ts";

const variables = z.object({
  DEPLOY_HEALTHCHECK_URL: variable(
    z.url({ protocol: /^https?$/, error: "expected an http(s) URL" }),
    {
      description:
        "URL polled after the deploy until the app answers as expected (may hold basic auth or a token)",
      secret: true,
      example: "https://shop.example.com/up",
    },
  ),
  DEPLOY_HEALTHCHECK_TIMEOUT: seconds(
    { description: "Seconds the health check waits for the app to answer as expected" },
    120,
  ),
  DEPLOY_HEALTHCHECK_STATUS: variable(
    z.string().refine((v) => parseExpectedStatus(v) !== null, {
      error: "expected status codes or classes separated by commas, such as 200 or 2xx,301",
    }).default("2xx"),
    { description: "The status that passes: codes or classes, such as 200 or 2xx,301" },
  ),
  DEPLOY_HEALTHCHECK_TEXT: variable(z.string().min(1).optional(), {
    description: "Text the answer's body must contain",
    example: "OK",
  }),
  DEPLOY_HEALTHCHECK_FOLLOW_REDIRECTS: flag({
    description: "Follow redirects (by default a redirect, to a login page say, does not pass)",
  }),
});

/** When the health check runs in post_deploy: after the Rails migrations (20). */
export const HEALTHCHECK_PRIORITY = 50;

export default defineLayer({
  name: "healthcheck",
  kind: "check",
  description: "Polls a URL of the app after the deploy; fails the run when it never answers well",
  variables,
  enabled: ({ vars }) => vars.DEPLOY_HEALTHCHECK_URL !== undefined,
  setup({ config, on, runtime }) {
    const url = new URL(config.DEPLOY_HEALTHCHECK_URL);
    // the URL is masked whole; its parts may appear on their own (an echoed token, a header)
    runtime.secrets.add(decodeURIComponent(url.password) || undefined);
    if (url.password) {
      runtime.secrets.add(
        btoa(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`),
      );
    }
    for (const value of url.searchParams.values()) runtime.secrets.add(value);
    const seconds = config.DEPLOY_HEALTHCHECK_TIMEOUT;
    const expected = config.DEPLOY_HEALTHCHECK_STATUS;
    on(
      "post_deploy",
      {
        priority: HEALTHCHECK_PRIORITY,
        description: `wait up to ${seconds}s for ${url.host} to answer ${expected}${
          config.DEPLOY_HEALTHCHECK_TEXT ? " with the expected text" : ""
        }`,
      },
      async (ctx) => {
        ctx.logger.info(
          `Polling DEPLOY_HEALTHCHECK_URL (${url.host}) for up to ${seconds}s, expecting ${expected}`,
        );
        const healthy = await waitHealthy(config.DEPLOY_HEALTHCHECK_URL, {
          status: expected,
          ...(config.DEPLOY_HEALTHCHECK_TEXT ? { text: config.DEPLOY_HEALTHCHECK_TEXT } : {}),
          followRedirects: config.DEPLOY_HEALTHCHECK_FOLLOW_REDIRECTS,
          timeoutMs: seconds * 1000,
          fetch: runtime.fetch,
          mask: (text) => ctx.secrets.mask(text),
          signal: runtime.signal,
          onAttempt: (attempt) =>
            ctx.logger.info(
              `Attempt ${attempt.attempt} after ${
                (attempt.elapsedMs / 1000).toFixed(1)
              }s: ${attempt.reason}`,
            ),
        });
        ctx.logger.success(
          `${url.host} answered ${healthy.status} after ${(healthy.elapsedMs / 1000).toFixed(1)}s`,
        );
      },
    );
  },
});
