import type { ChatRequest } from "../../src/core/chat.js";

/**
 * A complete `ChatRequest` for tests that call engines directly: one user message, greedy
 * sampling with a fixed seed, 16 tokens, no tools; `overrides` replace any field.
 */
export function chatRequest(overrides: Partial<ChatRequest> = {}): ChatRequest {
  return {
    model: "test/model",
    messages: [{ role: "user", content: "Hi" }],
    sampling: { temperature: 0, topP: 1, seed: 1, frequencyPenalty: 0, presencePenalty: 0 },
    maxTokens: 16,
    stop: [],
    thinking: undefined,
    tools: [],
    toolChoice: { type: "none" },
    responseFormat: { type: "text" },
    logprobs: undefined,
    ...overrides,
  };
}
