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
 * - pattern: ECMAScript subset — literals, escapes (\d \w \s \D \W \S \t \n \r \v \f \0 \xHH \uHHHH
 *   \u{H..}, escaped punctuation), `.`, classes with ranges and negation, groups (capturing,
 *   `(?:`, `(?<name>`) with `|`, quantifiers ? * + {m} {m,} {m,n} (lazy ones too). `^` and `$` may
 *   only open/close a top-level alternative; the pattern is always treated as a full match (which is
 *   a subset of what an unanchored pattern allows, so output stays valid). Dot and negated classes
 *   never produce control characters. Lookarounds, backreferences, \b, \p{..} → 422.
 * - Annotations are ignored: title, description, default, examples, $schema, $id, $comment,
 *   deprecated, readOnly, writeOnly. Every other keyword → 422. So are constraints next to $ref,
 *   allOf, anyOf or oneOf, and next to enum/const anything but type and nullable.
 *
 * Free-form JSON (`{}`, `true`, `{type: "object"}`, json_object) nests at most `freeFormDepth` (8)
 * containers deep.
 *
 * llama.cpp matches grammars on code points but decodes token bytes laxly (overlong forms, F8–FF
 * lead bytes), so a model can emit malformed UTF-8 that a grammar accepted; it decodes to U+FFFD and
 * breaks length limits and patterns. Use Utf8Validator (bottom of this file) to ban such tokens
 * while a grammar is active.
 */

import { InvalidParameterError } from "../../core/errors.js";

export type JsonSchema = boolean | { readonly [keyword: string]: unknown };

export interface GbnfOptions {
  /** "compact" (default) or "multiline"; see the file header. */
  layout?: "compact" | "multiline";
  /** How many containers free-form JSON values may nest. Default 8. */
  freeFormDepth?: number;
  /** Longest string (code points) in free-form JSON values. Default unbounded. */
  freeFormStringMaxLength?: number;
}

type SchemaObject = { readonly [keyword: string]: unknown };
type Range = readonly [number, number];

