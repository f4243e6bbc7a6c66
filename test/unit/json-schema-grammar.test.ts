// The JSON Schema → GBNF converter: llama.cpp accepts every grammar it writes; what the grammars
// match is checked exactly (non-recursive grammars are turned into JS regular expressions here and
// compared with ajv over exhaustive or boundary-heavy inputs); unsupported and malformed schemas are
// refused with a 422 naming the keyword and where it is; strict-mode tool schemas; Utf8Validator.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import { getLlama } from "node-llama-cpp";
import type { Llama } from "node-llama-cpp";
import { InvalidParameterError } from "../../src/core/errors.js";
import {
  GbnfBuilder,
  type GbnfOptions,
  Utf8Validator,
  gbnfLiteral,
  jsonObjectGbnf,
  jsonSchemaToGbnf,
  validateStrictToolSchema,
} from "../../src/engines/local/json-schema-grammar.js";
import { toWireError } from "../../src/protocol/errors.js";

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
const ajv = addFormats(new Ajv2020({ strict: false }));
const PATH = "response_format.json_schema.schema";

// ---------------------------------------------------------------------------------------------
// GBNF → RegExp, for grammars without recursion

function decodeEscape(text: string, i: number): [number, number] {
  const c = text[i + 1]!;
  const hexLength = c === "x" ? 2 : c === "u" ? 4 : c === "U" ? 8 : 0;
  if (hexLength > 0) return [parseInt(text.slice(i + 2, i + 2 + hexLength), 16), i + 2 + hexLength];
  const simple: Record<string, number> = { n: 10, r: 13, t: 9 };
  return [simple[c] ?? c.codePointAt(0)!, i + 2];
}

const cpRegex = (cp: number): string => `\\u{${cp.toString(16)}}`;

function gbnfToRegExp(grammar: string): RegExp {
  const rules = new Map<string, string>();
  for (const line of grammar.split("\n")) {
    const match = /^([A-Za-z0-9-]+) ::= (.*)$/.exec(line);
    if (match) rules.set(match[1]!, match[2]!);
  }
  const convert = (name: string, stack: string[]): string => {
    if (stack.includes(name)) throw new Error(`recursive rule ${name}`);
    const body = rules.get(name);
    if (body === undefined) throw new Error(`undefined rule ${name}`);
    let out = "";
    let i = 0;
    while (i < body.length) {
      const c = body[i]!;
      if (c === " ") i += 1;
      else if (c === '"') {
        i += 1;
        out += "(?:"; // a quantifier after a literal repeats all of it
        while (body[i] !== '"') {
          if (body[i] === "\\") {
            const [cp, next] = decodeEscape(body, i);
            out += cpRegex(cp);
            i = next;
          } else {
            out += cpRegex(body.codePointAt(i)!);
            i += String.fromCodePoint(body.codePointAt(i)!).length;
          }
        }
        out += ")";
        i += 1;
      } else if (c === "[") {
        out += "[";
        i += 1;
        if (body[i] === "^") {
          out += "^";
          i += 1;
        }
        while (body[i] !== "]") {
          if (body[i] === "-") {
            out += "-";
            i += 1;
          } else if (body[i] === "\\") {
            const [cp, next] = decodeEscape(body, i);
            out += cpRegex(cp);
            i = next;
          } else {
            out += cpRegex(body.codePointAt(i)!);
            i += String.fromCodePoint(body.codePointAt(i)!).length;
          }
        }
        out += "]";
        i += 1;
      } else if ("()|?*+".includes(c)) {
        out += c === "(" ? "(?:" : c;
        i += 1;
      } else if (c === "{") {
        const end = body.indexOf("}", i);
        out += body.slice(i, end + 1);
        i = end + 1;
      } else {
        const ident = /^[A-Za-z0-9-]+/.exec(body.slice(i))![0];
        out += `(?:${convert(ident, [...stack, name])})`;
        i += ident.length;
      }
    }
    if (out.length > 100_000) throw new Error("grammar too large to turn into a regular expression");
    return out;
  };
  return new RegExp(`^(?:${convert("root", [])})$`, "u");
}

const matcher = (grammar: string) => {
  const regex = gbnfToRegExp(grammar);
  return (text: string): boolean => regex.test(text);
};

const schemaMatcher = (schema: unknown, options: GbnfOptions = {}) =>
  matcher(jsonSchemaToGbnf(schema, PATH, { freeFormDepth: 2, ...options }));

function refused(schema: unknown, code: string, param: string, ...mentions: string[]): void {
  assert.throws(
    () => jsonSchemaToGbnf(schema, PATH),
    (error: unknown) => {
      assert.ok(error instanceof InvalidParameterError, String(error));
      assert.equal(error.code, code, error.message);
      assert.equal(error.param, param, error.message);
      assert.equal(toWireError(error).status, 422);
      for (const text of mentions) assert.ok(error.message.includes(text), `${error.message} lacks ${text}`);
      return true;
    },
  );
}

// ---------------------------------------------------------------------------------------------

