import { thinkingBudgetFor, withThinkingBudget } from "../../core/families/thinking-budget.js";
import { randomInt } from "node:crypto";
import { z } from "zod";
import type {
  ChatMessage,
  ChatRequest,
  ImageInput,
  ResponseFormat,
  ToolChoice,
  ToolDefinition,
} from "../../core/chat.js";
import { InvalidParameterError } from "../../core/errors.js";
import { IMAGE_LIMITS } from "../image-limits.js";
import { checkImageUrl, tooManyImages } from "../images.js";
import {
  checkBodyDepthInSlices,
  messageList,
  optional,
  parseItems,
  parseShape,
  range,
  shallowJson,
  shallowJsonText,
} from "../validation.js";

const text = z.string();

/** Content may be a string or OpenAI's array of text parts; both become plain text. */
const content = z.union([
  text,
  z
    .array(z.object({ type: z.literal("text"), text }).passthrough())
    .transform((parts) => parts.map((part) => part.text).join("")),
]);

const textPart = z.object({ type: z.literal("text"), text }).passthrough();
/** OpenAI's image part; some clients send `image_url` as the bare URL. */
const imagePart = z
  .object({
    type: z.literal("image_url"),
    image_url: z.union([
      z.string(),
      z.object({ url: z.string(), detail: optional(z.enum(["auto", "low", "high"])) }).passthrough(),
    ]),
  })
  .passthrough();

/** A user's content may also hold images; they are checked once the message's index is known. */
const userContent = z.union([text, z.array(z.discriminatedUnion("type", [textPart, imagePart]))]);

export const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
const MAX_TOOLS = 128;
const MAX_STOP_SEQUENCES = 16;
const MAX_TOP_LOGPROBS = 20;

const toolCall = z.object({
  id: z.string(),
  type: z.literal("function").optional(),
  function: z.object({ name: z.string(), arguments: shallowJsonText }),
});

const message = z.discriminatedUnion("role", [
  z.object({ role: z.literal("system"), content, name: optional(z.string()) }),
  // OpenAI's newer name for the system role; clients built for OpenAI send it.
  z.object({ role: z.literal("developer"), content, name: optional(z.string()) }),
  z.object({ role: z.literal("user"), content: userContent, name: optional(z.string()) }),
  z.object({
    role: z.literal("assistant"),
    content: content.nullish(),
    name: optional(z.string()),
    tool_calls: optional(z.array(toolCall)),
    prefix: optional(z.boolean()),
    // DeepSeek's name, the name vLLM and OpenRouter use, and Anthropic-style: all accepted.
    reasoning_content: optional(z.string()),
    reasoning: optional(z.string()),
    thinking: optional(z.string()),
  }),
  z.object({ role: z.literal("tool"), content, tool_call_id: z.string() }),
]);

const tool = z.object({
  type: z.literal("function"),
  function: z.object({
    name: z.string().regex(TOOL_NAME, "must be 1 to 64 characters of a-z, A-Z, 0-9, _ and -"),
    description: optional(z.string()),
    parameters: optional(shallowJson(z.record(z.unknown()))),
    strict: optional(z.boolean()),
  }),
});

const toolChoice = z.union([
  z.enum(["none", "auto", "required"]),
  z.object({ type: z.literal("function"), function: z.object({ name: z.string() }) }),
]);

const responseFormat = z.discriminatedUnion("type", [
  z.object({ type: z.literal("text") }),
  z.object({ type: z.literal("json_object") }),
  z.object({
    type: z.literal("json_schema"),
    json_schema: z.object({
      name: z.string().regex(TOOL_NAME, "must be 1 to 64 characters of a-z, A-Z, 0-9, _ and -"),
      description: optional(z.string()),
      schema: optional(shallowJson(z.record(z.unknown()))),
      strict: optional(z.boolean()),
    }),
  }),
]);

