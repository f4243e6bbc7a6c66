/**
 * Property-based fuzzing of the JSON Schema → GBNF compiler. The property, for any schema: it
 * compiles to a grammar within the size limit, or is refused with an InvalidParameterError
 * (`unsupported_schema` / `invalid_schema`, a 422) whose param is in the schema's place; nothing
 * else is thrown; within TIME_BOUND_MS.
 *
 * Inputs: structured schemas (objects, arrays, strings with pattern/format/lengths, numbers with
 * bounds, enum/const, anyOf/oneOf/allOf, $ref into $defs and back to the root, misplaced and
 * unknown keywords, odd numbers), arbitrary JSON values as schemas, whole requests through
 * planGrammars (tools and response_format), and random regular expressions, whose rewrite into
 * cheap equivalents (pattern-simplify.ts) is checked against JavaScript's RegExp on random text.
 * A sample of the grammars is handed to llama.cpp, which must accept every one.
 *
 * The standing run is a few thousand cases. To run more by hand:
 *   QIUSUO_FUZZ_RUNS=20000 node --import tsx --test test/unit/fuzz-grammar.test.ts
 * sets the runs of every property; QIUSUO_FUZZ_SEED replays the seed a failure printed.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { getLlama } from "node-llama-cpp";
import type { Llama } from "node-llama-cpp";
import type { ChatRequest } from "../../src/core/chat.js";
import { InvalidParameterError } from "../../src/core/errors.js";
import { planGrammars } from "../../src/engines/local/grammars.js";
import { jsonSchemaToGbnf } from "../../src/engines/local/json-schema-grammar.js";
import { RegexError, RegexParser } from "../../src/engines/local/json-schema-grammar/pattern.js";
import type { RegexNode } from "../../src/engines/local/json-schema-grammar/pattern.js";
import { simplifyRegex } from "../../src/engines/local/json-schema-grammar/pattern-simplify.js";
import { LIMITS } from "../../src/engines/local/json-schema-grammar/schema.js";

const TIME_BOUND_MS = 2000;
const RUNS_OVERRIDE = process.env.QIUSUO_FUZZ_RUNS ? Number(process.env.QIUSUO_FUZZ_RUNS) : undefined;
const SEED = process.env.QIUSUO_FUZZ_SEED ? Number(process.env.QIUSUO_FUZZ_SEED) : undefined;
const PATH = "response_format.json_schema.schema";

/** fast-check's options for a property run `standing` times unless QIUSUO_FUZZ_RUNS says otherwise. */
const runs = (standing: number) => ({
  numRuns: RUNS_OVERRIDE ?? standing,
  ...(SEED === undefined ? {} : { seed: SEED }),
});

type Outcome = { grammar: string } | { refused: string };

/** Compiles `schema` as a request body would carry it and checks the property. */
function check(schema: unknown, compile = (value: unknown) => jsonSchemaToGbnf(value, PATH)): Outcome {
  const body: unknown = JSON.parse(JSON.stringify(schema) ?? "null");
  const started = performance.now();
  let outcome: Outcome;
  try {
    const grammar = compile(body);
    assert.ok(grammar.startsWith("root ::= "), grammar.slice(0, 100));
    assert.ok(grammar.length <= LIMITS.grammarChars, `${grammar.length} characters`);
    outcome = { grammar };
  } catch (error) {
    if (error instanceof assert.AssertionError) throw error;
    assert.ok(error instanceof InvalidParameterError, `not a typed error: ${String(error)}`);
    assert.ok(
      ["unsupported_schema", "invalid_schema", "unsupported_value", "invalid_value"].includes(error.code),
      error.code,
    );
    assert.ok(error.message.length > 0 && error.message.length < 2000, error.message);
    outcome = { refused: error.code };
  }
  const elapsed = performance.now() - started;
  assert.ok(elapsed < TIME_BOUND_MS, `took ${Math.round(elapsed)} ms`);
  return outcome;
}

/** Like check(), and a refusal's param must be within the schema (or null: the whole grammar). */
function checkAt(schema: unknown): Outcome {
  try {
    jsonSchemaToGbnf(JSON.parse(JSON.stringify(schema) ?? "null"), PATH);
  } catch (error) {
    if (error instanceof InvalidParameterError && error.param !== null) {
      assert.ok(error.param === PATH || error.param.startsWith(`${PATH}.`), error.param);
    }
  }
  return check(schema);
}

// ---- Values -------------------------------------------------------------------------------------

