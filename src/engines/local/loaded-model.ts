import path from "node:path";
import type { Llama, LlamaContext, LlamaContextSequence, LlamaModel, Token } from "node-llama-cpp";
import type { ChatEvent, ChatRequest } from "../../core/chat.js";
import { ContextLengthError } from "../../core/errors.js";
import { silentObserver, type EngineObserver, type GenerationOutcome } from "../../core/observer.js";
import { DiskPrefixCache } from "./disk-prefix-cache.js";
import { EventQueue } from "./event-queue.js";
import { LockstepDriver } from "./lockstep-driver.js";
import { PromptRenderer, type RenderedPrompt } from "./prompt.js";
import { ReplyBuilder } from "./reply-builder.js";
import { SequencePool } from "./sequence-pool.js";

export interface LoadOptions {
  /** Tokens per sequence; 0 picks the trained context capped at 8192. */
  contextSize: number;
  /** Sequences that decode in parallel. */
  parallel: number;
  threads: number;
  /** Requests that may wait for a sequence before new ones get 429. Default: 8 per sequence. */
  maxQueue?: number;
  /** Where KV states of prompt prefixes are saved; no disk cache when unset. */
  cacheDir?: string;
  /** Size cap of the disk cache of this model, in bytes. Default 4 GiB. */
  cacheMaxBytes?: number;
  observer?: EngineObserver;
}

/** DeepSeek reports reused prompt tokens in whole units of 64. */
export const CACHE_UNIT_TOKENS = 64;

/** A GGUF model in memory with its context, chat template, sequences and prefix cache. */
export class LoadedModel {
  /** Counters for /health, /metrics and tests. */
  readonly stats = {
    busySequences: 0,
    abortedRequests: 0,
    generatedTokens: 0,
    diskCacheRestores: 0,
    diskCacheSaves: 0,
  };
  private readonly driver = new LockstepDriver();
  /** Sequences being saved to the disk cache before they go back to the pool. */
  private readonly releasing = new Set<Promise<void>>();
  private readonly observer: EngineObserver;

