// Real llama.cpp sampling under our JSON Schema grammars: the tiny random-weight model, at
// temperature 1 and several seeds, must end every output on its own (end-of-generation) with JSON
// that parses and that ajv (draft 2020-12, with formats) validates against the schema — for schemas
// covering every supported keyword, for several tool schemas combined into one grammar, and for
// json_object. A Utf8Validator token bias keeps the random bytes well-formed UTF-8 (llama.cpp's
// grammar decoder does not), as the engine should whenever a grammar is active.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import { LlamaGrammarEvaluationState, TokenBias, getLlama } from "node-llama-cpp";
import type { Llama, LlamaContext, LlamaGrammar, LlamaModel, Token } from "node-llama-cpp";
import {
  GbnfBuilder,
  Utf8Validator,
  jsonObjectGbnf,
  jsonSchemaToGbnf,
} from "../../src/engines/local/json-schema-grammar.js";
import type { GbnfOptions } from "../../src/engines/local/json-schema-grammar.js";
import { ensureFixtureModels } from "../fixtures/models.js";

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
const ajv = addFormats(new Ajv2020({ strict: false }));
const SEEDS = [1, 2, 3, 4];
const MAX_TOKENS = 1500;

let llama: Llama;
let model: LlamaModel;
let context: LlamaContext;
let prompt: Token[];

before(async () => {
  llama = await getLlama({ gpu: false });
  model = await llama.loadModel({ modelPath: ensureFixtureModels().tiny });
  context = await model.createContext({ contextSize: 2048, threads: 1 });
  prompt = model.tokenize("Answer in JSON.", true);
});

after(async () => {
  await context?.dispose();
  await model?.dispose();
  await llama?.dispose();
});

/** The bytes of a token of the fixture vocabulary: ids 0–255 are the bytes, the merges are ASCII. */
function tokenBytes(token: Token): Uint8Array {
  return token < 256 ? Uint8Array.of(token) : Buffer.from(model.detokenize([token]), "utf8");
}

async function sample(grammar: LlamaGrammar, seed: number): Promise<string> {
  const sequence = context.getSequence();
  try {
    const utf8 = new Utf8Validator();
    const tokenBias = (): TokenBias => {
      const bias = new TokenBias(model.tokenizer);
      for (let byte = 0x80; byte < 256; byte += 1)
        if (!utf8.accepts([byte])) bias.set(byte as Token, "never");
      return bias;
    };
    const bytes: Uint8Array[] = [];
    const grammarEvaluationState = new LlamaGrammarEvaluationState({ model, grammar });
    let ended = false;
    for await (const token of sequence.evaluate(prompt, {
      temperature: 1,
      seed,
      tokenBias,
      grammarEvaluationState,
      yieldEogToken: true,
    })) {
      if (model.isEogToken(token)) {
        ended = true;
        break;
      }
      const piece = tokenBytes(token);
      utf8.push(piece);
      bytes.push(piece);
      if (bytes.length >= MAX_TOKENS) break;
    }
    const text = Buffer.concat(bytes).toString("utf8");
    assert.ok(ended, `seed ${seed}: no end of generation within ${MAX_TOKENS} tokens: ${text.slice(0, 300)}`);
    if (process.env.SHOW_SAMPLES) console.log(text);
    return text;
  } finally {
    await sequence.dispose();
  }
}

async function assertSamplesValid(name: string, schema: object, options: GbnfOptions = {}): Promise<void> {
  const grammar = await llama.createGrammar({ grammar: jsonSchemaToGbnf(schema, "schema", options) });
  const validate = ajv.compile(schema);
  for (const seed of SEEDS) {
    const text = await sample(grammar, seed);
    let value: unknown;
    assert.doesNotThrow(() => (value = JSON.parse(text)), `${name}, seed ${seed}: not JSON: ${text}`);
    assert.ok(validate(value), `${name}, seed ${seed}: ${text}\n${JSON.stringify(validate.errors)}`);
  }
}

