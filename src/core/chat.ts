/**
 * The domain types of a chat: what protocols parse requests into and what engines consume.
 * Nothing here knows about HTTP, JSON wire shapes or llama.cpp.
 */

/** A JSON Schema object, as clients send it. Validated where it is turned into a grammar. */
export type JsonSchema = Record<string, unknown>;

export interface ToolDefinition {
  /** `[a-zA-Z0-9_-]{1,64}`. */
  name: string;
  description?: string;
  /** JSON Schema of the arguments object. */
  parameters: JsonSchema;
  /** Arguments must match the schema exactly (enforced by grammar). */
  strict: boolean;
}

/** Which tools the model may or must call. */
export type ToolChoice =
  { type: "none" } | { type: "auto" } | { type: "required" } | { type: "function"; name: string };

export interface ToolCall {
  /** `call_...`, unique within the conversation. */
  id: string;
  name: string;
  /** The arguments as JSON text. */
  arguments: string;
}

export type ResponseFormat =
  | { type: "text" }
  /** Any JSON object; enforced by grammar, so the output always parses. */
  | { type: "json_object" }
  | { type: "json_schema"; name: string; schema: JsonSchema };

export type ChatMessage =
  | { role: "system"; content: string }
  | {
      role: "user";
      content: string;
      /**
       * Images that come with the text (OpenAI `image_url` parts, Anthropic `image` blocks), in
       * order after it. Only engines whose model accepts images take them; the others refuse
       * the request with a 400 naming the model.
       */
      images?: ImageInput[];
    }
  | {
      role: "assistant";
      content: string;
      /** The reasoning that preceded this answer, when the client sent it back. */
      reasoning?: string;
      toolCalls?: ToolCall[];
      /**
       * Chat prefix completion: the model continues this message (and its reasoning, if given)
       * instead of starting a new one. Only on the last message.
       */
      prefix?: boolean;
    }
  | { role: "tool"; content: string; toolCallId: string };

/** An image in a message: a `data:` URL (base64) or an `https:` URL the upstream fetches. */
export interface ImageInput {
  url: string;
  /** OpenAI's `detail` hint, passed on as given. */
  detail?: "auto" | "low" | "high";
}

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
  /**
   * The most tokens the reasoning may take (`reasoning_effort`, `thinking.budget_tokens`); once
   * spent, the engine closes the reasoning and the model answers. Absent: no limit.
   */
  thinkingBudget?: number;
  /** Tools the model may call; empty for none. */
  tools: ToolDefinition[];
  toolChoice: ToolChoice;
  responseFormat: ResponseFormat;
  /** Log-probabilities of output tokens: undefined for none, else how many alternatives (0-20). */
  logprobs: number | undefined;
}

/** The log-probability of one generated token, with the most likely alternatives. */
export interface TokenLogprob {
  token: string;
  logprob: number;
  /** UTF-8 bytes of the token (a token may hold part of a character). */
  bytes: number[];
  top: Array<{ token: string; logprob: number; bytes: number[] }>;
}

export type FinishReason = "stop" | "length" | "tool_calls";

export interface Usage {
  promptTokens: number;
  /** Tokens of the prompt whose KV state was reused, in DeepSeek's 64-token units. */
  promptCacheHitTokens: number;
  completionTokens: number;
  reasoningTokens: number;
  /**
   * Where the counts come from: the engine's own tokenizer (local models, the default), the
   * upstream's reported usage, or an estimate from the text when an upstream sent none.
   */
  source?: "engine" | "upstream" | "estimated";
}

/** Which upstream replica produced a reply (absent for local models). */
export interface ServedBy {
  /** The upstream pool's name, as configured (`--upstream NAME=...`). */
  pool: string;
  /** The replica's base URL (never with credentials). */
  replica: string;
  /** The model id the upstream knows the model by. */
  upstreamModel: string;
  /** The upstream's `system_fingerprint`, when it sent one. */
  systemFingerprint?: string;
}

/** What an engine yields while it generates: a stream of typed parts, named noun-verb. */
export type ChatEvent =
  /**
   * The prompt has been read into tokens: sent first, before any queueing, so a protocol can
   * report the input size at once (Anthropic's `message_start`). Engines that cannot count leave
   * it out; the `finish` usage is authoritative either way.
   */
  | { type: "prompt-counted"; promptTokens: number }
  | { type: "reasoning-delta"; text: string; logprobs?: TokenLogprob[] }
  | { type: "text-delta"; text: string; logprobs?: TokenLogprob[] }
  /** A tool call begins: its name is known, its arguments follow as deltas. */
  | { type: "tool-call-start"; index: number; id: string; name: string }
  | { type: "tool-call-delta"; index: number; argumentsDelta: string }
  | {
      type: "finish";
      finishReason: FinishReason;
      usage: Usage;
      /** The stop string that ended generation, when one did (finishReason "stop"). */
      stopSequence?: string;
      /** The upstream replica that answered, for upstream models. */
      servedBy?: ServedBy;
      /**
       * What was redacted from the request before it left the machine (a pool with `redact` on),
       * as counts by kind (`card`, `cn_id`, `phone`, `email`, `iban`); never the values.
       */
      redactions?: Record<string, number>;
    };

/** The request options that say "plain text, no tools, no log-probabilities". */
export const PLAIN_TEXT_OPTIONS: Pick<ChatRequest, "tools" | "toolChoice" | "responseFormat" | "logprobs"> = {
  tools: [],
  toolChoice: { type: "none" },
  responseFormat: { type: "text" },
  logprobs: undefined,
};

/** A plain or fill-in-the-middle completion (`/beta/completions`). */
export interface CompletionRequest {
  model: string;
  /** Text before the cursor. */
  prompt: string;
  /** Text after the cursor; when given, the model's FIM tokens are used. */
  suffix: string | undefined;
  sampling: SamplingSettings;
  maxTokens: number | undefined;
  stop: string[];
  logprobs: number | undefined;
}

export interface EmbeddingResult {
  vectors: number[][];
  promptTokens: number;
}
