import path from "node:path";
import {
  LlamaGrammarEvaluationState,
  TokenBias,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaEmbeddingContext,
  type LlamaGrammar,
  type LlamaModel,
  type Token,
} from "node-llama-cpp";
import {
  PLAIN_TEXT_OPTIONS,
  type ChatEvent,
  type ChatRequest,
  type CompletionRequest,
  type EmbeddingResult,
  type TokenLogprob,
} from "../../core/chat.js";
import type { ContinuationScore } from "../../core/engine.js";
import { ContextLengthError, InvalidRequestError, ModelUnavailableError } from "../../core/errors.js";
import { silentObserver, type EngineObserver, type GenerationOutcome } from "../../core/observer.js";
import { DiskPrefixCache } from "./disk-prefix-cache.js";
import { queuedSequenceOf, sequenceOrderedStrategy } from "./batch-order.js";
import { EventQueue } from "./event-queue.js";
import { DEFAULT_KV_CACHE, type KvCacheSettings } from "../../core/kv-cache-settings.js";
import { effectiveFlashAttention, ggmlTypeOf } from "./kv-cache.js";
import { planGrammars } from "./grammars.js";
import { LockstepDriver, type StepEnd } from "./lockstep-driver.js";
import { PromptRenderer, type RenderedPrompt } from "./prompt.js";
import { PromptTooLongError } from "./prompt-tokenizer.js";
import { ReplyBuilder } from "./reply-builder.js";
import { scoreTokens } from "./token-scores.js";
import { SequencePool, type Reservation } from "./sequence-pool.js";
import {
  Drafter,
  SpeculativeGeneration,
  speculationFor,
  type PromptLookupSetting,
  type SpeculationMode,
  type SpeculationStats,
} from "./speculation.js";
import { readVocabulary } from "./vocabulary.js";

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
  /** KV-cache types and flash attention (`--cache-type`, `--flash-attn`). Default f16 and auto. */
  kvCache?: KvCacheSettings;
  /** A small model of the same vocabulary that drafts tokens for this one (`--draft-model`). */
  draftModelPath?: string;
  /** When drafts are looked up in the prompt (`--prompt-lookup`). Default "auto". */
  promptLookup?: PromptLookupSetting;
  observer?: EngineObserver;
}

/** A draft model in memory, with a context of one sequence per sequence of its target. */
interface DraftModel {
  id: string;
  model: LlamaModel;
  context: LlamaContext;
}

/** DeepSeek reports reused prompt tokens in whole units of 64. */
export const CACHE_UNIT_TOKENS = 64;

