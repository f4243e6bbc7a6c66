import type { ChatEvent, ChatRequest, CompletionRequest, EmbeddingResult } from "./chat.js";

/**
 * - `available`: on disk and checked, not in memory; the next request loads it.
 * - `loading`: being downloaded, checked or loaded (`reason` says which).
 * - `ready`: in memory and answering.
 * - `missing` / `failed`: cannot answer; `reason` says why and how to fix it.
 */
export type ModelState = "available" | "loading" | "ready" | "missing" | "failed";

export interface ModelInfo {
  /** The id clients send as `model`. */
  id: string;
  /** Unix seconds when the model became known to the server. */
  created: number;
  ownedBy: string;
  state: ModelState;
  /** Why the model is not ready, in words a user can act on. */
  reason?: string;
  /** Tokens per sequence, once loaded. */
  contextSize?: number;
  /** How a loaded local model stores its KV cache (`--cache-type-k/-v`): `f16`, `q8_0`, `q4_0`. */
  cacheTypeK?: string;
  cacheTypeV?: string;
  /** Whether a loaded local model uses flash attention; "auto" while llama.cpp decides on a GPU. */
  flashAttention?: boolean | "auto";
  /** Sequences generating right now, once loaded. */
  busySequences?: number;
  /** Unix ms when a loaded model goes if it stays idle (`--idle-unload`); absent when it never does. */
  idleUnloadAt?: number;
  /** For an upstream model: the pool (`--upstream NAME=...`) that serves it. */
  pool?: string;
  /** Whether the model takes images in user messages (local GGUF models do not yet). */
  acceptsImages?: boolean;
  /** Whether the model is a reranker: it scores documents (`rank`) and does not chat. */
  reranker?: boolean;
  /**
   * Speculative decoding of a loaded local model: its draft model (`--draft-model`), if any, and
   * the drafted tokens (draft model or prompt lookup) it accepted and rejected so far.
   */
  speculation?: { draftModel?: string; acceptedTokens: number; rejectedTokens: number };
}

/** Counters and gauges an engine exposes for /health and /metrics. */
export interface EngineStats {
  /** Sequences generating right now, over all loaded models. */
  busySequences: number;
  /** Requests waiting for a free sequence. */
  queuedRequests: number;
  /** Requests waiting for their model to load or for room to load it. */
  waitingForModel: number;
  /** Requests stopped by their client since the engine started. */
  abortedRequests: number;
  /** Tokens generated since the engine started. */
  generatedTokens: number;
  /** Models in memory now. */
  loadedModels: number;
  /** Prompt prefixes loaded from the disk cache since the engine started (not found in memory). */
  diskCacheRestores: number;
}

/** What the app shows of a model beside its state. */
export interface ModelDetails extends ModelInfo {
  aliases: string[];
  /** The file's base name. */
  file?: string;
  sizeBytes?: number;
  /** A label such as Q4_K_M or Q8_0. */
  quantization?: string;
  /** The trained context length. */
  contextLength?: number;
  architecture?: string;
  parameters?: number;
  /** Whether the chat template opens a thinking block (an R1-style reasoning model). */
  reasoning?: boolean;
}

/** What a reply can be traced to: the exact weights and template that produced it. */
export interface ModelProvenance {
  /** The model id that answered (aliases resolved). */
  model: string;
  modelFile: string;
  /** Null when asked not to wait and the file is still being hashed (see `provenance`). */
  modelSha256: string | null;
  /** SHA-256 of the chat template text; null when the model has none. */
  templateSha256: string | null;
  /**
   * For an upstream model: its pool and the id the upstream knows it by. Which replica answered
   * (and its `system_fingerprint`) is known only once it has: see the `finish` event's `servedBy`.
   */
  pool?: string;
  upstreamModel?: string;
  /** A local model file's size, for the provisional fingerprint while it is being hashed. */
  modelSizeBytes?: number;
  /** What ran a local model, once it is loaded: versions, device and the decode settings. */
  runtime?: EngineRuntime;
}

/**
 * The software and settings a local reply ran on. llama.cpp promises identical output only when
 * these match (and the batch a reply was decoded in: see docs/provenance.md).
 */
export interface EngineRuntime {
  /** The node-llama-cpp package version. */
  nodeLlamaCpp: string;
  /** The llama.cpp release node-llama-cpp's binary was built from (its tag, e.g. `b6845`). */
  llamaCpp: string;
  /** `prebuilt` or `localBuild`. */
  buildType: string;
  /** The GPU backend (`cuda`, `vulkan`, `metal`), or false on the CPU. */
  gpu: string | false;
  /** CPU threads of the model's context. */
  threads: number;
  /** Sequences decoded together in one batch (`--parallel`). */
  parallel: number;
  /** KV-cache storage types (`--cache-type-k/-v`); absent in replies recorded before they existed (f16). */
  cacheTypeK?: string;
  cacheTypeV?: string;
  /** Flash attention as the context uses it ("auto": llama.cpp decides on a GPU). */
  flashAttention?: boolean | "auto";
}