const oddNumber = fc.oneof(
  fc.integer({ min: -1000, max: 1000 }),
  fc.double({ noNaN: true }),
  fc.constantFrom(0, -0, 1, -1, 0.5, 1e-7, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 1e308, -1e308, 999999999),
);
const count = fc.oneof(
  fc.nat(12),
  fc.constantFrom(0, 1, 64, 999, 1000, 1001, 2000, 4200, 999999, 1_000_000, 1_000_001, -1, 1.5, 1e20),
);
const FORMAT_NAMES = ["date", "time", "date-time", "uuid", "email", "ipv4", "ipv6", "hostname", "uri", ""];
const REALISTIC_PATTERNS = [
  "^[A-Z]{3}-\\d{2,4}$",
  "^[a-z0-9]+(-[a-z0-9]+)*$",
  "^\\+?[0-9 ]{7,12}$",
  "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$",
  "^(\\d{1,3}\\.){3}\\d{1,3}$",
  "^.{2,4}$",
  "(cat|dog)s?",
  "(a|b|c|d)?".repeat(50),
  "[a-z]?[0-9]?".repeat(20),
  "^([A-Za-z]+ ?){1,5}$",
  "^(?=a)a$",
];

/** Pieces random patterns are made of: the supported syntax, the refused, and the broken. */
const REGEX_PIECES = [
  "a",
  "b",
  "c",
  "-",
  " ",
  "x",
  "é",
  "😀",
  '"',
  "\\\\",
  ".",
  "\\d",
  "\\w",
  "\\s",
  "\\D",
  "\\W",
  "\\S",
  "[a-c]",
  "[^a]",
  "[\\d-]",
  "[]",
  "[",
  "]",
  "(",
  ")",
  "(?:",
  "(?<n>",
  "(?=",
  "|",
  "?",
  "*",
  "+",
  "{2}",
  "{0,3}",
  "{1,}",
  "{3,1}",
  "{1000000}",
  "{",
  "}",
  "^",
  "$",
  "\\b",
  "\\1",
  "\\p{L}",
  "\\u0041",
  "\\x42",
  "\\u{1F600}",
  "\\",
  "\\t",
  "\\n",
];
const randomPattern = fc
  .array(fc.constantFrom(...REGEX_PIECES), { maxLength: 24 })
  .map((pieces) => pieces.join(""));
const pattern = fc.oneof(fc.constantFrom(...REALISTIC_PATTERNS), randomPattern, fc.string({ maxLength: 12 }));

const KEYWORDS = [
  "type",
  "enum",
  "const",
  "anyOf",
  "oneOf",
  "allOf",
  "$ref",
  "nullable",
  "properties",
  "required",
  "additionalProperties",
  "minProperties",
  "maxProperties",
  "items",
  "prefixItems",
  "minItems",
  "maxItems",
  "uniqueItems",
  "minLength",
  "maxLength",
  "pattern",
  "format",
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "exclusiveMaximum",
  "multipleOf",
  "not",
  "if",
  "patternProperties",
  "$defs",
  "title",
  "__proto__",
  "constructor",
];
const TYPES = ["string", "number", "integer", "boolean", "null", "object", "array", "float"];
const REFS = [
  "#",
  "#/$defs/a",
  "#/$defs/b",
  "#/definitions/c",
  "#/properties/p0",
  "#/$defs/missing",
  "#/$defs/a~1b",
  "#a",
  "https://x/y",
  "#/%zz",
];
const propertyName = fc.oneof(
  fc.constantFrom("p0", "p1", "p2", "name", "id", "__proto__", "", "a b", 'q"uote', "é"),
  fc.string({ maxLength: 6 }),
);