/** How long a freed sequence stays free before its state is saved to disk (see `release`). */
const SAVE_GRACE_MS = 1000;

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
  private readonly driver = new LockstepDriver({ arriving: () => this.arrivingCount() });
  /**
   * Requests between their arrival and their first lockstep step, with when they came: a driver
   * starting from idle waits briefly for them, so requests sent together are read together.
   */
  private readonly arrivals = new Set<{ since: number }>();
  private embeddingContext: Promise<LlamaEmbeddingContext> | undefined;
  private partialCharacterBias: TokenBias | undefined;
  /** Compiled grammars by GBNF text: tool sets and schemas repeat across requests. */
  private readonly grammarCache = new Map<string, Promise<LlamaGrammar>>();
  /** Sequences being saved to the disk cache before they go back to the pool. */
  /** The prompt length of each sequence's last request, to tell a conversation going on. */
  private readonly lastPromptLength = new WeakMap<LlamaContextSequence, number>();
  /** Sequences waiting out SAVE_GRACE_MS before their state is saved to disk. */
  private readonly pendingSaves = new Map<LlamaContextSequence, NodeJS.Timeout>();
  private readonly observer: EngineObserver;

  private constructor(
    private readonly llama: Llama,
    private readonly threads: number,
    readonly filePath: string,
    readonly id: string,
    private readonly model: LlamaModel,
    private readonly context: LlamaContext,
    private readonly prompts: PromptRenderer,
    private readonly pool: SequencePool,
    private readonly diskCache: DiskPrefixCache | undefined,
    private readonly partialCharacterTokens: readonly Token[],
    observer: EngineObserver | undefined,
    /** How the context stores its KV cache. */
    readonly kvCache: KvCacheSettings,
    /** Whether the context computes attention with flash attention ("auto": llama.cpp decides). */
    readonly flashAttention: boolean | "auto",
    private readonly draft: DraftModel | undefined,
    private readonly promptLookup: "on" | "off",
    /** What drafts tokens for each sequence, when speculation is on. */
    private readonly drafters: ReadonlyMap<LlamaContextSequence, Drafter>,
  ) {
    this.observer = observer ?? silentObserver;
  }

  static async load(llama: Llama, filePath: string, options: LoadOptions): Promise<LoadedModel> {
    const model = await llama.loadModel({ modelPath: filePath });
    let draft: DraftModel | undefined;
    try {
      const contextSize =
        options.contextSize > 0 ? options.contextSize : Math.min(model.trainContextSize, 8192);
      const kvCache = options.kvCache ?? DEFAULT_KV_CACHE;
      const created: { context?: LlamaContext } = {};
      const context = await model.createContext({
        contextSize,
        sequences: options.parallel,
        threads: options.threads,
        batchSize: Math.min(512, contextSize),
        flashAttention: kvCache.flashAttention === "auto" ? "auto" : kvCache.flashAttention === "on",
        // node-llama-cpp marks these experimental; qiusuo offers only f16, q8_0 and q4_0, which
        // llama-server offers too, and context-fit.ts refuses models whose heads they do not divide.
        experimentalKvCacheKeyType: ggmlTypeOf(kvCache.keyType),
        experimentalKvCacheValueType: ggmlTypeOf(kvCache.valueType),
        batching: {
          itemPrioritizationStrategy: sequenceOrderedStrategy(queuedSequenceOf(() => created.context)),
        },
      });
      created.context = context;
      draft = options.draftModelPath
        ? await loadDraft(llama, options.draftModelPath, contextSize, options)
        : undefined;
      const promptLookup = lookupSetting(options.promptLookup ?? "auto", draft !== undefined);
      const pool = new SequencePool(context, options.parallel, options.maxQueue ?? 8 * options.parallel);
      const drafters = new Map<LlamaContextSequence, Drafter>();
      if (draft !== undefined || promptLookup === "on") {
        for (const sequence of pool.all) drafters.set(sequence, new Drafter(draft?.context.getSequence()));
      }
      if (draft) await checkDraft(draft, drafters.get(pool.all[0]!)!, pool.all[0]!, filePath);
      const vocabulary = await readVocabulary(model);
      const diskCache = options.cacheDir
        ? await DiskPrefixCache.open(
            path.join(options.cacheDir, await DiskPrefixCache.modelKey(filePath, options.parallel, kvCache)),
            options.cacheMaxBytes ?? 4 * 1024 ** 3,
          )
        : undefined;
      return new LoadedModel(
        llama,
        options.threads,
        filePath,
        path.basename(filePath).replace(/\.gguf$/i, ""),
        model,
        context,
        new PromptRenderer(model, vocabulary),
        pool,
        diskCache,
        vocabulary.partialCharacterTokens,
        options.observer,
        kvCache,
        effectiveFlashAttention(kvCache, model.fileInsights, llama),
        draft,
        promptLookup,
        drafters,
      );
    } catch (error) {
      await model.dispose();
      await draft?.model.dispose();
      throw error;
    }
  }

  /** The draft model's name, when one drafts for this model. */
  get draftModel(): string | undefined {
    return this.draft?.id;
  }

  /** How many drafted tokens (draft model or prompt lookup) this model accepted and rejected. */
  readonly speculation: SpeculationStats = { acceptedTokens: 0, rejectedTokens: 0 };

  get contextSize(): number {
    return this.context.contextSize;
  }

  get fileName(): string {
    return path.basename(this.filePath);
  }

  /** The model's tokens for plain text (special-token text stays text; no BOS). */
  tokenize(text: string): number[] {
    return [...this.model.tokenize(text, false)];
  }

  /** Requests waiting for a free sequence. */
  get queuedRequests(): number {
    return this.pool.queued;
  }

  /**
   * Checks the request against the context and the queue, then returns the reply as a stream of
   * events. The sequence is taken when iteration starts and given back when it ends, however it ends.
   */
  async chat(
    request: ChatRequest,
    thinking: boolean | undefined,
    signal: AbortSignal,
  ): Promise<AsyncIterable<ChatEvent>> {
    const arrival = this.arrive();
    try {
      return await this.startChat(request, thinking, signal, arrival);
    } catch (error) {
      this.arrivals.delete(arrival);
      throw error;
    }
  }

  private async startChat(
    request: ChatRequest,
    thinking: boolean | undefined,
    signal: AbortSignal,
    arrival: { since: number },
  ): Promise<AsyncIterable<ChatEvent>> {
    // Counted up to the whole context, so a prompt that fits but leaves too little room for
    // max_tokens is refused below with its exact size.
    const { prompt, plan, toolsOffered, answerAfterReasoning } = await this.prepare(
      request,
      thinking,
      this.contextSize - 1,
      request.maxTokens ?? 1,
    );
    const promptTokens = prompt.tokens.length;
    const room = this.contextSize - promptTokens;
    if (room < 1 || (request.maxTokens !== undefined && request.maxTokens > room)) {
      throw new ContextLengthError(this.contextSize, promptTokens, request.maxTokens ?? 1);
    }
    // Compile before queueing, so a bad schema is a clean 422 and not a failed stream.
    const answer = plan.answer ? await this.grammar(plan.answer) : undefined;
    const grammars = {
      atStart: answerAfterReasoning ? undefined : answer,
      afterReasoning: answerAfterReasoning ? answer : undefined,
      onToolCall: plan.onToolCall ? await this.grammar(plan.onToolCall) : undefined,
    };
    const reply = new ReplyBuilder(this.model, {
      stop: request.stop,
      startsIn: prompt.startsIn,
      maxTokens: request.maxTokens ?? room,
      parseToolCalls: toolsOffered.length > 0,
      ...(request.thinking !== false && request.thinkingBudget !== undefined
        ? { thinkingBudget: request.thinkingBudget }
        : {}),
    });
    const reservation = this.pool.reserve(signal);
    return this.generate(request, prompt, reply, grammars, reservation, signal, arrival);
  }

  private arrive(): { since: number } {
    const arrival = { since: performance.now() };
    this.arrivals.add(arrival);
    return arrival;
  }

  /** Requests on their way to the driver; one that never got there is forgotten after a second. */
  private arrivingCount(): number {
    const stale = performance.now() - 1000;
    for (const arrival of this.arrivals) if (arrival.since < stale) this.arrivals.delete(arrival);
    return this.arrivals.size;
  }

  /**
   * Tokens of the rendered prompt of `request`, as `chat` would evaluate them. A prompt longer
   * than the context is not counted to the end: it is refused as `chat` would refuse it.
   */
  async countTokens(request: ChatRequest, thinking: boolean | undefined): Promise<number> {
    return (await this.prepare(request, thinking, this.contextSize - 1, 1)).prompt.tokens.length;
  }

  /**
   * The prompt and grammar plan of a chat request. A constrained answer may follow reasoning the
   * template opened; otherwise the grammar holds from the first token, and a reasoning model is
   * told to skip its reasoning. A prompt that cannot fit in `limit` tokens is refused as soon as
   * that is certain: before rendering, when it has more messages or characters than the context
   * could hold, and otherwise while tokenizing, so a huge request costs little.
   */
  private async prepare(
    request: ChatRequest,
    thinking: boolean | undefined,
    limit: number,
    completionTokens: number,
  ) {
    const tooLong = (atLeast: number) =>
      new ContextLengthError(this.contextSize, atLeast, completionTokens, { atLeast: true });
    const refused = refusedAs(this.contextSize, completionTokens);
    // Every message renders to at least one token, and no token stands for more characters
    // than the vocabulary's longest.
    if (request.messages.length > limit) throw tooLong(request.messages.length);
    const characters = request.messages.reduce((sum, message) => sum + message.content.length, 0);
    const perToken = this.prompts.tokenizer.maxTokenCharacters;
    if (characters > limit * perToken) throw tooLong(Math.ceil(characters / perToken));

    const toolsOffered = request.toolChoice.type !== "none" ? request.tools : [];
    const plan = planGrammars(request);
    const render = async (thinkingNow: boolean | undefined) => {
      try {
        return await this.prompts.render({
          messages: request.messages,
          tools: toolsOffered,
          thinking: thinkingNow,
          ...(request.thinkingBudget !== undefined ? { thinkingBudget: request.thinkingBudget } : {}),
          limit,
        });
      } catch (error) {
        throw refused(error);
      }
    };
    let prompt = await render(thinking);
    const answerAfterReasoning = prompt.startsIn === "reasoning";
    if (plan.answer && !answerAfterReasoning && thinking !== false) prompt = await render(false);
    return { prompt, plan, toolsOffered, answerAfterReasoning };
  }

  /**
   * Raw completion of `prompt`, or fill-in-the-middle when a suffix is given, using the model's
   * own FIM tokens (`<|fim_prefix|>`, `<|fim_suffix|>`, `<|fim_middle|>` or its equivalents).
   */
  async complete(request: CompletionRequest, signal: AbortSignal): Promise<AsyncIterable<ChatEvent>> {
    const limit = this.contextSize - (request.maxTokens ?? 1) - 4; // room for BOS and FIM tokens
    const refused = refusedAs(this.contextSize, request.maxTokens ?? 1);
    const text = (value: string) =>
      this.prompts.tokenizer.tokenizeText(value, limit).catch((error: unknown) => {
        throw refused(error);
      });
    let tokens: Token[];
    if (request.suffix !== undefined) {
      const { prefix, suffix, middle } = this.model.tokens.infill;
      if (prefix === null || suffix === null || middle === null) {
        throw new InvalidRequestError(
          "fim_not_supported",
          `The model '${this.id}' has no fill-in-the-middle tokens; send the request without \`suffix\`, or use a code model such as Qwen2.5-Coder or DeepSeek-Coder.`,
          "suffix",
        );
      }
      tokens = [prefix, ...(await text(request.prompt)), suffix, ...(await text(request.suffix)), middle];
    } else {
      tokens = await text(request.prompt);
    }
    const bos = this.model.tokens.bos;
    if (this.model.tokens.shouldPrependBosToken && bos !== null && tokens[0] !== bos) tokens.unshift(bos);
    if (tokens.length === 0) throw new InvalidRequestError("empty_prompt", "The prompt is empty.", "prompt");
    const room = this.contextSize - tokens.length;
    if (room < 1 || (request.maxTokens !== undefined && request.maxTokens > room)) {
      throw new ContextLengthError(this.contextSize, tokens.length, request.maxTokens ?? 1);
    }
    const chat: ChatRequest = {
      model: request.model,
      messages: [],
      sampling: request.sampling,
      maxTokens: request.maxTokens,
      stop: request.stop,
      thinking: false,
      ...PLAIN_TEXT_OPTIONS,
      logprobs: request.logprobs,
    };
    const reply = new ReplyBuilder(this.model, {
      stop: request.stop,
      startsIn: "content",
      maxTokens: request.maxTokens ?? room,
      parseToolCalls: false,
    });
    const reservation = this.pool.reserve(signal);
    return this.generate(chat, { tokens, startsIn: "content" }, reply, {}, reservation, signal);
  }

  /**
   * Embeddings from a separate embedding context, made on first use with one sequence. A request
   * waits for and holds one of the chat sequences meanwhile, so embeddings share the queue (429
   * when it is full), count as busy, and stop between inputs once `signal` aborts.
   */
  async embed(inputs: string[], signal: AbortSignal): Promise<EmbeddingResult> {
    const contextSize = Math.min(this.contextSize, 8192);
    const reservation = this.pool.reserve(signal);
    const sequence = await this.pool.acquire(reservation, [], signal);
    this.stats.busySequences++;
    try {
      this.embeddingContext ??= this.model.createEmbeddingContext({ contextSize, threads: this.threads });
      const context = await this.embeddingContext;
      const vectors: number[][] = [];
      let promptTokens = 0;
      for (const [index, input] of inputs.entries()) {
        if (signal.aborted) throw new ModelUnavailableError("request_aborted", "The request was cancelled.");
        const tokens = await this.prompts.tokenizer
          .tokenizeText(input, contextSize - 1)
          .catch((error: unknown) => {
            throw refusedAs(contextSize, 0, `input.${index}`)(error);
          });
        if (tokens.length === 0) {
          throw new InvalidRequestError("empty_input", "An input is empty.", `input.${index}`);
        }
        promptTokens += tokens.length;
        vectors.push([...(await context.getEmbeddingFor(tokens)).vector]);
      }
      return { vectors, promptTokens };
    } finally {
      this.stats.busySequences--;
      this.pool.release(sequence);
    }
  }

  /**
   * The log-likelihood of `continuation` (at most `maxTokens` of it, and what fits the context) as
   * the reply to `request`, thinking off. It takes a chat sequence like any request, reusing what
   * the sequence holds of the prompt.
   */
  async scoreContinuation(
    request: ChatRequest,
    continuation: string,
    maxTokens: number,
    signal: AbortSignal,
  ): Promise<ContinuationScore> {
    const { prompt } = await this.prepare(request, false, this.contextSize - 2, 1);
    const all = await this.prompts.tokenizer.tokenizeText(continuation);
    const room = Math.max(0, Math.min(maxTokens, this.contextSize - prompt.tokens.length));
    const scored = all.slice(0, room);
    const characters = this.model.detokenize(scored, false).length;
    if (scored.length === 0) return { tokens: 0, characters, logLikelihood: 0, truncated: all.length > 0 };
    const reservation = this.pool.reserve(signal);
    const sequence = await this.pool.acquire(reservation, prompt.tokens, signal);
    this.stats.busySequences++;
    try {
      const reused = await this.reusePrefix(sequence, prompt.tokens);
      const logLikelihood = await scoreTokens(sequence, prompt.tokens.slice(reused), scored);
      return { tokens: scored.length, characters, logLikelihood, truncated: scored.length < all.length };
    } finally {
      this.release(sequence);
    }
  }

  private async grammar(text: string): Promise<LlamaGrammar> {
    let grammar = this.grammarCache.get(text);
    if (!grammar) {
      grammar = this.llama.createGrammar({ grammar: text });
      this.grammarCache.set(text, grammar);
      if (this.grammarCache.size > 64) this.grammarCache.delete(this.grammarCache.keys().next().value!);
      grammar.catch(() => this.grammarCache.delete(text));
    }
    return grammar;
  }

  private async *generate(
    request: ChatRequest,
    prompt: RenderedPrompt,
    reply: ReplyBuilder,
    grammars: { atStart?: LlamaGrammar; afterReasoning?: LlamaGrammar; onToolCall?: LlamaGrammar },
    reservation: Reservation,
    signal: AbortSignal,
    arrival?: { since: number },
  ): AsyncGenerator<ChatEvent> {
    const startedAt = performance.now();
    yield { type: "prompt-counted", promptTokens: prompt.tokens.length };
    const sequence = await this.pool.acquire(reservation, prompt.tokens, signal);
    this.stats.busySequences++;
    const events = new EventQueue<ChatEvent>();
    let consumerGone = false;
    let outcome: GenerationOutcome = "error";
    let reused = 0;
    let driven: Promise<void> = Promise.resolve();
    try {
      reused = await this.reusePrefix(sequence, prompt.tokens);
      const drafter = this.drafters.get(sequence);
      const constrained = Object.values(grammars).some((grammar) => grammar !== undefined);
      const mode = drafter
        ? speculationFor(request, constrained, { draft: this.draft !== undefined, lookup: this.promptLookup })
        : undefined;
      const speculation = mode && { drafter: drafter!, mode, prompt: prompt.tokens };
      const cancelled = () => signal.aborted || consumerGone;
      if (arrival) this.arrivals.delete(arrival);
      driven = this.drive(
        sequence,
        request,
        prompt.tokens.slice(reused),
        reply,
        grammars,
        cancelled,
        startedAt,
        events,
        speculation,
      )
        .then((end) => {
          if (end === "cancelled") {
            outcome = "aborted";
            return events.end();
          }
          for (const event of reply.finish()) events.push(event);
          outcome = reply.finishReason;
          const stopSequence = reply.stopSequence;
          events.push({
            type: "finish",
            finishReason: reply.finishReason,
            ...(stopSequence !== undefined ? { stopSequence } : {}),
            usage: {
              promptTokens: prompt.tokens.length,
              promptCacheHitTokens: Math.floor(reused / CACHE_UNIT_TOKENS) * CACHE_UNIT_TOKENS,
              completionTokens: reply.generated.length,
              reasoningTokens: reply.reasoningTokens,
            },
          });
          events.end();
        })
        .catch((error: unknown) => events.fail(error));
      for await (const event of events) yield event;
    } finally {
      if (arrival) this.arrivals.delete(arrival);
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
      this.release(sequence);
    }
  }

  /**
   * Runs the generation in phases on the lockstep driver. A phase ends at a boundary where a
   * grammar takes over (the end of the reasoning, the opening of a tool call); the next phase
   * evaluates the token that crossed it under the new grammar, so nothing is lost or repeated.
   */
  private async drive(
    sequence: LlamaContextSequence,
    request: ChatRequest,
    firstInput: Token[],
    reply: ReplyBuilder,
    grammars: { atStart?: LlamaGrammar; afterReasoning?: LlamaGrammar; onToolCall?: LlamaGrammar },
    cancelled: () => boolean,
    startedAt: number,
    events: EventQueue<ChatEvent>,
    /** Drafting for a greedy request without grammar (see speculation.ts). */
    speculation: { drafter: Drafter; mode: SpeculationMode; prompt: readonly Token[] } | undefined,
  ): Promise<StepEnd> {
    const { sampling } = request;
    const penalize = sampling.frequencyPenalty !== 0 || sampling.presencePenalty !== 0;
    const withLogprobs = request.logprobs !== undefined;
    let input = firstInput;
    let grammar = grammars.atStart;
    /** Tokens the engine writes into the sequence itself (the close of spent reasoning). */
    let forced: Token[] = [];
    let lastTokenAt = 0;
    for (;;) {
      const options = {
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
        grammarEvaluationState: grammar
          ? new LlamaGrammarEvaluationState({ model: this.model, grammar })
          : undefined,
        tokenBias: grammar ? this.wholeCharactersOnly() : undefined,
      };
      let generation: SpeculativeGeneration | undefined;
      let lastToken: Token | undefined;
      let next: LlamaGrammar | undefined;
      const end = await this.driver.run({
        prompt: {
          tokens: input,
          read: (chunk) => sequence.evaluateWithoutGeneratingNewTokens(chunk),
          start: (rest) => {
            if (!speculation) {
              return withLogprobs
                ? sequence.evaluateWithMetadata(rest, { probabilities: true }, options)
                : sequence.evaluate(rest, options);
            }
            const { drafter, mode, prompt } = speculation;
            generation = new SpeculativeGeneration(
              sequence,
              drafter,
              mode,
              prompt,
              this.speculation,
              withLogprobs,
            );
            return generation.tokens(rest);
          },
        },
        cancelled,
        ready: () => generation?.ready() ?? false,
        onToken: (item) => {
          const token = typeof item === "number" ? (item as Token) : (item as { token: Token }).token;
          const now = performance.now();
          if (lastTokenAt === 0) this.observer.firstToken(this.id, (now - startedAt) / 1000);
          else this.observer.interToken(this.id, (now - lastTokenAt) / 1000);
          lastTokenAt = now;
          this.stats.generatedTokens++;
          lastToken = token;
          const logprob = withLogprobs
            ? this.logprobOf(item as EvaluatedToken, request.logprobs ?? 0)
            : undefined;
          const { events: out, done, boundary } = reply.push(token, logprob);
          for (const event of out) events.push(event);
          if (done) return true;
          if (boundary === "thinking-budget-spent") {
            // The reasoning's budget is spent: its closing marker goes in after this token.
            const closing = reply.closeReasoning();
            for (const event of closing.events) events.push(event);
            forced = closing.done ? [] : closing.tokens;
            next = grammar ? undefined : grammars.afterReasoning;
            return true;
          }
          next =
            boundary === "reasoning-ended" && !grammar
              ? grammars.afterReasoning
              : boundary === "tool-call-opened" && !grammar
                ? grammars.onToolCall
                : undefined;
          return next !== undefined;
        },
      });
      if (end !== "done" || (!next && forced.length === 0) || lastToken === undefined) return end;
      input = [lastToken, ...forced];
      forced = [];
      grammar = next ?? grammar;
    }
  }

  /**
   * Under a grammar, tokens that hold only part of a UTF-8 character are banned: llama.cpp checks
   * grammars per code point but lets such byte tokens through, and a weak model then writes
   * malformed text that breaks length limits and patterns. Whole-character tokens remain, so the
   * output is the same text a grammar describes. Built once per model, from the tokens found when
   * the vocabulary was read at load.
   */
  private wholeCharactersOnly(): TokenBias {
    if (!this.partialCharacterBias) {
      const bias = new TokenBias(this.model.tokenizer);
      for (const token of this.partialCharacterTokens) bias.set(token, "never");
      this.partialCharacterBias = bias;
    }
    return this.partialCharacterBias;
  }

  private logprobOf(item: EvaluatedToken, top: number): TokenLogprob {
    const probabilities = item.probabilities ?? new Map<Token, number>();
    const describe = (token: Token, probability: number) => {
      const text = this.model.detokenize([token], false);
      return {
        token: text,
        logprob: probability > 0 ? Math.log(probability) : -9999,
        bytes: [...Buffer.from(text)],
      };
    };
    const alternatives = [...probabilities.entries()]
      .slice(0, top)
      .map(([token, probability]) => describe(token, probability));
    return { ...describe(item.token, probabilities.get(item.token) ?? 0), top: alternatives };
  }

  /**
   * Makes the sequence hold the longest known prefix of the prompt: what it holds already, or a
   * longer prefix saved on disk. Returns how many prompt tokens need no evaluation. At least the
   * last prompt token is evaluated again, since its logits are what the first token is sampled from.
   */
  private async reusePrefix(sequence: LlamaContextSequence, tokens: readonly Token[]): Promise<number> {
    const limit = tokens.length - 1;
    let shared = Math.min(sequence.compareContextTokens(tokens as Token[]).firstDifferentIndex, limit);
    // Another conversation's state about to be overwritten is saved first, if it never was (the
    // sequence was taken before its grace period ran out). The same conversation going on (its
    // last prompt is a prefix of this one) loses only the reply's tail, which is not worth a wait.
    const lastPrompt = this.lastPromptLength.get(sequence) ?? 0;
    if (this.diskCache && shared < lastPrompt && sequence.nextTokenIndex - shared >= CACHE_UNIT_TOKENS) {
      await this.saveState(sequence);
    }
    this.lastPromptLength.set(sequence, tokens.length);
    const saved = shared >= limit ? undefined : this.diskCache?.find(tokens, this.contextSize);
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

  /**
   * Frees the sequence at once, so the next request (an agent's next step arrives within
   * milliseconds) finds its prefix in memory, and saves its state to disk for later requests and
   * restarts only once it has stayed free for SAVE_GRACE_MS with no request waiting: saving never
   * stands between a reply and the next request.
   */
  private release(sequence: LlamaContextSequence): void {
    this.stats.busySequences--;
    this.pool.release(sequence);
    if (!this.diskCache) return;
    clearTimeout(this.pendingSaves.get(sequence));
    const timer = setTimeout(() => {
      this.pendingSaves.delete(sequence);
      this.pool.lendForSave(sequence, (lent) => this.saveState(lent));
    }, SAVE_GRACE_MS);
    timer.unref();
    this.pendingSaves.set(sequence, timer);
  }

  private async saveState(sequence: LlamaContextSequence): Promise<void> {
    try {
      if (await this.diskCache?.save(sequence)) this.stats.diskCacheSaves++;
    } catch {
      // A full disk must not take the sequence down with it; the cache is an optimisation.
    }
  }

  async dispose(): Promise<void> {
    // Save what the free sequences hold, so the next start finds it.
    for (const timer of this.pendingSaves.values()) clearTimeout(timer);
    this.pendingSaves.clear();
    await this.pool.savesRunning();
    for (const sequence of [...this.pool.freeSequences()]) await this.saveState(sequence);
    await (await this.embeddingContext?.catch(() => undefined))?.dispose();
    await this.pool.dispose();
    await this.context.dispose();
    await this.model.dispose();
    for (const drafter of this.drafters.values()) drafter.dispose();
    await this.draft?.model.dispose();
  }
}

