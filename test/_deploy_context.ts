/**
 * A DeployContext for unit tests of layers and messages: a recording provider, a logger that keeps
 * its lines, and a fixed commit and CI.
 *
 * @module
 */
import type { CiInfo } from "../src/ci.ts";
import type { DeployContext } from "../src/context.ts";
import { EventManager } from "../src/event_manager.ts";
import type { Layer, Runtime } from "../src/layer.ts";
import { createRuntime } from "../src/runtime.ts";
import { createLogger } from "../src/logger.ts";
import type { Capability } from "../src/provider.ts";
import {
  type Answer,
  type ProviderCall as DoubleCall,
  recordingProvider,
  recordingShell,
} from "./_doubles.ts";
import { Secrets } from "../src/secrets.ts";
import type { VariablesSchema } from "../src/variables.ts";
import { coreVariables } from "../src/core_variables.ts";
import type { z } from "zod";

/** The fixed commit of the fake context. */
export const SHA = "0123456789abcdef0123456789abcdef01234567";

/** What the fake provider was asked, in order. */
export type ProviderCall = Exclude<DoubleCall, { kind: "deployedCommit" }>;

/** Options of {@linkcode fakeContext}. */
export interface FakeContextOptions {
  /** The provider's name. @default "dokku" */
  provider?: string;
  /** The provider's label. @default the name */
  label?: string;
  /** The provider's capabilities. @default none */
  capabilities?: readonly Capability[];
  /** Answers `run`: exit code and output lines for a command. @default exit 0, no output */
  onRun?: (cmd: string[]) => Answer | undefined;
  /** CI metadata. @default a GitLab pipeline of acme/shop */
  ci?: CiInfo;
  /** The app repository. @default the current directory */
  cwd?: string;
  /** Secret values to register. @default none */
  secrets?: string[];
}

/** A context, what its provider was asked, and what its logger printed. */
export interface FakeContext {
  /** The context. */
  ctx: DeployContext;
  /** Provider calls so far. */
  calls: ProviderCall[];
  /** Log text so far. */
  log(): string;
}

/** The CI metadata of a GitLab pipeline. */
export const GITLAB_CI: CiInfo = {
  system: "gitlab",
  sha: SHA,
  ref: "main",
  environment: "production",
  pipelineUrl: "https://gitlab.example.com/acme/shop/-/pipelines/42",
  jobUrl: "https://gitlab.example.com/acme/shop/-/jobs/4242",
  projectUrl: "https://gitlab.example.com/acme/shop",
  actor: "ada",
};

/** Builds a context whose provider records its calls. */
export function fakeContext(options: FakeContextOptions = {}): FakeContext {
  const secrets = new Secrets();
  for (const value of options.secrets ?? []) secrets.add(value);
  let text = "";
  const logger = createLogger({ secrets, write: (t) => (text += t), color: false });
  const provider = recordingProvider({
    ...(options.provider ? { name: options.provider } : {}),
    ...(options.label ? { label: options.label } : {}),
    ...(options.capabilities ? { capabilities: options.capabilities } : {}),
    ...(options.onRun ? { onRun: options.onRun } : {}),
  });
  // the provider's own calls: layers never ask for the deployed commit, the runner does
  const calls = provider.calls as ProviderCall[];
  const shell = recordingShell(() => {
    throw new Error("the fake context runs no commands");
  });
  const ctx: DeployContext = {
    app: "shop",
    environment: "production",
    commit: {
      sha: SHA,
      shortSha: SHA.slice(0, 7),
      title: "Fix the login",
      author: "Ada Lovelace",
      ref: "main",
    },
    ci: options.ci ?? GITLAB_CI,
    provider,
    logger,
    shell,
    secrets,
    cwd: options.cwd ?? Deno.cwd(),
    startedAt: Date.UTC(2026, 0, 2, 3, 4, 5),
    forceDeploy: false,
    timings: [],
    state: {},
  };
  return { ctx, calls, log: () => text };
}

/** Options of {@linkcode setUpLayer}. */
export interface SetUpLayerOptions {
  /** Overrides of the runtime; pass the same `signal` to set up several layers of one run. */
  runtime?: Partial<Runtime>;
  /** The event manager to register on. @default a new one */
  events?: EventManager;
}

/** Sets up `layer` with `vars` (validated by its schema) and returns the event manager. */
export async function setUpLayer<S extends VariablesSchema>(
  layer: Layer<S>,
  vars: Record<string, string>,
  options: SetUpLayerOptions = {},
): Promise<EventManager> {
  const events = options.events ?? new EventManager();
  const config = layer.variables.parse(vars) as z.output<S>;
  const secrets = new Secrets();
  await layer.setup({
    config,
    core: coreVariables.parse({}),
    on: events.forLayer(layer.name),
    runtime: {
      ...createRuntime({
        shell: recordingShell(() => {
          throw new Error("no shell");
        }),
        logger: createLogger({ secrets, write: () => {}, color: false }),
        secrets,
        cwd: Deno.cwd(),
      }).runtime,
      ...options.runtime,
    },
  });
  return events;
}
