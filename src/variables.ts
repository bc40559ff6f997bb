/**
 * Declaring the environment variables a layer reads: a zod schema per variable, with a description
 * and whether it is a secret. `--help`, validation and masking are all generated from these.
 *
 * @example
 * ```ts
 * const variables = z.object({
 *   APP_NAME: variable(z.string(), { description: "The app's name" }),
 *   SSH_PRIVATE_KEY: variable(z.string().optional(), { description: "Deploy key", secret: true }),
 * });
 * ```
 *
 * @module
 */
import { z } from "zod";

/** Options of {@linkcode seconds}. */
export interface SecondsOptions {
  /** Accept fractions such as `0.5`. @default false */
  fractions?: boolean;
}

/** A duration variable in seconds, greater than zero; its value is the number of seconds. */
export function seconds(meta: VariableMeta, defaultValue: number, options: SecondsOptions = {}) {
  const pattern = options.fractions ? /^\d+(\.\d+)?$/ : /^\d+$/;
  const expected = options.fractions ? "a number of seconds" : "a whole number of seconds";
  return variable(
    z.string().regex(pattern, { error: `expected ${expected}` }).transform(Number)
      .refine((n) => n > 0, { error: `expected ${expected}, more than 0` })
      .default(defaultValue),
    meta,
  );
}

/** What `--help` and the error messages say about a variable. */
export interface VariableMeta {
  /** One line: what the variable is for. */
  description: string;
  /** Masked in every output, and refused in deploy.yml. @default false */
  secret?: boolean;
  /** An example value for the docs. */
  example?: string;
}

/** A layer's variables: an object schema whose every field was declared with {@linkcode variable}. */
// deno-lint-ignore no-explicit-any
export type VariablesSchema = z.ZodObject<Record<string, z.ZodType<any, string | undefined>>>;

const registry = z.registry<VariableMeta>();

/** Declares one variable: `schema` parses its text (undefined when unset). */
export function variable<T extends z.ZodType>(schema: T, meta: VariableMeta): T {
  registry.add(schema, meta);
  return schema;
}

/** A boolean variable: true, false, 1, 0, yes, no. */
export function flag(meta: VariableMeta, defaultValue = false) {
  return variable(
    z.stringbool({ error: "expected true or false" }).default(defaultValue),
    meta,
  );
}

/** What the docs say about one declared variable. */
export interface VariableDoc extends VariableMeta {
  /** The variable's name. */
  name: string;
  /** Whether the run fails without it. */
  required: boolean;
  /** The default, as text, when there is one. */
  defaultValue?: string;
}

/** The docs of every variable of a schema, in declaration order. */
export function describeVariables(schema: VariablesSchema): VariableDoc[] {
  return Object.entries(schema.shape).map(([name, field]) => {
    const meta = registry.get(field) ?? { description: "" };
    const unset = field.safeParse(undefined);
    const doc: VariableDoc = { name, ...meta, required: !unset.success };
    if (unset.success && unset.data !== undefined) doc.defaultValue = String(unset.data);
    return doc;
  });
}

/** Whether a schema's variable is a secret. */
export function isSecret(schema: VariablesSchema, name: string): boolean {
  const field = schema.shape[name];
  return field !== undefined && registry.get(field)?.secret === true;
}