const CORPUS: unknown[] = [
  true,
  {},
  { type: "string" },
  { type: "string", minLength: 3, maxLength: 3000 },
  { type: "string", maxLength: 1000, minLength: 1000 },
  { type: ["string", "null"], maxLength: 4 },
  { type: "integer", minimum: -1234, exclusiveMaximum: 98765 },
  { type: "integer", minimum: 7 },
  { type: "integer", maximum: -7 },
  { type: "number", minimum: 0, maximum: 1 },
  { type: "number", exclusiveMinimum: -3 },
  { enum: ["a", 1, null, true, { b: [1, 'x"y'] }, "é\n😀"] },
  { const: { nested: [1, 2, { deep: null }] } },
  { anyOf: [{ type: "string" }, { type: "number" }, { type: "array", items: { type: "boolean" } }] },
  { oneOf: [{ type: "integer" }, { type: "boolean" }] },
  { allOf: [{ $ref: "#/$defs/a" }], $defs: { a: { type: "string", format: "uuid" } } },
  {
    $defs: {
      node: {
        type: "object",
        properties: {
          value: { type: "integer" },
          next: { anyOf: [{ $ref: "#/$defs/node" }, { type: "null" }] },
        },
        required: ["value", "next"],
        additionalProperties: false,
      },
    },
    $ref: "#/$defs/node",
  },
  { type: "object", properties: { self: { $ref: "#" }, n: { type: "integer" } } },
  {
    type: "object",
    properties: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`p${i}`, { type: "integer" }])),
    required: ["p20"],
  },
  { type: "object", additionalProperties: { type: "number" }, maxProperties: 3 },
  { type: "object", properties: { a: { type: "string" } }, additionalProperties: { type: "boolean" } },
  { type: "object" },
  { type: "array" },
  { type: "array", prefixItems: [{ type: "string" }, { type: "integer" }], items: false, minItems: 1 },
  { type: "array", items: { type: "integer" }, minItems: 2500, maxItems: 4200 },
  ...["date", "time", "date-time", "uuid", "email", "ipv4", "ipv6", "hostname"].map((format) => ({
    type: "string",
    format,
  })),
  { type: "string", pattern: '^(?:[a-z]+|\\d{2,4})(-[A-F]){0,3}\\.?[^"\\\\x]*$' },
  { type: "string", pattern: "\\w+@\\s\\S\\D\\W.[\\d\\-_]" },
  // llama.cpp refuses a group followed by a repetition once it stands for 2000 generated rules:
  // both used to be refused at grammar parse time, before the heavy groups were hoisted into rules.
  {
    type: "object",
    properties: Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`prop${i}`, { type: "integer" }])),
    additionalProperties: { type: "string", maxLength: 8 },
  },
  { type: "array", prefixItems: Array.from({ length: 1200 }, () => ({ type: "boolean" })) },
  { type: "string", pattern: "(a|b|c|d)?".repeat(500) },
  {
    title: "t",
    description: "d",
    default: 1,
    examples: [1],
    $schema: "x",
    $id: "y",
    $comment: "z",
    type: "integer",
  },
  { type: "integer", nullable: true, deprecated: true, readOnly: true, writeOnly: false },
];

describe("llama.cpp accepts the grammars", () => {
  let llama: Llama;
  before(async () => {
    llama = await getLlama({ gpu: false });
  });
  after(() => llama.dispose());

  test("for a corpus of schemas, in both layouts", async () => {
    for (const schema of CORPUS) {
      for (const layout of ["compact", "multiline"] as const) {
        const grammar = jsonSchemaToGbnf(schema, PATH, { layout });
        await assert.doesNotReject(llama.createGrammar({ grammar }), `${JSON.stringify(schema)}\n${grammar}`);
      }
    }
  });

  test("for json_object, and several tool schemas combined into one grammar", async () => {
    await llama.createGrammar({ grammar: jsonObjectGbnf() });
    const builder = new GbnfBuilder();
    const weather = builder.addSchema(
      { type: "object", properties: { city: { type: "string", maxLength: 20 } }, required: ["city"] },
      "args-get-weather",
      "tools.0.function.parameters",
    );
    const search = builder.addSchema(
      { type: "object", properties: { query: { type: "string" }, limit: { type: "integer", minimum: 1 } } },
      "args-search",
      "tools.1.function.parameters",
    );
    const lit = GbnfBuilder.literal;
    const grammar = builder.build(
      `${lit('{"name": "get_weather", "arguments": ')} ${weather} ${lit("}")} | ` +
        `${lit('{"name": "search", "arguments": ')} ${search} ${lit("}")}`,
    );
    await llama.createGrammar({ grammar });
    const names = grammar.split("\n").flatMap((line) => /^([A-Za-z0-9-]+) ::=/.exec(line)?.[1] ?? []);
    assert.equal(new Set(names).size, names.length, "rule names are unique");
    assert.equal(names.filter((name) => name === "char").length, 1, "shared rules are emitted once");
    assert.notEqual(weather, search);
    const match = matcher(grammar);
    assert.ok(match('{"name": "get_weather", "arguments": {"city": "Paris"}}'));
    assert.ok(match('{"name": "search", "arguments": {}}'));
    assert.ok(match('{"name": "search", "arguments": {"query": "x", "limit": 3}}'));
    assert.ok(!match('{"name": "search", "arguments": {"limit": 0}}'));
    assert.ok(!match('{"name": "get_weather", "arguments": {}}'));
  });
});

