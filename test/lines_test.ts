import assert from "node:assert/strict";
import { LineSplitter, shownLine, TailBuffer } from "../src/lines.ts";

Deno.test("LineSplitter decodes a character split across two chunks", () => {
  const lines: string[] = [];
  const splitter = new LineSplitter((line) => lines.push(line));
  const bytes = new TextEncoder().encode("déjà vu ✓\nnext");
  // cut inside "é" (2 bytes) and inside "✓" (3 bytes)
  splitter.push(bytes.subarray(0, 2));
  splitter.push(bytes.subarray(2, 11));
  splitter.push(bytes.subarray(11));
  splitter.end();
  assert.deepEqual(lines, ["déjà vu ✓", "next"]);
  assert.equal(splitter.text, "déjà vu ✓\nnext");
});

Deno.test("LineSplitter calls back for a last line without a newline only once the stream ends", () => {
  const lines: string[] = [];
  const splitter = new LineSplitter((line) => lines.push(line));
  splitter.push("one\ntw");
  assert.deepEqual(lines, ["one"]);
  splitter.push("o\n");
  splitter.push("three");
  splitter.end();
  assert.deepEqual(lines, ["one", "two", "three"]);
});

Deno.test("shownLine keeps what a terminal shows: no CRLF ending, the last redraw", () => {
  assert.equal(shownLine("done\r"), "done");
  assert.equal(shownLine("10%\r50%\r100%"), "100%");
  assert.equal(shownLine("10%\r100%\r"), "100%");
});

Deno.test("TailBuffer keeps exactly the last size lines, oldest first", () => {
  const tail = new TailBuffer(3);
  for (const line of ["a", "b", "c", "d"]) tail.push(line);
  assert.deepEqual(tail.lines(), ["b", "c", "d"]);
});
