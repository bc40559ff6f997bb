import assert from "node:assert/strict";
import {
  createLogger,
  type LoggerOptions,
  shouldUseColor,
  stripControlCodes,
} from "../src/logger.ts";
import { Secrets } from "../src/secrets.ts";

// deno-lint-ignore no-control-regex
const ESCAPE = /\x1b/;

/** A logger writing into an array, and the text it wrote. */
function recording(options: Partial<LoggerOptions> = {}) {
  const chunks: string[] = [];
  const secrets = options.secrets ?? new Secrets();
  const logger = createLogger({
    color: false,
    ...options,
    secrets,
    write: (text) => chunks.push(text),
  });
  return { logger, secrets, text: () => chunks.join(""), chunks };
}

Deno.test("Logger indents child loggers two spaces per level and leaves the parent unchanged", () => {
  const { logger, text } = recording();
  const child = logger.indent();
  logger.info("top");
  child.info("child");
  child.indent().info("grandchild");
  logger.info("top again");
  assert.equal(text(), "top\n  child\n    grandchild\ntop again\n");
});

Deno.test("Logger indents every line of a multi-line message", () => {
  const { logger, text } = recording();
  logger.indent().info("one\ntwo");
  assert.equal(text(), "  one\n  two\n");
});

Deno.test("Logger marks warnings, errors, commands and output lines", () => {
  const { logger, text } = recording();
  logger.warn("careful");
  logger.error("broken");
  logger.command("git push");
  logger.output("remote: ok");
  assert.equal(text(), "warning: careful\nerror: broken\n$ git push\n| remote: ok\n");
});

Deno.test("Logger masks registered secrets in every line, whatever the level", async (t) => {
  const { logger, secrets, text } = recording();
  secrets.add("tok-3f9a8c7e");
  const levels = ["info", "success", "warn", "error", "command", "output"] as const;
  for (const level of levels) {
    await t.step(level, () => {
      const before = text().length;
      logger[level](`${level} with tok-3f9a8c7e inside`);
      const line = text().slice(before);
      assert.ok(!line.includes("tok-3f9a8c7e"), line);
      assert.match(line, /\*\*\*/);
    });
  }
  await t.step("command text with a password in a URL", () => {
    const before = text().length;
    logger.command("git push https://user:hunter2pw@git.example.com/app.git HEAD:main");
    const line = text().slice(before);
    assert.ok(!line.includes("hunter2pw"), line);
    assert.match(line, /https:\/\/user:\*\*\*@git\.example\.com/);
  });
  await t.step("section titles", () => {
    const before = text().length;
    logger.section("deploy", "Deploy tok-3f9a8c7e")("ok");
    assert.ok(!text().slice(before).includes("tok-3f9a8c7e"));
  });
});

Deno.test("Logger writes no escape codes without colour", () => {
  const { logger, text } = recording({ color: false });
  logger.success("done");
  logger.warn("careful");
  logger.error("broken");
  logger.command("ls");
  logger.output("\x1b[1G\x1b[2Kprogress 50%");
  logger.section("deploy", "Deploy")("failed");
  assert.ok(!ESCAPE.test(text()), JSON.stringify(text()));
  assert.match(text(), /\| progress 50%/);
});

Deno.test("Logger writes colour codes when colour is on", () => {
  const { logger, text } = recording({ color: true });
  logger.error("broken");
  assert.equal(text(), "\x1b[31merror: broken\x1b[0m\n");
});

Deno.test("Logger heads each event section and reports its duration", async (t) => {
  await t.step("a finished event", () => {
    const { logger, text } = recording();
    const end = logger.section("pre_deploy", "Pre-deploy");
    end("ok");
    assert.match(text(), /^==> Pre-deploy\n {2}pre_deploy done in \d+\.\ds\n$/);
  });
  await t.step("a failed event", () => {
    const { logger, text } = recording();
    logger.section("deploy", "Deploy")("failed");
    assert.match(text(), /deploy failed after \d+\.\ds/);
  });
});

Deno.test("Logger writes GitLab's section markers around an event", () => {
  const { logger, text } = recording({ folding: "gitlab", now: () => 1_700_000_000_123 });
  const end = logger.section("deploy", "Deploy");
  logger.indent().info("pushing");
  end("ok");
  const out = text();
  assert.ok(
    out.startsWith("\x1b[0Ksection_start:1700000000:deploy_deploy_0\r\x1b[0K==> Deploy\n"),
    JSON.stringify(out),
  );
  assert.match(out, /\n {2}pushing\n/);
  assert.ok(
    out.endsWith("\x1b[0Ksection_end:1700000000:deploy_deploy_0\r\x1b[0K\n"),
    JSON.stringify(out),
  );
});

Deno.test("Logger gives nested or repeated GitLab sections distinct names", () => {
  const { logger, text } = recording({ folding: "gitlab", now: () => 0 });
  logger.section("configure", "Configure")("ok");
  logger.section("deploy", "Deploy")("ok");
  const starts = [...text().matchAll(/section_start:0:(\S+?)\r/g)].map((m) => m[1]);
  const ends = [...text().matchAll(/section_end:0:(\S+?)\r/g)].map((m) => m[1]);
  assert.equal(new Set(starts).size, 2);
  assert.deepEqual(ends, starts);
});

