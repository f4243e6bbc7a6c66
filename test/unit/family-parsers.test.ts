// Each model family's output parser, on the family's exact markup: reasoning, answer and tool
// calls come out the same however the text is cut into chunks, and markup that does not complete
// a call is given back as text.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { detectFamily, FAMILIES, type FamilyName } from "../../src/core/families/model-family.js";
import type { OutputPart } from "../../src/core/families/output-parser.js";
import { thinkingBudgetFor } from "../../src/core/families/thinking-budget.js";

interface Parsed {
  reasoning: string;
  content: string;
  calls: Array<{ name: string; arguments: unknown }>;
}

function parse(
  family: FamilyName,
  chunks: readonly string[],
  startsIn: "undecided" | "reasoning" = "undecided",
) {
  const parser = FAMILIES[family].createParser({ startsIn, parseToolCalls: true });
  const parts: OutputPart[] = [];
  for (const chunk of chunks) parts.push(...parser.push(chunk));
  parts.push(...parser.finish());
  const raw: Array<{ name: string; arguments: string }> = [];
  const result = { reasoning: "", content: "", deltas: 0 };
  for (const part of parts) {
    if (part.kind === "reasoning") result.reasoning += part.text;
    else if (part.kind === "content") result.content += part.text;
    else if (part.kind === "call-start") raw[part.index] = { name: part.name, arguments: "" };
    else {
      raw[part.index]!.arguments += part.argumentsDelta;
      result.deltas++;
    }
  }
  const calls = raw.map((call) => ({ name: call.name, arguments: parseJson(call.arguments) }));
  return {
    parsed: { reasoning: result.reasoning, content: result.content, calls } as Parsed,
    deltas: result.deltas,
  };
}

/** The arguments as a value, or the text when it is not JSON (a call cut short). */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

const PARIS = { name: "get_weather", arguments: { city: "Paris", note: 'a } " ] b' } };
const PARIS_JSON = JSON.stringify(PARIS.arguments);

/** Family, its exact markup, and what it means. */
const SAMPLES: Array<{ family: FamilyName; label: string; text: string; expected: Parsed }> = [
  {
    family: "qwen",
    label: "Qwen3 <think> and <tool_call>",
    text: `<think>\nLet me see.\n</think>\n\nChecking.\n<tool_call>\n{"name": "get_weather", "arguments": ${PARIS_JSON}}\n</tool_call>`,
    expected: { reasoning: "Let me see.", content: "Checking.\n", calls: [PARIS] },
  },
  {
    family: "deepseek",
    label: "DeepSeek R1 fenced calls",
    text:
      `<think>\nHmm.\n</think>\n\n<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n\`\`\`json\n${PARIS_JSON}\n\`\`\`<｜tool▁call▁end｜>\n` +
      "<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_time\n```json\n{}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
    expected: { reasoning: "Hmm.", content: "", calls: [PARIS, { name: "get_time", arguments: {} }] },
  },
  {
    family: "deepseek",
    label: "DeepSeek V3.1 calls",
    text: `Checking.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>${PARIS_JSON}<｜tool▁call▁end｜><｜tool▁calls▁end｜> Done.`,
    expected: { reasoning: "", content: "Checking. Done.", calls: [PARIS] },
  },
  {
    family: "deepseek",
    label: "DeepSeek call without the block around it",
    text: `<｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>${PARIS_JSON}<｜tool▁call▁end｜>Done.`,
    expected: { reasoning: "", content: "Done.", calls: [PARIS] },
  },
  {
    family: "gpt-oss",
    label: "harmony analysis and a call in commentary",
    text: `<|channel|>analysis<|message|>User wants weather.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>${PARIS_JSON}<|call|>`,
    expected: { reasoning: "User wants weather.", content: "", calls: [PARIS] },
  },
  {
    family: "gpt-oss",
    label: "harmony analysis and final",
    text: "<|channel|>analysis<|message|>Think.<|end|><|start|>assistant<|channel|>final<|message|>It is sunny.<|return|>",
    expected: { reasoning: "Think.", content: "It is sunny.", calls: [] },
  },
  {
    family: "gpt-oss",
    label: "harmony recipient before the channel",
    text: `<|channel|>analysis<|message|>Go.<|end|><|start|>assistant to=functions.get_weather<|channel|>commentary json<|message|>${PARIS_JSON}<|call|>`,
    expected: { reasoning: "Go.", content: "", calls: [PARIS] },
  },
  {
    family: "mistral",
    label: "Magistral [THINK] and [TOOL_CALLS]NAME[ARGS]",
    text: `[THINK]Plan.[/THINK]Calling.[TOOL_CALLS]get_weather[ARGS]${PARIS_JSON}[TOOL_CALLS]get_time[ARGS]{}`,
    expected: {
      reasoning: "Plan.",
      content: "Calling.",
      calls: [PARIS, { name: "get_time", arguments: {} }],
    },
  },
  {
    family: "mistral",
    label: "Mistral v0.3 [TOOL_CALLS] list",
    text: `[TOOL_CALLS] [{"name": "get_weather", "arguments": ${PARIS_JSON}, "id": "abc123def"}, {"arguments": {}, "name": "get_time"}]`,
    expected: { reasoning: "", content: "", calls: [PARIS, { name: "get_time", arguments: {} }] },
  },
  {
    family: "llama3",
    label: "Llama 3.x JSON call",
    text: `{"name": "get_weather", "parameters": ${PARIS_JSON}}`,
    expected: { reasoning: "", content: "", calls: [PARIS] },
  },
  {
    family: "llama3",
    label: "Llama 3.x <|python_tag|> calls joined with ;",
    text: `<|python_tag|>{"name": "get_weather", "parameters": ${PARIS_JSON}}; {"name": "get_time", "parameters": {}}`,
    expected: { reasoning: "", content: "", calls: [PARIS, { name: "get_time", arguments: {} }] },
  },
];

