/**
 * Our chat and completion requests in OpenAI's wire shape, as vLLM, SGLang, llama-server,
 * Ollama's /v1, DeepSeek, OpenAI and another qiusuo all accept them. Pure: no HTTP here.
 * The way back (upstream chunks to `ChatEvent`s) is in openai-stream-decoder.ts.
 */
import type {
  ChatMessage,
  ChatRequest,
  CompletionRequest,
  ResponseFormat,
  SamplingSettings,
  ToolChoice,
} from "../../core/chat.js";

export interface WireChatMessage {
  role: "system" | "user" | "assistant" | "tool";
  content: string | null | WireContentPart[];
  reasoning_content?: string;
  tool_calls?: Array<{ id: string; type: "function"; function: { name: string; arguments: string } }>;
  tool_call_id?: string;
  prefix?: boolean;
}

export type WireContentPart =
  | { type: "text"; text: string }
  | { type: "image_url"; image_url: { url: string; detail?: "auto" | "low" | "high" } };

/** The sampling fields chat and completions share. */
interface WireSampling {
  temperature: number;
  top_p: number;
  seed: number;
  frequency_penalty: number;
  presence_penalty: number;
  max_tokens?: number;
  stop?: string[];
  stream: boolean;
  stream_options?: { include_usage: true };
}

export interface WireChatBody extends WireSampling {
  model: string;
  messages: WireChatMessage[];
  tools?: Array<{
    type: "function";
    function: { name: string; description?: string; parameters: Record<string, unknown>; strict?: true };
  }>;
  tool_choice?: "none" | "auto" | "required" | { type: "function"; function: { name: string } };
  response_format?:
    | { type: "json_object" }
    | { type: "json_schema"; json_schema: { name: string; schema: Record<string, unknown>; strict: true } };
  logprobs?: true;
  top_logprobs?: number;
  chat_template_kwargs?: { enable_thinking: boolean; thinking: boolean };
}

export interface WireCompletionBody extends WireSampling {
  model: string;
  prompt: string;
  suffix?: string;
  /** The legacy completions API's integer form: how many alternatives per token. */
  logprobs?: number;
}

export interface ChatBodyOptions {
  /** Stream the reply (with usage on the last chunk). Default true: the client always streams. */
  stream?: boolean;
  /**
   * Send `request.thinking` as `chat_template_kwargs: {enable_thinking, thinking}`. Default true.
   * vLLM and SGLang pass these to the chat template (Qwen3 reads `enable_thinking`, DeepSeek
   * V3.1's template `thinking`) and llama-server accepts them with --jinja; OpenAI's own API
   * refuses unknown fields, so a pool in front of it turns this off.
   */
  thinkingKwargs?: boolean;
}

/** The `/v1/chat/completions` body for `request`, addressed to `upstreamModel`. */
export function toChatBody(
  request: ChatRequest,
  upstreamModel: string,
  options: ChatBodyOptions = {},
): WireChatBody {
  const body: WireChatBody = {
    model: upstreamModel,
    messages: request.messages.map((message, index) =>
      toWireMessage(message, index === request.messages.length - 1),
    ),
    ...sampling(request.sampling, request.maxTokens, request.stop, options.stream ?? true),
  };
  if (request.tools.length > 0) {
    body.tools = request.tools.map((tool) => ({
      type: "function",
      function: {
        name: tool.name,
        ...(tool.description === undefined ? {} : { description: tool.description }),
        parameters: tool.parameters,
        ...(tool.strict ? { strict: true as const } : {}),
      },
    }));
    // Only beside tools: OpenAI refuses a tool_choice without them.
    body.tool_choice = toWireToolChoice(request.toolChoice);
  }
  const format = toWireResponseFormat(request.responseFormat);
  if (format) body.response_format = format;
  if (request.logprobs !== undefined) {
    body.logprobs = true;
    if (request.logprobs > 0) body.top_logprobs = request.logprobs;
  }
  if (request.thinking !== undefined && options.thinkingKwargs !== false) {
    body.chat_template_kwargs = { enable_thinking: request.thinking, thinking: request.thinking };
  }
  return body;
}

