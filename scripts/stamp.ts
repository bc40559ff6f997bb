/**
 * Stamps the files a release publishes with the project's real location, in place of the
 * `OWNER/deploy` placeholders they hold in the source tree: the install script, the GitLab
 * template and the action (which users fetch from a release or a tag, never build).
 *
 * ```sh
 * # GitHub (release.yml)
 * deno run --allow-read --allow-write scripts/stamp.ts --repository "$GITHUB_REPOSITORY"
 * # GitLab (.gitlab-ci.yml)
 * deno run --allow-read --allow-write scripts/stamp.ts --repository "$CI_PROJECT_PATH" \
 *   --registry "$CI_REGISTRY_IMAGE" --raw-base "$CI_PROJECT_URL/-/raw/" \
 *   --releases-url "$CI_PROJECT_URL/-/releases"
 * ```
 *
 * It fails (exit 1) when a stamped file still holds a placeholder, and (exit 2) on bad arguments.
 *
 * @module
 */
import { parseArgs } from "node:util";

/** The files a release publishes, relative to the repository's root. */
export const STAMPED_FILES = [
  "scripts/install.sh",
  "templates/gitlab/deploy.gitlab-ci.yml",
  "action.yml",
] as const;

/** Where the released files point. */
export interface StampTarget {
  /** The project's `owner/name` on its forge. */
  repository: string;
  /** The image registry path, lowercase. @default ghcr.io/<repository, lowercased> */
  registry?: string;
  /** Prefix of raw file URLs, ending in "/". @default https://raw.githubusercontent.com/<repository>/ */
  rawBase?: string;
  /** The releases page install.sh downloads from. @default https://github.com/<repository>/releases */
  releasesUrl?: string;
}

/** A placeholder still present after stamping, or a bad argument. */
export class StampError extends Error {
  override name = "StampError";
  /** 2 for bad arguments, 1 for a file left with a placeholder. */
  readonly exitCode: number;

  constructor(message: string, exitCode: number) {
    super(message);
    this.exitCode = exitCode;
  }
}

const PLACEHOLDER = /\bOWNER\b/;

/** `text` with its placeholders replaced. */
export function stamp(text: string, target: StampTarget): string {
  if (!/^[\w.-]+(\/[\w.-]+)+$/.test(target.repository)) {
    throw new StampError(
      `Cannot stamp: repository "${target.repository}" is not owner/name`,
      2,
    );
  }
  const registry = target.registry ?? `ghcr.io/${target.repository.toLowerCase()}`;
  if (registry !== registry.toLowerCase()) {
    throw new StampError(`Cannot stamp: registry "${registry}" must be lowercase`, 2);
  }
  const rawBase = target.rawBase ?? `https://raw.githubusercontent.com/${target.repository}/`;
  const releasesUrl = target.releasesUrl ?? `https://github.com/${target.repository}/releases`;
  // the longest placeholders first: each of them contains OWNER/deploy
  return text
    .replaceAll("https://raw.githubusercontent.com/OWNER/deploy/", rawBase)
    .replaceAll("https://github.com/OWNER/deploy/releases", releasesUrl)
    .replaceAll("ghcr.io/OWNER/deploy", registry)
    .replaceAll("OWNER/deploy", target.repository);
}

/** Stamps {@linkcode STAMPED_FILES} under `root` in place; throws when a placeholder is left. */
export async function stampFiles(root: string, target: StampTarget): Promise<string[]> {
  const left: string[] = [];
  for (const file of STAMPED_FILES) {
    const path = `${root}/${file}`;
    const text = stamp(await Deno.readTextFile(path), target);
    await Deno.writeTextFile(path, text);
    text.split("\n").forEach((line, i) => {
      if (PLACEHOLDER.test(line)) left.push(`${file}:${i + 1}: ${line.trim()}`);
    });
  }
  if (left.length) {
    throw new StampError(`Placeholders left after stamping:\n${left.join("\n")}`, 1);
  }
  return [...STAMPED_FILES];
}

if (import.meta.main) {
  try {
    const { values } = parseArgs({
      args: Deno.args,
      options: {
        repository: { type: "string" },
        registry: { type: "string" },
        "raw-base": { type: "string" },
        "releases-url": { type: "string" },
        root: { type: "string", default: "." },
      },
    });
    if (!values.repository) throw new StampError("Cannot stamp: --repository is required", 2);
    const files = await stampFiles(values.root, {
      repository: values.repository,
      ...(values.registry ? { registry: values.registry } : {}),
      ...(values["raw-base"] ? { rawBase: values["raw-base"] } : {}),
      ...(values["releases-url"] ? { releasesUrl: values["releases-url"] } : {}),
    });
    // deno-lint-ignore no-console
    console.log(`Stamped ${files.join(", ")} for ${values.repository}`);
  } catch (error: unknown) {
    // deno-lint-ignore no-console
    console.error(error instanceof Error ? error.message : String(error));
    Deno.exit(error instanceof StampError ? error.exitCode : 2);
  }
}
