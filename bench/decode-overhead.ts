/**
 * Single-stream decode tokens/s: node-llama-cpp called directly in this process vs qiusuo's HTTP
 * API served by a separate `serve` child process (stopped while the direct path runs). Same model,
 * threads, context size, prompt tokens (rendered with the same chat template) and greedy sampling,
 * so both paths generate the same tokens; the bench checks that the texts match.
 *
 * Decode is timed from the first token the server can stream to the last one. The server holds back
 * a token that ends inside a UTF-8 character (up to 4 tokens), so the direct path applies the same
 * rule to find that first streamable token, and both paths count only the tokens after it.
 */
import type { LlamaModel, Token } from "node-llama-cpp";
import { modelId, streamChat } from "./client.js";
import { benchLlama, fmt, log, renderPromptTokens, type ChatMessage } from "./common.js";
import { ServerProcess, tempDataDir } from "./server-process.js";

export interface DecodeOverheadOptions {
  label: string;
  modelPath: string;
  threads: number;
  ctxSize: number;
  maxTokens: number;
  /** The direct path stops decoding after this long (bounds a phase on a busy machine). */
  maxDecodeMs: number;
  rounds: number;
}

export interface DecodeRun {
  tokPerSec: number;
  /** Tokens generated (the end-of-generation token excluded). */
  tokens: number;
  /** Index of the first token whose text the server can release. */
  releaseIndex: number;
  text: string;
  promptTokens: number;
}

export interface DecodeOverheadResult {
  label: string;
  direct: DecodeRun[];
  http: Array<{ tokPerSec: number; tokens: number; promptTokens: number; text: string }>;
  /** Best (highest) tok/s over the rounds. */
  directBest: number;
  httpBest: number;
  /** 1 - http / direct. */
  overhead: number;
  sameOutput: boolean;
  serverRssWithModel: number;
}

export const DECODE_PROMPT: ChatMessage[] = [
  { role: "user", content: "Once upon a time, in a land far away, there lived" },
];
const WARMUP_PROMPT: ChatMessage[] = [{ role: "user", content: "Warm up: say something." }];

/** One direct measurement: load, warm up, decode greedily, dispose. */
export async function directDecode(
  options: Omit<DecodeOverheadOptions, "rounds" | "label">,
  messages: readonly ChatMessage[] = DECODE_PROMPT,
): Promise<DecodeRun> {
  const llama = await benchLlama(options.threads);
  const model = await llama.loadModel({ modelPath: options.modelPath });
  try {
    // The same context shape as the server's LoadedModel: one sequence, batch min(512, ctx).
    const context = await model.createContext({
      contextSize: options.ctxSize,
      sequences: 1,
      threads: options.threads,
      batchSize: Math.min(512, options.ctxSize),
    });
    try {
      const sequence = context.getSequence();
      let warm = 0;
      for await (const _token of sequence.evaluate(renderPromptTokens(model, WARMUP_PROMPT), {
        temperature: 0,
      })) {
        if (++warm >= 8) break;
      }
      await sequence.clearHistory();

      const prompt = renderPromptTokens(model, messages);
      const generated: Token[] = [];
      const times: number[] = [];
      for await (const token of sequence.evaluate(prompt, { temperature: 0 })) {
        times.push(performance.now());
        generated.push(token);
        if (generated.length >= options.maxTokens) break;
        if (times.at(-1)! - times[0]! > options.maxDecodeMs) break;
      }
      const releaseIndex = firstReleasedToken(model, generated);
      const counted = generated.length - 1 - releaseIndex;
      return {
        tokPerSec: counted > 0 ? (counted * 1000) / (times.at(-1)! - times[releaseIndex]!) : NaN,
        tokens: generated.length,
        releaseIndex,
        text: model.detokenize(generated),
        promptTokens: prompt.length,
      };
    } finally {
      await context.dispose();
    }
  } finally {
    await model.dispose();
  }
}

/** The server's TokenTextDecoder rule: text ending in an incomplete character waits (up to 4 tokens). */
function firstReleasedToken(model: LlamaModel, tokens: readonly Token[]): number {
  const pending: Token[] = [];
  for (let index = 0; index < tokens.length; index++) {
    pending.push(tokens[index]!);
    const text = model.detokenize(pending, false);
    if (text.endsWith("\uFFFD") && pending.length < 4) continue;
    if (text.length > 0) return index;
    pending.length = 0;
  }
  return 0;
}

/** One HTTP measurement on a fresh server child process. */
async function httpDecode(
  options: Omit<DecodeOverheadOptions, "rounds" | "label">,
  releaseIndex: number,
  maxTokens: number,
) {
  const server = await ServerProcess.start({
    models: [options.modelPath],
    dataDir: tempDataDir("decode"),
    threads: options.threads,
    parallel: 1,
    ctxSize: options.ctxSize,
  });
  try {
    const model = modelId(options.modelPath);
    await streamChat(server.url, { model, messages: WARMUP_PROMPT, maxTokens: 8 });
    const timing = await streamChat(server.url, {
      model,
      messages: DECODE_PROMPT,
      maxTokens,
    });
    const tokens = timing.usage.completion_tokens;
    const counted = tokens - 1 - releaseIndex;
    const rss = server.memory().rss;
    return {
      tokPerSec:
        counted > 0 && timing.firstDeltaAt !== undefined
          ? (counted * 1000) / (timing.endAt - timing.firstDeltaAt)
          : NaN,
      tokens,
      promptTokens: timing.usage.prompt_tokens,
      text: timing.content + timing.reasoning,
      rss,
    };
  } finally {
    await server.stop();
  }
}

export async function runDecodeOverhead(options: DecodeOverheadOptions): Promise<DecodeOverheadResult> {
  const direct: DecodeRun[] = [];
  const http: DecodeOverheadResult["http"] = [];
  let rss = NaN;
  // Alternate which path goes first, so slow drift in machine load does not favour one.
  for (let round = 0; round < options.rounds; round++) {
    const steps = [
      async () => {
        const run = await directDecode(options);
        direct.push(run);
        log(
          `round ${round + 1} direct: ${fmt(run.tokPerSec)} tok/s (${run.tokens} tokens, prompt ${run.promptTokens})`,
        );
      },
      async () => {
        // The same tokens as the first direct run (which may have stopped early on its time cap).
        const first = direct[0]!;
        const run = await httpDecode(options, first.releaseIndex, first.tokens);
        rss = run.rss;
        http.push(run);
        log(
          `round ${round + 1} HTTP:   ${fmt(run.tokPerSec)} tok/s (${run.tokens} tokens, prompt ${run.promptTokens})`,
        );
      },
    ];
    if (round % 2 === 1) steps.reverse();
    // The HTTP path needs the direct path's release index; the first round always goes direct first.
    for (const step of steps) await step();
  }
  // Best of the rounds: on a shared machine, noise only ever slows a run down.
  const directBest = Math.max(...direct.map((run) => run.tokPerSec));
  const httpBest = Math.max(...http.map((run) => run.tokPerSec));
  const sameOutput = direct.length > 0 && http.every((run) => run.text === direct[0]!.text);
  if (!sameOutput) log("warning: HTTP and direct outputs differ, so the token windows may not match");
  return {
    label: options.label,
    direct,
    http,
    directBest,
    httpBest,
    overhead: 1 - httpBest / directBest,
    sameOutput,
    serverRssWithModel: rss,
  };
}
