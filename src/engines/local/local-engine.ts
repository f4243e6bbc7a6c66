import { createHash } from "node:crypto";
import { statSync } from "node:fs";
import path from "node:path";
import { getModuleVersion, type Llama } from "node-llama-cpp";
import type { ChatEvent, ChatRequest, CompletionRequest, EmbeddingResult } from "../../core/chat.js";
import type {
  ContinuationScore,
  Engine,
  EngineStats,
  ModelDetails,
  ModelInfo,
  EngineRuntime,
  ModelProvenance,
  ModelState,
  RankRequest,
  RankResult,
} from "../../core/engine.js";
import {
  InvalidRequestError,
  ModelNotFoundError,
  ModelUnavailableError,
  QiusuoError,
} from "../../core/errors.js";
import { silentObserver, type EngineObserver } from "../../core/observer.js";
import { AUTO_CONTEXT_CAP, fitContextSize } from "./context-fit.js";
import { cacheTypeLabel, DEFAULT_KV_CACHE } from "../../core/kv-cache-settings.js";
import { fileSha256, knownSha256 } from "./file-digest.js";
import { modelIdForFile } from "./model-paths.js";
import { inspectGgufFile, type GgufFileSummary } from "./gguf-file.js";
import { getRuntime, runtimeAdvice, type RuntimeOptions } from "./llama-runtime.js";
import { LoadedModel, type LoadOptions } from "./loaded-model.js";
import { refuseImages } from "./images-refused.js";
import { RankingModel } from "./ranking-model.js";

/** node-llama-cpp's version, read from its package.json once (every reply's provenance names it). */
let moduleVersion: Promise<string> | undefined;
function nodeLlamaCppVersion(): Promise<string> {
  moduleVersion ??= getModuleVersion();
  return moduleVersion;
}

export type LocalEngineOptions = LoadOptions &
  Pick<RuntimeOptions, "gpu"> & {
    /**
     * Seconds without a request after which a loaded model is unloaded (back to `available`);
     * fractions are allowed, 0 keeps models loaded. Default 1800.
     */
    idleUnloadSeconds?: number;
    /** Models in memory at once; loading one more unloads the least recently used idle one. Default 2. */
    maxLoadedModels?: number;
    /**
     * Seconds a request waits for room to load its model while every loaded model is busy, before
     * it gets a 503 with Retry-After. Default 30.
     */
    loadWaitSeconds?: number;
    /** Told about every generation, for metrics. */
    observer?: EngineObserver;
    /** Lines for the operator: loads (with the context size chosen) and unloads. */
    log?: (message: string) => void;
  };

export const DEFAULT_IDLE_UNLOAD_SECONDS = 1800;
export const DEFAULT_MAX_LOADED_MODELS = 2;
const DEFAULT_LOAD_WAIT_SECONDS = 30;
/** How often a request waiting for room looks again: sequences free up without an event. */
const ROOM_POLL_MS = 100;
/** The reason a model shows while removeModel deletes its files. */
const BEING_DELETED = "being deleted";

interface ModelEntry {
  id: string;
  /** Other names clients may use, such as the catalog alias `deepseek-r1:1.5b`. */
  aliases: string[];
  created: number;
  state: ModelState;
  reason?: string;
  /** The checked GGUF file; unset while the model is being downloaded or is missing. */
  filePath?: string;
  /** What the check read from the file's header. */
  summary?: GgufFileSummary;
  /** A chat model, or a reranker (`summary.reranker`), which only ranks. */
  loaded?: LoadedModel | RankingModel;
  /** The load in progress, shared by every request that arrives meanwhile. */
  loading?: Promise<LoadedModel | RankingModel>;
  /** The unload in progress; loading again waits for it so the memory is given back first. */
  unloading?: Promise<void>;
  /** Requests that hold the model: waiting for it to load, queued or generating. */
  active: number;
  /** When the model was last asked for or finished a request (performance.now()). */
  lastUsed: number;
  idleTimer?: NodeJS.Timeout;
}

