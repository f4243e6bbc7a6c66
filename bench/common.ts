/**
 * Shared bench helpers that need node-llama-cpp: one Llama runtime for the bench process, prompt
 * rendering identical to the server's (the GGUF's Jinja chat template, as src/engines/local/prompt.ts
 * does), deterministic prompt text of a given token length, and the model's tensor bytes.
 */
import { readFileSync, statSync } from "node:fs";
import { Template } from "@huggingface/jinja";
import {
  getLlama,
  LlamaLogLevel,
  readGgufFileInfo,
  type Llama,
  type LlamaModel,
  type Token,
} from "node-llama-cpp";

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

let runtime: Promise<Llama> | undefined;
let runtimeThreads = 0;

/** The bench process's own llama.cpp runtime (CPU, threads set explicitly: the default oversubscribes). */
export function benchLlama(threads: number): Promise<Llama> {
  if (runtime && threads > runtimeThreads) throw new Error("benchLlama: ask for the most threads first");
  if (runtime) return runtime;
  runtimeThreads = threads;
  runtime = getLlama({ gpu: false, maxThreads: threads, logLevel: LlamaLogLevel.error, build: "never" });
  return runtime;
}

export async function disposeBenchLlama(): Promise<void> {
  const llama = await runtime;
  runtime = undefined;
  await llama?.dispose();
}

/** Prompt tokens exactly as the server renders them: chat template, tokenize with specials, BOS rule. */
export function renderPromptTokens(model: LlamaModel, messages: readonly ChatMessage[]): Token[] {
  const source = model.fileInfo.metadata.tokenizer?.chat_template;
  let text: string;
  if (typeof source === "string" && source.length > 0) {
    text = new Template(source).render({
      messages: messages.map((message) => ({ role: message.role, content: message.content })),
      add_generation_prompt: true,
      bos_token: model.tokens.bosString ?? "",
      eos_token: model.tokens.eosString ?? "",
    });
  } else {
    throw new Error("the bench model has no chat template");
  }
  const tokens = model.tokenize(text, true);
  const bos = model.tokens.bos;
  if (model.tokens.shouldPrependBosToken && bos !== null && tokens[0] !== bos) tokens.unshift(bos);
  return tokens;
}

const vocabularies = new Map<string, Promise<LlamaModel>>();

/** A vocabulary-only load of the model, for counting tokens without weights. */
export function vocabulary(modelPath: string, threads: number): Promise<LlamaModel> {
  let model = vocabularies.get(modelPath);
  if (!model) {
    model = benchLlama(threads).then((llama) => llama.loadModel({ modelPath, vocabOnly: true }));
    vocabularies.set(modelPath, model);
  }
  return model;
}

export async function disposeVocabularies(): Promise<void> {
  for (const model of vocabularies.values()) await (await model).dispose();
  vocabularies.clear();
}

const WORDS = (
  "the of and to in is was for on that with as by at from his her they this which were are an be " +
  "river mountain harbor lantern garden market winter summer engine signal bridge valley forest " +
  "letter window morning evening silver copper paper stone cloud storm field orchard village city " +
  "road station library teacher doctor farmer sailor painter merchant student captain soldier " +
  "quietly slowly briefly often never always again still perhaps nearly almost really simply " +
  "builds carries opens closes writes reads follows watches counts measures gathers repairs " +
  "bright narrow ancient careful gentle heavy hollow patient rapid steady distant familiar " +
  "seven twelve forty hundred thousand number minute hour season century question answer reason"
).split(" ");

/** Deterministic English-looking word salad; different seeds give prompts with different starts. */
export function wordSalad(words: number, seed: number): string {
  let state = (seed * 2654435761) >>> 0;
  const out: string[] = [];
  for (let i = 0; i < words; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out.push(WORDS[((t ^ (t >>> 14)) >>> 0) % WORDS.length]!);
    if (i % 12 === 11) out[out.length - 1] += ".";
  }
  return out.join(" ");
}

/**
 * A user message whose rendered single-message chat prompt is as close to `targetTokens` as word
 * boundaries allow (never over), counted with the model's own tokenizer.
 */
export function userMessageOfTokens(model: LlamaModel, targetTokens: number, seed: number): ChatMessage {
  const count = (words: number) =>
    renderPromptTokens(model, [{ role: "user", content: wordSalad(words, seed) }]).length;
  let low = 1;
  let high = Math.max(2, targetTokens);
  while (count(high) <= targetTokens) high *= 2;
  while (high - low > 1) {
    const middle = (low + high) >> 1;
    if (count(middle) <= targetTokens) low = middle;
    else high = middle;
  }
  return { role: "user", content: wordSalad(low, seed) };
}

export interface TensorBytes {
  /** All tensor data in the file. */
  total: number;
  /** What one decoded token reads: every tensor except the embedding table, plus one embedding row. */
  perToken: number;
  fileBytes: number;
}

/** Tensor data sizes from the GGUF's tensor offsets (so any quantization type works). */
export async function tensorBytes(modelPath: string): Promise<TensorBytes> {
  const info = await readGgufFileInfo(modelPath, { readTensorInfo: true, sourceType: "filesystem" });
  const fileBytes = statSync(modelPath).size;
  const tensors = [...(info.fullTensorInfo ?? info.tensorInfo ?? [])]
    .map((tensor) => ({ ...tensor, at: Number(tensor.fileOffset) }))
    .sort((a, b) => a.at - b.at);
  if (tensors.length === 0) throw new Error(`no tensor info in ${modelPath}`);
  let total = 0;
  let perToken = 0;
  tensors.forEach((tensor, index) => {
    const size = (tensors[index + 1]?.at ?? fileBytes) - tensor.at;
    total += size;
    if (tensor.name === "token_embd.weight") {
      const rows = Number(tensor.dimensions[1] ?? 1);
      perToken += size / rows;
    } else {
      perToken += size;
    }
  });
  return { total, perToken, fileBytes };
}

export const median = (values: readonly number[]): number => {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

export const fmt = (value: number, digits = 1): string =>
  Number.isFinite(value) ? value.toFixed(digits) : "n/a";

export const ms = (value: number): string =>
  !Number.isFinite(value)
    ? "n/a"
    : value >= 10_000
      ? `${(value / 1000).toFixed(1)} s`
      : `${value.toFixed(0)} ms`;

export const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(0)} MB`;

/** One line of a phase's detail output, indented under the phase heading. */
export const log = (line: string): void => console.log(`  ${line}`);

export const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis));

/** Share of all CPU time not idle over `millis`, from /proc/stat (other processes included). */
export async function cpuBusy(millis = 500): Promise<number> {
  const read = () => {
    const fields = readFileSync("/proc/stat", "utf8")
      .split("\n")[0]!
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    const idle = fields[3]! + (fields[4] ?? 0);
    return { idle, total: fields.reduce((sum, value) => sum + value, 0) };
  };
  const before = read();
  await sleep(millis);
  const after = read();
  const total = after.total - before.total;
  return total > 0 ? 1 - (after.idle - before.idle) / total : 0;
}
