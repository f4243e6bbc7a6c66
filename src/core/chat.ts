/**
 * The domain types of a chat: what protocols parse requests into and what engines consume.
 * Nothing here knows about HTTP, JSON wire shapes or llama.cpp.
 */

export type ChatMessage =
  | { role: "system"; content: string }
  | { role: "user"; content: string }
  | {
      role: "assistant";
      content: string;
      /** The reasoning that preceded this answer, when the client sent it back. */
      reasoning?: string;
    };

export interface SamplingSettings {
  /** 0 means greedy. Default 1 (DeepSeek's default). */
  temperature: number;
  /** Nucleus sampling mass. Default 1 (off). */
  topP: number;
  /** The seed of the sampler; a random one is drawn when the client gives none. */
  seed: number;
  /** -2..2, OpenAI semantics. Default 0. */
  frequencyPenalty: number;
  /** -2..2, OpenAI semantics. Default 0. */
  presencePenalty: number;
}

export interface ChatRequest {
  /** The model id or alias the client asked for, as given. */
  model: string;
  messages: ChatMessage[];
  sampling: SamplingSettings;
  /** The most tokens to generate, reasoning included; undefined means "as many as fit". */
  maxTokens: number | undefined;
  /** Texts that end generation; the matched text is not returned. */
  stop: string[];
  /** Whether the model should think first; undefined leaves it to the model. */
  thinking: boolean | undefined;
}

export type FinishReason = "stop" | "length";

export interface Usage {
  promptTokens: number;
  /** Tokens of the prompt whose KV state was reused, in DeepSeek's 64-token units. */
  promptCacheHitTokens: number;
  completionTokens: number;
  reasoningTokens: number;
}

/** What an engine yields while it generates: a stream of typed parts, named noun-verb. */
export type ChatEvent =
  | { type: "reasoning-delta"; text: string }
  | { type: "text-delta"; text: string }
  | { type: "finish"; finishReason: FinishReason; usage: Usage };
