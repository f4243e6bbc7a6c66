import {
  LlamaVocabularyType,
  type Llama,
  type LlamaModel,
  type LlamaRankingContext,
  type Token,
} from "node-llama-cpp";
import type { RankResult } from "../../core/engine.js";
import { InvalidRequestError, ModelUnavailableError, QiusuoError } from "../../core/errors.js";
import { PromptTokenizer, PromptTooLongError } from "./prompt-tokenizer.js";
import { rankingPrompt, type RankingPrompt } from "./ranking-prompt.js";
import { readVocabulary } from "./vocabulary.js";

export interface RankingLoadOptions {
  /** Tokens of one query-document pair; 0 picks the trained context capped at 8192. */
  contextSize: number;
  threads: number;
  /** Requests that may wait while another is ranking, before new ones get 429. Default 8. */
  maxQueue?: number;
}

/**
 * A reranker GGUF in memory with node-llama-cpp's ranking context (one sequence). Requests rank
 * one at a time in arrival order, each pair as one native, asynchronous evaluation, so the event
 * loop stays free and an abort takes effect before the next document.
 *
 * The engine holds it as it holds a chat model (load on first use, idle unload, `stats` for
 * /health), so it has the same counters, most of which stay 0.
 */
export class RankingModel {
  readonly stats = { busySequences: 0, abortedRequests: 0, generatedTokens: 0, diskCacheRestores: 0 };
  private readonly waiters: Array<{ resolve: () => void; reject: (error: unknown) => void }> = [];
  private busy = false;

  private constructor(
    private readonly model: LlamaModel,
    private readonly context: LlamaRankingContext,
    private readonly tokenizer: PromptTokenizer,
    private readonly prompt: RankingPrompt,
    private readonly maxQueue: number,
  ) {}

  static async load(llama: Llama, filePath: string, options: RankingLoadOptions): Promise<RankingModel> {
    const model = await llama.loadModel({ modelPath: filePath });
    try {
      const contextSize =
        options.contextSize > 0 ? options.contextSize : Math.min(model.trainContextSize, 8192);
      const prompt = rankingPrompt(
        model.fileInfo.metadata?.tokenizer?.["chat_template.rerank"],
        model.vocabularyType === LlamaVocabularyType.bpe,
      );
      // A whole pair goes through in one batch: encoder rerankers (BERT) cannot split it.
      const context = await model.createRankingContext({
        contextSize,
        batchSize: contextSize,
        threads: options.threads,
        ...(prompt.template === undefined ? {} : { template: prompt.template }),
      });
      const tokenizer = new PromptTokenizer(model, await readVocabulary(model));
      return new RankingModel(model, context, tokenizer, prompt, options.maxQueue ?? 8);
    } catch (error) {
      await model.dispose();
      throw error;
    }
  }

  get contextSize(): number {
    return this.context.contextSize;
  }

  /** Requests waiting for the one that is ranking. */
  get queuedRequests(): number {
    return this.waiters.length;
  }

  /**
   * Each document's score against `query`, in document order. A pair longer than the context is
   * a 400 naming the document, never cut short.
   */
  async rank(query: string, documents: readonly string[], signal: AbortSignal): Promise<RankResult> {
    if (documents.length === 0) return { scores: [], promptTokens: 0 };
    const queryTokens = await this.tokens(this.prompt.queryPrefix + query, "query");
    await this.acquire(signal);
    this.stats.busySequences++;
    try {
      const scores: number[] = [];
      let promptTokens = 0;
      for (const [index, document] of documents.entries()) {
        if (signal.aborted) throw cancelled();
        const param = `documents.${index}`;
        const documentTokens = await this.tokens(this.prompt.documentPrefix + document, param);
        const length = this.context.calculateInputLength(queryTokens, documentTokens);
        if (length >= this.contextSize) throw this.tooLong(length, index, param);
        promptTokens += length;
        scores.push(await this.context.rank(queryTokens, documentTokens));
      }
      return { scores, promptTokens };
    } catch (error) {
      if (signal.aborted) this.stats.abortedRequests++;
      throw error;
    } finally {
      this.stats.busySequences--;
      this.release();
    }
  }

  async dispose(): Promise<void> {
    for (const waiter of this.waiters.splice(0)) {
      waiter.reject(new ModelUnavailableError("model_unloaded", "The model was unloaded."));
    }
    await this.context.dispose();
    await this.model.dispose();
  }

  /** The text's tokens, refused as soon as it cannot fit the context (without tokenizing it all). */
  private async tokens(text: string, param: string): Promise<Token[]> {
    try {
      return await this.tokenizer.tokenizeText(text, this.contextSize - 1);
    } catch (error) {
      if (!(error instanceof PromptTooLongError)) throw error;
      const what = param === "query" ? "The query" : `Document ${param.slice("documents.".length)}`;
      throw new InvalidRequestError(
        "context_length_exceeded",
        `${what} has at least ${error.atLeast} tokens; this reranker reads at most ${this.contextSize} ` +
          "tokens of query and document together. Shorten it or split it into passages.",
        param,
      );
    }
  }

  private tooLong(length: number, index: number, param: string): QiusuoError {
    return new InvalidRequestError(
      "context_length_exceeded",
      `The query with document ${index} takes ${length} tokens; this reranker reads at most ` +
        `${this.contextSize - 1}. Shorten the document or split it into passages.`,
      param,
    );
  }

  /** Waits its turn (FIFO), or throws 429 when the queue is full and the request would wait. */
  private acquire(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(cancelled());
    if (!this.busy) {
      this.busy = true;
      return Promise.resolve();
    }
    if (this.waiters.length >= this.maxQueue) {
      return Promise.reject(
        new QiusuoError(
          "rate_limit",
          "queue_full",
          `The server is busy: a rerank is running and ${this.waiters.length} requests are waiting. Retry shortly.`,
          { retryAfterSeconds: 2 },
        ),
      );
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: () => {
          signal.removeEventListener("abort", onAbort);
          resolve();
        },
        reject,
      };
      const onAbort = () => {
        const index = this.waiters.indexOf(waiter);
        if (index !== -1) this.waiters.splice(index, 1);
        reject(cancelled());
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Hands the context to the next waiter, if any. */
  private release(): void {
    const next = this.waiters.shift();
    if (next) next.resolve();
    else this.busy = false;
  }
}

function cancelled(): ModelUnavailableError {
  return new ModelUnavailableError("request_aborted", "The request was cancelled.");
}
