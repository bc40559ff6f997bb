/**
 * Every layer the tool knows, in registration order (which breaks priority ties). Adding a layer
 * is one file under `layers/` plus its line here; `test/layers_test.ts` fails for a file left out.
 *
 * @module
 */
import type { AnyLayer } from "../src/plan.ts";
import dokku from "./providers/dokku.ts";

/** All layers. */
export const LAYERS: readonly AnyLayer[] = [dokku];