/**
 * Serves GGUF files in-process through llama.cpp. Only this folder imports node-llama-cpp.
 *
 * Models are checked when registered and loaded on first use (or at once with `preload`); many
 * requests arriving for an unloaded model share one load. A model idle for `idleUnloadSeconds`
 * is unloaded, and loading one past `maxLoadedModels` first unloads the least recently used idle one.
 */
export class LocalEngine implements Engine {
  private readonly entries: ModelEntry[] = [];
  private readonly observer: EngineObserver;
  private readonly roomWaiters = new Set<() => void>();
  /** Counters of models already unloaded, so totals never go backwards. */
  private readonly retired = { abortedRequests: 0, generatedTokens: 0, diskCacheRestores: 0 };
  private waitingForModel = 0;
  private llama: Llama | undefined;
  private disposed = false;

  constructor(private readonly options: LocalEngineOptions) {
    this.observer = options.observer ?? silentObserver;
  }

  private get idleUnloadMs(): number {
    return (this.options.idleUnloadSeconds ?? DEFAULT_IDLE_UNLOAD_SECONDS) * 1000;
  }

  private get maxLoadedModels(): number {
    return Math.max(1, this.options.maxLoadedModels ?? DEFAULT_MAX_LOADED_MODELS);
  }

  /** The model that `deepseek-chat` and `deepseek-reasoner` point to: the first one registered. */
  get defaultModel(): ModelInfo | undefined {
    const entry = this.entries[0];
    return entry && this.describe(entry);
  }

  listModels(): ModelInfo[] {
    return this.entries.map((entry) => this.describe(entry));
  }

  /** Registers a model that is not on disk yet (being pulled, or missing) with a reason. */
  setPending(
    id: string,
    state: "loading" | "missing" | "failed",
    reason: string,
    aliases: string[] = [],
  ): void {
    const entry = this.entryFor(id, aliases);
    entry.state = state;
    entry.reason = reason;
  }

  /**
   * Checks a GGUF file and registers it as `available`; it loads on its first request, or now with
   * `preload`. A file that fails the check (or the preload) leaves the model `failed` with a reason.
   */
  async addModelFile(
    filePath: string,
    aliases: string[] = [],
    options: { preload?: boolean } = {},
  ): Promise<ModelInfo> {
    const id = modelIdForFile(filePath);
    const entry = this.entryFor(id, aliases);
    if (!entry.loaded && !entry.loading) {
      entry.state = "loading";
      entry.reason = `Checking ${path.basename(filePath)}`;
      try {
        // Untrusted input never reaches llama.cpp unchecked.
        entry.summary = await inspectGgufFile(filePath);
      } catch (error) {
        entry.state = "failed";
        entry.reason = `Could not load ${path.basename(filePath)}: ${messageOf(error)}`;
        throw error;
      }
      entry.filePath = filePath;
      entry.state = "available";
      delete entry.reason;
    }
    if (options.preload) await this.loadHeld(entry);
    return this.describe(entry);
  }

  /** Totals over all models, for /health and /metrics. */
  stats(): EngineStats {
    const totals: EngineStats = {
      busySequences: 0,
      queuedRequests: 0,
      waitingForModel: this.waitingForModel,
      abortedRequests: this.retired.abortedRequests,
      generatedTokens: this.retired.generatedTokens,
      diskCacheRestores: this.retired.diskCacheRestores,
      loadedModels: 0,
    };
    for (const entry of this.entries) {
      if (!entry.loaded) continue;
      totals.loadedModels++;
      totals.busySequences += entry.loaded.stats.busySequences;
      totals.queuedRequests += entry.loaded.queuedRequests;
      totals.abortedRequests += entry.loaded.stats.abortedRequests;
      totals.generatedTokens += entry.loaded.stats.generatedTokens;
      totals.diskCacheRestores += entry.loaded.stats.diskCacheRestores;
    }
    return totals;
  }

  /** llama.cpp's own memory (weights, KV caches, buffers), once the runtime is up. */
  async memoryUsage(): Promise<{ cpuRam: number; gpuVram: number } | undefined> {
    if (!this.llama || this.disposed) return undefined;
    try {
      return await this.llama.getLlamaMemoryUsage();
    } catch {
      return undefined; // the runtime was disposed while shutting down
    }
  }