/** How likely a model finds a given reply to a chat (`Engine.scoreContinuation`). */
export interface ContinuationScore {
  /** Tokens of the reply that were scored, in this model's own tokenizer. */
  tokens: number;
  /** Characters of the reply those tokens cover. */
  characters: number;
  /** Sum of the natural-log probabilities of those tokens, each given all before it. */
  logLikelihood: number;
  /** Whether the reply was cut to fit the context (only its first `tokens` were scored). */
  truncated: boolean;
}

/** A query and the documents to score against it (`Engine.rank`). */
export interface RankRequest {
  model: string;
  query: string;
  documents: string[];
}

/** How relevant each document is to the query. */
export interface RankResult {
  /**
   * One score per document, in the request's order; higher is more relevant. Local rerankers give
   * a probability in 0..1; an upstream gives what it computes (llama-server a BERT reranker's logit).
   */
  scores: number[];
  /** Tokens the model read, over every query-document pair. */
  promptTokens: number;
}

/** Download progress of a model pull. */
export interface ModelPullProgress {
  downloadedBytes: number;
  totalBytes: number | undefined;
  /** The file's SHA-256 when known before it is downloaded (a catalog pin). */
  sha256?: string;
}

/** What an admin can do to an engine's models from the app. */
export interface ModelManager {
  /** Downloads a model (a pull already running for it is joined) and registers it. */
  pull(reference: string, onProgress?: (progress: ModelPullProgress) => void): Promise<ModelDetails>;
  /** Loads a model now. */
  load(model: string): Promise<ModelDetails>;
  /** Unloads a model once its requests finish; it reloads on the next one. */
  unload(model: string): Promise<ModelDetails>;
  /**
   * Deletes a model's file, its sidecars and its cache, and forgets it. Refused (409) while it is
   * loaded or in use, and for a file the server was given from outside its data dir.
   */
  remove(model: string): Promise<void>;
}

/**
 * An engine runs chats. The local engine (llama.cpp), remote upstreams and test doubles all
 * implement this; protocols only ever see this interface.
 */
export interface Engine {
  /** Models this engine serves, with their state. */
  listModels(): ModelInfo[];
  /**
   * Generates a reply. Validation errors (unknown model, prompt too long) are thrown before the
   * first event, so a protocol can still answer with a clean HTTP error. Aborting `signal` stops
   * generation within one decode step and frees the engine's resources.
   */
  chat(request: ChatRequest, signal: AbortSignal): Promise<AsyncIterable<ChatEvent>>;
  /**
   * Tokens the request's prompt takes once rendered for its model (messages, system, tools),
   * without generating. Optional: engines that cannot count leave it out, and protocols answer
   * that counting is not supported.
   */
  countTokens?(request: ChatRequest): Promise<number>;
  /**
   * Continues raw text, or fills in the middle between `prompt` and `suffix` with the model's FIM
   * tokens. Events are `text-delta`s and a `finish`. Optional, like the two below.
   */
  complete?(request: CompletionRequest, signal: AbortSignal): Promise<AsyncIterable<ChatEvent>>;
  /** Every model with file facts, for the app's models page. */
  modelDetails?(): ModelDetails[];
  /**
   * The weights and template a request for `model` runs on, hashing the file once if needed;
   * with `waitForDigest: false` at once, the digest null if the file is still being hashed.
   */
  provenance?(model: string, options?: { waitForDigest?: boolean }): Promise<ModelProvenance>;
  /**
   * The model's tokens for `text` (no special tokens parsed, no BOS), loading the model if
   * needed. Optional: replay compares a reply with its re-run token by token with it.
   */
  tokenize?(model: string, text: string, signal: AbortSignal): Promise<number[]>;
  /**
   * One embedding vector per input. Waits in the same queue as chats (429 when it is full), and
   * stops between inputs once `signal` aborts.
   */
  embed?(model: string, inputs: string[], signal: AbortSignal): Promise<EmbeddingResult>;
  /**
   * Scores each document's relevance to the query with a reranker model (a 400 for a model that
   * is not one). Waits in the model's queue like a chat, and stops between documents once
   * `signal` aborts. Optional: engines without rerankers leave it out.
   */
  rank?(request: RankRequest, signal: AbortSignal): Promise<RankResult>;
  /**
   * The log-likelihood of `continuation` as the assistant's reply to `request`'s messages (rendered
   * with the model's template, thinking off), read from the model's full next-token distribution.
   * At most `maxTokens` of it are scored. Optional: only engines with the weights at hand can.
   */
  scoreContinuation?(
    request: ChatRequest,
    continuation: string,
    options: { maxTokens: number },
    signal: AbortSignal,
  ): Promise<ContinuationScore>;
  /**
   * Why this engine cannot serve (all of) its models now, when it cannot: an upstream pool that
   * no replica answers, or whose models are not known yet. Optional.
   */
  notReady?(): string | undefined;
  /** Other names of models (an admin's aliases), for model lists. Optional. */
  modelAliases?(): Array<{ alias: string; model: string }>;
  /** Frees every model and context. */
  dispose(): Promise<void>;
}