export const chatCompletionSchema = z.object({
  model: z.string().min(1, "must not be empty"),
  messages: z.array(message).min(1, "must hold at least 1 message"),
  max_tokens: optional(z.number().int().min(1, "must be at least 1")),
  max_completion_tokens: optional(z.number().int().min(1, "must be at least 1")),
  temperature: optional(z.number().min(0, range(0, 2)).max(2, range(0, 2))),
  top_p: optional(
    z.number().gt(0, "must be greater than 0 and at most 1").max(1, "must be greater than 0 and at most 1"),
  ),
  seed: optional(z.number().int()),
  stop: optional(
    z.union([
      z.string(),
      z.array(z.string()).max(MAX_STOP_SEQUENCES, `must hold at most ${MAX_STOP_SEQUENCES} sequences`),
    ]),
  ),
  stream: optional(z.boolean()),
  stream_options: optional(z.object({ include_usage: optional(z.boolean()) }).passthrough()),
  frequency_penalty: optional(z.number().min(-2, range(-2, 2)).max(2, range(-2, 2))),
  presence_penalty: optional(z.number().min(-2, range(-2, 2)).max(2, range(-2, 2))),
  thinking: optional(z.object({ type: z.enum(["enabled", "disabled"]) }).passthrough()),
  reasoning_effort: optional(z.enum(["minimal", "low", "medium", "high", "xhigh", "max", "ultra"])),
  n: optional(z.number().int().min(1, "must be at least 1")),
  tools: optional(z.array(tool).max(MAX_TOOLS, `must hold at most ${MAX_TOOLS} functions`)),
  tool_choice: optional(toolChoice),
  parallel_tool_calls: optional(z.boolean()),
  response_format: optional(responseFormat),
  logprobs: optional(z.boolean()),
  top_logprobs: optional(z.number().int().min(0, range(0, 20)).max(MAX_TOP_LOGPROBS, range(0, 20))),
  user_id: optional(
    z.string().regex(/^[a-zA-Z0-9_-]{0,512}$/, "must be at most 512 of a-z, A-Z, 0-9, _ and -"),
  ),
  user: optional(z.string()),
});

export type ChatCompletionBody = z.infer<typeof chatCompletionSchema>;

/** The body's shape with the messages left for {@link parseItems}, which checks them in slices. */
const chatCompletionShape = chatCompletionSchema.extend({ messages: messageList });

export interface ParsedChatCompletion {
  request: ChatRequest;
  stream: boolean;
  includeUsage: boolean;
}

/** Parses and validates a `/chat/completions` body into the core request. */
export async function parseChatCompletion(body: unknown): Promise<ParsedChatCompletion> {
  const shape = parseShape(chatCompletionShape, body);
  const parsed: ChatCompletionBody = {
    ...shape,
    messages: await parseItems(message, shape.messages, "messages"),
  };
  await checkBodyDepthInSlices(body);
  if (parsed.n !== undefined && parsed.n > 1) {
    throw new InvalidParameterError(
      "unsupported_value",
      "`n` above 1 is not supported; send n requests instead.",
      "n",
    );
  }
  if (parsed.top_logprobs !== undefined && !parsed.logprobs) {
    throw new InvalidParameterError(
      "invalid_value",
      "`top_logprobs` needs `logprobs: true`.",
      "top_logprobs",
    );
  }
  const messages = parsed.messages.map(toCoreMessage);
  checkImages(messages, parsed.messages);
  const prefixAt = messages.findIndex((item) => item.role === "assistant" && item.prefix);
  if (prefixAt >= 0 && prefixAt !== messages.length - 1) {
    throw new InvalidParameterError(
      "invalid_value",
      "Only the last message may be an assistant message with `prefix: true`.",
      `messages.${prefixAt}.prefix`,
    );
  }
  const tools = (parsed.tools ?? []).map(toCoreTool);
  const stop = parsed.stop === undefined ? [] : typeof parsed.stop === "string" ? [parsed.stop] : parsed.stop;
  const request: ChatRequest = {
    model: parsed.model,
    messages,
    sampling: {
      temperature: parsed.temperature ?? 1,
      topP: parsed.top_p ?? 1,
      seed: parsed.seed ?? randomInt(0, 2 ** 31 - 1), // never the library's clock-based default
      frequencyPenalty: parsed.frequency_penalty ?? 0,
      presencePenalty: parsed.presence_penalty ?? 0,
    },
    maxTokens: parsed.max_tokens ?? parsed.max_completion_tokens,
    stop: stop.filter((sequence) => sequence.length > 0),
    thinking: parsed.thinking === undefined ? undefined : parsed.thinking.type === "enabled",
    ...withThinkingBudget(thinkingBudgetFor(parsed.reasoning_effort)),
    tools,
    toolChoice: toCoreToolChoice(parsed.tool_choice, tools),
    responseFormat: toCoreResponseFormat(parsed.response_format),
    logprobs: parsed.logprobs ? (parsed.top_logprobs ?? 0) : undefined,
  };
  return {
    request,
    stream: parsed.stream ?? false,
    includeUsage: parsed.stream_options?.include_usage ?? false,
  };
}

