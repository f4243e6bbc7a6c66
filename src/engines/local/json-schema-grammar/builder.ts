/**
 * GbnfBuilder: converts JSON schemas into GBNF rules, checking each keyword as it goes (see the
 * overview in ../json-schema-grammar.ts for what is supported and how errors are reported).
 */

import { extraKey } from "./extra-key.js";
import { FORMATS, formatGrammar } from "./formats.js";
import { hoistHeavyGroups } from "./gbnf-hoist.js";
import { QUOTE, alternatives, gbnfLiteral, optional, paren, seq } from "./gbnf-syntax.js";
import { integerRange, numberRange, numericBounds } from "./numeric-range.js";
import type { Bound } from "./numeric-range.js";
import { RegexError, RegexParser, narrowPattern, patternToGbnf, regexLength } from "./pattern.js";
import type { RegexNode } from "./pattern.js";
import { AnalysisBudget, assessPattern } from "./pattern-cost.js";
import type { PatternVerdict } from "./pattern-cost.js";
import { simplifyRegex } from "./pattern-simplify.js";
import { GbnfRuleSet } from "./rule-set.js";
import {
  ANNOTATIONS,
  ARRAY_KEYWORDS,
  LIMITS,
  MAX_REPEAT,
  MAX_SCHEMA_DEPTH,
  NUMBER_KEYWORDS,
  OBJECT_KEYWORDS,
  STRING_KEYWORDS,
  SUPPORTED,
  TYPES,
  at,
  has,
  invalid,
  isObject,
  tooCostly,
  unsupported,
} from "./schema.js";
import type { SchemaObject } from "./schema.js";

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
/** Parse stacks a string format's grammar keeps pending at most (its alternatives share few prefixes). */
const FORMAT_STACKS = 8;

/** Alternatives in a rule body, nested ones included: an upper bound on its pending stacks. */
function alternativeCount(body: string): number {
  return body.split(" | ").length;
}

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

