/**
 * `deploy status` on Heroku: the current release (version, time, description, who made it), the
 * commit of its slug, and the app's stack and region. Read-only API calls.
 *
 * @module
 */
import type { ProviderStatus } from "../../../src/provider.ts";
import type { HerokuApi } from "./api.ts";
import type { HerokuHistoryApi } from "./history.ts";
import { runningRelease } from "./history.ts";

// releases scanned for the current one
const RELEASE_SCAN = 20;

/** What the app runs now. */
export async function herokuStatus(
  api: HerokuApi,
  history: HerokuHistoryApi,
  app: string,
): Promise<ProviderStatus> {
  const info = await api.app(app);
  const releases = await history.releases(app, RELEASE_SCAN);
  const current = runningRelease(releases);
  const details: Record<string, string> = {
    Stack: info.stack?.name ?? "unknown",
    Region: info.region?.name ?? "unknown",
  };
  if (!current) return { commit: null, details };
  if (current.description) details.Description = current.description;
  if (current.user?.email) details["Released by"] = current.user.email;
  const latest = releases[0];
  if (latest && latest.id !== current.id) {
    details.Latest = `v${latest.version} (${latest.status})`;
  }
  const status: ProviderStatus = {
    commit: current.slug ? await api.slugCommit(app, current.slug.id) : null,
    release: `v${current.version}`,
    details,
  };
  if (current.created_at) status.releasedAt = current.created_at;
  return status;
}
