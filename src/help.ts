/**
 * The `--help` text that commander does not write: examples, and every variable of every layer,
 * generated from the layer schemas.
 *
 * @module
 */
import { coreVariables } from "./core_variables.ts";
import type { AnyLayer } from "./plan.ts";
import { describeVariables, type VariableDoc } from "./variables.ts";

/** Examples shown at the end of `--help`. */
export const EXAMPLES = `Examples:
  # GitLab CI, with the dokku image (DEPLOY_PROVIDER is preset)
  deploy

  # what would run, touching no server
  DOKKU_HOST=dokku@dokku.example.com APP_NAME=shop deploy plan --provider dokku

  # check variables and the connection only
  DOKKU_HOST=dokku@dokku.example.com APP_NAME=shop deploy check --provider dokku

  # deploy again the commit the app already runs, without Rails
  FORCE_DEPLOY=true DEPLOY_LAYERS=-rails deploy

  # what runs now, as one JSON object
  deploy status --log-format json

  # put back the previous release, or a named one (Heroku v123, Dokku a commit sha)
  deploy rollback
  deploy rollback --to v123`;

/** The variables reference: the run-wide ones, then each layer's, each variable once. */
export function variablesHelp(layers: readonly AnyLayer[]): string {
  const shown = new Map<string, string>();
  const sections = [section("Run-wide", describeVariables(coreVariables), "run-wide", shown, true)];
  for (const layer of layers) {
    const title = `${layer.name} (${layer.kind}): ${layer.description}`;
    // a layer other than the provider runs only when enabled: its required variables are required then
    const docs = describeVariables(layer.variables);
    sections.push(section(title, docs, layer.name, shown, layer.kind === "provider"));
  }
  return `Variables (flags beat env, env beats deploy.yml, deploy.yml beats defaults):\n${
    sections.join("\n")
  }`;
}

function section(
  title: string,
  docs: VariableDoc[],
  owner: string,
  shown: Map<string, string>,
  always: boolean,
): string {
  const width = Math.max(...docs.map((d) => d.name.length));
  const lines = docs.map((d) => {
    const first = shown.get(d.name);
    if (first) return `    ${d.name.padEnd(width)}  (see ${first})`;
    shown.set(d.name, owner);
    return `    ${d.name.padEnd(width)}  ${line(d, always)}`;
  });
  return `  ${title}\n${lines.join("\n")}\n`;
}

function line(doc: VariableDoc, always: boolean): string {
  const notes = [
    doc.required ? (always ? "required" : "required when enabled") : undefined,
    doc.secret ? "secret" : undefined,
    doc.defaultValue !== undefined ? `default: ${doc.defaultValue}` : undefined,
  ].filter(Boolean);
  return notes.length ? `${doc.description} [${notes.join(", ")}]` : doc.description;
}
