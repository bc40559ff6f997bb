/**
 * The `--help` text that commander does not write: examples, and every variable of every layer,
 * generated from the layer schemas.
 *
 * @module
 */
import { coreVariables } from "./core_variables.ts";
import type { AnyLayer } from "./plan.ts";
import { describeVariables, type VariableDoc, type VariablesSchema } from "./variables.ts";

/** Examples shown at the end of `--help`. */
export const EXAMPLES = `Examples:
  # GitLab CI, with the dokku image (DEPLOY_PROVIDER is preset)
  deploy

  # what would run, touching no server
  deploy plan --provider dokku

  # check variables and the connection only
  DOKKU_HOST=dokku@dokku.example.com APP_NAME=shop deploy check --provider dokku

  # deploy again the commit the app already runs, without Rails
  FORCE_DEPLOY=true DEPLOY_LAYERS=-rails deploy`;

/** The variables reference: the run-wide ones, then each layer's. */
export function variablesHelp(layers: readonly AnyLayer[]): string {
  const sections = [section("Run-wide", coreVariables)];
  for (const layer of layers) {
    sections.push(section(`${layer.name} (${layer.kind}): ${layer.description}`, layer.variables));
  }
  return `Variables (flags beat env, env beats deploy.yml, deploy.yml beats defaults):\n${
    sections.join("\n")
  }`;
}

function section(title: string, schema: VariablesSchema): string {
  const docs = describeVariables(schema);
  const width = Math.max(...docs.map((d) => d.name.length));
  return `  ${title}\n${docs.map((d) => `    ${d.name.padEnd(width)}  ${line(d)}`).join("\n")}\n`;
}

function line(doc: VariableDoc): string {
  const notes = [
    doc.required ? "required" : undefined,
    doc.secret ? "secret" : undefined,
    doc.defaultValue !== undefined ? `default: ${doc.defaultValue}` : undefined,
  ].filter(Boolean);
  return notes.length ? `${doc.description} [${notes.join(", ")}]` : doc.description;
}