  private constructor(
    readonly filePath: string,
    readonly id: string,
    private readonly model: LlamaModel,
    private readonly context: LlamaContext,
    private readonly prompts: PromptRenderer,
    private readonly pool: SequencePool,
    private readonly diskCache: DiskPrefixCache | undefined,
    observer: EngineObserver | undefined,
  ) {
    this.observer = observer ?? silentObserver;
  }

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
      const diskCache = options.cacheDir
        ? await DiskPrefixCache.open(
            path.join(options.cacheDir, await DiskPrefixCache.modelKey(filePath, options.parallel)),
            options.cacheMaxBytes ?? 4 * 1024 ** 3,
          )
        : undefined;
      return new LoadedModel(
        filePath,
        path.basename(filePath).replace(/\.gguf$/i, ""),
        model,
        context,
        new PromptRenderer(model),
        new SequencePool(context, options.parallel, options.maxQueue ?? 8 * options.parallel),
        diskCache,
        options.observer,
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

  /** Requests waiting for a free sequence. */
  get queuedRequests(): number {
    return this.pool.queued;
  }

  /**
   * Checks the request against the context and the queue, then returns the reply as a stream of
   * events. The sequence is taken when iteration starts and given back when it ends, however it ends.
   */
  chat(request: ChatRequest, thinking: boolean | undefined, signal: AbortSignal): AsyncIterable<ChatEvent> {
    const prompt = this.prompts.render(request.messages, thinking);
    const promptTokens = prompt.tokens.length;
    const room = this.contextSize - promptTokens;
    if (room < 1 || (request.maxTokens !== undefined && request.maxTokens > room)) {
      throw new ContextLengthError(this.contextSize, promptTokens, request.maxTokens ?? 1);
    }
    this.pool.assertRoom();
    return this.generate(request, prompt, request.maxTokens ?? room, signal);
  }

  private async *generate(
    request: ChatRequest,
    prompt: RenderedPrompt,
    maxTokens: number,
    signal: AbortSignal,
  ): AsyncGenerator<ChatEvent> {
    const startedAt = performance.now();
    const sequence = await this.pool.acquire(prompt.tokens, signal);
    this.stats.busySequences++;
    const events = new EventQueue<ChatEvent>();
    const reply = new ReplyBuilder(this.model, request.stop, prompt.startsInReasoning, maxTokens);
    let consumerGone = false;
    let outcome: GenerationOutcome = "error";
    let reused = 0;
    let driven: Promise<unknown> = Promise.resolve();
    try {
      reused = await this.reusePrefix(sequence, prompt.tokens);
      const { sampling } = request;
      const penalize = sampling.frequencyPenalty !== 0 || sampling.presencePenalty !== 0;
      let lastTokenAt = 0;
      driven = this.driver
        .run({
          iterator: sequence.evaluate(prompt.tokens.slice(reused), {
            temperature: sampling.temperature,
            topP: sampling.topP,
            topK: 0, // OpenAI semantics: no top-k unless asked
            minP: 0,
            seed: sampling.seed,
            repeatPenalty: penalize
              ? {
                  punishTokens: () => reply.generated,
                  penalty: 1,
                  frequencyPenalty: sampling.frequencyPenalty,
                  presencePenalty: sampling.presencePenalty,
                }
              : undefined,
          }),
          cancelled: () => signal.aborted || consumerGone,
          onToken: (token) => {
            const now = performance.now();
            if (lastTokenAt === 0) this.observer.firstToken(this.id, (now - startedAt) / 1000);
            else this.observer.interToken(this.id, (now - lastTokenAt) / 1000);
            lastTokenAt = now;
            this.stats.generatedTokens++;
            const { events: out, done } = reply.push(token);
            for (const event of out) events.push(event);
            return done;
          },
        })
        .then(
          (end) => {
            if (end === "cancelled") {
              outcome = "aborted";
              return events.end();
            }
            for (const event of reply.finish()) events.push(event);
            outcome = reply.finishReason;
            events.push({
              type: "finish",
              finishReason: reply.finishReason,
              usage: {
                promptTokens: prompt.tokens.length,
                promptCacheHitTokens: Math.floor(reused / CACHE_UNIT_TOKENS) * CACHE_UNIT_TOKENS,
                completionTokens: reply.generated.length,
                reasoningTokens: reply.reasoningTokens,
              },
            });
            events.end();
          },
          (error: unknown) => events.fail(error),
        );
      for await (const event of events) yield event;
    } finally {
      consumerGone = true;
      await driven; // the evaluation has stopped: nothing touches the sequence any more
      if (signal.aborted) {
        outcome = "aborted";
        this.stats.abortedRequests++;
      }
      this.observer.finished({
        model: this.id,
        promptTokens: prompt.tokens.length,
        cacheHitTokens: reused,
        completionTokens: reply.generated.length,
        reasoningTokens: reply.reasoningTokens,
        outcome,
      });
      const released = this.release(sequence);
      this.releasing.add(released);
      void released.finally(() => this.releasing.delete(released));
    }
  }

  /**
   * Makes the sequence hold the longest known prefix of the prompt: what it holds already, or a
   * longer prefix saved on disk. Returns how many prompt tokens need no evaluation. At least the
   * last prompt token is evaluated again, since its logits are what the first token is sampled from.
   */
  private async reusePrefix(sequence: LlamaContextSequence, tokens: readonly Token[]): Promise<number> {
    const limit = tokens.length - 1;
    let shared = Math.min(sequence.compareContextTokens(tokens as Token[]).firstDifferentIndex, limit);
    const saved = this.diskCache?.find(tokens, this.contextSize);
    if (saved && Math.min(saved.shared, limit) > shared + CACHE_UNIT_TOKENS) {
      try {
        await this.diskCache!.restore(sequence, saved.entry);
        shared = Math.min(saved.shared, limit);
        this.stats.diskCacheRestores++;
      } catch {
        await sequence.clearHistory(); // an unreadable state file: read the prompt instead
        shared = 0;
      }
    }
    if (sequence.nextTokenIndex > shared) {
      await sequence.eraseContextTokenRanges([{ start: shared, end: sequence.nextTokenIndex }]);
    }
    return shared;
  }

  /** Saves the sequence's state for later requests (and restarts), then frees it. */
  private async release(sequence: LlamaContextSequence): Promise<void> {
    try {
      if (await this.diskCache?.save(sequence)) this.stats.diskCacheSaves++;
    } catch {
      // A full disk must not take the sequence down with it; the cache is an optimisation.
    } finally {
      this.stats.busySequences--;
      this.pool.release(sequence);
    }
  }

  async dispose(): Promise<void> {
    await Promise.all(this.releasing); // let saves finish, so the next start finds them
    await this.pool.dispose();
    await this.context.dispose();
    await this.model.dispose();
  }
}
