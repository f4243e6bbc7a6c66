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

export function unsupported(param: string, message: string): never {
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
