import type { ChatEvent, ChatRequest } from "./chat.js";

export type ModelState = "loading" | "ready" | "missing" | "failed";

export interface ModelInfo {
  /** The id clients send as `model`. */
  id: string;
  /** Unix seconds when the model became known to the server. */
  created: number;
  ownedBy: string;
  state: ModelState;
  /** Why the model is not ready, in words a user can act on. */
  reason?: string;
  contextSize?: number;
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
  /** Frees every model and context. */
  dispose(): Promise<void>;
}