const SCHEMAS: Record<string, object> = {
  person: {
    type: "object",
    properties: {
      name: { type: "string", minLength: 1, maxLength: 12 },
      age: { type: "integer", minimum: 0, maximum: 150 },
      email: { type: "string", format: "email" },
      tags: { type: "array", items: { enum: ["red", "green", "blue"] }, maxItems: 3 },
      nickname: { type: ["string", "null"], maxLength: 5 },
      active: { type: "boolean" },
    },
    required: ["name", "age", "email"],
    additionalProperties: false,
  },
  formats: {
    type: "object",
    properties: Object.fromEntries(
      ["date", "time", "date-time", "uuid", "email", "ipv4", "ipv6", "hostname"].map((format) => [
        format,
        { type: "string", format },
      ]),
    ),
    required: ["date", "time", "date-time", "uuid", "email", "ipv4", "ipv6", "hostname"],
  },
  numbers: {
    type: "object",
    properties: {
      count: { type: "integer", exclusiveMinimum: -50, exclusiveMaximum: 1000 },
      negative: { type: "integer", minimum: -999, maximum: -100 },
      big: { type: "integer", minimum: 1234567 },
      ratio: { type: "number", minimum: 0, maximum: 1 },
      positive: { type: "number", exclusiveMinimum: 0, maximum: 10 },
      below: { type: "number", exclusiveMaximum: -2 },
      any: { type: "number" },
      whole: { type: "number", multipleOf: 1 },
      int: { type: "integer" },
    },
    required: ["count", "negative", "big", "ratio", "positive", "below", "any", "whole", "int"],
  },
  patterns: {
    type: "object",
    properties: {
      code: { type: "string", pattern: "^[A-Z]{3}-\\d{2,4}$" },
      phone: { type: "string", pattern: "^\\+?[0-9 ]{7,12}$" },
      slug: { type: "string", pattern: "^[a-z0-9]{1,6}(-[a-z0-9]{1,6}){0,2}$" },
      quoted: { type: "string", pattern: '^[a-z"\\\\]{1,5}$' },
      word: { type: "string", pattern: "^\\w+$", maxLength: 6 },
      choice: { type: "string", pattern: "(cat|dog)s?" },
      dots: { type: "string", pattern: "^.{2,4}$" },
      notDigits: { type: "string", pattern: "^[^0-9]{1,3}$" },
    },
    required: ["code", "phone", "slug", "quoted", "word", "choice", "dots", "notDigits"],
  },
  unions: {
    type: "object",
    properties: {
      anyOf: {
        anyOf: [
          { type: "string", maxLength: 5 },
          { type: "integer", minimum: 0, maximum: 9 },
          { type: "null" },
          {
            type: "object",
            properties: { x: { type: "boolean" } },
            required: ["x"],
            additionalProperties: false,
          },
        ],
      },
      oneOf: { oneOf: [{ type: "boolean" }, { type: "string", format: "date" }] },
      types: { type: ["integer", "boolean", "null"] },
      nullable: { type: "string", maxLength: 3, nullable: true },
      single: { allOf: [{ type: "integer", maximum: 3 }] },
    },
    required: ["anyOf", "oneOf", "types", "nullable", "single"],
  },
  linkedList: {
    $defs: {
      node: {
        type: "object",
        properties: {
          value: { type: "integer", minimum: 0, maximum: 99 },
          next: { anyOf: [{ $ref: "#/$defs/node" }, { type: "null" }] },
        },
        required: ["value", "next"],
        additionalProperties: false,
      },
    },
    $ref: "#/$defs/node",
  },
  rootRecursion: {
    type: "object",
    properties: {
      label: { enum: ["leaf", "branch"] },
      child: { $ref: "#" },
      siblings: { type: "array", items: { $ref: "#/definitions/tiny" }, maxItems: 2 },
    },
    required: ["label"],
    definitions: { tiny: { type: "string", maxLength: 2 } },
  },
  tuples: {
    type: "object",
    properties: {
      fixed: {
        type: "array",
        prefixItems: [{ type: "string", format: "date" }, { type: "integer" }, { const: { a: [1, "x"] } }],
        items: false,
        minItems: 2,
      },
      open: {
        type: "array",
        prefixItems: [{ type: "boolean" }],
        items: { type: "number", minimum: 0, maximum: 5 },
        minItems: 1,
        maxItems: 4,
      },
      counted: {
        type: "array",
        items: { enum: [1, "two", null, true, { k: 3 }, [1, 2]] },
        minItems: 2,
        maxItems: 3,
      },
    },
    required: ["fixed", "open", "counted"],
  },
  literals: {
    type: "object",
    properties: {
      fixed: { const: 'fixed "value" \\ é' },
      level: { type: "string", enum: ["low", "mid", "high"] },
    },
    required: ["fixed", "level"],
  },
  maps: {
    type: "object",
    properties: { id: { type: "integer", minimum: 1, maximum: 9 } },
    required: ["id"],
    additionalProperties: { type: "string", maxLength: 3 },
    maxProperties: 4,
  },
  optional: {
    allOf: [{ $ref: "#/$defs/opt" }],
    $defs: {
      opt: {
        type: "object",
        properties: {
          a: { type: "integer", maximum: 0 },
          b: { type: "string", maxLength: 2 },
          c: { type: "boolean" },
          d: { type: "null" },
          e: { type: "array", items: { type: "integer" }, maxItems: 2 },
        },
      },
    },
  },
  lengths: { type: "array", items: { type: "string", minLength: 2, maxLength: 6 }, minItems: 3, maxItems: 3 },
};