/**
 * "auto" turns prompt lookup on where no draft model drafts: it drafts only when the last tokens
 * generated occur in the prompt (edits, summaries, answers that quote), where it pays about 2x
 * (bench/speculative.ts), and pauses after a few misses, so other text costs nothing measurable.
 */
function lookupSetting(setting: PromptLookupSetting, hasDraft: boolean): "on" | "off" {
  if (setting !== "auto") return setting;
  return hasDraft ? "off" : "on";
}

/** Loads the draft model with a context as long as the target's, one sequence per target sequence. */
async function loadDraft(
  llama: Llama,
  filePath: string,
  contextSize: number,
  options: LoadOptions,
): Promise<DraftModel> {
  const model = await llama.loadModel({ modelPath: filePath });
  try {
    const context = await model.createContext({
      contextSize: Math.min(contextSize, model.trainContextSize),
      sequences: options.parallel,
      threads: options.threads,
      batchSize: Math.min(512, contextSize),
    });
    return { id: path.basename(filePath).replace(/\.gguf$/i, ""), model, context };
  } catch (error) {
    await model.dispose();
    throw error;
  }
}

/** Refuses a draft model whose vocabulary differs from the target's, with llama.cpp's reason. */
async function checkDraft(
  draft: DraftModel,
  predictor: Drafter,
  target: LlamaContextSequence,
  targetPath: string,
): Promise<void> {
  try {
    await predictor.checkDraftFor(target);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`the draft model ${draft.id} cannot draft for ${path.basename(targetPath)}: ${reason}`);
  }
}

/**
 * Turns a tokenizer's PromptTooLongError into the client's 400 (its count a lower bound: the
 * tokenizer stopped once the prompt could not fit); other errors pass as they are.
 */
function refusedAs(contextSize: number, completionTokens: number, param?: string) {
  return (error: unknown): unknown =>
    error instanceof PromptTooLongError
      ? new ContextLengthError(contextSize, error.atLeast, completionTokens, {
          atLeast: true,
          ...(param === undefined ? {} : { param }),
        })
      : error;
}

/** What evaluateWithMetadata yields when probabilities are asked for. */
interface EvaluatedToken {
  token: Token;
  probabilities?: Map<Token, number>;
}
