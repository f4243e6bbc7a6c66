/**
 * `npx tsx bench/speculative.ts [--json] [--threads N] [--rounds N] [--tokens N]`: what
 * speculative decoding gives and costs, decode tokens/s of one greedy stream through the engine
 * (lockstep driver included), with and without each predictor:
 * - where drafts can be accepted: a scripted target of realistic size (1024 wide, 12 layers, FFN
 *   2816, Q8_0: zero layers, so its output is exact, but the compute is real) answering a prompt
 *   that quotes its reply; a tiny scripted draft model that predicts it; prompt lookup;
 * - where they cannot: the same target with a draft that is always wrong, and a random-weight
 *   model (512 wide, 8 layers) answering random words with prompt lookup on.
 * Rounds alternate the configurations, so a change in the machine's load falls on all alike; the
 * ratios are medians over rounds of the per-round ratio. run-all's `speculative` phase.
 */
import os from "node:os";
import { parseArgs } from "node:util";
import type { ChatRequest } from "../src/core/chat.js";
import { PLAIN_TEXT_OPTIONS } from "../src/core/chat.js";
import { LocalEngine } from "../src/engines/local/local-engine.js";
import type { PromptLookupSetting } from "../src/engines/local/speculation.js";
import { ensureSmallAsciiModel } from "../test/fixtures/models.js";
import { ensureFamilyModel, familyWords } from "../test/fixtures/speculative-models.js";
import { fmt, median, wordSalad } from "./common.js";

type Row = [metric: string, measured: string, target: string, met: string];

const { values } = parseArgs({
  options: {
    json: { type: "boolean", default: false },
    threads: { type: "string", default: String(Math.min(2, os.availableParallelism())) },
    rounds: { type: "string", default: "3" },
    tokens: { type: "string", default: "128" },
  },
});
const threads = Number(values.threads);
const rounds = Number(values.rounds);
const tokens = Number(values.tokens);
const say = (line: string) => (values.json ? console.error(line) : console.log(line));

const words = familyWords(Math.max(tokens + 8, 64));
const target = ensureFamilyModel("spec-bench-target.gguf", {
  words,
  script: words,
  width: 1024,
  layers: 12,
  feedForward: 2816,
  quant: "Q8_0",
});
const draft = ensureFamilyModel("spec-bench-draft.gguf", { words, script: words });
/** Predicts the word before instead of the word after: never right. */
const wrongDraft = ensureFamilyModel("spec-bench-wrong-draft.gguf", { words, script: [...words].reverse() });
const random = ensureSmallAsciiModel();

const quoting = `Copy this list: ${words.join("")}`;
const salad = wordSalad(120, 7);

interface Config {
  name: string;
  model: string;
  prompt: string;
  promptLookup: PromptLookupSetting;
  draftModelPath?: string;
}
const configs: Config[] = [
  { name: "scripted, plain", model: target, prompt: quoting, promptLookup: "off" },
  {
    name: "scripted, draft model",
    model: target,
    prompt: quoting,
    promptLookup: "off",
    draftModelPath: draft,
  },
  { name: "scripted, prompt lookup", model: target, prompt: quoting, promptLookup: "on" },
  {
    name: "scripted, wrong draft model",
    model: target,
    prompt: quoting,
    promptLookup: "off",
    draftModelPath: wrongDraft,
  },
  { name: "random, plain", model: random, prompt: salad, promptLookup: "off" },
  { name: "random, prompt lookup", model: random, prompt: salad, promptLookup: "on" },
];

const engines = new Map<Config, { engine: LocalEngine; id: string }>();
for (const config of configs) {
  const engine = new LocalEngine({
    contextSize: 2048,
    parallel: 1,
    threads,
    gpu: "off",
    promptLookup: config.promptLookup,
    ...(config.draftModelPath ? { draftModelPath: config.draftModelPath } : {}),
  });
  await engine.addModelFile(config.model, [], { preload: true });
  engines.set(config, { engine, id: engine.listModels()[0]!.id });
}

/** Decode tokens/s of one greedy reply: from its first token to its last. */
async function decode(config: Config): Promise<number> {
  const { engine, id } = engines.get(config)!;
  const request: ChatRequest = {
    model: id,
    messages: [{ role: "user", content: config.prompt }],
    sampling: { temperature: 0, topP: 1, seed: 1, frequencyPenalty: 0, presencePenalty: 0 },
    maxTokens: tokens,
    stop: [],
    thinking: undefined,
    ...PLAIN_TEXT_OPTIONS,
  };
  let first = 0;
  let last = 0;
  let generated = 0;
  for await (const event of await engine.chat(request, new AbortController().signal)) {
    if (event.type === "text-delta" || event.type === "reasoning-delta") {
      last = performance.now();
      first ||= last;
    }
    if (event.type === "finish") generated = event.usage.completionTokens;
  }
  if (generated < tokens / 2) throw new Error(`${config.name}: only ${generated} tokens`);
  return ((generated - 1) * 1000) / (last - first);
}

for (const config of configs) await decode(config); // warm up: prefix cache, pages, threads
const speeds = new Map<Config, number[]>(configs.map((config) => [config, []]));
for (let round = 0; round < rounds; round++) {
  for (const config of configs) {
    const speed = await decode(config);
    speeds.get(config)!.push(speed);
    say(`  round ${round + 1}: ${config.name}: ${fmt(speed)} tok/s`);
  }
}

const rows: Row[] = [];
/** The median over rounds of `config`'s speed over `base`'s in the same round. */
const ratio = (config: Config, base: Config) =>
  median(speeds.get(config)!.map((speed, round) => speed / speeds.get(base)!.at(round)!));
const [plain, withDraft, withLookup, withWrongDraft, randomPlain, randomLookup] = configs as [
  Config,
  Config,
  Config,
  Config,
  Config,
  Config,
];
const row = (config: Config, base: Config, target: string, met: (value: number) => boolean) => {
  const value = ratio(config, base);
  const list = speeds
    .get(config)!
    .map((speed) => fmt(speed))
    .join(", ");
  const stats = engines.get(config)!.engine.listModels()[0]!.speculation;
  const drafted = stats ? stats.acceptedTokens + stats.rejectedTokens : 0;
  const acceptance =
    drafted > 0 ? `, ${fmt((stats!.acceptedTokens / drafted) * 100, 0)}% of drafts accepted` : "";
  rows.push([
    `speculative: ${config.name} vs plain, decode (${threads} threads)`,
    `${fmt(value, 2)}x (${list} tok/s vs ${speeds
      .get(base)!
      .map((speed) => fmt(speed))
      .join(", ")}${acceptance})`,
    target,
    met(value) ? "yes" : "NO",
  ]);
};
row(withDraft, plain, ">= 1.5x", (value) => value >= 1.5);
row(withLookup, plain, ">= 1.5x", (value) => value >= 1.5);
row(withWrongDraft, plain, ">= 0.95x", (value) => value >= 0.95);
row(randomLookup, randomPlain, ">= 0.95x", (value) => value >= 0.95);

for (const { engine } of engines.values()) await engine.dispose();
if (values.json) console.log(JSON.stringify({ rows }));
else
  for (const [metric, measured, goal, met] of rows)
    console.log(`${metric}: ${measured} (target ${goal}: ${met})`);
