import assert from "node:assert/strict";
import { z } from "zod";
import { describeVariables, flag, isSecret, seconds, variable } from "../src/variables.ts";

Deno.test("seconds accepts whole seconds above zero, and fractions only when asked", async (t) => {
  const whole = seconds({ description: "Release timeout" }, 600);
  const fractions = seconds({ description: "Notify timeout" }, 10, { fractions: true });
  await t.step("unset gives the default", () => assert.equal(whole.parse(undefined), 600));
  await t.step("a whole number", () => assert.equal(whole.parse("90"), 90));
  await t.step("zero is refused", () => {
    assert.equal(whole.safeParse("0").success, false);
    assert.equal(fractions.safeParse("0").success, false);
    assert.equal(fractions.safeParse("0.0").success, false);
  });
  await t.step("a fraction is refused without fractions", () => {
    assert.equal(whole.safeParse("1.5").success, false);
    assert.equal(fractions.parse("1.5"), 1.5);
  });
});

Deno.test("describeVariables tells required variables from those with a default or optional", () => {
  const schema = z.object({
    APP_NAME: variable(z.string(), { description: "The app" }),
    FORCE_PUSH: flag({ description: "Force" }),
    SSH_PRIVATE_KEY: variable(z.string().optional(), { description: "Key", secret: true }),
  });
  const docs = describeVariables(schema);
  assert.deepEqual(docs.map((d) => [d.name, d.required, d.defaultValue]), [
    ["APP_NAME", true, undefined],
    ["FORCE_PUSH", false, "false"],
    ["SSH_PRIVATE_KEY", false, undefined],
  ]);
  assert.equal(isSecret(schema, "SSH_PRIVATE_KEY"), true);
  assert.equal(isSecret(schema, "APP_NAME"), false);
});

Deno.test("flag reads true, false, 1, 0, yes and no, and falls back to its own default", () => {
  const on = flag({ description: "On unless set" }, true);
  const off = flag({ description: "Off unless set" });
  assert.equal(on.parse(undefined), true);
  assert.equal(off.parse(undefined), false);
  assert.deepEqual(["true", "1", "yes", "false", "0", "no"].map((v) => off.parse(v)), [
    true,
    true,
    true,
    false,
    false,
    false,
  ]);
  assert.equal(off.safeParse("perhaps").success, false);
});