const { schema } = fc.letrec<{
  schema: unknown;
  leaf: unknown;
  object: unknown;
  array: unknown;
  union: unknown;
}>((tie) => ({
  schema: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    tie("leaf"),
    tie("object"),
    tie("array"),
    tie("union"),
    fc.record({ $ref: fc.constantFrom(...REFS) }),
    // a schema with a random extra keyword holding a random value
    fc
      .tuple(tie("leaf"), fc.constantFrom(...KEYWORDS), fc.jsonValue({ maxDepth: 2 }))
      .map(([base, key, value]) =>
        typeof base === "object" && base !== null ? { ...base, [key]: value } : base,
      ),
  ),
  leaf: fc.oneof(
    fc.constantFrom(true, false, {}, { type: "object" }, { type: "array" }, { type: ["string", "null"] }),
    fc.record(
      {
        type: fc.oneof(fc.constantFrom(...TYPES), fc.subarray(TYPES, { minLength: 0, maxLength: 3 })),
        nullable: fc.boolean(),
        title: fc.string({ maxLength: 5 }),
      },
      { requiredKeys: ["type"] },
    ),
    fc.record(
      {
        type: fc.constant("string"),
        minLength: count,
        maxLength: count,
        pattern,
        format: fc.constantFrom(...FORMAT_NAMES),
      },
      { requiredKeys: [] },
    ),
    fc.record(
      {
        type: fc.constantFrom("integer", "number"),
        minimum: oddNumber,
        maximum: oddNumber,
        exclusiveMinimum: fc.oneof(oddNumber, fc.boolean()),
        exclusiveMaximum: fc.oneof(oddNumber, fc.boolean()),
        multipleOf: fc.constantFrom(1, 0.5, 0, -1, 2),
      },
      { requiredKeys: [] },
    ),
    fc.record({
      enum: fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 8 }),
    }),
    fc.record({ const: fc.jsonValue({ maxDepth: 2 }) }),
    fc.record({
      type: fc.constantFrom("string", "integer"),
      enum: fc.array(fc.oneof(fc.string(), fc.integer()), { maxLength: 5 }),
    }),
  ),
  object: fc
    .record(
      {
        type: fc.constant("object"),
        properties: fc.dictionary(propertyName, tie("schema"), { maxKeys: 5 }),
        required: fc.array(propertyName, { maxLength: 4 }),
        additionalProperties: fc.oneof(fc.boolean(), tie("schema")),
        minProperties: count,
        maxProperties: count,
        $defs: fc.record({ a: tie("schema"), b: tie("schema") }, { requiredKeys: [] }),
      },
      { requiredKeys: [] },
    )
    .map((object) =>
      // required names that exist, most of the time
      object.properties && object.required
        ? {
            ...object,
            required: [
              ...new Set([
                ...object.required.filter((n) => n in object.properties!),
                ...Object.keys(object.properties).slice(0, 1),
              ]),
            ],
          }
        : object,
    ),
  array: fc.record(
    {
      type: fc.constant("array"),
      items: fc.oneof(tie("schema"), fc.constant(false)),
      prefixItems: fc.array(tie("schema"), { maxLength: 4 }),
      minItems: count,
      maxItems: count,
      uniqueItems: fc.boolean(),
    },
    { requiredKeys: [] },
  ),
  union: fc.oneof(
    fc.record({ anyOf: fc.array(tie("schema"), { maxLength: 4 }) }),
    fc.record({ oneOf: fc.array(tie("schema"), { maxLength: 4 }) }),
    fc.record({ allOf: fc.array(tie("schema"), { minLength: 1, maxLength: 2 }) }),
  ),
}));

/** A schema with $defs at its root, so that its $refs mostly resolve. */
const rootSchema = fc
  .tuple(schema, fc.record({ a: schema, b: schema }, { requiredKeys: [] }), fc.boolean())
  .map(([main, defs, withDefs]) =>
    withDefs && typeof main === "object" && main !== null && !Array.isArray(main)
      ? { ...main, $defs: defs }
      : main,
  );

// ---- Properties ---------------------------------------------------------------------------------

