/**
 * Our own JSON Schema → GBNF converter (llama.cpp grammar syntax), used for `response_format`
 * (`json_object`, `json_schema`) and tool-call arguments. node-llama-cpp's converter silently
 * mis-converts schemas (anyOf → null-only, email → "" only, ignores pattern/minimum/maximum, lets
 * integers carry exponents), so we build grammars ourselves and refuse, with a 422, whatever the
 * grammar could not enforce. Pure: no node-llama-cpp import.
 *
 * Usage — several schemas combined into one grammar (tool calls):
 *
 *     const b = new GbnfBuilder();
 *     const weather = b.addSchema(weatherParams, "args-get-weather", "tools.0.function.parameters");
 *     const search = b.addSchema(searchParams, "args-search", "tools.1.function.parameters");
 *     const lit = GbnfBuilder.literal;
 *     const grammar = b.build(
 *       `${lit('{"name": "get_weather", "arguments": ')} ${weather} ${lit("}")} | ` +
 *         `${lit('{"name": "search", "arguments": ')} ${search} ${lit("}")}`,
 *     );
 *
 * and for `response_format: {type: "json_schema"}`: `jsonSchemaToGbnf(schema, "response_format.json_schema.schema")`;
 * for `{type: "json_object"}`: `jsonObjectGbnf()`.
 *
 * addSchema() returns the name of the rule that matches one JSON value of the schema; rule names are
 * unique across the builder, and shared rules (string characters, numbers, formats...) are emitted
 * once. Schemas are checked as they are converted: an unsupported keyword throws
 * InvalidParameterError `unsupported_schema`, a malformed or unsatisfiable schema `invalid_schema`,
 * both with `param` = the dotted path of the offending keyword under the given paramPath.
 *
 * Output layout: "compact" (default) is `{"a": 1, "b": [1, 2]}` — optionally one space after `:` and
 * `,`, nothing else; "multiline" also allows, after `{` `[` `,` and before `}` `]`, a space or a
 * newline plus up to 20 spaces/tabs. Whitespace is always bounded so a weak model cannot spin in it.
 *
 * Supported (each enforced by the grammar):
 * - type (string, number, integer, boolean, null, object, array, or an array of them = union);
 *   without `type` the type is inferred from the keywords used (any JSON value when there are none);
 *   `nullable: true` (OpenAPI) adds null.
 * - enum, const (any JSON values, emitted in compact JSON form; filtered by a sibling `type`).
 * - anyOf / oneOf (a union: oneOf's exclusivity is NOT enforced — give it disjoint alternatives),
 *   allOf with exactly one subschema, $ref to any local JSON pointer (`#/$defs/X`, `#/definitions/X`,
 *   `#`), recursion included. `$defs` that are never referenced are not checked.
 * - Objects: properties (emitted in declared order; optional ones may be omitted), required,
 *   additionalProperties (false/true/absent → only declared properties, except that an object with
 *   no `properties` at all is free-form; a schema → extra properties after the declared ones, with
 *   names of 1–64 characters without escapes that differ from every declared name),
 *   minProperties/maxProperties only where they are implied by the rest (else 422).
 * - Arrays: items (a schema; the array form is refused, use prefixItems), prefixItems, minItems,
 *   maxItems, uniqueItems only when false or maxItems ≤ 1.
 * - Strings: minLength/maxLength in code points (the grammar forbids \u escapes of surrogates, so a
 *   grammar character is always one code point), format date, time (timezone required), date-time,
 *   uuid, email (local part: up to 4 dot-separated atoms of [A-Za-z0-9_%+-]; domain: 2–4 labels),
 *   ipv4, ipv6 (no embedded IPv4), hostname — each a subset of the valid values; pattern (below).
 *   A format or pattern combined with min/maxLength is accepted when its possible lengths fit;
 *   for patterns with a single variable-length repeat of one character class the repeat is narrowed.
 * - Integers: no exponent, no leading zeros, no "-0", at most 16 digits; minimum, maximum,
 *   exclusiveMinimum, exclusiveMaximum (numeric or draft-4 boolean) as exact digit-range rules.
 * - Numbers: optional fraction (≤ 16 digits) and exponent (≤ 2 digits, so always finite). Bounds are
 *   supported when they are integers (e.g. `minimum: 0`, `maximum: 1`); then the integer part has at
 *   most 9 digits, the fraction at most 6, and no exponent. Non-integer bounds and multipleOf
 *   (other than 1) → 422.
 * - pattern: an ECMAScript subset (see json-schema-grammar/pattern.ts); lookarounds,
 *   backreferences, \b, \p{..} → 422.
 * - Annotations are ignored: title, description, default, examples, $schema, $id, $comment,
 *   deprecated, readOnly, writeOnly. Every other keyword → 422. So are constraints next to $ref,
 *   allOf, anyOf or oneOf, and next to enum/const anything but type and nullable.
 *
 * Free-form JSON (`{}`, `true`, `{type: "object"}`, json_object) nests at most `freeFormDepth` (8)
 * containers deep.
 *
 * Cost: llama.cpp's grammar sampler follows every way the output so far can be read, for every
 * candidate token, so schemas that keep many ways open make each token slow. Patterns are first
 * rewritten into equivalent cheap forms (`(a|b|c|d)?` x 500 → `[a-d]{0,500}`), then measured
 * (json-schema-grammar/pattern-cost.ts); what stays past LIMITS in json-schema-grammar/schema.ts
 * (pattern stacks and readings, alternatives open at once, enum/anyOf/properties/subschema counts,
 * pattern length, grammar size) is refused with a 422 `unsupported_schema` naming where it is.
 *
 * llama.cpp decodes token bytes laxly, so a model can emit malformed UTF-8 that a grammar accepted;
 * use Utf8Validator (json-schema-grammar/utf8-validator.ts) to ban such tokens while a grammar is
 * active.
 *
 * Layout of the code under json-schema-grammar/: schema.ts (types, keywords, limits, errors),
 * builder.ts (GbnfBuilder: schema → rules) on rule-set.ts (rule store, layout, repetition, primitive
 * and free-form rules), numeric-range.ts (digit-range rules for bounds), pattern.ts (regex → GBNF),
 * pattern-simplify.ts and pattern-cost.ts (cheap equivalent patterns, their cost), formats.ts (string
 * formats), gbnf-syntax.ts and ranges.ts (GBNF text and code point sets), gbnf-hoist.ts (keeps
 * grammars within llama.cpp's repetition guard), strict-tool-schema.ts, utf8-validator.ts.
 */

import { GbnfBuilder } from "./json-schema-grammar/builder.js";
import type { GbnfOptions } from "./json-schema-grammar/schema.js";

export { GbnfBuilder } from "./json-schema-grammar/builder.js";
export { gbnfLiteral } from "./json-schema-grammar/gbnf-syntax.js";
export type { GbnfOptions, JsonSchema } from "./json-schema-grammar/schema.js";
export { validateStrictToolSchema } from "./json-schema-grammar/strict-tool-schema.js";
export { Utf8Validator } from "./json-schema-grammar/utf8-validator.js";

/** A grammar whose root is one JSON value of `schema` (for `response_format: json_schema`). */
export function jsonSchemaToGbnf(schema: unknown, paramPath: string, options: GbnfOptions = {}): string {
  const builder = new GbnfBuilder(options);
  return builder.build(builder.addSchema(schema, "schema", paramPath));
}

/**
 * A grammar for any JSON object (for `response_format: json_object`): the root is always an object;
 * whitespace is bounded; containers nest at most `freeFormDepth` (8) deep.
 */
export function jsonObjectGbnf(options: GbnfOptions = {}): string {
  const builder = new GbnfBuilder({ layout: "multiline", ...options });
  return builder.build(builder.anyObject());
}