  async chat(request: ChatRequest, signal: AbortSignal): Promise<AsyncIterable<ChatEvent>> {
    refuseImages(this.resolve(request.model).id, request);
    return this.generateWith(request.model, signal, (loaded) =>
      loaded.chat(request, request.thinking, signal),
    );
  }

  async complete(request: CompletionRequest, signal: AbortSignal): Promise<AsyncIterable<ChatEvent>> {
    return this.generateWith(request.model, signal, (loaded) => loaded.complete(request, signal));
  }

  async countTokens(request: ChatRequest): Promise<number> {
    refuseImages(this.resolve(request.model).id, request);
    return this.useModel(request.model, new AbortController().signal, async (loaded) =>
      loaded.countTokens(request, request.thinking),
    );
  }

  async embed(model: string, inputs: string[], signal: AbortSignal): Promise<EmbeddingResult> {
    return this.useModel(model, signal, (loaded) => loaded.embed(inputs, signal));
  }

  async rank(request: RankRequest, signal: AbortSignal): Promise<RankResult> {
    const entry = this.resolve(request.model);
    if (!entry.summary?.reranker) throw this.notReranker(entry);
    if (request.documents.length === 0) return { scores: [], promptTokens: 0 };
    return this.withHeld(
      entry,
      signal,
      (loaded) => {
        if (!(loaded instanceof RankingModel)) throw this.notReranker(entry);
        return loaded.rank(request.query, request.documents, signal);
      },
      true,
    );
  }

  async scoreContinuation(
    request: ChatRequest,
    continuation: string,
    options: { maxTokens: number },
    signal: AbortSignal,
  ): Promise<ContinuationScore> {
    refuseImages(this.resolve(request.model).id, request);
    return this.useModel(request.model, signal, (loaded) =>
      loaded.scoreContinuation(request, continuation, options.maxTokens, signal),
    );
  }

  /** Runs `start` on the loaded model and keeps the model held until its events are consumed. */
  private async generateWith(
    model: string,
    signal: AbortSignal,
    start: (loaded: LoadedModel) => Promise<AsyncIterable<ChatEvent>>,
  ): Promise<AsyncIterable<ChatEvent>> {
    const entry = this.resolve(model);
    if (entry.summary?.reranker) throw this.isReranker(entry);
    const events = await this.withHeld(
      entry,
      signal,
      (loaded) => start(this.chatModel(entry, loaded)),
      false,
    );
    return this.holding(entry, events, signal);
  }

  /** Runs a one-shot `use` on the loaded model, holding it (so it is not unloaded) meanwhile. */
  private async useModel<Result>(
    model: string,
    signal: AbortSignal,
    use: (loaded: LoadedModel) => Promise<Result>,
  ): Promise<Result> {
    const entry = this.resolve(model);
    if (entry.summary?.reranker) throw this.isReranker(entry);
    return this.withHeld(entry, signal, (loaded) => use(this.chatModel(entry, loaded)), true);
  }

  private chatModel(entry: ModelEntry, loaded: LoadedModel | RankingModel): LoadedModel {
    if (loaded instanceof LoadedModel) return loaded;
    throw this.isReranker(entry);
  }

  private isReranker(entry: ModelEntry): QiusuoError {
    const chatModels = this.entries.filter((other) => !other.summary?.reranker).map((other) => other.id);
    return new InvalidRequestError(
      "model_is_reranker",
      `The model '${entry.id}' is a reranker: it scores documents at /v1/rerank and cannot chat, ` +
        `complete, embed or tokenize. Use a chat model${chatModels.length > 0 ? ` (${chatModels.join(", ")})` : ""}.`,
      "model",
    );
  }

  private notReranker(entry: ModelEntry): QiusuoError {
    const rerankers = this.entries.filter((other) => other.summary?.reranker).map((other) => other.id);
    return new InvalidRequestError(
      "model_not_reranker",
      `The model '${entry.id}' is not a reranker, so it cannot rank documents. ` +
        (rerankers.length > 0
          ? `Use a reranker: ${rerankers.join(", ")}.`
          : "Load a reranker GGUF (one with a classification head, such as Qwen3-Reranker or " +
            "bge-reranker-v2-m3) with --model PATH.gguf and name it as `model`."),
      "model",
    );
  }

