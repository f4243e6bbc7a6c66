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
  /** Sequences generating right now, once loaded. */
  busySequences?: number;
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
  /** One embedding vector per input. */
  embed?(model: string, inputs: string[]): Promise<EmbeddingResult>;
  /** Frees every model and context. */
  dispose(): Promise<void>;
}
