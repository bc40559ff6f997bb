import assert from "node:assert/strict";
import { MASK, Secrets } from "../src/secrets.ts";

const KEY = [
  "-----BEGIN OPENSSH PRIVATE KEY-----",
  "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
  "QyNTUxOQAAACBqVjQ1c2VjcmV0LWtleS1saW5lLXR3by10aGF0LWlzLWxvbmc=",
  "-----END OPENSSH PRIVATE KEY-----",
].join("\n");

Deno.test("Secrets masks every occurrence of a registered value", () => {
  const secrets = new Secrets();
  secrets.add("tok-3f9a8c7e");
  assert.equal(
    secrets.mask("curl -H 'token: tok-3f9a8c7e' && echo tok-3f9a8c7e"),
    `curl -H 'token: ${MASK}' && echo ${MASK}`,
  );
});

Deno.test("Secrets leaves text alone when nothing matches", async (t) => {
  await t.step("no secret registered", () => {
    assert.equal(new Secrets().mask("plain text"), "plain text");
  });
  await t.step("undefined is not a secret", () => {
    const secrets = new Secrets();
    secrets.add(undefined);
    assert.equal(secrets.mask("undefined value"), "undefined value");
  });
});

Deno.test("Secrets masks a value registered with surrounding whitespace in its trimmed form", () => {
  const secrets = new Secrets();
  secrets.add("  s3cr3t-value\n");
  assert.equal(secrets.mask("value=s3cr3t-value;"), `value=${MASK};`);
});

Deno.test("Secrets masks a multi-line key line by line", async (t) => {
  const secrets = new Secrets();
  secrets.add(KEY);
  const lines = KEY.split("\n");
  await t.step("the whole key", () => {
    assert.equal(secrets.mask(`key:\n${KEY}\nend`), `key:\n${MASK}\nend`);
  });
  await t.step("one line of the key on its own", () => {
    const masked = secrets.mask(`debug: ${lines[1]}`);
    assert.equal(masked, `debug: ${MASK}`);
  });
  await t.step("a line of the key indented", () => {
    assert.ok(!secrets.mask(`    ${lines[2]}  `).includes(lines[2]!));
  });
  await t.step("the key with CRLF line endings", () => {
    const crlf = new Secrets();
    crlf.add(KEY.replaceAll("\n", "\r\n"));
    const masked = crlf.mask(KEY);
    for (const line of lines.slice(1, 3)) assert.ok(!masked.includes(line), masked);
  });
});

Deno.test("Secrets masks the URL-encoded form of a value", () => {
  const secrets = new Secrets();
  secrets.add("p@ss word/with&chars");
  const encoded = encodeURIComponent("p@ss word/with&chars");
  assert.equal(
    secrets.mask(`https://example.com/?password=${encoded}`),
    `https://example.com/?password=${MASK}`,
  );
});

Deno.test("Secrets masks a password inside any URL, even one nobody registered", async (t) => {
  const secrets = new Secrets();
  await t.step("https://user:pw@host", () => {
    assert.equal(
      secrets.mask("fetching https://user:pw@host/path"),
      `fetching https://user:${MASK}@host/path`,
    );
  });
  await t.step("a database URL with a port", () => {
    assert.equal(
      secrets.mask("DATABASE_URL=postgres://app:hunter2secret@db.internal:5432/app"),
      `DATABASE_URL=postgres://app:${MASK}@db.internal:5432/app`,
    );
  });
  await t.step("several URLs in one line", () => {
    assert.equal(
      secrets.mask("a https://u:one@a.example b http://v:two@b.example"),
      `a https://u:${MASK}@a.example b http://v:${MASK}@b.example`,
    );
  });
  await t.step("a URL without a password is unchanged", () => {
    assert.equal(
      secrets.mask("ssh://dokku@127.0.0.1:2222/shop"),
      "ssh://dokku@127.0.0.1:2222/shop",
    );
  });
});

Deno.test("Secrets masks the longest secret first, so one that contains another is masked whole", () => {
  const secrets = new Secrets();
  // registered shortest first: a naive order would leave "-extra" visible
  secrets.add("abcdef");
  secrets.add("abcdef-extra");
  assert.equal(secrets.mask("x abcdef-extra y abcdef z"), `x ${MASK} y ${MASK} z`);
});

Deno.test("Secrets masks a webhook URL's path when a line shows it without the host", () => {
  const secrets = new Secrets();
  secrets.add("https://chat.example.com/hooks/secret-hook-abcdef");
  assert.equal(secrets.mask("POST /hooks/secret-hook-abcdef failed"), "POST *** failed");
});

Deno.test("Secrets masks the path of a plain-http webhook URL too", () => {
  const secrets = new Secrets();
  secrets.add("http://hooks.internal:8080/services/T0/B0/abcdef");
  assert.equal(secrets.mask("POST /services/T0/B0/abcdef failed"), "POST *** failed");
});