  /**
   * Holds the model, loading it if needed, and runs `use`. A failure releases the hold at once;
   * on success the hold is released here when `releaseAfter`, or by the caller's stream otherwise.
   */
  private async withHeld<Result>(
    entry: ModelEntry,
    signal: AbortSignal,
    use: (loaded: LoadedModel | RankingModel) => Promise<Result>,
    releaseAfter: boolean,
  ): Promise<Result> {
    if (!entry.filePath || entry.state === "failed" || entry.state === "missing") {
      this.reportRefused(entry, signal);
      throw this.unavailable(entry);
    }
    this.hold(entry);
    try {
      this.waitingForModel++;
      let loaded: LoadedModel | RankingModel;
      try {
        loaded = await this.loadedModel(entry, signal);
      } finally {
        this.waitingForModel--;
      }
      const result = await use(loaded);
      if (releaseAfter) this.release(entry);
      return result;
    } catch (error) {
      this.release(entry);
      this.reportRefused(entry, signal);
      throw error;
    }
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    for (const wake of [...this.roomWaiters]) wake();
    await Promise.allSettled(this.entries.map((entry) => entry.loading));
    await Promise.all(this.entries.map((entry) => this.unload(entry, "the server is stopping")));
  }

  /** The model in memory for a request, loading it (once, shared) after making room if needed. */
  private async loadedModel(entry: ModelEntry, signal?: AbortSignal): Promise<LoadedModel | RankingModel> {
    const deadline = performance.now() + (this.options.loadWaitSeconds ?? DEFAULT_LOAD_WAIT_SECONDS) * 1000;
    for (;;) {
      if (this.disposed) throw new ModelUnavailableError("server_stopping", "The server is shutting down.");
      if (entry.loaded) return entry.loaded;
      if (entry.loading) return await entry.loading;
      if (!entry.filePath || entry.state === "failed") throw this.unavailable(entry);
      const unloads = this.makeRoom(entry);
      if (unloads) {
        entry.loading = this.load(entry, entry.filePath, unloads);
        continue;
      }
      await this.waitForRoom(entry, deadline, signal);
    }
  }

  /**
   * Frees a slot for `entry` by unloading least recently used idle models, at once (the slot
   * counts as taken before the awaits). Returns the unloads to wait for, or undefined when every
   * other loaded model is busy.
   */
  private makeRoom(entry: ModelEntry): Promise<void>[] | undefined {
    const holders = this.entries.filter((other) => other !== entry && (other.loaded || other.loading));
    const excess = holders.length + 1 - this.maxLoadedModels;
    if (excess <= 0) return [];
    const idle = holders
      .filter((other) => this.isIdle(other))
      .sort((first, second) => first.lastUsed - second.lastUsed);
    if (idle.length < excess) return undefined;
    return idle
      .slice(0, excess)
      .map((victim) =>
        this.unload(victim, `to make room for ${entry.id} (--max-loaded-models ${this.maxLoadedModels})`),
      );
  }

