/**
 * Shared schema vocabulary for the JSON Schema → GBNF converter: the public schema/option types,
 * the keywords it knows, its limits, and the error helpers every part throws with.
 */

import { InvalidParameterError } from "../../../core/errors.js";

export type JsonSchema = boolean | { readonly [keyword: string]: unknown };

export interface GbnfOptions {
  /** "compact" (default) or "multiline"; see rule-set.ts. */
  layout?: "compact" | "multiline";
  /** How many containers free-form JSON values may nest. Default 8. */
  freeFormDepth?: number;
  /** Longest string (code points) in free-form JSON values. Default unbounded. */
  freeFormStringMaxLength?: number;
}

export type SchemaObject = { readonly [keyword: string]: unknown };

export const ANNOTATIONS = new Set([
  "title",
  "description",
  "default",
  "examples",
  "$schema",
  "$id",
  "$comment",
  "deprecated",
  "readOnly",
  "writeOnly",
  "$defs",
  "definitions",
]);
export const OBJECT_KEYWORDS = [
  "properties",
  "required",
  "additionalProperties",
  "minProperties",
  "maxProperties",
];
export const ARRAY_KEYWORDS = ["items", "prefixItems", "minItems", "maxItems", "uniqueItems"];
export const STRING_KEYWORDS = ["minLength", "maxLength", "pattern", "format"];
export const NUMBER_KEYWORDS = ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"];
export const SUPPORTED = new Set([
  "type",
  "enum",
  "const",
  "anyOf",
  "oneOf",
  "allOf",
  "$ref",
  "nullable",
  ...OBJECT_KEYWORDS,
  ...ARRAY_KEYWORDS,
  ...STRING_KEYWORDS,
  ...NUMBER_KEYWORDS,
]);
export const TYPES = new Set(["string", "number", "integer", "boolean", "null", "object", "array"]);

export const MAX_REPEAT = 1_000_000;
export const MAX_SCHEMA_DEPTH = 100;

/**
 * What one grammar may ask of llama.cpp. Its grammar sampler keeps a parse stack for every way the
 * output so far can be read and, for each candidate token, follows every way the token can be read
 * from each; a schema or pattern that keeps many ways open makes every token slow (500 optional
 * `(a|b|c|d)?` took 33–268 s for 16 tokens). Each limit sits well below where time per token
 * climbs (measurements in pattern-cost.ts) and above what realistic schemas need.
 */
export const LIMITS = {
  /** Subschemas converted into one grammar (all schemas of a request together). */
  schemaNodes: 10_000,
  /** Declared properties of one object. */
  properties: 1_024,
  /** Values of one `enum`. */
  enumValues: 512,
  /** Options of one `anyOf` / `oneOf`. */
  alternatives: 256,
  /** Code points of one `pattern`. */
  patternLength: 8_192,
  /**
   * Parse stacks a subschema may keep pending at once, counted upward: an enum's values, a union's
   * options (summed), a run of optional properties plus one, the widest member of an object or
   * array, a pattern's own stacks. Measured on the tiny fixture llama with a 32k vocabulary, ms
   * per token: 100, 250, 500, 1,000 optional properties 11, 28, 62, 168; an enum of 500, 1,000,
   * 5,000 values sharing a 7-character prefix 45, 346, 1,828 while the prefix lasts.
   */
  schemaStacks: 512,
  /** Per pattern (see pattern-cost.ts): stacks pending at once, readings of a 16-character token. */
  pattern: { stacks: 64, readings: 4_096 },
  /** Characters of grammar text (llama.cpp parses it on the main thread, twice per request). */
  grammarChars: 131_072,
} as const;

export function unsupported(param: string, message: string): never {
  throw new InvalidParameterError("unsupported_schema", message, param);
}

/** A schema within the keywords supported but past one of LIMITS. */
export function tooCostly(param: string | null, message: string): never {
  throw new InvalidParameterError("unsupported_schema", message, param);
}

export function invalid(param: string, message: string): never {
  throw new InvalidParameterError("invalid_schema", message, param);
}

export function isObject(value: unknown): value is SchemaObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function has(schema: SchemaObject, key: string): boolean {
  return Object.hasOwn(schema, key);
}

/** Path segment for a property name or array index. */
export function at(path: string, key: string | number): string {
  return `${path}.${key}`;
}