describe("integers", () => {
  const windows = (lo: number, hi: number): number[] => {
    const values = new Set<number>();
    for (const center of [lo, hi, 0, -1, 1]) {
      if (!Number.isFinite(center)) continue;
      for (let d = -60; d <= 60; d += 1) values.add(center + d);
    }
    for (let p = 1; p <= 1e15; p *= 10) for (const v of [p - 1, p, p + 1]) values.add(v).add(-v);
    values.add(Number.MAX_SAFE_INTEGER).add(-Number.MAX_SAFE_INTEGER);
    return [...values];
  };

  test("minimum/maximum/exclusive bounds are exact digit ranges", () => {
    const cases: Array<[Record<string, number>, number, number]> = [
      [{ minimum: 0 }, 0, Infinity],
      [{ minimum: 18, maximum: 120 }, 18, 120],
      [{ exclusiveMinimum: -50, exclusiveMaximum: 1000 }, -49, 999],
      [{ minimum: -999, maximum: -100 }, -999, -100],
      [{ maximum: 5 }, -Infinity, 5],
      [{ maximum: -1 }, -Infinity, -1],
      [{ minimum: 1.5, maximum: 9.5 }, 2, 9],
      [{ minimum: 7, maximum: 7 }, 7, 7],
      [{ minimum: 1000, maximum: 100000 }, 1000, 100000],
      [{ minimum: 123, maximum: 45678 }, 123, 45678],
      [{ minimum: -32768, maximum: 32767 }, -32768, 32767],
      [{ minimum: 1e20 / 1e20, exclusiveMaximum: 1e18 }, 1, Number.MAX_SAFE_INTEGER],
    ];
    for (const [bounds, lo, hi] of cases) {
      const match = schemaMatcher({ type: "integer", ...bounds });
      for (const n of windows(lo, hi)) {
        assert.equal(match(String(n)), n >= lo && n <= hi, `${JSON.stringify(bounds)}: ${n}`);
      }
      for (const bad of ["-0", "01", "1e2", "1.0", "+1", " 1"]) assert.ok(!match(bad), bad);
    }
  });

  test("random ranges", () => {
    let state = 12345;
    const random = (): number => {
      state = (state * 1103515245 + 12345) % 2147483648;
      return state / 2147483648;
    };
    for (let round = 0; round < 150; round += 1) {
      const magnitude = () =>
        Math.floor(random() ** 3 * 10 ** Math.floor(random() * 9)) * (random() < 0.3 ? -1 : 1);
      const [lo, hi] = [magnitude(), magnitude()].sort((a, b) => a - b) as [number, number];
      const match = schemaMatcher({ type: "integer", minimum: lo, maximum: hi });
      const probes = [lo - 1, lo, lo + 1, hi - 1, hi, hi + 1];
      for (let i = 0; i < 40; i += 1) probes.push(Math.floor(lo - 100 + random() * (hi - lo + 200)));
      for (const n of probes) assert.equal(match(String(n)), n >= lo && n <= hi, `[${lo}, ${hi}]: ${n}`);
    }
  });

  test("a plain integer has no exponent, no leading zeros, no -0, at most 16 digits", () => {
    const match = schemaMatcher({ type: "integer" });
    for (const good of ["0", "-1", "42", "9999999999999999", "-9999999999999999"])
      assert.ok(match(good), good);
    for (const bad of ["-0", "007", "1e5", "1E5", "1.5", "99999999999999999", "", "-"])
      assert.ok(!match(bad), bad);
  });
});

describe("numbers", () => {
  const candidates = (): string[] => {
    const out: string[] = [];
    for (let int = -12; int <= 12; int += 1) {
      for (const fraction of ["", ".0", ".000", ".5", ".000001", ".999999", ".25", ".1000000"]) {
        out.push(`${int}${fraction}`);
        if (int === 0) out.push(`-0${fraction}`);
      }
    }
    return out;
  };

  test("integer-valued bounds are exact and the values stay in range", () => {
    const cases: Array<Record<string, number>> = [
      { minimum: 0, maximum: 1 },
      { exclusiveMinimum: 0, maximum: 10 },
      { minimum: -5, exclusiveMaximum: 3 },
      { exclusiveMinimum: -10, exclusiveMaximum: -2 },
      { minimum: 2 },
      { exclusiveMaximum: 0 },
      { minimum: 3, maximum: 3 },
    ];
    for (const bounds of cases) {
      const schema = { type: "number", ...bounds };
      const validate = ajv.compile(schema);
      const match = schemaMatcher(schema);
      let accepted = 0;
      for (const text of candidates()) {
        if (!match(text)) continue;
        accepted += 1;
        assert.ok(validate(JSON.parse(text)), `${JSON.stringify(bounds)} accepted ${text}`);
      }
      assert.ok(accepted > 0, JSON.stringify(bounds));
    }
    const unit = schemaMatcher({ type: "number", minimum: 0, maximum: 1 });
    for (const good of ["0", "0.5", "1", "1.0", "0.999999"]) assert.ok(unit(good), good);
    for (const bad of ["1.5", "-0.5", "1e0", "2", "0.1234567"]) assert.ok(!unit(bad), bad);
  });

  test("a plain number is finite and bounded in digits", () => {
    const match = schemaMatcher({ type: "number" });
    for (const good of ["0", "-0.5", "1.25e-7", "6E+23", "12345"]) assert.ok(match(good), good);
    for (const bad of ["1e999", "01", ".5", "1.", "NaN", "+1"]) assert.ok(!match(bad), bad);
  });
});