function toCoreMessage(input: z.infer<typeof message>): ChatMessage {
  switch (input.role) {
    case "system":
    case "developer":
      return { role: "system", content: input.content };
    case "user": {
      if (typeof input.content === "string") return { role: "user", content: input.content };
      const texts: string[] = [];
      const images: ImageInput[] = [];
      for (const part of input.content) {
        if (part.type === "text") texts.push(part.text);
        else if (typeof part.image_url === "string") images.push({ url: part.image_url });
        else {
          const { url, detail } = part.image_url;
          images.push(detail === undefined ? { url } : { url, detail });
        }
      }
      return { role: "user", content: texts.join(""), ...(images.length > 0 ? { images } : {}) };
    }
    case "tool":
      return { role: "tool", content: input.content, toolCallId: input.tool_call_id };
    case "assistant": {
      const reasoning = input.reasoning_content ?? input.reasoning ?? input.thinking;
      return {
        role: "assistant",
        content: input.content ?? "",
        ...(reasoning ? { reasoning } : {}),
        ...(input.tool_calls && input.tool_calls.length > 0
          ? {
              toolCalls: input.tool_calls.map((call) => ({
                id: call.id,
                name: call.function.name,
                arguments: call.function.arguments,
              })),
            }
          : {}),
        ...(input.prefix ? { prefix: true } : {}),
      };
    }
  }
}

/**
 * Checks every image of the request (count first, then each URL), naming each by its part:
 * `messages.N.content.M.image_url.url`.
 */
function checkImages(messages: readonly ChatMessage[], wire: ReadonlyArray<z.infer<typeof message>>): void {
  let count = 0;
  for (const [index, item] of messages.entries()) {
    if (item.role !== "user" || !item.images) continue;
    const parts = wire[index]!.content;
    if (!Array.isArray(parts)) continue;
    for (const [partIndex, part] of parts.entries()) {
      if (part.type !== "image_url") continue;
      const at = `messages.${index}.content.${partIndex}`;
      if (++count > IMAGE_LIMITS.imagesPerRequest) throw tooManyImages(at);
      const url = typeof part.image_url === "string" ? part.image_url : part.image_url.url;
      checkImageUrl(url, typeof part.image_url === "string" ? `${at}.image_url` : `${at}.image_url.url`);
    }
  }
}

function toCoreTool(input: z.infer<typeof tool>): ToolDefinition {
  return {
    name: input.function.name,
    ...(input.function.description ? { description: input.function.description } : {}),
    // A function without parameters takes an empty object.
    parameters: input.function.parameters ?? { type: "object", properties: {} },
    strict: input.function.strict ?? false,
  };
}

function toCoreToolChoice(
  input: z.infer<typeof toolChoice> | undefined,
  tools: readonly ToolDefinition[],
): ToolChoice {
  if (input === undefined) return { type: tools.length > 0 ? "auto" : "none" };
  if (typeof input === "string") {
    if (input !== "none" && tools.length === 0) {
      throw new InvalidParameterError(
        "invalid_value",
        `\`tool_choice\` '${input}' needs at least one tool in \`tools\`.`,
        "tool_choice",
      );
    }
    return { type: input };
  }
  const name = input.function.name;
  if (!tools.some((candidate) => candidate.name === name)) {
    throw new InvalidParameterError(
      "invalid_value",
      `\`tool_choice\` names the function '${name}', which is not in \`tools\`.`,
      "tool_choice.function.name",
    );
  }
  return { type: "function", name };
}

function toCoreResponseFormat(input: z.infer<typeof responseFormat> | undefined): ResponseFormat {
  if (!input || input.type === "text") return { type: "text" };
  if (input.type === "json_object") return { type: "json_object" };
  return {
    type: "json_schema",
    name: input.json_schema.name,
    schema: input.json_schema.schema ?? { type: "object" },
  };
}