describe("fuzzing the JSON Schema → GBNF compiler", () => {
  it("compiles structured schemas, or refuses them with a 422 naming a place in the schema", () => {
    const outcomes = { grammar: 0, refused: 0 };
    fc.assert(
      fc.property(rootSchema, (value) => {
        outcomes["grammar" in checkAt(value) ? "grammar" : "refused"] += 1;
      }),
      runs(4000),
    );
    if (RUNS_OVERRIDE === undefined)
      assert.ok(outcomes.grammar > 300 && outcomes.refused > 300, JSON.stringify(outcomes));
  });

  it("refuses or compiles wide schemas near the limits in time (thousands of items, long patterns)", () => {
    const size = fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 300, max: 12_000 }));
    const item = fc.constantFrom<unknown>(
      { type: "integer" },
      { type: "string", format: "date" },
      { enum: ["a", "b"] },
      { type: "string", pattern: "^[a-z]+(-[a-z]+)*$" },
      { type: ["integer", "null"] },
    );
    const wide = fc.oneof(
      fc
        .tuple(size, item)
        .map(([n, one]) => ({ type: "array", prefixItems: Array.from({ length: n }, () => one) })),
      fc.tuple(size, item, fc.boolean(), fc.boolean()).map(([n, one, required, extras]) => {
        const names = Array.from({ length: n }, (_, i) => `field${i}`);
        return {
          type: "object",
          properties: Object.fromEntries(names.map((name) => [name, one])),
          ...(required ? { required: names } : {}),
          ...(extras ? { additionalProperties: { type: "string", maxLength: 8 } } : {}),
        };
      }),
      size.map((n) => ({ enum: Array.from({ length: n }, (_, i) => `value-${i}`) })),
      size.map((n) => ({ anyOf: Array.from({ length: n }, (_, i) => ({ const: i })) })),
      fc
        .tuple(
          fc.constantFrom(...REGEX_PIECES, "(a|b|c|d)?", "[a-z]{0,64}"),
          fc.integer({ min: 1, max: 3000 }),
        )
        .map(([piece, n]) => ({ type: "string", pattern: piece.repeat(n) })),
      fc.integer({ min: 1, max: 150 }).map((depth) => {
        let nested: unknown = { type: "integer" };
        for (let i = 0; i < depth; i += 1) nested = { type: "array", items: nested, maxItems: 3 };
        return nested;
      }),
    );
    fc.assert(
      fc.property(wide, (value) => void checkAt(value)),
      runs(200),
    );
  });

  it("takes any JSON value as a schema", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => void check(value)),
      runs(2000),
    );
  });

  it("plans whole requests: tools, tool_choice and response_format together", () => {
    const tool = fc.record({
      name: fc.constantFrom("get_weather", "search", "a", "x-y_z"),
      parameters: rootSchema,
      strict: fc.boolean(),
    });
    const request = fc.record({
      tools: fc.array(tool, { maxLength: 3 }),
      toolChoice: fc.oneof(
        fc.constantFrom({ type: "none" }, { type: "auto" }, { type: "required" }),
        fc.constant({ type: "function", name: "search" }),
      ),
      responseFormat: fc.oneof(
        fc.constantFrom({ type: "text" }, { type: "json_object" }),
        rootSchema.map((value) => ({ type: "json_schema", name: "n", schema: value })),
      ),
    });
    fc.assert(
      fc.property(request, (partial) => {
        const plan = (value: unknown) => {
          const grammars = planGrammars(value as ChatRequest);
          for (const grammar of [grammars.answer, grammars.onToolCall]) {
            if (grammar !== undefined) assert.doesNotMatch(grammar, /::= *$/m, "no rule is empty");
          }
          return `root ::= ${[grammars.answer, grammars.onToolCall].join("\n").length}`;
        };
        check(partial, plan);
      }),
      runs(1000),
    );
  });

  it("rewrites random patterns into equivalent ones, and compiles or refuses them", () => {
    const alphabet = fc.constantFrom("a", "b", "c", "x", "-", " ", "1", "é", "😀", '"', "\\");
    fc.assert(
      fc.property(
        pattern,
        fc.array(fc.array(alphabet, { maxLength: 8 }), { maxLength: 12 }),
        (source, texts) => {
          check({ type: "string", pattern: source });
          let node: RegexNode;
          let original: RegExp;
          try {
            node = new RegexParser(source).parse();
            original = new RegExp(`^(?:${source})$`, "u");
          } catch (error) {
            if (error instanceof RegexError || error instanceof SyntaxError) return;
            throw error;
          }
          const parsed = new RegExp(`^(?:${toSource(node)})$`, "u");
          const simplified = new RegExp(`^(?:${toSource(simplifyRegex(node))})$`, "u");
          for (const text of texts.map((chars) => chars.join(""))) {
            assert.equal(
              parsed.test(text),
              original.test(text),
              `parsed /${source}/ on ${JSON.stringify(text)}`,
            );
            assert.equal(
              simplified.test(text),
              original.test(text),
              `simplified /${source}/ on ${JSON.stringify(text)}`,
            );
          }
        },
      ),
      runs(3000),
    );
  });

  describe("llama.cpp accepts a sample of the grammars", () => {
    let llama: Llama;
    before(async () => {
      llama = await getLlama({ gpu: false });
    });
    after(() => llama.dispose());

    it("for structured schemas", async () => {
      await fc.assert(
        fc.asyncProperty(rootSchema, async (value) => {
          const outcome = check(value);
          if ("grammar" in outcome) await llama.createGrammar({ grammar: outcome.grammar });
        }),
        runs(400),
      );
    });
  });
});

/** A RegexNode as JavaScript regex source (for comparing with RegExp). */
function toSource(node: RegexNode): string {
  switch (node.kind) {
    case "set": {
      const code = (cp: number) => `\\u{${cp.toString(16)}}`;
      return `[${node.ranges.map(([a, b]) => (a === b ? code(a) : `${code(a)}-${code(b)}`)).join("")}]`;
    }
    case "seq":
      return node.items.map((item) => `(?:${toSource(item)})`).join("");
    case "alt":
      return `(?:${node.options.map(toSource).join("|")})`;
    case "rep":
      return `(?:${toSource(node.node)}){${node.min},${node.max ?? ""}}`;
  }
}