  private async load(
    entry: ModelEntry,
    filePath: string,
    unloads: Promise<void>[],
  ): Promise<LoadedModel | RankingModel> {
    entry.state = "loading";
    entry.reason = `Loading ${path.basename(filePath)}`;
    const started = performance.now();
    try {
      // Every unload in flight, not only ours: their memory is what the context size is fitted to.
      await Promise.all([...unloads, ...this.entries.map((other) => other.unloading)]);
      const llama = await getRuntime({ gpu: this.options.gpu, maxThreads: this.options.threads });
      if (this.llama === undefined) {
        const advice = runtimeAdvice(llama, this.options.threads);
        if (advice) this.options.log?.(advice);
      }
      this.llama = llama;
      // A reranker ranks one pair at a time, in a context of its own.
      const reranker = entry.summary?.reranker === true;
      const sequences = reranker ? 1 : this.options.parallel;
      // A reranker keeps f16: it holds one pair at a time, and the setting is for chat contexts.
      const fit = await fitContextSize(llama, filePath, {
        requested: this.options.contextSize,
        parallel: sequences,
        ...(reranker ? {} : { kvCache: this.options.kvCache ?? DEFAULT_KV_CACHE }),
      });
      const loaded = reranker
        ? await RankingModel.load(llama, filePath, {
            contextSize: fit.contextSize,
            threads: this.options.threads,
            maxQueue: this.options.maxQueue ?? 8 * this.options.parallel,
          })
        : await LoadedModel.load(llama, filePath, {
            ...this.options,
            contextSize: fit.contextSize,
            observer: this.observer,
          });
      if (this.disposed) {
        await loaded.dispose();
        throw new Error("the server is shutting down");
      }
      entry.loaded = loaded;
      entry.state = "ready";
      entry.lastUsed = performance.now();
      delete entry.reason;
      const shrunk = fit.shrunkBecause
        ? `; smaller than ${Math.min(fit.trainContextSize, AUTO_CONTEXT_CAP)} because ${fit.shrunkBecause}`
        : "";
      const cache =
        loaded instanceof LoadedModel
          ? `, KV cache ${cacheTypeLabel(loaded.kvCache)}, flash attention ${attentionLabel(loaded.flashAttention)}`
          : "";
      this.options.log?.(
        `model ${entry.id} is ready (context ${loaded.contextSize} tokens × ${sequences} ` +
          `sequence(s)${shrunk}${cache}, loaded in ${Math.round(performance.now() - started)} ms)`,
      );
      if (entry.active === 0) this.scheduleIdleUnload(entry);
      // Replies in the app record the file's SHA-256. Hashing takes seconds per gigabyte, so it
      // starts now, in the background, rather than holding up the first reply that asks for it.
      void fileSha256(filePath).catch(() => undefined);
      return loaded;
    } catch (error) {
      entry.state = "failed";
      entry.reason = `Could not load ${path.basename(filePath)}: ${messageOf(error)}`;
      throw new QiusuoError(
        "unavailable",
        "model_load_failed",
        `The model '${entry.id}' could not be loaded: ${messageOf(error).replace(/\.$/, "")}.`,
        { cause: error },
      );
    } finally {
      entry.loading = undefined;
      this.wakeRoomWaiters();
    }
  }

  /** Disposes the model's context and weights; the entry goes back to `available`. */
  private unload(entry: ModelEntry, why: string): Promise<void> {
    this.clearIdleTimer(entry);
    const loaded = entry.loaded;
    if (!loaded) return entry.unloading ?? Promise.resolve();
    entry.loaded = undefined;
    entry.state = "available";
    delete entry.reason;
    this.retired.abortedRequests += loaded.stats.abortedRequests;
    this.retired.generatedTokens += loaded.stats.generatedTokens;
    this.retired.diskCacheRestores += loaded.stats.diskCacheRestores;
    const unloading: Promise<void> = loaded
      .dispose()
      .catch(() => {}) // a failed dispose leaves nothing to retry; the memory goes with the process
      .finally(() => {
        if (entry.unloading === unloading) entry.unloading = undefined;
        this.wakeRoomWaiters();
      });
    entry.unloading = unloading;
    this.options.log?.(`model ${entry.id} unloaded: ${why}`);
    return unloading;
  }

  /** Whether the model is loaded and nothing uses it, so it may be unloaded. */
  private isIdle(entry: ModelEntry): boolean {
    const loaded = entry.loaded;
    return (
      loaded !== undefined &&
      entry.active === 0 &&
      loaded.stats.busySequences === 0 && // a sequence may still be saving its state after the reply
      loaded.queuedRequests === 0
    );
  }