Deno.test("Logger writes GitHub's ::group:: and ::endgroup:: around an event", () => {
  const { logger, text } = recording({ folding: "github" });
  const end = logger.section("deploy", "Deploy");
  logger.info("pushing");
  end("ok");
  assert.match(text(), /^::group::Deploy\npushing\n {2}deploy done in \d+\.\ds\n::endgroup::\n$/);
});

Deno.test("Logger in JSON format writes one object per line", () => {
  const { logger, chunks, secrets } = recording({ format: "json" });
  secrets.add("tok-3f9a8c7e");
  const end = logger.section("deploy", "Deploy");
  logger.indent().info("two\nlines");
  logger.warn("\x1b[2Kcareful with tok-3f9a8c7e");
  end("ok");
  logger.outcome({ status: "succeeded", exit_code: 0 });
  const text = chunks.join("");
  assert.ok(text.endsWith("\n"));
  const records = text.trimEnd().split("\n").map((line) => JSON.parse(line));
  assert.deepEqual(records.map((r) => r.type), [
    "event_start",
    "log",
    "log",
    "log",
    "event_end",
    "outcome",
  ]);
  assert.deepEqual(records[0], { type: "event_start", event: "deploy", title: "Deploy" });
  assert.deepEqual(records[1], { type: "log", level: "info", message: "two", indent: 1 });
  assert.deepEqual(records[3], {
    type: "log",
    level: "warn",
    message: "careful with ***",
    indent: 0,
  });
  assert.equal(records[4].status, "ok");
  assert.equal(typeof records[4].duration_ms, "number");
  assert.deepEqual(records[5], { type: "outcome", status: "succeeded", exit_code: 0 });
});

Deno.test("Logger in text format writes nothing for the outcome record", () => {
  const { logger, text } = recording();
  logger.outcome({ status: "failed" });
  assert.equal(text(), "");
});

Deno.test({
  name: "Logger in JSON format masks a secret that contains a quote or a backslash",
  fn() {
    const { logger, chunks, secrets } = recording({ format: "json" });
    secrets.add('pa"ss\\word9');
    logger.info('login with pa"ss\\word9');
    const record = JSON.parse(chunks.join(""));
    assert.equal(record.message, "login with ***");
  },
});

Deno.test({
  name: "Logger strips cursor-control codes when colour is forced on a non-terminal",
  fn() {
    const { logger, text } = recording({ color: true });
    logger.output("\x1b[1G\x1b[2Kprogress 50%");
    assert.ok(!text().includes("\x1b[2K"), JSON.stringify(text()));
    assert.ok(!text().includes("\x1b[1G"), JSON.stringify(text()));
  },
});

Deno.test("shouldUseColor follows NO_COLOR, then FORCE_COLOR, then the terminal", async (t) => {
  await t.step("a terminal gets colour", () => assert.equal(shouldUseColor(true, {}), true));
  await t.step("a pipe gets none", () => assert.equal(shouldUseColor(false, {}), false));
  await t.step("FORCE_COLOR colours a pipe", () => {
    assert.equal(shouldUseColor(false, { FORCE_COLOR: "1" }), true);
  });
  await t.step("FORCE_COLOR=0 does not", () => {
    assert.equal(shouldUseColor(false, { FORCE_COLOR: "0" }), false);
  });
  await t.step("NO_COLOR wins over a terminal", () => {
    assert.equal(shouldUseColor(true, { NO_COLOR: "1" }), false);
  });
  await t.step("NO_COLOR wins over FORCE_COLOR", () => {
    assert.equal(shouldUseColor(true, { NO_COLOR: "1", FORCE_COLOR: "1" }), false);
  });
});

Deno.test("stripControlCodes removes cursor moves, line clearing, colours and carriage returns", async (t) => {
  await t.step("cursor to column 1 and clear line, as dax's progress writes", () => {
    assert.equal(stripControlCodes("\x1b[1G\x1b[2KDownloading"), "Downloading");
  });
  await t.step("colour codes", () => {
    assert.equal(stripControlCodes("\x1b[1m\x1b[32mok\x1b[0m"), "ok");
  });
  await t.step("cursor up and hide/show cursor", () => {
    assert.equal(stripControlCodes("\x1b[1A\x1b[?25lx\x1b[?25h"), "x");
  });
  await t.step("carriage-return redraws", () => {
    const stripped = stripControlCodes("10%\r50%\r100%");
    assert.ok(!stripped.includes("\r"), JSON.stringify(stripped));
  });
  await t.step("a CRLF line ending is kept as a line ending", () => {
    assert.equal(stripControlCodes("a\r\nb"), "a\r\nb");
  });
  await t.step("plain text is unchanged", () => {
    assert.equal(stripControlCodes("plain [1G text"), "plain [1G text");
  });
});