describe("sampling under JSON Schema grammars (tiny random model)", () => {
  for (const [name, schema] of Object.entries(SCHEMAS)) {
    test(`${name}: every output is valid JSON for the schema`, () => assertSamplesValid(name, schema));
  }

  test("free-form values ({} and {type: object}) and the multiline layout", async () => {
    const schema = {
      type: "object",
      properties: { meta: {}, extra: { type: "object" }, list: { type: "array", maxItems: 3 } },
      required: ["meta", "extra"],
    };
    await assertSamplesValid("free-form", schema, { freeFormStringMaxLength: 8, freeFormDepth: 3 });
    await assertSamplesValid("multiline", SCHEMAS.person!, { layout: "multiline" });
  });

  test("tool calls: several schemas combined into one grammar", async () => {
    const tools: Record<string, object> = {
      get_weather: {
        type: "object",
        properties: { city: { type: "string", maxLength: 10 }, unit: { enum: ["C", "F"] } },
        required: ["city", "unit"],
        additionalProperties: false,
      },
      search: {
        type: "object",
        properties: {
          query: { type: "string", maxLength: 10 },
          limit: { type: "integer", minimum: 1, maximum: 20 },
        },
        required: ["query"],
      },
      noop: { type: "object", properties: {}, additionalProperties: false },
    };
    const builder = new GbnfBuilder();
    const lit = GbnfBuilder.literal;
    const alternatives = Object.entries(tools).map(([name, schema], index) => {
      const rule = builder.addSchema(schema, `args-${name}`, `tools.${index}.function.parameters`);
      return `${lit(`{"name": "${name}", "arguments": `)} ${rule} ${lit("}")}`;
    });
    const grammar = await llama.createGrammar({ grammar: builder.build(alternatives.join(" | ")) });
    const seen = new Set<string>();
    for (const seed of [...SEEDS, 5, 6, 7, 8]) {
      const text = await sample(grammar, seed);
      const call = JSON.parse(text) as { name: string; arguments: unknown };
      const schema = tools[call.name];
      assert.ok(schema, text);
      const validate = ajv.compile(schema);
      assert.ok(validate(call.arguments), `${text}\n${JSON.stringify(validate.errors)}`);
      seen.add(call.name);
    }
    assert.ok(seen.size >= 2, `calls to several tools: ${[...seen].join(", ")}`);
  });

  test("json_object: every output is a JSON object", async () => {
    const grammar = await llama.createGrammar({ grammar: jsonObjectGbnf({ freeFormStringMaxLength: 10 }) });
    for (const seed of [...SEEDS, 5, 6]) {
      const text = await sample(grammar, seed);
      const value: unknown = JSON.parse(text);
      assert.ok(typeof value === "object" && value !== null && !Array.isArray(value), text);
    }
  });
});