describe("strings", () => {
  test("minLength/maxLength count code points; escapes are JSON's, surrogate escapes are refused", () => {
    const match = schemaMatcher({ type: "string", minLength: 2, maxLength: 3 });
    for (const good of ['"ab"', '"😀😀"', '"a\\nb"', '"\\u00e9x"', '"\\"\\\\"', '"a\\/"'])
      assert.ok(match(good), good);
    for (const bad of ['"a"', '"abcd"', '"\\ud83d\\ude00"', '"a\nb"', '"a\\x"', '"ab', "ab"]) {
      assert.ok(!match(bad), bad);
    }
    assert.ok(schemaMatcher({ type: "string", maxLength: 5000 })(JSON.stringify("x".repeat(5000))));
    assert.ok(!schemaMatcher({ type: "string", maxLength: 5000 })(JSON.stringify("x".repeat(5001))));
    assert.ok(!schemaMatcher({ type: "string", minLength: 2500 })(JSON.stringify("x".repeat(2499))));
  });

  test("format date is exactly the valid dates (leap years included)", () => {
    const match = schemaMatcher({ type: "string", format: "date" });
    const validate = ajv.compile({ type: "string", format: "date" });
    for (const year of ["0000", "0004", "1900", "1999", "2000", "2023", "2024", "2100", "2400"]) {
      for (let month = 0; month <= 13; month += 1) {
        for (let day = 0; day <= 32; day += 1) {
          const date = `${year}-${String(month).padStart(2, "0")}-${String(day).padStart(2, "0")}`;
          assert.equal(match(JSON.stringify(date)), validate(date), date);
        }
      }
    }
  });

  test("formats accept typical values and only valid ones", () => {
    const examples: Record<string, [string[], string[]]> = {
      time: [
        ["23:59:59Z", "00:00:00.123+05:30", "12:30:00-08:00"],
        ["24:00:00Z", "12:00:00", "12:60:00Z", "1:00:00Z"],
      ],
      "date-time": [
        ["2024-02-29T12:00:00Z", "1999-12-31T23:59:59.5+01:00"],
        ["2023-02-29T12:00:00Z", "2024-01-01"],
      ],
      uuid: [
        ["123e4567-e89b-12d3-a456-426614174000", "ABCDEF01-2345-6789-abcd-ef0123456789"],
        ["123e4567e89b"],
      ],
      email: [
        ["john.doe@example.com", "a_b%c+d-e@mail.co.uk"],
        ["a@b", ".a@b.com", "a..b@c.com", "a@-b.com"],
      ],
      ipv4: [
        ["0.0.0.0", "255.255.255.255", "192.168.1.10"],
        ["256.0.0.1", "01.2.3.4", "1.2.3"],
      ],
      ipv6: [
        ["::", "::1", "fe80::1", "2001:db8::8a2e:370:7334", "1:2:3:4:5:6:7:8", "1::", "1:2:3:4:5:6:7::"],
        ["1:2:3:4:5:6:7:8:9", ":::", "1::2::3", "12345::"],
      ],
      hostname: [
        ["example.com", "a", "my-host.local"],
        ["-a.com", "a-.com", "a..b"],
      ],
    };
    for (const [format, [good, bad]] of Object.entries(examples)) {
      const match = schemaMatcher({ type: "string", format });
      const validate = ajv.compile({ type: "string", format });
      for (const value of good) {
        assert.ok(validate(value), `ajv: ${format} ${value}`);
        assert.ok(match(JSON.stringify(value)), `${format} ${value}`);
      }
      for (const value of bad) assert.ok(!match(JSON.stringify(value)), `${format} ${value}`);
    }
    const ipv4 = schemaMatcher({ type: "string", format: "ipv4" });
    const validIpv4 = ajv.compile({ type: "string", format: "ipv4" });
    for (let octet = 0; octet <= 300; octet += 1) {
      for (const text of [`${octet}.0.0.1`, `1.2.3.${octet}`, `0${octet}.1.1.1`]) {
        assert.equal(ipv4(JSON.stringify(text)), validIpv4(text), text);
      }
    }
  });

  test("a format or pattern with min/maxLength is accepted when its lengths fit, narrowed when possible", () => {
    assert.ok(schemaMatcher({ type: "string", format: "email", maxLength: 254 })('"a@b.co"'));
    assert.ok(
      schemaMatcher({ type: "string", format: "date", minLength: 10, maxLength: 10 })('"2020-01-01"'),
    );
    refused(
      { type: "string", format: "email", maxLength: 20 },
      "unsupported_schema",
      `${PATH}.format`,
      "email",
    );
    const narrowed = schemaMatcher({ type: "string", pattern: "^[A-Z][a-z]*$", minLength: 2, maxLength: 4 });
    for (const [text, ok] of [
      ["Ab", true],
      ["Abcd", true],
      ["A", false],
      ["Abcde", false],
    ] as const) {
      assert.equal(narrowed(JSON.stringify(text)), ok, text);
    }
    refused(
      { type: "string", pattern: "^[a-z]+(-[a-z]+)*$", maxLength: 10 },
      "unsupported_schema",
      `${PATH}.pattern`,
      "maxLength",
    );
  });
});

describe("patterns", () => {
  const cases: Array<[string, string[]]> = [
    ["^[A-Z]{3}-\\d{2,4}$", ["ABC-12", "ABC-1234", "ABC-12345", "AB-12", "abc-12", "ABC-1"]],
    ["^\\+?[0-9 ]{7,12}$", ["+1 234 5678", "1234567", "123456", "+", "12345678901234"]],
    ["^[a-z0-9]+(-[a-z0-9]+)*$", ["a", "a-b", "a-b-c9", "-a", "a-", "a--b", "A"]],
    ["^(foo|bar)baz?$", ["foobaz", "barba", "foo", "fooba", "bazfoo"]],
    ['^[a-z"\\\\]{1,5}$', ['a"b', "a\\b", '"""', "abcdef", "", "a-b"]],
    ["^\\d+(\\.\\d{1,2})?$", ["10", "10.5", "10.55", "10.555", ".5", "1."]],
    ["^[^@\\s]+@[^@\\s]+$", ["a@b", "a b@c", "@b", "a@b@c", "é@ü"]],
    ["^.{2}$", ["ab", "a\u00e9", "a", "abc", "😀😀"]],
    ["abc", ["abc", "xabc"]],
    ["^a|b$", ["a", "b", "ab"]],
    ["^(?:x|y)+?z{2}$", ["xzz", "xyxzz", "z", "xz"]],
    ["^(?<year>\\d{4})-\\u0041\\x42\\u{1F600}$", ["2024-AB😀", "2024-AB", "24-AB😀"]],
    ["^[\\w.-]+$", ["a.b-c_d", "a b", "é"]],
    ["^[^a-c]$", ["d", "a", '"', "\\", "😀"]],
    ["^\\W\\S\\D$", ['"!a', " !a", "!!1"]],
    ["^a{0}b{2,}c?$", ["bb", "bbbbc", "abb", "b"]],
    ["^\\t\\/[\\b]$", ["\t/\b", "\t\\/\b"]],
    ["^$", ["", "a"]],
  ];

  test("translate to grammars that match what the regular expression matches in full", () => {
    for (const [pattern, strings] of cases) {
      const match = schemaMatcher({ type: "string", pattern });
      const regex = new RegExp(`^(?:${pattern})$`, "u");
      for (const value of strings) {
        assert.equal(
          match(JSON.stringify(value)),
          regex.test(value),
          `/${pattern}/ on ${JSON.stringify(value)}`,
        );
      }
    }
  });

  test("unsupported regular-expression features are refused", () => {
    for (const pattern of [
      "^(?=a)a$",
      "^(?!a)b$",
      "^(?<=a)b$",
      "^(a)\\1$",
      "\\bword\\b",
      "^\\p{L}+$",
      "^a$b",
      "a^b",
      "^(a*)*$",
      "^[a-",
      "^(a$",
      "^a)$",
      "^*a$",
      "^a{2,1}$",
      "^\\cA$",
      "^[z-a]$",
    ]) {
      refused({ type: "string", pattern }, "unsupported_schema", `${PATH}.pattern`, "pattern");
    }
  });
});

