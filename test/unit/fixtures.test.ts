// The generated GGUF fixtures load in node-llama-cpp and behave as promised: the scripted model
// generates its script after any prompt, the tiny model generates, Q8_0/F16 files load.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { getLlama } from "node-llama-cpp";
import type { Llama, LlamaModel, Token } from "node-llama-cpp";
import { renderChatML } from "../fixtures/fixture-tokenizer.js";
import type { ChatMLMessage } from "../fixtures/fixture-tokenizer.js";
import { DEFAULT_SCRIPT, ensureFixtureModels, makeScriptedModel, makeTinyModel } from "../fixtures/models.js";

interface Generation {
  tokens: Token[];
  text: string;
  /** Whether generation stopped on an end-of-generation token (included in `tokens`). */
  endedOnEog: boolean;
}

const PROMPTS: ChatMLMessage[][] = [
  [{ role: "user", content: "What is the answer?" }],
  [
    { role: "system", content: "You are terse." },
    { role: "user", content: "你好，世界" },
  ],
  [
    { role: "user", content: "first" },
    { role: "assistant", content: "<think> let me think</think>The answer is 42" },
    { role: "user", content: "again, and end with a newline\n" },
  ],
  [{ role: "user", content: "" }],
];

let llama: Llama;
const models: LlamaModel[] = [];
const scratch = mkdtempSync(join(tmpdir(), "qiusuo-fixtures-"));

async function load(path: string): Promise<LlamaModel> {
  const model = await llama.loadModel({ modelPath: path });
  models.push(model);
  return model;
}

async function generate(
  model: LlamaModel,
  prompt: string,
  options: { temperature?: number; seed?: number; maxTokens?: number } = {},
): Promise<Generation> {
  const context = await model.createContext({ contextSize: 512, threads: 1 });
  try {
    const sequence = context.getSequence();
    const tokens: Token[] = [];
    let endedOnEog = false;
    const input = model.tokenize(prompt, true);
    const sampling = { temperature: options.temperature ?? 0, seed: options.seed, yieldEogToken: true };
    for await (const token of sequence.evaluate(input, sampling)) {
      tokens.push(token);
      if (model.isEogToken(token)) {
        endedOnEog = true;
        break;
      }
      if (tokens.length >= (options.maxTokens ?? 32)) break;
    }
    return { tokens, text: model.detokenize(tokens.filter((token) => !model.isEogToken(token))), endedOnEog };
  } finally {
    await context.dispose();
  }
}

before(async () => {
  llama = await getLlama({ gpu: false });
});

after(async () => {
  for (const model of models) await model.dispose();
  await llama.dispose();
  rmSync(scratch, { recursive: true, force: true });
});

describe("scripted model", () => {
  const fixtures = ensureFixtureModels();
  const scriptText = DEFAULT_SCRIPT.join("");

  test("greedy generation is exactly the script, then <|im_end|>, after any prompt", async () => {
    const model = await load(fixtures.scripted);
    for (const messages of PROMPTS) {
      const generation = await generate(model, renderChatML(messages));
      assert.equal(generation.text, scriptText);
      assert.equal(generation.tokens.length, DEFAULT_SCRIPT.length + 1);
      assert.ok(generation.endedOnEog);
      assert.equal(generation.tokens.at(-1), model.tokens.eos);
    }
    const raw = await generate(model, "no template at all");
    assert.equal(raw.text, scriptText);
  });

  test("sampling at temperature 1 follows the script too", async () => {
    const model = await load(fixtures.scripted);
    for (const seed of [1, 2, 3]) {
      const generation = await generate(model, renderChatML(PROMPTS[0]!), { temperature: 1, seed });
      assert.equal(generation.text, scriptText);
      assert.ok(generation.endedOnEog);
    }
  });

  test("user-defined script tokens, FIM and extra special tokens, Q8_0 weights", async () => {
    const script = ["<think>", "让我想想", "</think>", "答案：42"];
    const info = makeScriptedModel(join(scratch, "scripted-fim.gguf"), {
      script,
      scriptTokenType: "user-defined",
      fim: true,
      extraSpecialTokens: ["<|tool_call|>"],
      quant: "Q8_0",
    });
    const model = await load(info.path);
    assert.match(model.typeDescription, /Q8_0/);
    assert.equal(model.tokens.infill.prefix, info.special.fimPrefix);
    assert.equal(model.tokens.infill.middle, info.special.fimMiddle);
    assert.equal(model.tokens.infill.suffix, info.special.fimSuffix);
    assert.deepEqual(model.tokenize("<|tool_call|>", true), [info.special.extra["<|tool_call|>"]]);
    const generation = await generate(model, renderChatML(PROMPTS[1]!));
    assert.equal(generation.text, script.join(""));
    assert.deepEqual(generation.tokens, [...info.scriptTokens, info.special.imEnd]);
  });

  test("script entries must be distinct and new to the vocabulary", () => {
    const path = join(scratch, "never.gguf");
    assert.throws(() => makeScriptedModel(path, { script: ["a", "b"] }), /collides/);
    assert.throws(() => makeScriptedModel(path, { script: ["<|im_end|>"] }), /collides/);
    assert.throws(() => makeScriptedModel(path, { script: ["he said", "he said"] }), /twice/);
    assert.throws(() => makeScriptedModel(path, { script: [] }), /at least one/);
  });
});

describe("tiny model", () => {
  test("loads and generates tokens, deterministically under greedy decoding", async () => {
    const model = await load(ensureFixtureModels().tiny);
    assert.equal(model.fileInsights.trainContextSize, 4096);
    const prompt = renderChatML(PROMPTS[0]!);
    const first = await generate(model, prompt, { maxTokens: 16 });
    assert.ok(first.tokens.length > 0);
    const vocabularySize = [...model.iterateAllTokens()].length;
    assert.ok(first.tokens.every((token) => token >= 0 && token < vocabularySize));
    assert.deepEqual((await generate(model, prompt, { maxTokens: 16 })).tokens, first.tokens);
  });

  for (const quant of ["Q8_0", "F16"] as const) {
    test(`${quant} variant loads and generates`, async () => {
      const info = makeTinyModel(join(scratch, `tiny-${quant}.gguf`), { quant });
      assert.equal(statSync(info.path).size, info.bytes);
      const model = await load(info.path);
      assert.match(model.typeDescription, new RegExp(quant));
      assert.equal(model.fileInsights.totalParameters, info.parameters);
      assert.ok((await generate(model, renderChatML(PROMPTS[0]!), { maxTokens: 8 })).tokens.length > 0);
    });
  }

  test("ensureFixtureModels reuses up-to-date files", () => {
    const { tiny } = ensureFixtureModels();
    const before = statSync(tiny).mtimeMs;
    assert.equal(ensureFixtureModels().tiny, tiny);
    assert.equal(statSync(tiny).mtimeMs, before);
  });
});
