/**
 * The README's "Writing a layer" and "Writing a provider" examples are code a newcomer copies: each
 * one is type-checked where its first line says it lives, against the project's own sources.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url).pathname;

/** The README's TypeScript blocks whose first line names their path: `// layers/....ts`. */
async function examples(): Promise<{ path: string; code: string }[]> {
  const readme = await Deno.readTextFile(`${ROOT}README.md`);
  return [...readme.matchAll(/```ts\n\/\/ (layers\/[\w/]+\.ts)\n([\s\S]*?)```/g)].map((m) => ({
    path: m[1]!,
    code: m[2]!,
  }));
}

Deno.test("The README's layer and provider examples type-check as the files they name", async () => {
  const found = await examples();
  assert.deepEqual(found.map((e) => e.path), [
    "layers/notifiers/hello.ts",
    "layers/providers/plain.ts",
  ]);
  const dir = await Deno.makeTempDir({ prefix: "deploy-readme-" });
  try {
    // the examples import ../../src/...: give them the project's src beside their layers folder
    await Deno.symlink(`${ROOT}src`, `${dir}/src`);
    for (const { path, code } of found) {
      await Deno.mkdir(`${dir}/${path.slice(0, path.lastIndexOf("/"))}`, { recursive: true });
      await Deno.writeTextFile(`${dir}/${path}`, code);
    }
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "check",
        "--quiet",
        `--config=${ROOT}deno.json`,
        ...found.map((e) => `${dir}/${e.path}`),
      ],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(120_000),
    }).output();
    const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
    assert.ok(out.success, text);
    // the examples declare what they claim to
    for (const { path } of found) {
      const module = await import(`file://${dir}/${path}`);
      assert.equal(module.default.kind, path.includes("/providers/") ? "provider" : "notifier");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