describe("objects and arrays", () => {
  test("properties come in declared order; each optional one may be left out", () => {
    const schema = {
      type: "object",
      properties: {
        a: { type: "integer" },
        b: { type: "integer" },
        c: { type: "integer" },
        d: { type: "integer" },
      },
      required: ["b", "d"],
    };
    const match = schemaMatcher(schema);
    const validate = ajv.compile(schema);
    for (let mask = 0; mask < 16; mask += 1) {
      const value = Object.fromEntries(
        ["a", "b", "c", "d"].filter((_, i) => mask & (1 << i)).map((k) => [k, 1]),
      );
      assert.equal(match(JSON.stringify(value)), validate(value), JSON.stringify(value));
      assert.equal(
        match(JSON.stringify(value, null, 1).replace(/\n */g, " ").replace("{ ", "{").replace(" }", "}")),
        validate(value),
      );
    }
    assert.ok(!match('{"d": 1, "b": 1}'), "declared order");
    assert.ok(!match('{"b": 1, "d": 1, "e": 1}'), "only declared properties");
    assert.ok(schemaMatcher({ type: "object", properties: { a: { type: "integer" } } })("{}"));
    assert.ok(!schemaMatcher({ type: "object", properties: {}, additionalProperties: false })('{"a": 1}'));
    const allOptional = schemaMatcher({
      type: "object",
      properties: { x: { const: 1 }, y: { const: 2 }, z: { const: 3 } },
    });
    for (const text of [
      "{}",
      '{"x": 1}',
      '{"y": 2}',
      '{"z": 3}',
      '{"x": 1, "z": 3}',
      '{"x": 1,"y": 2, "z": 3}',
    ]) {
      assert.ok(allOptional(text), text);
    }
    assert.ok(!allOptional('{"x": 1 , "y": 2}') && !allOptional('{,"y": 2}') && !allOptional('{"x": 1,}'));
  });

  test("additionalProperties as a schema adds other names only, within maxProperties", () => {
    const schema = {
      type: "object",
      properties: { id: { type: "integer" }, idx: false },
      required: ["id"],
      additionalProperties: { type: "string", maxLength: 3 },
      maxProperties: 3,
    };
    const match = schemaMatcher(schema);
    assert.ok(match('{"id": 1}'));
    assert.ok(match('{"id": 1, "i": "a", "idxx": "b"}'));
    assert.ok(!match('{"id": 1, "id": "a"}'), "a declared name is not an extra");
    assert.ok(!match('{"id": 1, "idx": "a"}'), "nor is a forbidden one");
    assert.ok(!match('{"id": 1, "a": "b", "c": "d", "e": "f"}'), "maxProperties");
    assert.ok(!match('{"id": 1, "a": 5}'));
    const free = schemaMatcher({ type: "object" }, { freeFormDepth: 3 });
    assert.ok(free('{"a": [1, {"b": null}], "c": "d"}'));
    assert.ok(!free("[]"));
  });

  test("prefixItems, items, minItems and maxItems", () => {
    const schema = {
      type: "array",
      prefixItems: [{ type: "string" }, { type: "integer" }],
      items: { type: "boolean" },
      minItems: 1,
      maxItems: 4,
    };
    const match = schemaMatcher(schema);
    const validate = ajv.compile(schema);
    for (const value of [
      [],
      ["a"],
      ["a", 1],
      ["a", 1, true],
      ["a", 1, true, false],
      ["a", 1, true, false, true],
      [1],
      ["a", true],
    ]) {
      assert.equal(match(JSON.stringify(value).replace(/,/g, ", ")), validate(value), JSON.stringify(value));
    }
    const tuple = schemaMatcher({ type: "array", prefixItems: [{ const: 1 }, { const: 2 }], items: false });
    for (const [text, ok] of [
      ["[]", true],
      ["[1]", true],
      ["[1, 2]", true],
      ["[1, 2, 3]", false],
      ["[2]", false],
    ] as const) {
      assert.equal(tuple(text), ok, text);
    }
    const counted = schemaMatcher({ type: "array", items: { const: 0 }, minItems: 2, maxItems: 3 });
    assert.deepEqual(
      ["[0]", "[0, 0]", "[0,0,0]", "[0, 0, 0, 0]"].map((text) => counted(text)),
      [false, true, true, false],
    );
  });

  test("enum, const, nullable and type unions", () => {
    const match = schemaMatcher({ type: ["integer", "string"], enum: [1, "a", null, 2.5], nullable: false });
    assert.deepEqual(
      ["1", '"a"', "null", "2.5"].map((t) => match(t)),
      [true, true, false, false],
    );
    const nullable = schemaMatcher({ type: "string", maxLength: 2, nullable: true });
    assert.deepEqual(
      ['"ab"', "null", '"abc"'].map((t) => nullable(t)),
      [true, true, false],
    );
    const constant = schemaMatcher({ const: { a: [1, "é"] } });
    assert.ok(constant('{"a":[1,"é"]}'));
  });

  test("layouts: compact allows one space after ':' and ','; multiline allows bounded whitespace", () => {
    const schema = {
      type: "object",
      properties: { a: { type: "array", items: { type: "integer" } } },
      required: ["a"],
    };
    const compact = schemaMatcher(schema);
    assert.ok(compact('{"a":[1,2]}') && compact('{"a": [1, 2]}'));
    assert.ok(!compact('{ "a": [1, 2] }') && !compact('{"a":  [1]}'));
    const multiline = schemaMatcher(schema, { layout: "multiline" });
    assert.ok(multiline('{\n  "a": [\n    1,\n    2\n  ]\n}'));
    assert.ok(!multiline(`{\n${" ".repeat(21)}"a": []}`), "at most 20 spaces after a newline");
    assert.ok(!multiline('{\n\n"a": []}'));
  });

  test("json_object: the root is an object, values are any JSON, whitespace is bounded", () => {
    const match = matcher(jsonObjectGbnf({ freeFormDepth: 3 }));
    for (const good of [
      "{}",
      '{"a": 1}',
      '{\n  "a": [1, {"b": null}],\n  "c": "d"\n}',
      '{"a":{"b":{"c":[]}}}',
    ]) {
      assert.ok(match(good), good);
    }
    for (const bad of ["", " {}", "[]", '"a"', "1", '{"a": 1} ', '{"a": {"b": {"c": {"d": 1}}}}']) {
      assert.ok(!match(bad), JSON.stringify(bad));
    }
  });
});