const ANNOTATIONS = new Set([
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
const OBJECT_KEYWORDS = ["properties", "required", "additionalProperties", "minProperties", "maxProperties"];
const ARRAY_KEYWORDS = ["items", "prefixItems", "minItems", "maxItems", "uniqueItems"];
const STRING_KEYWORDS = ["minLength", "maxLength", "pattern", "format"];
const NUMBER_KEYWORDS = ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"];
const SUPPORTED = new Set([
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
const TYPES = new Set(["string", "number", "integer", "boolean", "null", "object", "array"]);
const FORMATS: Record<string, readonly [number, number]> = {
  date: [10, 10],
  time: [9, 21],
  "date-time": [20, 32],
  uuid: [36, 36],
  email: [5, 135],
  ipv4: [7, 15],
  ipv6: [2, 39],
  hostname: [1, 67],
};

/** Longest repetition count written as one `{m,n}` (llama.cpp refuses counts ≥ 2000). */
const CHUNK = 1000;
const MAX_REPEAT = 1_000_000;
const MAX_SCHEMA_DEPTH = 100;
const MAX_GRAMMAR_CHARS = 2_000_000;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
/** Largest integer part of a bounded `number`. */
const NUMBER_INT_LIMIT = 999_999_999n;
const EXTRA_KEY_MAX_LENGTH = 64;
const QUOTE = '"\\""';

// ---------------------------------------------------------------------------------------------
// Errors and small helpers

function unsupported(param: string, message: string): never {
  throw new InvalidParameterError("unsupported_schema", message, param);
}

function invalid(param: string, message: string): never {
  throw new InvalidParameterError("invalid_schema", message, param);
}

function isObject(value: unknown): value is SchemaObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function has(schema: SchemaObject, key: string): boolean {
  return Object.hasOwn(schema, key);
}

function hex(value: number, width: number): string {
  return value.toString(16).toUpperCase().padStart(width, "0");
}

function escapeCodePoint(cp: number): string {
  if (cp < 0x100) return `\\x${hex(cp, 2)}`;
  if (cp < 0x10000) return `\\u${hex(cp, 4)}`;
  return `\\U${hex(cp, 8)}`;
}

/** A GBNF string literal matching `text` exactly. */
export function gbnfLiteral(text: string): string {
  let out = '"';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === "\\") out += "\\\\";
    else if (cp >= 0x20 && cp < 0x7f) out += ch;
    else out += escapeCodePoint(cp);
  }
  return `${out}"`;
}

function classChar(cp: number): string {
  const alnum = (cp >= 0x30 && cp <= 0x39) || (cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a);
  return alnum ? String.fromCodePoint(cp) : escapeCodePoint(cp);
}

function classExpr(ranges: readonly Range[], negated = false): string {
  const body = ranges.map(([a, b]) => (a === b ? classChar(a) : `${classChar(a)}-${classChar(b)}`)).join("");
  return `[${negated ? "^" : ""}${body}]`;
}

/** Joins sequence parts, dropping empty ones. */
function seq(...parts: string[]): string {
  return parts.filter((part) => part !== "").join(" ");
}

const ATOMIC = /^(?:[A-Za-z0-9-]+|"(?:[^"\\]|\\.)*"|\[(?:[^\]\\]|\\.)*\])$/;

/** Wraps an expression in parentheses unless it is a single rule name, literal or class. */
function paren(expr: string): string {
  return ATOMIC.test(expr) ? expr : `(${expr})`;
}

/** `expr` or nothing. */
function optional(expr: string): string {
  return expr === "" ? "" : `${paren(expr)}?`;
}

/** Alternatives; an empty one makes the whole group optional. */
function alternatives(options: string[]): string {
  const unique = [...new Set(options)];
  const nonEmpty = unique.filter((option) => option !== "");
  if (nonEmpty.length === 0) return "";
  const group = nonEmpty.length === 1 ? nonEmpty[0]! : `(${nonEmpty.join(" | ")})`;
  return nonEmpty.length < unique.length ? optional(group) : group;
}

function normalize(ranges: Range[]): Range[] {
  const sorted = [...ranges].sort((x, y) => x[0] - y[0]);
  const out: [number, number][] = [];
  for (const [a, b] of sorted) {
    const last = out[out.length - 1];
    if (last && a <= last[1] + 1) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

function subtract(ranges: readonly Range[], remove: readonly Range[]): Range[] {
  let current: Range[] = [...ranges];
  for (const [ra, rb] of remove) {
    const next: Range[] = [];
    for (const [a, b] of current) {
      if (rb < a || ra > b) next.push([a, b]);
      else {
        if (a < ra) next.push([a, ra - 1]);
        if (b > rb) next.push([rb + 1, b]);
      }
    }
    current = next;
  }
  return current;
}

function contains(ranges: readonly Range[], cp: number): boolean {
  return ranges.some(([a, b]) => a <= cp && cp <= b);
}

/** Code points dot and negated classes may produce: no controls, no surrogates. */
const UNIVERSE: readonly Range[] = [
  [0x20, 0xd7ff],
  [0xe000, 0x10ffff],
];

/** Characters a JSON string holds unescaped (DEL excluded too); never surrogates or > U+10FFFF. */
const JSON_RAW_CHARS: readonly Range[] = [
  [0x20, 0x21],
  [0x23, 0x5b],
  [0x5d, 0x7e],
  [0x80, 0xd7ff],
  [0xe000, 0x10ffff],
];

function complement(ranges: readonly Range[]): Range[] {
  return subtract(UNIVERSE, ranges);
}

/** The JSON text of one character inside a JSON string. */
function jsonEscaped(text: string): string {
  return JSON.stringify(text).slice(1, -1);
}

/** Path segment for a property name or array index. */
function at(path: string, key: string | number): string {
  return `${path}.${key}`;
}

// ---------------------------------------------------------------------------------------------
// Integer digit ranges

function allDigits(text: string, digit: string): boolean {
  return [...text].every((c) => c === digit);
}

function digitClass(from: string, to: string): string {
  return from === to ? `[${from}]` : `[${from}-${to}]`;
}

function nextDigit(d: string, delta: number): string {
  return String.fromCharCode(d.charCodeAt(0) + delta);
}

/** Decimal strings of a's length between a and b (same length, a ≤ b), leading zeros as given. */
function sameLengthRange(a: string, b: string): string {
  if (a.length === 0) return "";
  if (a === b) return `"${a}"`;
  let common = 0;
  while (a[common] === b[common]) common += 1;
  if (common > 0)
    return seq(`"${a.slice(0, common)}"`, paren(sameLengthRange(a.slice(common), b.slice(common))));
  const rest = a.length - 1;
  const a0 = a[0]!;
  const b0 = b[0]!;
  if (rest === 0) return digitClass(a0, b0);
  const aRest = a.slice(1);
  const bRest = b.slice(1);
  const lowFull = allDigits(aRest, "0");
  const highFull = allDigits(bRest, "9");
  const options: string[] = [];
  if (!lowFull) options.push(seq(`"${a0}"`, paren(sameLengthRange(aRest, "9".repeat(rest)))));
  const midFrom = lowFull ? a0 : nextDigit(a0, 1);
  const midTo = highFull ? b0 : nextDigit(b0, -1);
  if (midFrom <= midTo)
    options.push(seq(digitClass(midFrom, midTo), rest === 1 ? "[0-9]" : `[0-9]{${rest}}`));
  if (!highFull) options.push(seq(`"${b0}"`, paren(sameLengthRange("0".repeat(rest), bRest))));
  return options.length === 1 ? options[0]! : `(${options.join(" | ")})`;
}

/** Non-negative integers lo..hi without leading zeros. */
function nonNegativeRange(lo: bigint, hi: bigint): string {
  const options: string[] = [];
  const loText = lo.toString();
  const hiText = hi.toString();
  let fullFrom = 0;
  let fullTo = 0;
  const flushFull = (): void => {
    if (fullFrom === 0) return;
    options.push(
      fullFrom === fullTo
        ? seq("[1-9]", fullFrom === 1 ? "" : fullFrom === 2 ? "[0-9]" : `[0-9]{${fullFrom - 1}}`)
        : `[1-9] [0-9]{${fullFrom - 1},${fullTo - 1}}`,
    );
    fullFrom = 0;
  };
  for (let length = loText.length; length <= hiText.length; length += 1) {
    const from = length === loText.length ? loText : `1${"0".repeat(length - 1)}`;
    const to = length === hiText.length ? hiText : "9".repeat(length);
    const isFull = length > 1 && from === `1${"0".repeat(length - 1)}` && to === "9".repeat(length);
    if (isFull) {
      if (fullFrom === 0) fullFrom = length;
      fullTo = length;
      continue;
    }
    flushFull();
    options.push(sameLengthRange(from, to));
  }
  flushFull();
  return options.length === 1 ? options[0]! : `(${options.join(" | ")})`;
}

/** Integers lo..hi (inclusive), no "-0". */
function integerRange(lo: bigint, hi: bigint): string {
  const options: string[] = [];
  if (lo < 0n) {
    const magnitudeLo = hi < 0n ? -hi : 1n;
    options.push(seq('"-"', paren(nonNegativeRange(magnitudeLo, -lo))));
  }
  if (hi >= 0n) options.push(nonNegativeRange(lo > 0n ? lo : 0n, hi));
  return options.length === 1 ? options[0]! : `(${options.join(" | ")})`;
}

interface Bound {
  value: number;
  exclusive: boolean;
}

// ---------------------------------------------------------------------------------------------
// Regular expressions (pattern)

type RegexNode =
  | { kind: "set"; ranges: Range[] }
  | { kind: "seq"; items: RegexNode[] }
  | { kind: "alt"; options: RegexNode[] }
  | { kind: "rep"; node: RegexNode; min: number; max: number | undefined };

class RegexError extends Error {}

const DIGIT: Range[] = [[0x30, 0x39]];
const WORD: Range[] = [
  [0x30, 0x39],
  [0x41, 0x5a],
  [0x5f, 0x5f],
  [0x61, 0x7a],
];
const SPACE: Range[] = normalize([
  [0x09, 0x0d],
  [0x20, 0x20],
  [0xa0, 0xa0],
  [0x1680, 0x1680],
  [0x2000, 0x200a],
  [0x2028, 0x2029],
  [0x202f, 0x202f],
  [0x205f, 0x205f],
  [0x3000, 0x3000],
  [0xfeff, 0xfeff],
]);
const DOT: Range[] = complement([
  [0x0a, 0x0a],
  [0x0d, 0x0d],
  [0x2028, 0x2029],
]);
const SYNTAX_CHARS = new Set([..."^$\\.*+?()[]{}|/-"].map((c) => c.codePointAt(0)!));

class RegexParser {
  private readonly cps: number[];
  private i = 0;

  constructor(source: string) {
    this.cps = Array.from(source, (c) => c.codePointAt(0)!);
  }

  parse(): RegexNode {
    const node = this.disjunction(true);
    if (this.i < this.cps.length) throw new RegexError(`unbalanced ')' at index ${this.i}`);
    return node;
  }

  private peek(offset = 0): string | undefined {
    const cp = this.cps[this.i + offset];
    return cp === undefined ? undefined : String.fromCodePoint(cp);
  }

  private disjunction(top: boolean): RegexNode {
    const options: RegexNode[] = [this.alternative(top)];
    while (this.peek() === "|") {
      this.i += 1;
      options.push(this.alternative(top));
    }
    return options.length === 1 ? options[0]! : { kind: "alt", options };
  }

  private alternative(top: boolean): RegexNode {
    const items: RegexNode[] = [];
    if (top && this.peek() === "^") this.i += 1;
    for (;;) {
      const c = this.peek();
      if (c === undefined || c === "|" || c === ")") break;
      if (c === "$") {
        const next = this.peek(1);
        if (top && (next === undefined || next === "|")) {
          this.i += 1;
          continue;
        }
        throw new RegexError(`'$' is only supported at the end of the pattern (index ${this.i})`);
      }
      if (c === "^")
        throw new RegexError(`'^' is only supported at the start of the pattern (index ${this.i})`);
      const atom = this.atom();
      items.push(this.quantified(atom));
    }
    return items.length === 1 ? items[0]! : { kind: "seq", items };
  }

  private quantified(atom: RegexNode): RegexNode {
    const c = this.peek();
    let min: number;
    let max: number | undefined;
    if (c === "*" || c === "+" || c === "?") {
      this.i += 1;
      [min, max] = c === "*" ? [0, undefined] : c === "+" ? [1, undefined] : [0, 1];
    } else if (c === "{") {
      const match = /^\{(\d+)(,(\d*))?\}/.exec(String.fromCodePoint(...this.cps.slice(this.i, this.i + 24)));
      if (!match) throw new RegexError(`invalid quantifier at index ${this.i}`);
      this.i += match[0].length;
      min = Number(match[1]);
      max = match[2] === undefined ? min : match[3] === "" ? undefined : Number(match[3]);
      if (max !== undefined && max < min) throw new RegexError(`quantifier {${min},${max}} is out of order`);
      if (min > MAX_REPEAT || (max ?? 0) > MAX_REPEAT) throw new RegexError("quantifier is too large");
    } else {
      return atom;
    }
    if (this.peek() === "?") this.i += 1; // lazy: same language for a full match
    const next = this.peek();
    if (next === "*" || next === "+" || next === "?" || next === "{") {
      throw new RegexError(`nothing to repeat at index ${this.i}`);
    }
    return { kind: "rep", node: atom, min, max };
  }

  private atom(): RegexNode {
    const c = this.peek()!;
    const start = this.i;
    this.i += 1;
    switch (c) {
      case ".":
        return { kind: "set", ranges: DOT };
      case "(": {
        if (this.peek() === "?") {
          const kind = this.peek(1);
          if (kind === ":") this.i += 2;
          else if (kind === "<" && this.peek(2) !== "=" && this.peek(2) !== "!") {
            const close = this.cps.indexOf(">".codePointAt(0)!, this.i);
            if (close < 0) throw new RegexError(`invalid group name at index ${start}`);
            this.i = close + 1;
          } else throw new RegexError(`lookaround and '(?' groups are not supported (index ${start})`);
        }
        const inner = this.disjunction(false);
        if (this.peek() !== ")") throw new RegexError(`unbalanced '(' at index ${start}`);
        this.i += 1;
        return inner;
      }
      case "[":
        return this.characterClass(start);
      case "\\":
        return this.escape(false);
      case "*":
      case "+":
      case "?":
      case "{":
        throw new RegexError(`nothing to repeat at index ${start}`);
      default:
        return { kind: "set", ranges: [[this.cps[start]!, this.cps[start]!]] };
    }
  }

  /** After a backslash; returns a set. `inClass`: \b is backspace, '-' is allowed. */
  private escape(inClass: boolean): { kind: "set"; ranges: Range[] } {
    const c = this.peek();
    if (c === undefined) throw new RegexError("the pattern ends with '\\'");
    this.i += 1;
    const set = (ranges: Range[]): { kind: "set"; ranges: Range[] } => ({ kind: "set", ranges });
    const single = (cp: number): { kind: "set"; ranges: Range[] } => set([[cp, cp]]);
    switch (c) {
      case "d":
        return set(DIGIT);
      case "D":
        return set(complement(DIGIT));
      case "w":
        return set(WORD);
      case "W":
        return set(complement(WORD));
      case "s":
        return set(SPACE);
      case "S":
        return set(complement(SPACE));
      case "t":
        return single(0x09);
      case "n":
        return single(0x0a);
      case "v":
        return single(0x0b);
      case "f":
        return single(0x0c);
      case "r":
        return single(0x0d);
      case "0":
        if (/[0-9]/.test(this.peek() ?? "")) throw new RegexError("octal escapes are not supported");
        return single(0);
      case "x": {
        const digits = String.fromCodePoint(...this.cps.slice(this.i, this.i + 2));
        if (!/^[0-9a-fA-F]{2}$/.test(digits)) throw new RegexError("invalid \\x escape");
        this.i += 2;
        return single(parseInt(digits, 16));
      }
      case "u": {
        const rest = String.fromCodePoint(...this.cps.slice(this.i, this.i + 10));
        const braced = /^\{([0-9a-fA-F]{1,6})\}/.exec(rest);
        const plain = /^[0-9a-fA-F]{4}/.exec(rest);
        const match = braced ?? plain;
        if (!match) throw new RegexError("invalid \\u escape");
        this.i += match[0].length;
        const cp = parseInt(braced ? braced[1]! : match[0], 16);
        if (cp > 0x10ffff) throw new RegexError("invalid \\u escape");
        return single(cp);
      }
      case "b":
        if (inClass) return single(0x08);
        throw new RegexError("word boundaries (\\b) are not supported");
      case "B":
        throw new RegexError("word boundaries (\\B) are not supported");
      case "k":
        throw new RegexError("backreferences are not supported");
      case "p":
      case "P":
        throw new RegexError("unicode property escapes are not supported");
      case "c":
        throw new RegexError("control escapes (\\c) are not supported");
      default: {
        const cp = c.codePointAt(0)!;
        if (/[1-9]/.test(c)) throw new RegexError("backreferences are not supported");
        if (SYNTAX_CHARS.has(cp) || cp > 0x7f || !/[A-Za-z0-9_]/.test(c)) return single(cp);
        throw new RegexError(`unknown escape '\\${c}'`);
      }
    }
  }

  private characterClass(start: number): RegexNode {
    let negated = false;
    if (this.peek() === "^") {
      negated = true;
      this.i += 1;
    }
    const ranges: Range[] = [];
    for (;;) {
      const c = this.peek();
      if (c === undefined) throw new RegexError(`unbalanced '[' at index ${start}`);
      if (c === "]") {
        this.i += 1;
        break;
      }
      const low = this.classAtom();
      if (this.peek() === "-" && this.peek(1) !== "]" && this.peek(1) !== undefined) {
        this.i += 1;
        const high = this.classAtom();
        if (typeof low !== "number" || typeof high !== "number") {
          throw new RegexError(`invalid character class range at index ${start}`);
        }
        if (high < low) throw new RegexError(`character class range out of order at index ${start}`);
        ranges.push([low, high]);
      } else if (typeof low === "number") ranges.push([low, low]);
      else ranges.push(...low);
    }
    const normalized = normalize(ranges);
    return { kind: "set", ranges: negated ? complement(normalized) : normalized };
  }

  private classAtom(): number | Range[] {
    const cp = this.cps[this.i]!;
    this.i += 1;
    if (cp !== 0x5c) return cp;
    const escaped = this.escape(true).ranges;
    const only = escaped[0];
    return escaped.length === 1 && only && only[0] === only[1] ? only[0] : escaped;
  }
}

/** Shortest and longest match length in code points (max Infinity when unbounded). */
function regexLength(node: RegexNode): [number, number] {
  switch (node.kind) {
    case "set":
      return [1, 1];
    case "seq":
      return node.items.reduce<[number, number]>(
        (acc, item) => {
          const [a, b] = regexLength(item);
          return [acc[0] + a, acc[1] + b];
        },
        [0, 0],
      );
    case "alt": {
      const lengths = node.options.map(regexLength);
      return [Math.min(...lengths.map((l) => l[0])), Math.max(...lengths.map((l) => l[1]))];
    }
    case "rep": {
      const [a, b] = regexLength(node.node);
      return [a * node.min, node.max === undefined ? (b === 0 ? 0 : Infinity) : b * node.max];
    }
  }
}

/**
 * Narrows a pattern to lengths minLength..maxLength when it is a sequence of fixed-length parts and
 * one repeat of a single character; undefined when that is not its shape.
 */
function narrowPattern(
  node: RegexNode,
  minLength: number,
  maxLength: number | undefined,
): RegexNode | undefined {
  const items = node.kind === "seq" ? node.items : [node];
  let variable = -1;
  let fixed = 0;
  for (const [index, item] of items.entries()) {
    const [a, b] = regexLength(item);
    if (a === b) {
      fixed += a;
      continue;
    }
    if (variable >= 0 || item.kind !== "rep" || item.node.kind !== "set") return undefined;
    variable = index;
  }
  const rep = items[variable];
  if (!rep || rep.kind !== "rep") return undefined;
  const min = Math.max(rep.min, minLength - fixed);
  const max = maxLength === undefined ? rep.max : Math.min(rep.max ?? Infinity, maxLength - fixed);
  if (max !== undefined && max < min) return undefined;
  const narrowed = [...items];
  narrowed[variable] = { ...rep, min, max };
  return { kind: "seq", items: narrowed };
}

// ---------------------------------------------------------------------------------------------
// The builder

interface Document {
  root: unknown;
  path: string;
  hint: string;
  /** JSON pointer → rule name. */
  refs: Map<string, string>;
}

interface Context {
  doc: Document;
  depth: number;
  /** $refs entered since the last `{` or `[`: a repeat is a circular, left-recursive reference. */
  pending: ReadonlySet<string>;
}

interface Slot {
  expr: string;
  required: boolean;
}

interface Repeat {
  item: string;
  min: number;
  max: number | undefined;
}

/** Builds one grammar out of any number of schemas and raw rules; see the file header. */
export class GbnfBuilder {
  private readonly rules = new Map<string, string>();
  private readonly byBody = new Map<string, string>();
  private readonly primitives = new Map<string, string>();
  private readonly layout: "compact" | "multiline";
  private readonly freeFormDepth: number;
  private readonly freeFormStringMaxLength: number | undefined;

  constructor(options: GbnfOptions = {}) {
    this.layout = options.layout ?? "compact";
    this.freeFormDepth = options.freeFormDepth ?? 8;
    this.freeFormStringMaxLength = options.freeFormStringMaxLength;
  }

  /** A GBNF literal for `text` (to compose root bodies). */
  static literal(text: string): string {
    return gbnfLiteral(text);
  }

  /**
   * Converts `schema` and returns the name of a rule that matches one JSON value of it.
   * `name` seeds the rule names; `paramPath` is where the schema sits in the request, for errors.
   */
  addSchema(schema: unknown, name: string, paramPath: string): string {
    const doc: Document = { root: schema, path: paramPath, hint: name, refs: new Map() };
    const rule = this.uniqueName(name);
    doc.refs.set("", rule);
    const body = this.visit(schema, paramPath, rule, { doc, depth: 0, pending: new Set([""]) });
    this.rules.set(rule, body);
    return rule;
  }

  /** Adds a raw rule under a unique name derived from `name`, and returns that name. */
  addRule(name: string, body: string): string {
    const rule = this.uniqueName(name);
    this.rules.set(rule, body);
    return rule;
  }

  /** A rule matching any JSON value (free-form, depth-bounded). */
  anyValue(): string {
    return this.freeValue(this.freeFormDepth);
  }

  /** A rule matching any JSON object (free-form, depth-bounded). */
  anyObject(): string {
    return this.freeObject(this.freeFormDepth);
  }

  /** The grammar text: `root ::= rootBody` and every rule added so far. */
  build(rootBody: string): string {
    if (rootBody.trim() === "") throw new Error("GbnfBuilder.build: empty root");
    const lines = [`root ::= ${rootBody}`];
    for (const [name, body] of this.rules) lines.push(`${name} ::= ${body}`);
    const grammar = `${lines.join("\n")}\n`;
    if (grammar.length > MAX_GRAMMAR_CHARS) {
      throw new InvalidParameterError(
        "unsupported_schema",
        "The JSON schemas produce a grammar that is too large.",
      );
    }
    return grammar;
  }

  // -- rule bookkeeping ------------------------------------------------------------------------

  private uniqueName(hint: string): string {
    const base =
      hint
        .replace(/[^A-Za-z0-9-]+/g, "-")
        .replace(/-+/g, "-")
        .slice(0, 48)
        .replace(/^-+|-+$/g, "") || "r";
    let name = base;
    for (let i = 2; name === "root" || this.rules.has(name); i += 1) name = `${base}-${i}`;
    this.rules.set(name, "");
    return name;
  }

  /** A rule with this body (reusing an identical one), returning its name. */
  private define(hint: string, body: string): string {
    if (/^[A-Za-z0-9-]+$/.test(body)) return body;
    const existing = this.byBody.get(body);
    if (existing) return existing;
    const name = this.uniqueName(hint);
    this.rules.set(name, body);
    this.byBody.set(body, name);
    return name;
  }

  private primitive(key: string, body: () => string): string {
    const existing = this.primitives.get(key);
    if (existing) return existing;
    const name = this.uniqueName(key);
    this.primitives.set(key, name);
    this.rules.set(name, body());
    return name;
  }

  // -- layout ----------------------------------------------------------------------------------

  private get ws(): string {
    return this.primitive("ws", () => `([ \\x09] | "\\n" [ \\x09]{0,20})?`);
  }

  private get colon(): string {
    return `":" ${this.primitive("sp", () => '" "?')}`;
  }

  private get comma(): string {
    return this.layout === "multiline" ? `"," ${this.ws}` : `"," ${this.primitive("sp", () => '" "?')}`;
  }

  private open(bracket: "{" | "["): string {
    return this.layout === "multiline" ? `"${bracket}" ${this.ws}` : `"${bracket}"`;
  }

  private close(bracket: "}" | "]"): string {
    return this.layout === "multiline" ? `${this.ws} "${bracket}"` : `"${bracket}"`;
  }

  // -- repetition ------------------------------------------------------------------------------

  /** `item` repeated min..max times (max undefined: unbounded); `item` must be atomic. */
  private rep(item: string, min: number, max: number | undefined, hint: string): string {
    if (max === 0) return "";
    if (max === undefined) {
      if (min === 0) return `${item}*`;
      if (min === 1) return `${item}+`;
      if (min <= CHUNK) return `${item}{${min},}`;
      return seq(this.exactly(item, min, hint), `${item}*`);
    }
    if (min === 0 && max === 1) return `${item}?`;
    if (min === max) return this.exactly(item, min, hint);
    if (max <= CHUNK) return `${item}{${min},${max}}`;
    return seq(this.exactly(item, min, hint), this.upTo(item, max - min, hint));
  }

  private chunk(item: string, hint: string): string {
    return this.define(`${hint}-chunk`, `${item}{${CHUNK}}`);
  }

  private exactly(item: string, count: number, hint: string): string {
    if (count === 0) return "";
    if (count === 1) return item;
    if (count <= CHUNK) return `${item}{${count}}`;
    const chunks = Math.floor(count / CHUNK);
    const chunk = this.chunk(item, hint);
    return seq(chunks === 1 ? chunk : `${chunk}{${chunks}}`, this.exactly(item, count % CHUNK, hint));
  }

  private upTo(item: string, count: number, hint: string): string {
    if (count <= CHUNK) return count === 1 ? `${item}?` : `${item}{0,${count}}`;
    const chunks = Math.floor(count / CHUNK);
    const chunk = this.chunk(item, hint);
    const fewer = seq(chunks === 1 ? "" : this.rep(chunk, 0, chunks - 1, hint), `${item}{0,${CHUNK - 1}}`);
    const most = seq(chunks === 1 ? chunk : `${chunk}{${chunks}}`, this.upTo(item, count % CHUNK, hint));
    return `(${fewer} | ${most === "" ? '""' : most})`;
  }

  // -- primitives ------------------------------------------------------------------------------

  private get char(): string {
    return this.primitive(
      "char",
      () =>
        `${classExpr(JSON_RAW_CHARS)} | "\\\\" (["\\\\/bfnrt] | "u" ([0-9a-cA-CeEfF] [0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2}))`,
    );
  }

  private stringOfLength(min: number, max: number | undefined): string {
    if (min === 0 && max === undefined)
      return this.primitive("string", () => seq(QUOTE, `${this.char}*`, QUOTE));
    return this.define(
      `string-${min}-${max ?? "n"}`,
      seq(QUOTE, this.rep(this.char, min, max, "char"), QUOTE),
    );
  }

  private get integer(): string {
    return this.primitive("integer", () => `"0" | "-"? [1-9] [0-9]{0,15}`);
  }

  private get number(): string {
    return this.primitive(
      "number",
      () => `"-"? ("0" | [1-9] [0-9]{0,15}) ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,2})?`,
    );
  }

  private get boolean(): string {
    return this.primitive("boolean", () => `"true" | "false"`);
  }

  private get null(): string {
    return this.primitive("null", () => `"null"`);
  }

  private freeString(): string {
    return this.stringOfLength(0, this.freeFormStringMaxLength);
  }

  private freeValue(depth: number): string {
    return this.primitive(`value-d${depth}`, () => {
      const scalars = [this.freeString(), this.number, this.boolean, this.null];
      if (depth <= 0) return [`"{}"`, `"[]"`, ...scalars].join(" | ");
      return [this.freeObject(depth), this.freeArray(depth), ...scalars].join(" | ");
    });
  }

  private freeObject(depth: number): string {
    return this.primitive(`object-d${depth}`, () => {
      if (depth <= 0) return `"{}"`;
      const member = seq(this.freeString(), this.colon, this.freeValue(depth - 1));
      return seq(this.open("{"), optional(seq(member, `(${seq(this.comma, member)})*`)), this.close("}"));
    });
  }

  private freeArray(depth: number): string {
    return this.primitive(`array-d${depth}`, () => {
      const value = this.freeValue(depth - 1);
      return seq(this.open("["), optional(seq(value, `(${seq(this.comma, value)})*`)), this.close("]"));
    });
  }

  private format(name: string): string {
    const hexDigit = "[0-9a-fA-F]";
    switch (name) {
      case "date": {
        const leapYear = this.primitive(
          "leap-year",
          () => `[0-9]{2} ("0" [48] | [2468] [048] | [13579] [26]) | ([02468] [048] | [13579] [26]) "00"`,
        );
        return this.primitive("date", () =>
          [
            `[0-9]{4} "-" (("0" [13578] | "1" [02]) "-" ("0" [1-9] | [12] [0-9] | "3" [01])`,
            `| ("0" [469] | "11") "-" ("0" [1-9] | [12] [0-9] | "30")`,
            `| "02-" ("0" [1-9] | "1" [0-9] | "2" [0-8]))`,
            `| ${leapYear} "-02-29"`,
          ].join(" "),
        );
      }
      case "time":
        return this.primitive(
          "time",
          () =>
            `([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9] ":" [0-5] [0-9] ("." [0-9]{1,6})? ` +
            `("Z" | [+\\x2D] ([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9])`,
        );
      case "date-time":
        return this.primitive("date-time", () => `${this.format("date")} "T" ${this.format("time")}`);
      case "uuid":
        return this.primitive("uuid", () => [8, 4, 4, 4, 12].map((n) => `${hexDigit}{${n}}`).join(` "-" `));
      case "ipv4": {
        const octet = this.primitive(
          "ipv4-octet",
          () => `"25" [0-5] | "2" [0-4] [0-9] | "1" [0-9] [0-9] | [1-9] [0-9] | [0-9]`,
        );
        return this.primitive("ipv4", () => `${octet} ("." ${octet}){3}`);
      }
      case "ipv6": {
        const h16 = this.primitive("ipv6-h16", () => `${hexDigit}{1,4}`);
        return this.primitive("ipv6", () => {
          const groups = (n: number): string =>
            n === 0 ? "" : n === 1 ? h16 : seq(h16, n === 2 ? `":" ${h16}` : `(":" ${h16}){${n - 1}}`);
          const upTo = (n: number): string =>
            n === 0 ? "" : optional(seq(h16, n === 1 ? "" : `(":" ${h16}){0,${n - 1}}`));
          const options = [groups(8)];
          for (let left = 0; left <= 7; left += 1) options.push(seq(groups(left), `"::"`, upTo(7 - left)));
          return options.join(" | ");
        });
      }
      case "hostname":
      case "email": {
        const label = this.primitive("dns-label", () => `[A-Za-z0-9] ([A-Za-z0-9\\x2D]{0,14} [A-Za-z0-9])?`);
        if (name === "hostname") return this.primitive("hostname", () => `${label} ("." ${label}){0,3}`);
        const atom = this.primitive("email-atom", () => `[A-Za-z0-9_%+\\x2D]{1,16}`);
        return this.primitive("email", () => `${atom} ("." ${atom}){0,3} "@" ${label} ("." ${label}){1,3}`);
      }
      default:
        throw new Error(`unknown format ${name}`);
    }
  }

  // -- schemas ---------------------------------------------------------------------------------

  /** An atomic expression matching one JSON value of `schema`. */
  private visit(schema: unknown, path: string, hint: string, ctx: Context): string {
    if (schema === true) return this.anyValue();
    if (schema === false) invalid(path, `The schema at ${path} is 'false', which no value satisfies.`);
    if (!isObject(schema)) invalid(path, `The schema at ${path} must be an object or a boolean.`);
    if (ctx.depth > MAX_SCHEMA_DEPTH)
      invalid(path, `The schema nests deeper than ${MAX_SCHEMA_DEPTH} levels.`);
    const inner: Context = { ...ctx, depth: ctx.depth + 1 };

    for (const key of Object.keys(schema)) {
      if (!ANNOTATIONS.has(key) && !SUPPORTED.has(key)) {
        unsupported(at(path, key), `JSON Schema keyword '${key}' is not supported (at ${path}).`);
      }
    }
    for (const key of ["$defs", "definitions"]) {
      if (has(schema, key) && !isObject(schema[key]))
        invalid(at(path, key), `'${key}' at ${path} must be an object.`);
    }
    const constraints = Object.keys(schema).filter((key) => !ANNOTATIONS.has(key));
    const onlyWith = (keyword: string, allowed: readonly string[]): void => {
      for (const key of constraints) {
        if (key !== keyword && !allowed.includes(key)) {
          unsupported(
            at(path, key),
            `JSON Schema keyword '${key}' cannot be combined with '${keyword}' (at ${path}).`,
          );
        }
      }
    };

    if (has(schema, "$ref")) {
      onlyWith("$ref", []);
      return this.ref(schema.$ref, at(path, "$ref"), inner);
    }
    if (has(schema, "allOf")) {
      onlyWith("allOf", []);
      const allOf = schema.allOf;
      if (!Array.isArray(allOf)) invalid(at(path, "allOf"), `'allOf' at ${path} must be an array.`);
      if (allOf.length !== 1) {
        unsupported(
          at(path, "allOf"),
          `JSON Schema keyword 'allOf' is only supported with exactly one subschema (at ${path}).`,
        );
      }
      return this.visit(allOf[0], at(at(path, "allOf"), 0), hint, inner);
    }
    if (has(schema, "anyOf") || has(schema, "oneOf")) {
      const keyword = has(schema, "anyOf") ? "anyOf" : "oneOf";
      onlyWith(keyword, []);
      const options = schema[keyword];
      if (!Array.isArray(options) || options.length === 0) {
        invalid(at(path, keyword), `'${keyword}' at ${path} must be a non-empty array.`);
      }
      const exprs = options.flatMap((option, index) =>
        option === false ? [] : [this.visit(option, at(at(path, keyword), index), `${hint}-${index}`, inner)],
      );
      if (exprs.length === 0)
        invalid(at(path, keyword), `No alternative of '${keyword}' at ${path} can be satisfied.`);
      return this.define(hint, [...new Set(exprs)].join(" | "));
    }

    const types = this.types(schema, path);
    if (has(schema, "enum") || has(schema, "const")) {
      if (has(schema, "enum") && has(schema, "const")) {
        unsupported(
          at(path, "const"),
          `JSON Schema keyword 'const' cannot be combined with 'enum' (at ${path}).`,
        );
      }
      const keyword = has(schema, "enum") ? "enum" : "const";
      onlyWith(keyword, ["type", "nullable"]);
      return this.literals(schema, keyword, types, path, hint);
    }

    const effective = types ?? this.inferTypes(schema);
    if (effective.length === 0) return this.anyValue();
    const exprs = effective.map((type) =>
      this.typed(schema, type, path, effective.length === 1 ? hint : `${hint}-${type}`, inner),
    );
    return exprs.length === 1 ? paren(exprs[0]!) : this.define(hint, exprs.join(" | "));
  }

  /** The declared types (with `nullable`), or undefined when there is no `type`. */
  private types(schema: SchemaObject, path: string): string[] | undefined {
    let types: string[] | undefined;
    if (has(schema, "type")) {
      const raw = schema.type;
      const list = typeof raw === "string" ? [raw] : Array.isArray(raw) ? raw : undefined;
      if (!list || list.length === 0) {
        invalid(at(path, "type"), `'type' at ${path} must be a type name or a non-empty array of them.`);
      }
      for (const type of list) {
        if (typeof type !== "string" || !TYPES.has(type)) {
          invalid(at(path, "type"), `Unknown type ${JSON.stringify(type)} in 'type' at ${path}.`);
        }
      }
      types = [...new Set(list as string[])];
    }
    if (has(schema, "nullable")) {
      if (typeof schema.nullable !== "boolean")
        invalid(at(path, "nullable"), `'nullable' at ${path} must be a boolean.`);
      if (schema.nullable && types && !types.includes("null")) types.push("null");
    }
    if (types?.includes("number")) types = types.filter((type) => type !== "integer");
    return types;
  }

  private inferTypes(schema: SchemaObject): string[] {
    const types: string[] = [];
    const uses = (keys: readonly string[]): boolean => keys.some((key) => has(schema, key));
    if (uses(OBJECT_KEYWORDS)) types.push("object");
    if (uses(ARRAY_KEYWORDS)) types.push("array");
    if (uses(STRING_KEYWORDS)) types.push("string");
    if (uses(NUMBER_KEYWORDS)) types.push("number");
    if (types.length > 0 && schema.nullable === true) types.push("null");
    return types;
  }

  private literals(
    schema: SchemaObject,
    keyword: "enum" | "const",
    types: string[] | undefined,
    path: string,
    hint: string,
  ): string {
    const raw = keyword === "enum" ? schema.enum : [schema.const];
    if (!Array.isArray(raw)) invalid(at(path, keyword), `'enum' at ${path} must be an array.`);
    const typeOf = (value: unknown): string[] => {
      if (value === null) return ["null"];
      if (Array.isArray(value)) return ["array"];
      if (typeof value === "number") return Number.isInteger(value) ? ["integer", "number"] : ["number"];
      return [typeof value];
    };
    const values = raw.filter((value) => !types || typeOf(value).some((type) => types.includes(type)));
    const literals = values.map((value) => {
      const text = JSON.stringify(value);
      if (text === undefined)
        invalid(at(path, keyword), `'${keyword}' at ${path} holds a value that is not JSON.`);
      return gbnfLiteral(text);
    });
    if (schema.nullable === true && !values.includes(null)) literals.push(this.null);
    if (literals.length === 0) {
      invalid(
        at(path, keyword),
        `No value of '${keyword}' at ${path} matches its 'type', so nothing is valid.`,
      );
    }
    const unique = [...new Set(literals)];
    return unique.length === 1 ? unique[0]! : this.define(hint, unique.join(" | "));
  }

  private typed(schema: SchemaObject, type: string, path: string, hint: string, ctx: Context): string {
    switch (type) {
      case "null":
        return this.null;
      case "boolean":
        return this.boolean;
      case "integer":
      case "number":
        return this.numeric(schema, type, path, hint);
      case "string":
        return this.string(schema, path, hint);
      case "object":
        return this.object(schema, path, hint, ctx);
      default:
        return this.array(schema, path, hint, ctx);
    }
  }

  private ref(ref: unknown, path: string, ctx: Context): string {
    if (typeof ref !== "string") invalid(path, `'$ref' at ${path} must be a string.`);
    if (!ref.startsWith("#")) {
      unsupported(path, `Only local '$ref's (starting with '#') are supported; got '${ref}' at ${path}.`);
    }
    let pointer: string;
    try {
      pointer = decodeURIComponent(ref.slice(1));
    } catch {
      invalid(path, `'$ref' '${ref}' at ${path} is not a valid JSON pointer.`);
    }
    if (pointer !== "" && !pointer.startsWith("/")) {
      unsupported(
        path,
        `'$ref' '${ref}' at ${path} is not a JSON pointer ('#/...'); anchors are not supported.`,
      );
    }
    if (ctx.pending.has(pointer)) {
      invalid(
        path,
        `'$ref' '${ref}' at ${path} refers back to itself without an object or array in between.`,
      );
    }
    const existing = ctx.doc.refs.get(pointer);
    if (existing) return existing;
    const segments =
      pointer === ""
        ? []
        : pointer
            .slice(1)
            .split("/")
            .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
    let target: unknown = ctx.doc.root;
    for (const segment of segments) {
      const next: unknown = Array.isArray(target)
        ? /^\d+$/.test(segment)
          ? target[Number(segment)]
          : undefined
        : isObject(target) && has(target, segment)
          ? target[segment]
          : undefined;
      if (next === undefined) invalid(path, `'$ref' '${ref}' at ${path} cannot be resolved.`);
      target = next;
    }
    const name = this.uniqueName(`${ctx.doc.hint}-${segments[segments.length - 1] ?? "root"}`);
    ctx.doc.refs.set(pointer, name);
    const targetPath = segments.reduce((p, segment) => at(p, segment), ctx.doc.path);
    const body = this.visit(target, targetPath, name, {
      ...ctx,
      pending: new Set([...ctx.pending, pointer]),
    });
    this.rules.set(name, body);
    return name;
  }

  // -- numbers ---------------------------------------------------------------------------------

  private bounds(schema: SchemaObject, path: string): { lower?: Bound; upper?: Bound } {
    const num = (key: string): number | boolean | undefined => {
      if (!has(schema, key)) return undefined;
      const value = schema[key];
      const draft4 = (key === "exclusiveMinimum" || key === "exclusiveMaximum") && typeof value === "boolean";
      if (!draft4 && (typeof value !== "number" || !Number.isFinite(value))) {
        invalid(at(path, key), `'${key}' at ${path} must be a number.`);
      }
      return value as number | boolean;
    };
    const pick = (
      inclusiveKey: string,
      exclusiveKey: string,
      stricter: (a: number, b: number) => boolean,
    ) => {
      const inclusive = num(inclusiveKey);
      const exclusive = num(exclusiveKey);
      if (typeof exclusive === "boolean") {
        if (inclusive === undefined && exclusive) {
          invalid(at(path, exclusiveKey), `'${exclusiveKey}: true' at ${path} needs '${inclusiveKey}'.`);
        }
        return inclusive === undefined ? undefined : { value: inclusive as number, exclusive };
      }
      if (inclusive === undefined)
        return exclusive === undefined ? undefined : { value: exclusive, exclusive: true };
      if (exclusive === undefined) return { value: inclusive as number, exclusive: false };
      return stricter(exclusive, inclusive as number) || exclusive === inclusive
        ? { value: exclusive, exclusive: true }
        : { value: inclusive as number, exclusive: false };
    };
    const lower = pick("minimum", "exclusiveMinimum", (a, b) => a > b);
    const upper = pick("maximum", "exclusiveMaximum", (a, b) => a < b);
    return { ...(lower ? { lower } : {}), ...(upper ? { upper } : {}) };
  }

  private numeric(schema: SchemaObject, type: "integer" | "number", path: string, hint: string): string {
    let integer = type === "integer";
    if (has(schema, "multipleOf")) {
      const step = schema.multipleOf;
      if (typeof step !== "number" || !(step > 0)) {
        invalid(at(path, "multipleOf"), `'multipleOf' at ${path} must be a positive number.`);
      }
      if (step !== 1) {
        unsupported(
          at(path, "multipleOf"),
          `JSON Schema keyword 'multipleOf' is not supported (at ${path}).`,
        );
      }
      integer = true;
    }
    const { lower, upper } = this.bounds(schema, path);
    if (!lower && !upper) return integer ? this.integer : this.number;
    const boundKey = (bound: Bound, side: "min" | "max"): string =>
      bound.exclusive
        ? side === "min"
          ? "exclusiveMinimum"
          : "exclusiveMaximum"
        : side === "min"
          ? "minimum"
          : "maximum";
    const empty = (): never =>
      invalid(
        path,
        `The bounds at ${path} leave no ${integer ? "integer" : "number"} that can be generated.`,
      );

    if (integer) {
      const lo = lower ? (lower.exclusive ? Math.floor(lower.value) + 1 : Math.ceil(lower.value)) : -Infinity;
      const hi = upper ? (upper.exclusive ? Math.ceil(upper.value) - 1 : Math.floor(upper.value)) : Infinity;
      const clamp = (value: number): bigint =>
        value > Number.MAX_SAFE_INTEGER
          ? MAX_SAFE
          : value < -Number.MAX_SAFE_INTEGER
            ? -MAX_SAFE
            : BigInt(value);
      if (lo > hi || lo > Number.MAX_SAFE_INTEGER || hi < -Number.MAX_SAFE_INTEGER) empty();
      return this.define(`${hint}`, integerRange(clamp(lo), clamp(hi)));
    }

    for (const [bound, side] of [
      [lower, "min"],
      [upper, "max"],
    ] as const) {
      if (bound && !Number.isInteger(bound.value)) {
        unsupported(
          at(path, boundKey(bound, side)),
          `JSON Schema keyword '${boundKey(bound, side)}' on a non-integer number is only supported with an integer value (at ${path}).`,
        );
      }
    }
    return this.define(hint, this.numberRange(lower, upper, empty));
  }

  /** Numbers between integer bounds: no exponent, ≤ 9 integer digits, ≤ 6 fraction digits. */
  private numberRange(lower: Bound | undefined, upper: Bound | undefined, empty: () => never): string {
    const limit = NUMBER_INT_LIMIT;
    const big = (value: number): bigint =>
      value > Number(limit) ? limit + 1n : value < -Number(limit) ? -limit - 1n : BigInt(value);
    let lo = lower
      ? { value: big(lower.value), exclusive: lower.exclusive }
      : { value: -limit, exclusive: false };
    let hi = upper
      ? { value: big(upper.value), exclusive: upper.exclusive }
      : { value: limit, exclusive: false };
    if (lo.value < -limit) lo = { value: -limit, exclusive: false };
    if (hi.value > limit) hi = { value: limit, exclusive: false };
    if (lo.value > limit || hi.value < -limit) empty();
    const fraction = `("." [0-9]{1,6})?`;
    const zeroFraction = `("." "0"{1,6})?`;
    const nonZeroFraction = `"." [0-9]{0,5} [1-9]`;
    /** Magnitudes between a and b (a ≥ 0). */
    const magnitude = (
      a: { value: bigint; exclusive: boolean },
      b: { value: bigint; exclusive: boolean },
    ): string[] => {
      if (a.value > b.value) return [];
      if (a.value === b.value) {
        return a.exclusive || b.exclusive ? [] : [seq(`"${a.value}"`, zeroFraction)];
      }
      const options: string[] = [];
      const anyFrom = a.exclusive ? a.value + 1n : a.value;
      if (anyFrom <= b.value - 1n)
        options.push(seq(paren(nonNegativeRange(anyFrom, b.value - 1n)), fraction));
      if (a.exclusive) options.push(seq(`"${a.value}"`, nonZeroFraction));
      if (!b.exclusive) options.push(seq(`"${b.value}"`, zeroFraction));
      return options;
    };
    const options: string[] = [];
    if (hi.value > 0n || (hi.value === 0n && !hi.exclusive)) {
      const from = lo.value < 0n ? { value: 0n, exclusive: false } : lo;
      options.push(...magnitude(from, hi));
    }
    if (lo.value < 0n) {
      const from =
        hi.value < 0n ? { value: -hi.value, exclusive: hi.exclusive } : { value: 0n, exclusive: true };
      const negative = magnitude(from, { value: -lo.value, exclusive: lo.exclusive });
      if (negative.length > 0) options.push(seq('"-"', paren(negative.join(" | "))));
    }
    if (options.length === 0) empty();
    return options.join(" | ");
  }

  // -- strings ---------------------------------------------------------------------------------

  private count(schema: SchemaObject, key: string, path: string): number | undefined {
    if (!has(schema, key)) return undefined;
    const value = schema[key];
    if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
      invalid(at(path, key), `'${key}' at ${path} must be a non-negative integer.`);
    }
    if (value > MAX_REPEAT) unsupported(at(path, key), `'${key}' at ${path} is larger than ${MAX_REPEAT}.`);
    return value;
  }

  private string(schema: SchemaObject, path: string, hint: string): string {
    const minLength = this.count(schema, "minLength", path) ?? 0;
    const maxLength = this.count(schema, "maxLength", path);
    if (maxLength !== undefined && maxLength < minLength) {
      invalid(at(path, "maxLength"), `'maxLength' at ${path} is below 'minLength'.`);
    }
    const lengthLimited = has(schema, "minLength") || has(schema, "maxLength");
    const fits = ([min, max]: readonly [number, number]): boolean =>
      min >= minLength && (maxLength === undefined || max <= maxLength);

    if (has(schema, "format") && has(schema, "pattern")) {
      unsupported(
        at(path, "pattern"),
        `JSON Schema keyword 'pattern' cannot be combined with 'format' (at ${path}).`,
      );
    }
    if (has(schema, "format")) {
      const format = schema.format;
      if (typeof format !== "string") invalid(at(path, "format"), `'format' at ${path} must be a string.`);
      const lengths = FORMATS[format];
      if (!lengths || !Object.hasOwn(FORMATS, format)) {
        unsupported(
          at(path, "format"),
          `JSON Schema keyword 'format' with value '${format}' is not supported (at ${path}); supported formats: ${Object.keys(FORMATS).join(", ")}.`,
        );
      }
      if (lengthLimited && !fits(lengths)) {
        unsupported(
          at(path, "format"),
          `Format '${format}' (values of ${lengths[0]}–${lengths[1]} characters) cannot be combined with ` +
            `'minLength'/'maxLength' at ${path}.`,
        );
      }
      return this.define(`${format}-string`, seq(QUOTE, this.format(format), QUOTE));
    }
    if (has(schema, "pattern")) {
      const pattern = schema.pattern;
      if (typeof pattern !== "string") invalid(at(path, "pattern"), `'pattern' at ${path} must be a string.`);
      let node: RegexNode;
      try {
        node = new RegexParser(pattern).parse();
      } catch (error) {
        if (!(error instanceof RegexError)) throw error;
        unsupported(at(path, "pattern"), `Unsupported 'pattern' at ${path}: ${error.message}.`);
      }
      if (lengthLimited && !fits(regexLength(node))) {
        const narrowed = narrowPattern(node, minLength, maxLength);
        if (!narrowed || !fits(regexLength(narrowed))) {
          unsupported(
            at(path, "pattern"),
            `'pattern' at ${path} cannot be combined with 'minLength'/'maxLength' (only when the pattern's ` +
              `lengths fit, or it has a single variable-length repeat of one character class).`,
          );
        }
        node = narrowed;
      }
      let body: string;
      try {
        body = this.regex(node, hint);
      } catch (error) {
        if (!(error instanceof RegexError)) throw error;
        unsupported(at(path, "pattern"), `Unsupported 'pattern' at ${path}: ${error.message}.`);
      }
      return this.define(hint, seq(QUOTE, body, QUOTE));
    }
    return this.stringOfLength(minLength, maxLength);
  }

  /** A set of characters as JSON string content. */
  private jsonChars(ranges: readonly Range[]): string {
    const options: string[] = [];
    const raw = subtract(ranges, [
      [0, 0x1f],
      [0x22, 0x22],
      [0x5c, 0x5c],
      [0xd800, 0xdfff],
    ]);
    if (raw.length > 0) options.push(classExpr(raw));
    for (let cp = 0; cp < 0x20; cp += 1) {
      if (contains(ranges, cp)) options.push(gbnfLiteral(jsonEscaped(String.fromCodePoint(cp))));
    }
    if (contains(ranges, 0x22)) options.push(gbnfLiteral('\\"'));
    if (contains(ranges, 0x5c)) options.push(gbnfLiteral("\\\\"));
    if (options.length === 0) throw new RegexError("a character class matches no character");
    return options.length === 1 ? options[0]! : `(${options.join(" | ")})`;
  }

  private regex(node: RegexNode, hint: string): string {
    switch (node.kind) {
      case "set":
        return this.jsonChars(node.ranges);
      case "seq": {
        const parts: string[] = [];
        let text = "";
        const flush = (): void => {
          if (text !== "") parts.push(gbnfLiteral(jsonEscaped(text)));
          text = "";
        };
        for (const item of node.items) {
          const only = item.kind === "set" && item.ranges.length === 1 ? item.ranges[0]! : undefined;
          if (only && only[0] === only[1] && !(only[0] >= 0xd800 && only[0] <= 0xdfff)) {
            text += String.fromCodePoint(only[0]);
            continue;
          }
          flush();
          parts.push(this.regex(item, hint));
        }
        flush();
        return seq(...parts.map((part) => (part.includes(" | ") && !ATOMIC.test(part) ? paren(part) : part)));
      }
      case "alt":
        return alternatives(node.options.map((option) => this.regex(option, hint)));
      case "rep": {
        const inner = this.regex(node.node, hint);
        if (inner === "") return "";
        if (regexLength(node.node)[0] === 0 && (node.max === undefined || node.max > 1)) {
          throw new RegexError("a repeated group that can match the empty string is not supported");
        }
        const item = ATOMIC.test(inner) ? inner : this.define(`${hint}-part`, inner);
        return this.rep(item, node.min, node.max, hint);
      }
    }
  }

  // -- objects ---------------------------------------------------------------------------------

  /**
   * Comma-separated members. "object": each optional slot may be left out on its own; "array": a
   * missing slot ends the list. `repeat` follows the slots.
   */
  private commaList(
    slots: Slot[],
    repeat: Repeat | undefined,
    mode: "object" | "array",
    hint: string,
  ): string {
    const comma = this.comma;
    const repeated = repeat ? this.define(`${hint}-next`, seq(comma, repeat.item)) : "";
    const repeatTail = repeat ? this.rep(paren(repeated), repeat.min, repeat.max, hint) : "";
    let repeatHead = "";
    if (repeat && repeat.max !== 0) {
      const rest = this.rep(
        paren(repeated),
        Math.max(0, repeat.min - 1),
        repeat.max === undefined ? undefined : repeat.max - 1,
        hint,
      );
      repeatHead = repeat.min >= 1 ? seq(repeat.item, rest) : optional(seq(repeat.item, rest));
    }
    const n = slots.length;
    if (mode === "array") {
      let tail = repeatTail;
      for (let i = n - 1; i >= 1; i -= 1) {
        const piece = seq(comma, slots[i]!.expr, tail);
        tail = slots[i]!.required ? piece : optional(piece);
      }
      if (n === 0) return repeatHead;
      const head = seq(slots[0]!.expr, tail);
      return slots[0]!.required ? head : optional(head);
    }
    const firstRequired = slots.findIndex((slot) => slot.required);
    const lastHead = firstRequired < 0 ? n - 1 : firstRequired;
    const multiple = lastHead > 0 || firstRequired < 0;
    const tails: string[] = new Array<string>(n + 1).fill("");
    tails[n] = repeatTail;
    for (let i = n - 1; i >= 1; i -= 1) {
      const piece = seq(comma, slots[i]!.expr);
      tails[i] = seq(slots[i]!.required ? piece : optional(piece), tails[i + 1]!);
      if (multiple && i <= lastHead + 1 && tails[i] !== "" && i < n)
        tails[i] = this.define(`${hint}-rest`, tails[i]!);
    }
    const options: string[] = [];
    for (let k = 0; k <= lastHead && k < n; k += 1) options.push(seq(slots[k]!.expr, tails[k + 1]!));
    if (firstRequired < 0) options.push(repeatHead);
    return alternatives(options);
  }

  private object(schema: SchemaObject, path: string, hint: string, ctx: Context): string {
    const propertiesValue = has(schema, "properties") ? schema.properties : {};
    if (!isObject(propertiesValue))
      invalid(at(path, "properties"), `'properties' at ${path} must be an object.`);
    const required = has(schema, "required") ? schema.required : [];
    if (!Array.isArray(required) || required.some((name) => typeof name !== "string")) {
      invalid(at(path, "required"), `'required' at ${path} must be an array of strings.`);
    }
    const requiredSet = new Set(required as string[]);
    for (const name of requiredSet) {
      if (!has(propertiesValue, name)) {
        invalid(at(path, "required"), `'required' at ${path} lists '${name}', which is not in 'properties'.`);
      }
    }
    const additional = has(schema, "additionalProperties") ? schema.additionalProperties : true;
    if (typeof additional !== "boolean" && !isObject(additional)) {
      invalid(
        at(path, "additionalProperties"),
        `'additionalProperties' at ${path} must be a boolean or a schema.`,
      );
    }
    const minProperties = this.count(schema, "minProperties", path) ?? 0;
    const maxProperties = this.count(schema, "maxProperties", path);

    const childContext: Context = { ...ctx, pending: new Set() };
    const slots: Slot[] = [];
    const names = Object.keys(propertiesValue);
    for (const name of names) {
      const propertySchema = propertiesValue[name];
      const propertyPath = at(at(path, "properties"), name);
      if (propertySchema === false) {
        if (requiredSet.has(name)) {
          invalid(propertyPath, `Property '${name}' at ${path} is required but its schema is 'false'.`);
        }
        continue;
      }
      const value = this.visit(propertySchema, propertyPath, `${hint}-${name}`, childContext);
      slots.push({
        expr: seq(gbnfLiteral(JSON.stringify(name)), this.colon, value),
        required: requiredSet.has(name),
      });
    }

    const isFreeForm =
      !has(schema, "properties") &&
      (additional === true || (isObject(additional) && Object.keys(additional).length === 0));
    let repeat: Repeat | undefined;
    if (isFreeForm && !has(schema, "minProperties") && !has(schema, "maxProperties")) {
      return this.freeObject(this.freeFormDepth);
    }
    const extras = isFreeForm ? true : isObject(additional) ? additional : undefined;
    const declared = slots.length;
    if (extras !== undefined) {
      const value = this.visit(extras, at(path, "additionalProperties"), `${hint}-extra`, childContext);
      const key = this.extraKey(names, hint);
      const item = this.define(`${hint}-extra-member`, seq(key, this.colon, value));
      const allRequired = slots.every((slot) => slot.required);
      if (minProperties > requiredSet.size && !allRequired) {
        unsupported(
          at(path, "minProperties"),
          `'minProperties' at ${path} is only supported when it is implied by 'required' or all declared properties are required.`,
        );
      }
      if (maxProperties !== undefined && maxProperties < declared) {
        unsupported(
          at(path, "maxProperties"),
          `'maxProperties' at ${path} is only supported when it allows every declared property.`,
        );
      }
      repeat = {
        item,
        min: Math.max(0, minProperties - declared),
        max: maxProperties === undefined ? undefined : maxProperties - declared,
      };
    } else {
      if (minProperties > requiredSet.size) {
        unsupported(
          at(path, "minProperties"),
          `'minProperties' at ${path} is only supported when it is implied by 'required'.`,
        );
      }
      if (maxProperties !== undefined && maxProperties < declared) {
        unsupported(
          at(path, "maxProperties"),
          `'maxProperties' at ${path} is only supported when it allows every declared property.`,
        );
      }
    }
    const members = this.commaList(slots, repeat, "object", hint);
    return this.define(hint, seq(this.open("{"), members, this.close("}")));
  }

  /** A quoted property name of 1–64 plain characters that is none of `names`. */
  private extraKey(names: readonly string[], hint: string): string {
    interface Node {
      children: Map<number, Node>;
      terminal: boolean;
    }
    const root: Node = { children: new Map(), terminal: false };
    for (const name of names) {
      let node = root;
      for (const ch of name) {
        const cp = ch.codePointAt(0)!;
        let child = node.children.get(cp);
        if (!child) {
          child = { children: new Map(), terminal: false };
          node.children.set(cp, child);
        }
        node = child;
      }
      node.terminal = true;
    }
    const plain: Range[] = subtract(UNIVERSE, [
      [0x22, 0x22],
      [0x5c, 0x5c],
    ]);
    const keyChar = this.primitive("key-char", () => classExpr(plain));
    const visit = (node: Node, depth: number): string => {
      const options: string[] = [];
      if (depth < EXTRA_KEY_MAX_LENGTH) {
        for (const [cp, child] of node.children) {
          if (cp < 0x20 || cp === 0x22 || cp === 0x5c || (cp >= 0xd800 && cp <= 0xdfff)) continue;
          options.push(seq(gbnfLiteral(String.fromCodePoint(cp)), paren(visit(child, depth + 1) || '""')));
        }
        const others = subtract(
          plain,
          [...node.children.keys()].map((cp) => [cp, cp] as const),
        );
        if (others.length > 0) {
          options.push(seq(classExpr(others), this.rep(keyChar, 0, EXTRA_KEY_MAX_LENGTH - depth - 1, "key")));
        }
      }
      if (depth > 0 && !node.terminal) options.push("");
      return alternatives(options);
    };
    return this.define(`${hint}-key`, seq(QUOTE, visit(root, 0), QUOTE));
  }

  // -- arrays ----------------------------------------------------------------------------------

  private array(schema: SchemaObject, path: string, hint: string, ctx: Context): string {
    const prefix = has(schema, "prefixItems") ? schema.prefixItems : [];
    if (!Array.isArray(prefix))
      invalid(at(path, "prefixItems"), `'prefixItems' at ${path} must be an array.`);
    const items = has(schema, "items") ? schema.items : true;
    if (Array.isArray(items)) {
      unsupported(
        at(path, "items"),
        `The array form of 'items' is not supported (at ${path}); use 'prefixItems'.`,
      );
    }
    const minItems = this.count(schema, "minItems", path) ?? 0;
    const maxItems = this.count(schema, "maxItems", path);
    if (maxItems !== undefined && maxItems < minItems) {
      invalid(at(path, "maxItems"), `'maxItems' at ${path} is below 'minItems'.`);
    }
    if (has(schema, "uniqueItems")) {
      if (typeof schema.uniqueItems !== "boolean") {
        invalid(at(path, "uniqueItems"), `'uniqueItems' at ${path} must be a boolean.`);
      }
      if (schema.uniqueItems && (maxItems === undefined || maxItems > 1)) {
        unsupported(
          at(path, "uniqueItems"),
          `JSON Schema keyword 'uniqueItems' is not supported (at ${path}).`,
        );
      }
    }
    const childContext: Context = { ...ctx, pending: new Set() };
    let limit = maxItems === undefined ? prefix.length : Math.min(prefix.length, maxItems);
    const falseAt = prefix.findIndex((item) => item === false);
    if (falseAt >= 0 && falseAt < limit) limit = falseAt;
    const slots: Slot[] = [];
    for (let i = 0; i < limit; i += 1) {
      const expr = this.visit(prefix[i], at(at(path, "prefixItems"), i), `${hint}-${i}`, childContext);
      slots.push({ expr, required: i < minItems });
    }
    let repeat: Repeat | undefined;
    const restAllowed = limit === prefix.length && items !== false;
    const restMax = maxItems === undefined ? undefined : maxItems - prefix.length;
    if (restAllowed && restMax !== 0) {
      const item = this.visit(items, at(path, "items"), `${hint}-item`, childContext);
      repeat = { item, min: Math.max(0, minItems - prefix.length), max: restMax };
    } else if (minItems > limit) {
      invalid(at(path, "minItems"), `'minItems' at ${path} asks for more items than the schema allows.`);
    }
    const members = this.commaList(slots, repeat, "array", hint);
    return this.define(hint, seq(this.open("["), members, this.close("]")));
  }
}

// ---------------------------------------------------------------------------------------------
// Entry points

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

const SUBSCHEMA_MAPS = ["properties", "$defs", "definitions", "patternProperties", "dependentSchemas"];
const SUBSCHEMA_LISTS = ["prefixItems", "anyOf", "oneOf", "allOf"];
const SUBSCHEMAS = [
  "items",
  "additionalProperties",
  "not",
  "if",
  "then",
  "else",
  "contains",
  "propertyNames",
  "unevaluatedItems",
  "unevaluatedProperties",
  "additionalItems",
];

/**
 * DeepSeek's strict-mode rules for tool parameters (`strict: true`): on every object schema, every
 * property must be listed in `required` and `additionalProperties` must be `false`. Throws
 * InvalidParameterError `invalid_schema` with `param` under `path`. Other keywords are left to the
 * converter (which goes beyond DeepSeek, e.g. allowing minLength/maxItems).
 */
export function validateStrictToolSchema(schema: unknown, path: string): void {
  const walk = (node: unknown, nodePath: string, depth: number): void => {
    if (Array.isArray(node)) {
      node.forEach((item, index) => walk(item, at(nodePath, index), depth + 1));
      return;
    }
    if (!isObject(node)) return;
    if (depth > MAX_SCHEMA_DEPTH)
      invalid(nodePath, `The schema nests deeper than ${MAX_SCHEMA_DEPTH} levels.`);
    const type = node.type;
    const isObjectSchema =
      type === "object" ||
      (Array.isArray(type) && type.includes("object")) ||
      (type === undefined && (has(node, "properties") || has(node, "additionalProperties")));
    if (isObjectSchema) {
      const properties = isObject(node.properties) ? Object.keys(node.properties) : [];
      const required = Array.isArray(node.required) ? node.required : [];
      for (const name of properties) {
        if (!required.includes(name)) {
          invalid(
            at(nodePath, "required"),
            `Strict mode requires every property to be in 'required'; '${name}' is missing (at ${nodePath}).`,
          );
        }
      }
      if (node.additionalProperties !== false) {
        invalid(
          at(nodePath, "additionalProperties"),
          `Strict mode requires 'additionalProperties': false on every object (at ${nodePath}).`,
        );
      }
    }
    for (const key of SUBSCHEMA_MAPS) {
      const map = node[key];
      if (isObject(map))
        for (const [name, sub] of Object.entries(map)) walk(sub, at(at(nodePath, key), name), depth + 1);
    }
    for (const key of SUBSCHEMA_LISTS) {
      const list = node[key];
      if (Array.isArray(list))
        list.forEach((sub, index) => walk(sub, at(at(nodePath, key), index), depth + 1));
    }
    for (const key of SUBSCHEMAS) if (has(node, key)) walk(node[key], at(nodePath, key), depth + 1);
  };
  walk(schema, path, 0);
}

/**
 * Tracks generated bytes so a sampler can keep them well-formed UTF-8. llama.cpp's grammar decoder
 * accepts malformed UTF-8 (overlong forms, F8–FF lead bytes, which it folds onto valid code points),
 * and such bytes decode to U+FFFD, which breaks maxLength counts and patterns. Grammars built here
 * never allow surrogates or code points above U+10FFFF; to close the rest, ban at each step the
 * tokens whose bytes `accepts()` refuses (trained models practically never produce them; random
 * weights do).
 */
export class Utf8Validator {
  /** Continuation bytes still expected. */
  private need = 0;
  /** Range of the next continuation byte. */
  private low = 0x80;
  private high = 0xbf;

  /** Whether the bytes so far end in the middle of a character. */
  get pending(): boolean {
    return this.need > 0;
  }

  /** Whether appending `bytes` keeps the text well-formed (it may end mid-character). */
  accepts(bytes: ArrayLike<number>): boolean {
    const state = { need: this.need, low: this.low, high: this.high };
    for (let i = 0; i < bytes.length; i += 1) if (!Utf8Validator.step(state, bytes[i]!)) return false;
    return true;
  }

  /** Appends generated bytes; after a malformed byte it resynchronises. */
  push(bytes: ArrayLike<number>): void {
    const state = { need: this.need, low: this.low, high: this.high };
    for (let i = 0; i < bytes.length; i += 1) {
      if (!Utf8Validator.step(state, bytes[i]!)) Object.assign(state, { need: 0, low: 0x80, high: 0xbf });
    }
    Object.assign(this, state);
  }

  private static step(state: { need: number; low: number; high: number }, byte: number): boolean {
    if (state.need > 0) {
      if (byte < state.low || byte > state.high) return false;
      state.need -= 1;
      state.low = 0x80;
      state.high = 0xbf;
      return true;
    }
    if (byte < 0x80) return true;
    const start = (need: number, low = 0x80, high = 0xbf): boolean => {
      Object.assign(state, { need, low, high });
      return true;
    };
    if (byte >= 0xc2 && byte <= 0xdf) return start(1);
    if (byte === 0xe0) return start(2, 0xa0);
    if (byte === 0xed) return start(2, 0x80, 0x9f);
    if (byte >= 0xe1 && byte <= 0xef) return start(2);
    if (byte === 0xf0) return start(3, 0x90);
    if (byte >= 0xf1 && byte <= 0xf3) return start(3);
    if (byte === 0xf4) return start(3, 0x80, 0x8f);
    return false;
  }
}
