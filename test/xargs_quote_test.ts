import assert from "node:assert/strict";
import { xargsQuote } from "../layers/providers/dokku/xargs_quote.ts";

// a command that hangs fails its test instead of holding CI
const COMMAND_TIMEOUT_MS = 60_000;

/** Splits `command` the way Dokku does: GNU xargs reading it from a here-string. */
async function xargsSplit(command: string): Promise<string[]> {
  const child = new Deno.Command("xargs", {
    signal: AbortSignal.timeout(COMMAND_TIMEOUT_MS),
    args: ["-r", "printf", "%s\\0"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(`${command}\n`));
  await writer.close();
  const out = await child.output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const text = new TextDecoder().decode(out.stdout);
  return text === "" ? [] : text.slice(0, -1).split("\0");
}

Deno.test("xargsQuote leaves plain words bare so whitespace splitting still works", () => {
  assert.equal(xargsQuote(["ps:restart", "my-app", "web=2"]), "ps:restart my-app web=2");
});

Deno.test("xargsQuote single-quotes words with special characters", () => {
  assert.equal(xargsQuote(["a b", "$HOME", "x\\y"]), `'a b' '$HOME' 'x\\y'`);
});

Deno.test("xargsQuote writes a single quote as a double-quoted quote", () => {
  assert.equal(xargsQuote(["it's"]), `'it'"'"'s'`);
  assert.equal(xargsQuote(["'"]), `"'"`);
});

Deno.test("xargsQuote writes a newline as backslash-newline outside quotes", () => {
  assert.equal(xargsQuote(["a\nb"]), "'a'\\\n'b'");
});

Deno.test("xargsQuote keeps empty arguments as ''", () => {
  assert.equal(xargsQuote(["", "a", ""]), "'' a ''");
});

Deno.test("xargsQuote rejects NUL characters", () => {
  assert.throws(() => xargsQuote(["ok", "a\0b"]), {
    name: "TypeError",
    message: /argument 1.*NUL/,
  });
});

Deno.test("GNU xargs splits xargsQuote output back into the same arguments", async (t) => {
  const cases: string[][] = [
    ["run", "app", "printf", "%s\n", "a b", "it's", `"double"`, "$HOME", "back\\slash", "x"],
    ["", "", "trailing", ""],
    ["tab\there", "new\nline", "\n", "\\\n", "'''", `"'"`, "  lead and trail  "],
    ["ünïcödé ✓", "emoji 🚀", "semi;colon", "pipe|amp&", "glob*?[a]", "`tick`", "$(sub)"],
    ["\r\v\f", "-n", "--", "#hash", "~tilde", "a=b c", "{brace}"],
  ];
  // A deterministic pseudo-random fuzz over the characters that matter to xargs.
  const alphabet = [..."ab '\"\\\n\t$`*;|&!#~=:%"];
  let seed = 42;
  // Park-Miller: the products stay exact in a double.
  const next = () => (seed = (seed * 48271) % 2147483647);
  for (let i = 0; i < 20; i++) {
    const args = Array.from(
      { length: 1 + (next() % 5) },
      () => Array.from({ length: next() % 8 }, () => alphabet[next() % alphabet.length]).join(""),
    );
    cases.push(args);
  }
  for (const args of cases) {
    await t.step(JSON.stringify(args), async () => {
      assert.deepEqual(await xargsSplit(xargsQuote(args)), args);
    });
  }
});