describe("refusals and malformed schemas (422)", () => {
  test("unsupported keywords are named with their path", () => {
    const nested = (keyword: string, value: unknown) => ({
      type: "object",
      properties: { age: { type: "integer", [keyword]: value } },
    });
    for (const [keyword, value] of [
      ["not", {}],
      ["if", {}],
      ["then", {}],
      ["else", {}],
      ["patternProperties", {}],
      ["propertyNames", {}],
      ["dependentRequired", {}],
      ["dependentSchemas", {}],
      ["unevaluatedProperties", false],
      ["unevaluatedItems", false],
      ["contains", {}],
      ["contentEncoding", "base64"],
      ["contentMediaType", "text/plain"],
      ["additionalItems", false],
      ["x-custom", 1],
    ] as const) {
      refused(
        nested(keyword, value),
        "unsupported_schema",
        `${PATH}.properties.age.${keyword}`,
        `'${keyword}'`,
        `${PATH}.properties.age`,
      );
    }
  });

  test("keywords the grammar cannot enforce", () => {
    const cases: Array<[unknown, string, string]> = [
      [{ type: "integer", multipleOf: 5 }, "multipleOf", ""],
      [{ type: "number", minimum: 0.5 }, "minimum", ""],
      [{ type: "number", exclusiveMaximum: 2.5 }, "exclusiveMaximum", ""],
      [{ allOf: [{ type: "string" }, { maxLength: 2 }] }, "allOf", ""],
      [{ type: "array", uniqueItems: true }, "uniqueItems", ""],
      [{ type: "array", items: [{ type: "string" }] }, "items", ""],
      [{ type: "object", properties: { a: { type: "string" } }, minProperties: 1 }, "minProperties", ""],
      [{ type: "object", properties: { a: {}, b: {} }, maxProperties: 1 }, "maxProperties", ""],
      [{ type: "string", format: "uri" }, "format", "uri"],
      [{ type: "string", format: "date", pattern: "^x$" }, "pattern", "format"],
      [{ $ref: "https://example.com/schema.json" }, "$ref", "local"],
      [{ $ref: "#/$defs/a", maxLength: 2, $defs: { a: { type: "string" } } }, "maxLength", "$ref"],
      [{ anyOf: [{ type: "string" }], type: "string" }, "type", "anyOf"],
      [{ enum: ["a"], maxLength: 3 }, "maxLength", "enum"],
      [{ enum: ["a"], const: "a" }, "const", "enum"],
    ];
    for (const [schema, keyword, mention] of cases) {
      refused(schema, "unsupported_schema", `${PATH}.${keyword}`, `'${keyword}'`, mention);
    }
  });

  test("malformed or unsatisfiable schemas", () => {
    const cases: Array<[unknown, string]> = [
      [{ type: "object", properties: { a: {} }, required: ["b"] }, "required"],
      [{ type: "strin" }, "type"],
      [{ type: [] }, "type"],
      [{ $ref: "#/$defs/missing" }, "$ref"],
      [
        { $defs: { a: { $ref: "#/$defs/b" }, b: { anyOf: [{ $ref: "#/$defs/a" }] } }, $ref: "#/$defs/a" },
        "$defs.b.anyOf.0.$ref",
      ],
      [{ type: "string", minLength: 5, maxLength: 2 }, "maxLength"],
      [{ type: "string", maxLength: -1 }, "maxLength"],
      [{ type: "array", minItems: 3, maxItems: 1 }, "maxItems"],
      [{ type: "array", prefixItems: [{}], items: false, minItems: 2 }, "minItems"],
      [{ type: "integer", minimum: 10, maximum: 5 }, ""],
      [{ type: "integer", exclusiveMinimum: 1, exclusiveMaximum: 2 }, ""],
      [{ type: "number", minimum: 2, exclusiveMaximum: 2 }, ""],
      [{ type: "integer", minimum: "1" }, "minimum"],
      [{ enum: [1, 2], type: "string" }, "enum"],
      [{ enum: "a" }, "enum"],
      [{ anyOf: [] }, "anyOf"],
      [{ type: "object", properties: { a: false }, required: ["a"] }, "properties.a"],
      [false, ""],
      ["string", ""],
      [{ type: "object", properties: [] }, "properties"],
    ];
    for (const [schema, suffix] of cases)
      refused(schema, "invalid_schema", suffix ? `${PATH}.${suffix}` : PATH);
  });

  test("the path under $defs is reported for errors inside referenced schemas", () => {
    refused(
      {
        $ref: "#/$defs/Item",
        $defs: { Item: { type: "object", properties: { tags: { type: "array", contains: {} } } } },
      },
      "unsupported_schema",
      `${PATH}.$defs.Item.properties.tags.contains`,
      "'contains'",
    );
  });
});