/** Builds one grammar out of any number of schemas and raw rules; see ../json-schema-grammar.ts. */
export class GbnfBuilder extends GbnfRuleSet {
  /** Subschemas converted so far (LIMITS.schemaNodes). */
  private nodes = 0;
  /** What is left of the pattern analysis steps all schemas of this grammar may use. */
  private readonly patternBudget = new AnalysisBudget();
  /** Verdicts by pattern tree, so that a pattern used many times is measured once. */
  private readonly patternCosts = new Map<string, PatternVerdict>();
  /** Rule name or expression → parse stacks it may keep pending at once (absent: 1). */
  private readonly stacks = new Map<string, number>();

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
    const all = new Map([["root", rootBody], ...this.rules]);
    hoistHeavyGroups(all, (hint, body) => {
      const name = this.uniqueName(hint);
      this.rules.set(name, body);
      all.set(name, body);
      return name;
    });
    const lines = [...all].map(([name, body]) => `${name} ::= ${body}`);
    const grammar = `${lines.join("\n")}\n`;
    this.checkGrammarSize(grammar.length);
    return grammar;
  }

  /** Characters of the rules so far (less the `root` line): checked as schemas are converted. */
  private grammarSize(): number {
    let size = 0;
    for (const [name, body] of this.rules) size += name.length + body.length + 6;
    return size;
  }

  private checkGrammarSize(size: number): void {
    if (size > LIMITS.grammarChars) {
      tooCostly(
        null,
        `The JSON schemas produce a grammar of ${size} characters or more, more than the ${LIMITS.grammarChars} allowed; send smaller schemas.`,
      );
    }
  }

  // -- schemas ---------------------------------------------------------------------------------

  /** An atomic expression matching one JSON value of `schema`. */
  private visit(schema: unknown, path: string, hint: string, ctx: Context): string {
    this.nodes += 1;
    if (this.nodes > LIMITS.schemaNodes) {
      tooCostly(
        path,
        `The schemas have more than ${LIMITS.schemaNodes} subschemas (at ${path}); send smaller schemas.`,
      );
    }
    if (this.nodes % 256 === 0) this.checkGrammarSize(this.grammarSize());
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
      if (options.length > LIMITS.alternatives) {
        tooCostly(
          at(path, keyword),
          `'${keyword}' at ${path} has ${options.length} options, more than the ${LIMITS.alternatives} allowed.`,
        );
      }
      const exprs = options.flatMap((option, index) =>
        option === false ? [] : [this.visit(option, at(at(path, keyword), index), `${hint}-${index}`, inner)],
      );
      if (exprs.length === 0)
        invalid(at(path, keyword), `No alternative of '${keyword}' at ${path} can be satisfied.`);
      const unique = [...new Set(exprs)];
      return this.pending(this.define(hint, unique.join(" | ")), this.sumStacks(unique), path);
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
    if (exprs.length === 1) return paren(exprs[0]!);
    return this.pending(this.define(hint, exprs.join(" | ")), this.sumStacks(exprs), path);
  }

  /** Parse stacks `expr` may keep pending at once (1 unless recorded). */
  private stacksOf(expr: string): number {
    return this.stacks.get(expr) ?? 1;
  }

  private sumStacks(exprs: readonly string[]): number {
    return exprs.reduce((sum, expr) => sum + this.stacksOf(expr), 0);
  }

  /**
   * Records that `expr` (the grammar of the subschema at `path`) may keep `count` parse stacks
   * pending at once, refusing it past LIMITS.schemaStacks; returns `expr`.
   */
  private pending(expr: string, count: number, path: string): string {
    this.checkPending(count, path);
    if (count > this.stacksOf(expr)) this.stacks.set(expr, count);
    return expr;
  }

  private checkPending(count: number, path: string): void {
    if (count > LIMITS.schemaStacks) {
      tooCostly(
        path,
        `The schema at ${path} keeps about ${count} alternatives open at once (enum values, anyOf/oneOf options, ` +
          `optional properties in a row, nested unions), more than the ${LIMITS.schemaStacks} that constrained ` +
          "generation follows quickly; make more properties required, shorten the enum, or flatten the unions.",
      );
    }
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
    if (raw.length > LIMITS.enumValues) {
      tooCostly(
        at(path, keyword),
        `'enum' at ${path} has ${raw.length} values, more than the ${LIMITS.enumValues} allowed.`,
      );
    }
    const values = raw.filter((value) => !types || typeOf(value).some((type) => types.includes(type)));
    const literals = values.map((value) => {
      let text: string | undefined;
      try {
        text = JSON.stringify(value);
      } catch (error) {
        if (!(error instanceof RangeError)) throw error;
        invalid(at(path, keyword), `'${keyword}' at ${path} holds a value nested too deeply.`);
      }
      if (text === undefined)
        invalid(at(path, keyword), `'${keyword}' at ${path} holds a value that is not JSON.`);
      if (text.length > LIMITS.grammarChars) {
        tooCostly(at(path, keyword), `'${keyword}' at ${path} holds a value too large for a grammar.`);
      }
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
    if (unique.length === 1) return unique[0]!;
    return this.pending(this.define(hint, unique.join(" | ")), unique.length, path);
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
    const { lower, upper } = numericBounds(schema, path);
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
      const body = integerRange(clamp(lo), clamp(hi));
      return this.pending(this.define(`${hint}`, body), alternativeCount(body), path);
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
    const body = numberRange(lower, upper, empty);
    return this.pending(this.define(hint, body), alternativeCount(body), path);
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
      const rule = this.define(
        `${format}-string`,
        seq(
          QUOTE,
          formatGrammar(format, (key, body) => this.primitive(key, body)),
          QUOTE,
        ),
      );
      return this.pending(rule, FORMAT_STACKS, path);
    }
    if (has(schema, "pattern")) {
      const pattern = schema.pattern;
      if (typeof pattern !== "string") invalid(at(path, "pattern"), `'pattern' at ${path} must be a string.`);
      if (pattern.length > LIMITS.patternLength && [...pattern].length > LIMITS.patternLength) {
        tooCostly(
          at(path, "pattern"),
          `'pattern' at ${path} is longer than ${LIMITS.patternLength} characters.`,
        );
      }
      let node: RegexNode;
      try {
        node = simplifyRegex(new RegexParser(pattern).parse());
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
        body = patternToGbnf(node, hint, {
          define: (ruleHint, ruleBody) => this.define(ruleHint, ruleBody),
          rep: (item, min, max, repHint) => this.rep(item, min, max, repHint),
        });
      } catch (error) {
        if (!(error instanceof RegexError)) throw error;
        unsupported(at(path, "pattern"), `Unsupported 'pattern' at ${path}: ${error.message}.`);
      }
      const key = JSON.stringify(node);
      const cost = this.patternCosts.get(key) ?? assessPattern(node, LIMITS.pattern, this.patternBudget);
      this.patternCosts.set(key, cost);
      if (!cost.ok) {
        tooCostly(
          at(path, "pattern"),
          `'pattern' at ${path} is too costly for constrained generation: ${cost.problem}. Make its repeats ` +
            `unambiguous (for example '[a-z]+( [a-z]+){0,4}' rather than '([a-z]+ ?){1,5}'), or check the ` +
            "value after generation instead.",
        );
      }
      return this.pending(this.define(hint, seq(QUOTE, body, QUOTE)), cost.stacks, path);
    }
    return this.stringOfLength(minLength, maxLength);
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
        // Every 32 items the rest becomes a rule, so groups never nest deeply (parsers recurse).
        if ((n - i) % 32 === 0) tail = this.define(`${hint}-tail`, tail);
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
    if (maxProperties !== undefined && maxProperties < minProperties) {
      invalid(at(path, "maxProperties"), `'maxProperties' at ${path} is below 'minProperties'.`);
    }

    const childContext: Context = { ...ctx, pending: new Set() };
    const slots: Slot[] = [];
    const names = Object.keys(propertiesValue);
    if (names.length > LIMITS.properties) {
      tooCostly(
        at(path, "properties"),
        `The object at ${path} declares ${names.length} properties, more than the ${LIMITS.properties} allowed.`,
      );
    }
    // After a member, every optional property up to the next required one may come next: refuse a
    // long run of them before converting any.
    let run = 0;
    let longestRun = 0;
    for (const name of names) {
      if (propertiesValue[name] === false) continue;
      run = requiredSet.has(name) ? 0 : run + 1;
      longestRun = Math.max(longestRun, run);
    }
    this.checkPending(longestRun + 1, path);
    const values: string[] = [];
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
      values.push(value);
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
      values.push(value);
      const key = extraKey(names, hint, {
        primitive: (primitiveKey, body) => this.primitive(primitiveKey, body),
        rep: (item, min, max, repHint) => this.rep(item, min, max, repHint),
        define: (ruleHint, ruleBody) => this.define(ruleHint, ruleBody),
      });
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
    const next = longestRun + 1 + (repeat ? 1 : 0);
    const rule = this.define(hint, seq(this.open("{"), members, this.close("}")));
    return this.pending(rule, Math.max(next, ...values.map((value) => this.stacksOf(value))), path);
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
    const elements = [...slots.map((slot) => slot.expr), ...(repeat ? [repeat.item] : [])];
    const rule = this.define(hint, seq(this.open("["), members, this.close("]")));
    return this.pending(rule, Math.max(1, ...elements.map((element) => this.stacksOf(element))), path);
  }
}