/** The `/v1/completions` body; `suffix` makes it fill-in-the-middle where the upstream has FIM. */
export function toCompletionBody(
  request: CompletionRequest,
  upstreamModel: string,
  options: { stream?: boolean } = {},
): WireCompletionBody {
  const body: WireCompletionBody = {
    model: upstreamModel,
    prompt: request.prompt,
    ...sampling(request.sampling, request.maxTokens, request.stop, options.stream ?? true),
  };
  if (request.suffix !== undefined) body.suffix = request.suffix;
  if (request.logprobs !== undefined) body.logprobs = request.logprobs;
  return body;
}

function sampling(
  settings: SamplingSettings,
  maxTokens: number | undefined,
  stop: string[],
  stream: boolean,
): WireSampling {
  return {
    temperature: settings.temperature,
    top_p: settings.topP,
    seed: settings.seed,
    frequency_penalty: settings.frequencyPenalty,
    presence_penalty: settings.presencePenalty,
    ...(maxTokens === undefined ? {} : { max_tokens: maxTokens }),
    ...(stop.length > 0 ? { stop } : {}),
    stream,
    // Usage is what the ledger bills; without this, OpenAI, vLLM and llama-server send none in a stream.
    ...(stream ? { stream_options: { include_usage: true as const } } : {}),
  };
}

function toWireMessage(message: ChatMessage, isLast: boolean): WireChatMessage {
  switch (message.role) {
    case "system":
      return { role: "system", content: message.content };
    case "user": {
      const images = message.images ?? [];
      if (images.length === 0) return { role: "user", content: message.content };
      const parts: WireContentPart[] =
        message.content === "" ? [] : [{ type: "text", text: message.content }];
      for (const image of images) {
        parts.push({
          type: "image_url",
          image_url: { url: image.url, ...(image.detail === undefined ? {} : { detail: image.detail }) },
        });
      }
      return { role: "user", content: parts };
    }
    case "assistant": {
      const calls = message.toolCalls ?? [];
      const wire: WireChatMessage = {
        role: "assistant",
        // OpenAI wants null, not "", beside tool calls; llama-server and vLLM accept either.
        content: message.content === "" && calls.length > 0 ? null : message.content,
      };
      if (calls.length > 0) {
        wire.tool_calls = calls.map((call) => ({
          id: call.id,
          type: "function",
          function: { name: call.name, arguments: call.arguments },
        }));
      }
      if (message.prefix === true && isLast) {
        // DeepSeek's chat prefix completion; its reasoning is continued too, so it goes along.
        // Earlier turns' reasoning is dropped, as DeepSeek and the chat templates expect.
        wire.prefix = true;
        if (message.reasoning !== undefined) wire.reasoning_content = message.reasoning;
      }
      return wire;
    }
    case "tool":
      return { role: "tool", tool_call_id: message.toolCallId, content: message.content };
  }
}

function toWireToolChoice(choice: ToolChoice): NonNullable<WireChatBody["tool_choice"]> {
  return choice.type === "function" ? { type: "function", function: { name: choice.name } } : choice.type;
}

function toWireResponseFormat(format: ResponseFormat): WireChatBody["response_format"] {
  if (format.type === "json_object") return { type: "json_object" };
  if (format.type === "json_schema") {
    return { type: "json_schema", json_schema: { name: format.name, schema: format.schema, strict: true } };
  }
  return undefined;
}

/**
 * Characters of what the upstream will read as the prompt, for estimating tokens (chars / 4)
 * when an upstream reports no usage. Images are not counted: their cost is the upstream's secret.
 */
export function promptChars(request: ChatRequest): number {
  let chars = 0;
  for (const message of request.messages) {
    chars += message.content.length;
    if (message.role === "assistant") {
      for (const call of message.toolCalls ?? []) chars += call.name.length + call.arguments.length;
    }
  }
  if (request.tools.length > 0) chars += JSON.stringify(request.tools).length;
  return chars;
}