describe("strict mode (DeepSeek rules)", () => {
  const P = "tools.0.function.parameters";
  const ok = {
    type: "object",
    properties: {
      city: { type: "string", maxLength: 10 },
      where: {
        type: "object",
        properties: { lat: { type: "number" } },
        required: ["lat"],
        additionalProperties: false,
      },
      list: { type: "array", items: { $ref: "#/$defs/item" }, maxItems: 3 },
    },
    required: ["city", "where", "list"],
    additionalProperties: false,
    $defs: { item: { type: "object", properties: {}, required: [], additionalProperties: false } },
  };

  test("accepts schemas where every object lists all properties and forbids others", () => {
    validateStrictToolSchema(ok, P);
  });

  test("refuses optional properties and open objects, wherever they are", () => {
    const strictRefusal = (schema: unknown, param: string, mention: string) =>
      assert.throws(
        () => validateStrictToolSchema(schema, P),
        (error: unknown) =>
          error instanceof InvalidParameterError &&
          error.code === "invalid_schema" &&
          error.param === param &&
          error.message.includes(mention),
      );
    strictRefusal({ ...ok, required: ["city", "where"] }, `${P}.required`, "'list'");
    strictRefusal({ ...ok, additionalProperties: true }, `${P}.additionalProperties`, "additionalProperties");
    strictRefusal(
      {
        ...ok,
        properties: { ...ok.properties, where: { ...ok.properties.where, additionalProperties: undefined } },
      },
      `${P}.properties.where.additionalProperties`,
      "false",
    );
    strictRefusal(
      { ...ok, $defs: { item: { type: "object", properties: { x: {} }, additionalProperties: false } } },
      `${P}.$defs.item.required`,
      "'x'",
    );
    strictRefusal(
      {
        type: "object",
        properties: { a: { anyOf: [{ type: "object" }, { type: "null" }] } },
        required: ["a"],
        additionalProperties: false,
      },
      `${P}.properties.a.anyOf.0.additionalProperties`,
      "additionalProperties",
    );
  });
});

describe("helpers", () => {
  test("gbnfLiteral escapes quotes, backslashes and non-ASCII", () => {
    assert.equal(gbnfLiteral('a"b\\c\né😀'), '"a\\"b\\\\c\\x0A\\xE9\\U0001F600"');
    assert.ok(matcher(`root ::= ${gbnfLiteral('a"b\\c\né😀')}\n`)('a"b\\c\né😀'));
  });

  test("Utf8Validator allows well-formed UTF-8 only", () => {
    const accepts = (...bytes: number[]) => new Utf8Validator().accepts(bytes);
    assert.ok(accepts(0x41, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80));
    assert.ok(accepts(0xe4, 0xb8), "may end mid-character");
    for (const bad of [
      [0x80],
      [0xc0, 0x80],
      [0xc1],
      [0xe0, 0x80],
      [0xed, 0xa0],
      [0xf0, 0x8f],
      [0xf4, 0x90],
      [0xf5],
      [0xff],
      [0xc3, 0x41],
    ]) {
      assert.ok(!accepts(...bad), bad.map((b) => b.toString(16)).join(" "));
    }
    const validator = new Utf8Validator();
    validator.push([0xe4]);
    assert.ok(validator.pending);
    assert.ok(!validator.accepts([0x41]) && validator.accepts([0xb8, 0xad]));
    validator.push([0xb8, 0xad]);
    assert.ok(!validator.pending);
    validator.push([0xff]);
    assert.ok(!validator.pending && validator.accepts([0x41]), "resynchronises after a malformed byte");
  });
});

