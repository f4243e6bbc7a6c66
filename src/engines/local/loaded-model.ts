import path from "node:path";
import {
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaModel,
  type Token,
} from "node-llama-cpp";
import type { ChatEvent, ChatRequest, FinishReason } from "../../core/chat.js";
import { ContextLengthError } from "../../core/errors.js";
import { ReasoningSplitter, type SplitPart } from "../../core/reasoning-splitter.js";
import { StopMatcher } from "../../core/stop-matcher.js";
import { PromptRenderer, type RenderedPrompt } from "./prompt.js";
import { SequencePool } from "./sequence-pool.js";
import { TokenTextDecoder } from "./token-text-decoder.js";

export interface LoadOptions {
  /** Tokens per sequence; 0 picks the trained context capped at 8192. */
  contextSize: number;
  /** Sequences that decode in parallel. */
  parallel: number;
  threads: number;
}

/** DeepSeek reports reused prompt tokens in whole units of 64. */
export const CACHE_UNIT_TOKENS = 64;

/** A GGUF model in memory with its context, chat template and sequences. */
export class LoadedModel {
  private constructor(
    readonly filePath: string,
    private readonly model: LlamaModel,
    private readonly context: LlamaContext,
    private readonly prompts: PromptRenderer,
    private readonly pool: SequencePool,
  ) {}

  static async load(llama: Llama, filePath: string, options: LoadOptions): Promise<LoadedModel> {
    const model = await llama.loadModel({ modelPath: filePath });
    try {
      const contextSize =
        options.contextSize > 0 ? options.contextSize : Math.min(model.trainContextSize, 8192);
      const context = await model.createContext({
        contextSize,
        sequences: options.parallel,
        threads: options.threads,
        batchSize: Math.min(512, contextSize),
      });
      return new LoadedModel(
        filePath,
        model,
        context,
        new PromptRenderer(model),
        new SequencePool(context, options.parallel),
      );
    } catch (error) {
      await model.dispose();
      throw error;
    }
  }

  get contextSize(): number {
    return this.context.contextSize;
  }

  get fileName(): string {
    return path.basename(this.filePath);
  }

  /** Counters for /health, /metrics and tests. */
  readonly stats = { busySequences: 0, abortedRequests: 0, generatedTokens: 0 };

  /** Requests waiting for a free sequence. */
  get queuedRequests(): number {
    return this.pool.queued;
  }

  /**
   * Checks the request against the context and returns the reply as a stream of events. The
   * sequence is taken when iteration starts and given back when it ends, however it ends.
   */
  chat(request: ChatRequest, thinking: boolean | undefined, signal: AbortSignal): AsyncIterable<ChatEvent> {
    const prompt = this.prompts.render(request.messages, thinking);
    const promptTokens = prompt.tokens.length;
    const room = this.contextSize - promptTokens;
    if (room < 1 || (request.maxTokens !== undefined && request.maxTokens > room)) {
      throw new ContextLengthError(this.contextSize, promptTokens, request.maxTokens ?? 1);
    }
    return this.generate(request, prompt, request.maxTokens ?? room, signal);
  }

  private async *generate(
    request: ChatRequest,
    prompt: RenderedPrompt,
    maxTokens: number,
    signal: AbortSignal,
  ): AsyncGenerator<ChatEvent> {
    const sequence = await this.pool.acquire(prompt.tokens, signal);
    this.stats.busySequences++;
    try {
      const reused = await reusePrefix(sequence, prompt.tokens);
      const splitter = new ReasoningSplitter({ startsInReasoning: prompt.startsInReasoning });
      const stops = new StopMatcher(request.stop);
      const decoder = new TokenTextDecoder(this.model);
      const generated: Token[] = [];
      let reasoningTokens = 0;
      let finishReason: FinishReason = "stop";
      const { sampling } = request;
      const penalize = sampling.frequencyPenalty !== 0 || sampling.presencePenalty !== 0;

      const tokens = sequence.evaluate(prompt.tokens.slice(reused), {
        temperature: sampling.temperature,
        topP: sampling.topP,
        topK: 0, // OpenAI semantics: no top-k unless asked
        minP: 0,
        seed: sampling.seed,
        repeatPenalty: penalize
          ? {
              punishTokens: () => generated,
              penalty: 1,
              frequencyPenalty: sampling.frequencyPenalty,
              presencePenalty: sampling.presencePenalty,
            }
          : undefined,
      });

      const emit = (text: string) => toEvents(splitter.push(text));

      for await (const token of tokens) {
        if (signal.aborted) break;
        generated.push(token);
        this.stats.generatedTokens++;
        const wasReasoning = splitter.isReasoning;
        const { text, stopped } = stops.push(decoder.push(token));
        yield* emit(text);
        if (wasReasoning || splitter.isReasoning) reasoningTokens++;
        if (stopped) break;
        if (generated.length >= maxTokens) {
          finishReason = "length";
          break;
        }
      }
      if (signal.aborted) return;
      if (!stops.hasStopped) {
        const { text } = stops.push(decoder.flush());
        yield* emit(text + stops.flush());
      }
      yield* toEvents(splitter.finish());
      yield {
        type: "finish",
        finishReason,
        usage: {
          promptTokens: prompt.tokens.length,
          promptCacheHitTokens: Math.floor(reused / CACHE_UNIT_TOKENS) * CACHE_UNIT_TOKENS,
          completionTokens: generated.length,
          reasoningTokens,
        },
      };
    } finally {
      if (signal.aborted) this.stats.abortedRequests++;
      this.stats.busySequences--;
      this.pool.release(sequence);
    }
  }

  async dispose(): Promise<void> {
    await this.pool.dispose();
    await this.context.dispose();
    await this.model.dispose();
  }
}

function toEvents(parts: SplitPart[]): ChatEvent[] {
  return parts.map((part) => ({
    type: part.kind === "reasoning" ? "reasoning-delta" : "text-delta",
    text: part.text,
  }));
}

/**
 * Keeps the KV cache of the prefix the sequence shares with the prompt and erases the rest.
 * At least the last prompt token is evaluated again, since its logits are what we sample from.
 */
async function reusePrefix(sequence: LlamaContextSequence, tokens: readonly Token[]): Promise<number> {
  const shared = sequence.compareContextTokens(tokens as Token[]).firstDifferentIndex;
  const keep = Math.min(shared, tokens.length - 1);
  if (sequence.nextTokenIndex > keep) {
    await sequence.eraseContextTokenRanges([{ start: keep, end: sequence.nextTokenIndex }]);
  }
  return keep;
}