describe("family output parsers", () => {
  for (const sample of SAMPLES) {
    it(`${sample.family}: ${sample.label}, cut at every position`, () => {
      assert.deepEqual(parse(sample.family, [sample.text]).parsed, sample.expected);
      for (let cut = 1; cut < sample.text.length; cut++) {
        const chunks = [sample.text.slice(0, cut), sample.text.slice(cut)];
        assert.deepEqual(parse(sample.family, chunks).parsed, sample.expected, `cut at ${cut}`);
      }
    });
  }

  it("gives the same reply for any chunking (fast-check)", () => {
    const sample = fc.constantFrom(...SAMPLES);
    fc.assert(
      fc.property(sample, fc.array(fc.nat(), { maxLength: 12 }), (chosen, cuts) => {
        const points = [...new Set(cuts.map((cut) => cut % (chosen.text.length + 1)))].sort((a, b) => a - b);
        const chunks = [0, ...points].map((from, index, all) => chosen.text.slice(from, all[index + 1]));
        assert.deepEqual(parse(chosen.family, chunks).parsed, chosen.expected);
      }),
      { numRuns: 300 },
    );
  });

  it("streams arguments as deltas where the syntax allows", () => {
    for (const sample of SAMPLES.filter((item) => item.expected.calls.length > 0)) {
      const { deltas } = parse(sample.family, [...sample.text]);
      assert.ok(deltas >= 10, `${sample.label}: ${deltas} deltas`);
    }
  });

  it("gives back markup that is not a call as text, and never throws", () => {
    const cases: Array<[FamilyName, string]> = [
      ["deepseek", "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function"],
      ["mistral", "[TOOL_CALLS]this is not a name"],
      ["mistral", "[TOOL_CALLS]get_wea"],
      ["llama3", '{"answer": 42}'],
      ["llama3", "{broken json"],
      ["qwen", "<tool_call>not json</tool_call> after"],
      ["gpt-oss", "No channels at all."],
    ];
    for (const [family, text] of cases) {
      const { parsed } = parse(family, [text]);
      assert.equal(parsed.calls.length, 0, text);
      for (const word of text.match(/[a-z]{4,}/g) ?? [])
        assert.ok(parsed.content.includes(word), `${text}: ${word}`);
    }
    fc.assert(
      fc.property(
        fc.constantFrom(...(Object.keys(FAMILIES) as FamilyName[])),
        fc.array(
          fc.oneof(
            fc.string(),
            fc.constantFrom(
              "<think>",
              "</think>",
              "[THINK]",
              "[TOOL_CALLS]",
              "[ARGS]",
              "<|channel|>",
              "<|message|>",
              "<|end|>",
              "<｜tool▁calls▁begin｜>",
              "<｜tool▁call▁begin｜>",
              "<｜tool▁sep｜>",
              "<tool_call>",
              "{",
              "}",
              '"',
              "<|python_tag|>",
            ),
          ),
          { maxLength: 20 },
        ),
        (family, chunks) => {
          parse(family, chunks.map(String));
        },
      ),
      { numRuns: 500 },
    );
  });

  it("continues reasoning the prompt opened", () => {
    assert.deepEqual(parse("deepseek", ["I reason</think>Done"], "reasoning").parsed, {
      reasoning: "I reason",
      content: "Done",
      calls: [],
    });
  });

  it("tells families apart by template, architecture and name", () => {
    assert.equal(detectFamily({ template: "<|start|>assistant<|channel|>final" }).name, "gpt-oss");
    assert.equal(detectFamily({ template: "{{'<｜Assistant｜>'}}" }).name, "deepseek");
    assert.equal(detectFamily({ template: "[INST]{{ m }}[/INST]" }).name, "mistral");
    assert.equal(detectFamily({ template: "<|start_header_id|>user<|end_header_id|>" }).name, "llama3");
    assert.equal(detectFamily({ template: "<|im_start|>user" }).name, "qwen");
    assert.equal(detectFamily({ architecture: "gpt-oss" }).name, "gpt-oss");
    assert.equal(detectFamily({}).name, "qwen");
  });

  it("maps reasoning effort to a thinking budget", () => {
    assert.equal(thinkingBudgetFor("low"), 512);
    assert.equal(thinkingBudgetFor("medium"), 2048);
    assert.equal(thinkingBudgetFor("high"), 8192);
    assert.equal(thinkingBudgetFor("max"), undefined);
    assert.equal(thinkingBudgetFor(undefined), undefined);
  });
});