  private waitForRoom(entry: ModelEntry, deadline: number, signal: AbortSignal | undefined): Promise<void> {
    const remaining = deadline - performance.now();
    if (remaining <= 0) {
      throw new ModelUnavailableError(
        "models_busy",
        `The model '${entry.id}' cannot be loaded now: ${this.maxLoadedModels} model(s) are loaded ` +
          "(--max-loaded-models) and all of them are busy. Retry shortly.",
        5,
      );
    }
    if (signal?.aborted) throw aborted();
    return new Promise((resolve, reject) => {
      const wake = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.roomWaiters.delete(wake);
        resolve();
      };
      const onAbort = () => {
        clearTimeout(timer);
        this.roomWaiters.delete(wake);
        reject(aborted());
      };
      const timer = setTimeout(wake, Math.min(remaining, ROOM_POLL_MS));
      this.roomWaiters.add(wake);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  private wakeRoomWaiters(): void {
    for (const wake of [...this.roomWaiters]) wake();
  }

  /** Loads the model now, held while it loads; its idle time counts from the end of the load. */
  private async loadHeld(entry: ModelEntry): Promise<void> {
    this.hold(entry);
    try {
      await this.loadedModel(entry);
    } finally {
      this.release(entry);
    }
  }

  private hold(entry: ModelEntry): void {
    entry.active++;
    entry.lastUsed = performance.now();
    this.clearIdleTimer(entry);
  }

  private release(entry: ModelEntry): void {
    entry.active--;
    entry.lastUsed = performance.now();
    if (entry.active > 0) return;
    this.scheduleIdleUnload(entry);
    this.wakeRoomWaiters();
  }

  /**
   * Keeps the model held while the reply is read, however the reading ends. A reply never read
   * (its client left before the first event) is let go when the request is aborted.
   */
  private holding(
    entry: ModelEntry,
    events: AsyncIterable<ChatEvent>,
    signal: AbortSignal,
  ): AsyncIterable<ChatEvent> {
    let started = false;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      signal.removeEventListener("abort", onAbort);
      this.release(entry);
    };
    const onAbort = () => {
      if (!started) release();
    };
    signal.addEventListener("abort", onAbort, { once: true });
    return (async function* () {
      started = true;
      try {
        yield* events;
      } finally {
        release();
      }
    })();
  }

  private scheduleIdleUnload(entry: ModelEntry, delayMs = this.idleUnloadMs): void {
    if (this.idleUnloadMs <= 0 || !entry.loaded || this.disposed) return;
    this.clearIdleTimer(entry);
    entry.idleTimer = setTimeout(() => {
      entry.idleTimer = undefined;
      if (!entry.loaded || entry.active > 0) return;
      if (!this.isIdle(entry)) return this.scheduleIdleUnload(entry, ROOM_POLL_MS);
      const left = entry.lastUsed + this.idleUnloadMs - performance.now();
      if (left > 1) return this.scheduleIdleUnload(entry, left);
      void this.unload(entry, `idle for ${this.idleUnloadMs / 1000} s (--idle-unload)`);
    }, delayMs);
    entry.idleTimer.unref(); // an idle timer never keeps the process alive
  }

  private clearIdleTimer(entry: ModelEntry): void {
    if (entry.idleTimer) clearTimeout(entry.idleTimer);
    entry.idleTimer = undefined;
  }

  /** Counts a request the engine refused before it reached the model (unavailable, too long, queue full). */
  private reportRefused(entry: ModelEntry, signal: AbortSignal): void {
    this.observer.finished({
      model: entry.id,
      promptTokens: 0,
      cacheHitTokens: 0,
      completionTokens: 0,
      reasoningTokens: 0,
      outcome: signal.aborted ? "aborted" : "error",
    });
  }

  private unavailable(entry: ModelEntry): ModelUnavailableError {
    const loading = entry.state === "loading";
    return new ModelUnavailableError(
      loading ? "model_loading" : "model_unavailable",
      `The model '${entry.id}' is not ready: ${(entry.reason ?? entry.state).replace(/\.$/, "")}.`,
      loading ? 5 : undefined,
    );
  }

  /** A model by its id or one of its own aliases; DeepSeek's names are the router's business. */
  private resolve(model: string): ModelEntry {
    const entry = this.entries.find(
      (candidate) => candidate.id === model || candidate.aliases.includes(model),
    );
    if (!entry) {
      const available = this.entries.flatMap((candidate) => [candidate.id, ...candidate.aliases]);
      throw new ModelNotFoundError(model, available);
    }
    return entry;
  }

  /** Finds the entry known by `id` or any of `aliases`, or makes one; the file-based id wins. */
  private entryFor(id: string, aliases: string[]): ModelEntry {
    const names = new Set([id, ...aliases]);
    let entry = this.entries.find(
      (candidate) => names.has(candidate.id) || candidate.aliases.some((alias) => names.has(alias)),
    );
    if (!entry) {
      entry = {
        id,
        aliases: [],
        created: Math.floor(Date.now() / 1000),
        state: "loading",
        active: 0,
        lastUsed: performance.now(),
      };
      this.entries.push(entry);
    }
    if (entry.id !== id) {
      entry.aliases.push(entry.id);
      entry.id = id;
    }
    for (const alias of aliases)
      if (alias !== entry.id && !entry.aliases.includes(alias)) entry.aliases.push(alias);
    entry.aliases = entry.aliases.filter((alias) => alias !== entry.id);
    return entry;
  }

  modelDetails(): ModelDetails[] {
    return this.entries.map((entry) => this.detailsOf(entry));
  }

  private detailsOf(entry: ModelEntry): ModelDetails {
    const summary = entry.summary;
    return {
      ...this.describe(entry),
      aliases: [...entry.aliases],
      ...(summary
        ? {
            file: summary.fileName,
            sizeBytes: summary.fileSize,
            quantization: summary.quantization,
            parameters: summary.parameterCount,
            reasoning: summary.chatTemplate?.includes("<think>") ?? false,
            ...(summary.contextLength === undefined ? {} : { contextLength: summary.contextLength }),
            ...(summary.architecture === undefined ? {} : { architecture: summary.architecture }),
          }
        : {}),
    };
  }

  /** Loads a model now (an admin's request) and returns it ready. */
  async loadModel(model: string): Promise<ModelDetails> {
    const entry = this.resolve(model);
    await this.loadHeld(entry);
    return this.detailsOf(entry);
  }

  /**
   * Unloads a model now (an admin's request). Requests it is serving finish first; it loads again
   * on its next request.
   */
  async unloadModel(model: string, options: { timeoutMs?: number } = {}): Promise<ModelDetails> {
    const entry = this.resolve(model);
    const deadline = performance.now() + (options.timeoutMs ?? 60_000);
    while (entry.loading || (entry.loaded && !this.isIdle(entry))) {
      if (performance.now() > deadline) {
        throw new ModelUnavailableError(
          "model_busy",
          `The model '${entry.id}' is still serving requests; try unloading it again shortly.`,
          5,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, ROOM_POLL_MS));
    }
    await this.unload(entry, "unloaded on request");
    return this.detailsOf(entry);
  }

  /**
   * Deletes a model (an admin's request). Refused while it is loaded, loading, being downloaded or
   * held by a request; only its id or one of its own aliases names it, never `deepseek-chat`.
   * While `deleteFiles` runs the model refuses new requests; it may refuse the delete by throwing,
   * which leaves the model as it was. Once it succeeds the engine forgets the model.
   */
  async removeModel(
    model: string,
    deleteFiles: (model: { id: string; filePath: string | undefined }) => Promise<void>,
  ): Promise<{ id: string }> {
    const entry = this.entries.find(
      (candidate) => candidate.id === model || candidate.aliases.includes(model),
    );
    if (!entry) throw new QiusuoError("not_found", "model_not_found", `The model '${model}' does not exist.`);
    const refuse = (why: string): never => {
      throw new QiusuoError("conflict", "model_in_use", `The model '${entry.id}' ${why}.`);
    };
    if (entry.loaded) refuse("is loaded; unload it first, then delete it");
    if (entry.loading) refuse("is loading; unload it once it is ready, then delete it");
    if (entry.active > 0) refuse("is serving requests; let them finish, then delete it");
    if (entry.unloading) refuse("is still being unloaded; try again in a moment");
    if (entry.state === "loading") refuse(`is busy (${entry.reason ?? "loading"}); wait for it to finish`);
    if (entry.reason === BEING_DELETED) refuse("is being deleted already");
    const before = { state: entry.state, reason: entry.reason };
    // "missing" turns requests away (withHeld) while the files go.
    entry.state = "missing";
    entry.reason = BEING_DELETED;
    try {
      await deleteFiles({ id: entry.id, filePath: entry.filePath });
    } catch (error) {
      entry.state = before.state;
      if (before.reason === undefined) delete entry.reason;
      else entry.reason = before.reason;
      throw error;
    }
    this.clearIdleTimer(entry);
    const index = this.entries.indexOf(entry);
    if (index !== -1) this.entries.splice(index, 1);
    return { id: entry.id };
  }

  async provenance(model: string, options: { waitForDigest?: boolean } = {}): Promise<ModelProvenance> {
    const entry = this.resolve(model);
    if (!entry.filePath) throw this.unavailable(entry);
    const template = entry.summary?.chatTemplate;
    const digest =
      options.waitForDigest === false
        ? ((await knownSha256(entry.filePath)) ?? null)
        : await fileSha256(entry.filePath);
    const llama = this.llama;
    return {
      model: entry.id,
      modelFile: path.basename(entry.filePath),
      modelSha256: digest,
      templateSha256: template === undefined ? null : createHash("sha256").update(template).digest("hex"),
      modelSizeBytes: statSync(entry.filePath).size, // no pool wait per reply (see knownSha256)
      ...(llama
        ? {
            runtime: {
              nodeLlamaCpp: await nodeLlamaCppVersion(),
              llamaCpp: llama.llamaCppRelease.release,
              buildType: llama.buildType,
              gpu: llama.gpu,
              threads: this.options.threads,
              parallel: this.options.parallel,
              ...this.cacheOf(entry),
            },
          }
        : {}),
    };
  }

  /**
   * The KV-cache types and flash attention a chat model's replies are made with: those of its
   * context while loaded, else those it will load with.
   */
  private cacheOf(entry: ModelEntry): Pick<EngineRuntime, "cacheTypeK" | "cacheTypeV" | "flashAttention"> {
    if (entry.loaded instanceof LoadedModel) {
      const { kvCache, flashAttention } = entry.loaded;
      return { cacheTypeK: kvCache.keyType, cacheTypeV: kvCache.valueType, flashAttention };
    }
    const kvCache = this.options.kvCache ?? DEFAULT_KV_CACHE;
    return {
      cacheTypeK: kvCache.keyType,
      cacheTypeV: kvCache.valueType,
      flashAttention: kvCache.flashAttention === "auto" ? "auto" : kvCache.flashAttention === "on",
    };
  }

  async tokenize(model: string, text: string, signal: AbortSignal): Promise<number[]> {
    return this.useModel(model, signal, async (loaded) => loaded.tokenize(text));
  }

  private describe(entry: ModelEntry): ModelInfo {
    return {
      id: entry.id,
      created: entry.created,
      ownedBy: "qiusuo",
      state: entry.state,
      acceptsImages: false,
      ...(entry.summary?.reranker ? { reranker: true } : {}),
      ...(entry.reason ? { reason: entry.reason } : {}),
      ...(entry.loaded
        ? { contextSize: entry.loaded.contextSize, busySequences: entry.loaded.stats.busySequences }
        : {}),
      ...(entry.loaded instanceof LoadedModel
        ? {
            cacheTypeK: entry.loaded.kvCache.keyType,
            cacheTypeV: entry.loaded.kvCache.valueType,
            flashAttention: entry.loaded.flashAttention,
          }
        : {}),
      ...(entry.loaded instanceof LoadedModel ? speculationOf(entry.loaded) : {}),
      ...(entry.loaded && this.idleUnloadMs > 0
        ? { idleUnloadAt: Date.now() + Math.max(0, entry.lastUsed + this.idleUnloadMs - performance.now()) }
        : {}),
    };
  }
}

/** A chat model's draft model and drafts, once it has either (prompt lookup may never draft). */
function speculationOf(loaded: LoadedModel): Pick<ModelInfo, "speculation"> {
  const { draftModel, speculation } = loaded;
  if (draftModel === undefined && speculation.acceptedTokens + speculation.rejectedTokens === 0) return {};
  return { speculation: { ...(draftModel === undefined ? {} : { draftModel }), ...speculation } };
}

function attentionLabel(value: boolean | "auto"): string {
  return value === "auto" ? "auto" : value ? "on" : "off";
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function aborted(): ModelUnavailableError {
  return new ModelUnavailableError(
    "request_aborted",
    "The request was cancelled while waiting for its model.",
  );
}