describe("cost limits", () => {
  const repeat = (text: string, times: number): string => text.repeat(times);

  test("neighbouring optional repeats merge, so 500 × (a|b|c|d)? is one bounded repeat", () => {
    const pattern = repeat("(a|b|c|d)?", 500);
    const grammar = jsonSchemaToGbnf({ type: "string", pattern }, PATH);
    assert.ok(grammar.length < 200, grammar);
    assert.match(grammar, /\[a-d\]\{0,500\}/);
    const match = matcher(grammar);
    for (const text of ["", "abcd", "d".repeat(500), "a".repeat(501), "abce"]) {
      assert.equal(match(JSON.stringify(text)), text.length <= 500 && /^[a-d]*$/.test(text), text);
    }
  });

  test("the rewrites keep the language", () => {
    const cases: Array<[string, string[]]> = [
      ["^a?a?a$", ["", "a", "aa", "aaa", "aaaa", "b"]],
      ["^(ab)?(ab)?(ab)+$", ["ab", "abab", "ababab", "abababab", "aba", ""]],
      ["^\\d+\\d*x\\d?\\d?$", ["1x", "12x34", "x", "1x123", "1"]],
      ["^(a|b|[c-e]|xy)+$", ["a", "ab", "cde", "axy", "xyx", "f", ""]],
      ["^(a?)?(a?)?$", ["", "a", "aa", "aaa"]],
      ["^x{2}x{3}y?$", ["xxxxx", "xxxxxy", "xxxx", "xxxxxx"]],
    ];
    for (const [pattern, strings] of cases) {
      const match = schemaMatcher({ type: "string", pattern });
      const regex = new RegExp(`^(?:${pattern})$`, "u");
      for (const value of strings) {
        assert.equal(
          match(JSON.stringify(value)),
          regex.test(value),
          `/${pattern}/ on ${JSON.stringify(value)}`,
        );
      }
    }
  });

  test("realistic patterns, formats, enums and objects stay within the limits", () => {
    const patterns = [
      "^[A-Z]{2}$",
      "^\\+?[1-9]\\d{1,14}$",
      "^#?([a-fA-F0-9]{6}|[a-fA-F0-9]{3})$",
      "^(?:[01]\\d|2[0-3]):[0-5]\\d$",
      "^\\d{5}(-\\d{4})?$",
      "^https?://[^\\s]+$",
      "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$",
      "^.+@.+\\..+$",
      "^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\\.[a-zA-Z]{2,}$",
      "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-5][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$",
      "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?(Z|[+-]\\d{2}:\\d{2})$",
      "^v?(0|[1-9]\\d*)\\.(0|[1-9]\\d*)\\.(0|[1-9]\\d*)(?:-((?:0|[1-9]\\d*|\\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\\.(?:0|[1-9]\\d*|\\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\\+([0-9a-zA-Z-]+(?:\\.[0-9a-zA-Z-]+)*))?$",
      "^((25[0-5]|2[0-4]\\d|[01]?\\d\\d?)\\.){3}(25[0-5]|2[0-4]\\d|[01]?\\d\\d?)$",
      "^([a-zA-Z0-9-]+\\.)+[a-zA-Z]{2,}$",
      "^P(\\d+Y)?(\\d+M)?(\\d+W)?(\\d+D)?(T(\\d+H)?(\\d+M)?(\\d+S)?)?$",
      "^(\\+\\d{1,3}\\s?)?\\(?\\d{3}\\)?[\\s.-]?\\d{3}[\\s.-]?\\d{4}$",
      "^[a-z0-9]+(?:-[a-z0-9]+)*$",
      "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$",
      "^[A-Za-z]+( [A-Za-z]+){0,4}$",
      "^\\s*\\w+(\\s*,\\s*\\w+)*\\s*$",
      "^[\\s\\S]{0,5000}$",
      "^.*a.*b.*c.*$",
    ];
    const schema = {
      type: "object",
      properties: {
        ...Object.fromEntries(patterns.map((pattern, i) => [`p${i}`, { type: "string", pattern }])),
        ...Object.fromEntries(
          ["date", "time", "date-time", "uuid", "email", "ipv4", "ipv6", "hostname"].map((f) => [
            f,
            { format: f },
          ]),
        ),
        country: { enum: Array.from({ length: 250 }, (_, i) => `C${i}`) },
        tags: { type: "array", items: { anyOf: [{ type: "string", maxLength: 20 }, { type: "integer" }] } },
        ...Object.fromEntries(
          Array.from({ length: 40 }, (_, i) => [`opt${i}`, { type: ["integer", "null"] }]),
        ),
      },
      required: ["p0"],
    };
    assert.doesNotThrow(() => jsonSchemaToGbnf(schema, PATH));
  });

  test("a pattern that keeps many ways open is refused with a 422 naming it", () => {
    const pattern = `${PATH}.pattern`;
    refused(
      { type: "string", pattern: repeat("[a-z]?[0-9]?", 40) },
      "unsupported_schema",
      pattern,
      "parse stacks",
    );
    refused(
      { type: "string", pattern: "^([A-Za-z]+ ?){1,5}$" },
      "unsupported_schema",
      pattern,
      "16-character token",
    );
    refused({ type: "string", pattern: "^(.*,)*.*$" }, "unsupported_schema", pattern, "ways");
    refused(
      { type: "string", pattern: "^((((a{50}){50}){50}){50})$" },
      "unsupported_schema",
      pattern,
      "positions",
    );
    refused({ type: "string", pattern: repeat("x", 8193) }, "unsupported_schema", pattern, "8192");
    refused(
      { type: "string", pattern: `${repeat("(", 65)}a${repeat(")", 65)}` },
      "unsupported_schema",
      pattern,
      "nest",
    );
    refused(
      { type: "object", properties: { deep: { type: "string", pattern: repeat("(ab|a)?(b|ba)?", 10) } } },
      "unsupported_schema",
      `${PATH}.properties.deep.pattern`,
    );
  });

  test("what the fuzzer found: min above max, deep values, thousands of prefixItems", () => {
    refused(
      { minProperties: 999999, maxProperties: 999 },
      "invalid_schema",
      `${PATH}.maxProperties`,
      "below 'minProperties'",
    );
    let deep: unknown = [];
    for (let i = 0; i < 20_000; i += 1) deep = [deep];
    refused({ const: deep }, "invalid_schema", `${PATH}.const`, "nested too deeply");
    const items = (n: number) => ({
      type: "array",
      prefixItems: Array.from({ length: n }, () => ({ type: "integer" })),
    });
    assert.ok(jsonSchemaToGbnf(items(4000), PATH).length < 131_072, "4000 items compile (no stack overflow)");
    assert.throws(
      () => jsonSchemaToGbnf(items(9000), PATH),
      (error: unknown) => error instanceof InvalidParameterError && /grammar of/.test(error.message),
    );
  });

  test("schemas past the size and breadth limits are refused with a 422 naming the place", () => {
    const many = (n: number) =>
      Object.fromEntries(Array.from({ length: n }, (_, i) => [`p${i}`, { type: "integer" }]));
    refused({ type: "object", properties: many(600) }, "unsupported_schema", PATH, "601 alternatives");
    refused(
      {
        type: "object",
        properties: { x: { type: "object", properties: many(1100), required: Object.keys(many(1100)) } },
      },
      "unsupported_schema",
      `${PATH}.properties.x.properties`,
      "1100 properties",
    );
    refused(
      { enum: Array.from({ length: 600 }, (_, i) => i) },
      "unsupported_schema",
      `${PATH}.enum`,
      "600 values",
    );
    refused(
      { anyOf: Array.from({ length: 300 }, (_, i) => ({ const: i })) },
      "unsupported_schema",
      `${PATH}.anyOf`,
      "300 options",
    );
    const enumOf = (n: number, tag: string) => ({ enum: Array.from({ length: n }, (_, i) => `${tag}${i}`) });
    refused(
      {
        anyOf: Array.from({ length: 30 }, (_, j) => ({
          type: "object",
          properties: { a: enumOf(30, `v${j}-`) },
        })),
      },
      "unsupported_schema",
      PATH,
      "900 alternatives",
    );
    const wide = { type: "array", prefixItems: Array.from({ length: 5000 }, () => ({ type: "integer" })) };
    assert.throws(
      () => jsonSchemaToGbnf({ type: "object", properties: { a: wide, b: wide, c: wide } }, PATH),
      (error: unknown) =>
        error instanceof InvalidParameterError &&
        error.param?.startsWith(`${PATH}.properties.b.prefixItems.`) === true &&
        error.message.includes("10000 subschemas"),
    );
    assert.throws(
      () => jsonSchemaToGbnf({ enum: Array.from({ length: 500 }, (_, i) => "x".repeat(300) + i) }, PATH),
      (error: unknown) =>
        error instanceof InvalidParameterError &&
        error.param === null &&
        /grammar of \d+ characters/.test(error.message),
    );
  });
});
