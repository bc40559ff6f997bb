import assert from "node:assert/strict";
import { LAYERS } from "../layers/mod.ts";
import type { LayerKind } from "../src/layer.ts";
import type { AnyLayer } from "../src/plan.ts";
import { describeVariables } from "../src/variables.ts";

const ROOT = new URL("../layers/", import.meta.url);

/** The folder each kind of layer lives in. */
const FOLDERS: Record<string, LayerKind> = {
  providers: "provider",
  applications: "application",
  third_parties: "third_party",
  notifiers: "notifier",
  checks: "check",
};

/**
 * Every layer file: each .ts directly in a kind's folder of layers/, except private `_` helpers. A
 * folder inside a kind's folder (`providers/heroku/`) holds the private helpers of the layer beside it.
 */
async function layerFiles(dir = ROOT, prefix = ""): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.name.startsWith("_")) continue;
    if (entry.isDirectory) {
      if (prefix !== "") continue;
      files.push(...await layerFiles(new URL(`${entry.name}/`, dir), `${prefix}${entry.name}/`));
    } else if (entry.name.endsWith(".ts") && `${prefix}${entry.name}` !== "mod.ts") {
      files.push(`${prefix}${entry.name}`);
    }
  }
  return files.sort();
}

/** Each layer file's default export. */
async function loadLayers(): Promise<Map<string, AnyLayer>> {
  const layers = new Map<string, AnyLayer>();
  for (const file of await layerFiles()) {
    const module = await import(new URL(file, ROOT).href);
    layers.set(file, module.default);
  }
  return layers;
}

Deno.test("Every layer file is registered in layers/mod.ts", async (t) => {
  const files = await layerFiles();
  assert.ok(files.includes("providers/dokku.ts"), `layer files found: ${files.join(", ")}`);
  for (const [file, layer] of await loadLayers()) {
    await t.step(file, () => {
      assert.ok(layer, `${file} has no default export`);
      assert.ok(LAYERS.includes(layer), `${file} (${layer.name}) is missing from LAYERS`);
    });
  }
});

Deno.test("layers/mod.ts registers each layer once, and only layers from layer files", async () => {
  const fromFiles = new Set((await loadLayers()).values());
  assert.equal(new Set(LAYERS).size, LAYERS.length, "a layer is registered twice");
  for (const layer of LAYERS) {
    assert.ok(fromFiles.has(layer), `${layer.name} does not come from a file under layers/`);
  }
});

Deno.test("Each layer has a unique lowercase name", async () => {
  const names = [...new Set([...LAYERS, ...(await loadLayers()).values()])].map((l) => l.name);
  assert.equal(new Set(names).size, names.length, `duplicate names in ${names.join(", ")}`);
  for (const name of names) assert.match(name, /^[a-z][a-z0-9_-]*$/);
});

Deno.test("Each layer's kind matches the folder it lives in", async (t) => {
  for (const [file, layer] of await loadLayers()) {
    await t.step(file, () => {
      const folder = file.split("/")[0]!;
      assert.ok(folder in FOLDERS, `${file} is not in one of ${Object.keys(FOLDERS).join(", ")}`);
      assert.equal(layer.kind, FOLDERS[folder]);
    });
  }
});

Deno.test("Each layer and each of its variables has a description", async (t) => {
  for (const layer of new Set([...LAYERS, ...(await loadLayers()).values()])) {
    await t.step(layer.name, () => {
      assert.ok(layer.description.trim(), `${layer.name} has no description`);
      for (const doc of describeVariables(layer.variables)) {
        assert.ok(doc.description.trim(), `${layer.name}: ${doc.name} has no description`);
        assert.match(doc.name, /^[A-Z][A-Z0-9_]*$/);
      }
    });
  }
});
