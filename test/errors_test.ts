import assert from "node:assert/strict";
import {
  CancelledError,
  ConfigError,
  DeployError,
  errorMessage,
  exitCodeOf,
  HandlerError,
} from "../src/errors.ts";

Deno.test("ConfigError reads as its one problem, or as a list of several", () => {
  const one = new ConfigError("DOKKU_HOST is required");
  assert.equal(one.message, "DOKKU_HOST is required");
  assert.deepEqual(one.problems, ["DOKKU_HOST is required"]);
  const two = new ConfigError(["DOKKU_HOST is required", "APP_NAME is required"]);
  assert.equal(
    two.message,
    "Invalid configuration (2 problems):\n  - DOKKU_HOST is required\n  - APP_NAME is required",
  );
});

Deno.test("exitCodeOf finds the exit code through a chain of causes", () => {
  const wrapped = (error: Error) =>
    new HandlerError("deploy", "dokku", new Error("x", { cause: error }));
  assert.equal(exitCodeOf(wrapped(new ConfigError("bad"))), 2);
  assert.equal(exitCodeOf(wrapped(new CancelledError("SIGINT"))), 130);
  assert.equal(exitCodeOf(wrapped(new CancelledError("SIGTERM"))), 143);
  assert.equal(exitCodeOf(wrapped(new DeployError("rejected"))), 1);
  assert.equal(exitCodeOf(new Error("anything")), 1);
  assert.equal(exitCodeOf("not an error"), 1);
});

Deno.test("errorMessage reads any thrown value", () => {
  assert.equal(errorMessage(new Error("boom")), "boom");
  assert.equal(errorMessage("plain"), "plain");
});
