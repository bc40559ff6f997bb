import assert from "node:assert/strict";
import {
  parseAttachUrl,
  SessionReader,
  withExitStatus,
} from "../layers/providers/heroku/rendezvous.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

Deno.test("parseAttachUrl reads host, port and secret of a rendezvous URL", () => {
  assert.deepEqual(parseAttachUrl("rendezvous://rendezvous.runtime.heroku.com:5000/abc123"), {
    hostname: "rendezvous.runtime.heroku.com",
    port: 5000,
    secret: "abc123",
  });
  assert.equal(parseAttachUrl("https://rendezvous.runtime.heroku.com:5000/abc"), null);
  assert.equal(parseAttachUrl("rendezvous://host/abc"), null);
  assert.equal(parseAttachUrl("rendezvous://host:99999/abc"), null);
});

Deno.test("withExitStatus appends the Heroku CLI's exit-status marker", () => {
  assert.equal(
    withExitStatus("rake db:migrate"),
    'rake db:migrate ; echo "\uFFFF heroku-command-exit-status: $?"',
  );
});

Deno.test("SessionReader drops the greeting, joins split chunks and takes the exit status", () => {
  const lines: string[] = [];
  const reader = new SessionReader((line) => lines.push(line));
  for (
    const chunk of [
      "rendezvous\r\nMigr",
      "ating...\r\ndone\r\n\uFFFF heroku-command-",
      "exit-status: 7\r\n",
    ]
  ) {
    reader.push(bytes(chunk));
  }
  reader.end();
  assert.deepEqual(lines, ["Migrating...", "done"]);
  assert.equal(reader.exitCode, 7);
});

Deno.test("SessionReader keeps output that precedes the marker on its line, and the old marker form", () => {
  const reader = new SessionReader();
  reader.push(bytes("rendezvous\r\nno newline at the end\uFFFF heroku-command-exit-status 0\r\n"));
  reader.end();
  assert.deepEqual(reader.lines, ["no newline at the end"]);
  assert.equal(reader.exitCode, 0);
});

Deno.test("SessionReader reports no exit status when the stream ends without the marker", () => {
  const reader = new SessionReader();
  reader.push(bytes("rendezvous\r\n10%\r50%\r100%\r\npartial"));
  reader.end();
  assert.deepEqual(reader.lines, ["100%", "partial"]);
  assert.equal(reader.exitCode, null);
});
