import { thinkingBudgetFor, withThinkingBudget } from "../../core/families/thinking-budget.js";
import { z } from "zod";
import type { ChatMessage, ChatRequest, ImageInput, ToolCall, ToolDefinition } from "../../core/chat.js";
import { InvalidRequestError } from "../../core/errors.js";
import { TOOL_NAME } from "../deepseek/chat-request.js";
import { IMAGE_LIMITS, sniffImageType } from "../image-limits.js";
import { checkImageUrl, tooManyImages } from "../images.js";
import {
  MAX_MESSAGES,
  checkBodyDepthInSlices,
  optional,
  parseItems,
  parseShape,
  shallowJson,
} from "../validation.js";
import {
  generationFields,
  keepAliveSeconds,
  toLogprobs,
  toMaxTokens,
  toResponseFormat,
  toSampling,
  toStop,
  toThinking,
} from "./request-options.js";

const MAX_TOOLS = 128;

/** Ollama sends arguments as an object; a JSON string is taken too. */
const toolArguments = z.union([
  shallowJson(z.record(z.unknown())),
  z.string().transform((text, context) => {
    try {
      const value: unknown = JSON.parse(text);
      if (typeof value === "object" && value !== null && !Array.isArray(value)) return text;
    } catch {
      // reported below
    }
    context.addIssue({ code: z.ZodIssueCode.custom, message: "must be an object (or JSON text of one)" });
    return z.NEVER;
  }),
]);

const toolCall = z.object({
  id: optional(z.string()),
  function: z.object({ index: optional(z.number().int()), name: z.string(), arguments: toolArguments }),
});

const message = z.object({
  role: z.enum(["system", "user", "assistant", "tool"]),
  content: optional(z.string()),
  thinking: optional(z.string()),
  images: optional(z.array(z.string())),
  tool_calls: optional(z.array(toolCall)),
  tool_name: optional(z.string()),
  tool_call_id: optional(z.string()),
});

type WireMessage = z.infer<typeof message>;

const tool = z.object({
  type: optional(z.literal("function")),
  function: z.object({
    name: z.string().regex(TOOL_NAME, "must be 1 to 64 characters of a-z, A-Z, 0-9, _ and -"),
    description: optional(z.string()),
    parameters: optional(shallowJson(z.record(z.unknown()))),
  }),
});

/** An empty list is allowed: Ollama loads (or, with `keep_alive: 0`, unloads) the model then. */
const messageList = z.array(z.unknown()).max(MAX_MESSAGES, `must hold at most ${MAX_MESSAGES} messages`);

const chatShape = z.object({
  ...generationFields,
  messages: optional(messageList),
  tools: optional(z.array(tool).max(MAX_TOOLS, `must hold at most ${MAX_TOOLS} functions`)),
});

export interface ParsedOllamaRequest<Request> {
  request: Request;
  /** Default true, as in Ollama. */
  stream: boolean;
  /** Seconds to keep the model loaded after the request (see keepAliveSeconds). */
  keepAlive: number | undefined;
  /** `think: false`: reasoning a model writes anyway is left out of the reply. */
  hideThinking: boolean;
}

export type ParsedChat = ParsedOllamaRequest<ChatRequest> & {
  /** No messages: the request only loads or unloads the model. */
  loadOnly: boolean;
};

/** Parses and validates an `/api/chat` body into the core request. */
export async function parseOllamaChat(body: unknown): Promise<ParsedChat> {
  const shape = parseShape(chatShape, body);
  const wire = await parseItems(message, shape.messages ?? [], "messages");
  await checkBodyDepthInSlices(body);
  const tools = (shape.tools ?? []).map(toCoreTool);
  const request: ChatRequest = {
    model: shape.model,
    messages: toCoreMessages(wire),
    sampling: toSampling(shape.options),
    maxTokens: toMaxTokens(shape.options),
    stop: toStop(shape.options),
    thinking: toThinking(shape.think),
    ...withThinkingBudget(thinkingBudgetFor(typeof shape.think === "string" ? shape.think : undefined)),
    tools,
    toolChoice: { type: tools.length > 0 ? "auto" : "none" },
    responseFormat: toResponseFormat(shape.format),
    logprobs: toLogprobs(shape.logprobs, shape.top_logprobs),
  };
  return {
    request,
    stream: shape.stream ?? true,
    keepAlive: keepAliveSeconds(shape.keep_alive),
    hideThinking: shape.think === false,
    loadOnly: wire.length === 0,
  };
}

/**
 * Ollama's messages carry no call ids (newer versions may): an assistant's calls get ids by
 * position, and each tool result answers the first unanswered call of its `tool_name` (or the
 * first unanswered call at all), as the template needs an id to pair them.
 */
function toCoreMessages(wire: readonly WireMessage[]): ChatMessage[] {
  let unanswered: ToolCall[] = [];
  let images = 0;
  return wire.map((item, index): ChatMessage => {
    const content = item.content ?? "";
    if (item.images && item.images.length > 0 && item.role !== "user") {
      throw new InvalidRequestError(
        "invalid_value",
        "Only user messages may carry images.",
        `messages.${index}.images`,
      );
    }
    switch (item.role) {
      case "system":
        return { role: "system", content };
      case "user": {
        const inputs = (item.images ?? []).map((image, imageIndex) => {
          const param = `messages.${index}.images.${imageIndex}`;
          if (++images > IMAGE_LIMITS.imagesPerRequest) throw tooManyImages(param);
          return base64Image(image, param);
        });
        return { role: "user", content, ...(inputs.length > 0 ? { images: inputs } : {}) };
      }
      case "assistant": {
        const calls = (item.tool_calls ?? []).map((call, callIndex) => ({
          id: call.id ?? `call_${index}_${callIndex}`,
          name: call.function.name,
          arguments:
            typeof call.function.arguments === "string"
              ? call.function.arguments
              : JSON.stringify(call.function.arguments),
        }));
        unanswered = [...unanswered, ...calls];
        return {
          role: "assistant",
          content,
          ...(item.thinking ? { reasoning: item.thinking } : {}),
          ...(calls.length > 0 ? { toolCalls: calls } : {}),
        };
      }
      case "tool": {
        const answered =
          unanswered.find((call) => call.id === item.tool_call_id) ??
          unanswered.find((call) => call.name === item.tool_name) ??
          unanswered[0];
        unanswered = unanswered.filter((call) => call !== answered);
        return { role: "tool", content, toolCallId: item.tool_call_id ?? answered?.id ?? `call_${index}` };
      }
    }
  });
}

/**
 * Ollama sends images as bare base64 (a `data:` URL is taken too); the type is read from the
 * bytes' signature, and the image is then checked as any inline image (size, base64, type).
 */
export function base64Image(data: string, param: string): ImageInput {
  if (data.startsWith("data:")) {
    checkImageUrl(data, param);
    return { url: data };
  }
  const type = sniffImageType(Buffer.from(data.slice(0, 24), "base64"));
  if (!type) {
    throw new InvalidRequestError(
      "invalid_image",
      `The image in \`${param}\` is not base64 of a PNG, JPEG, GIF or WebP file.`,
      param,
    );
  }
  const url = `data:${type};base64,${data}`;
  checkImageUrl(url, param);
  return { url };
}

function toCoreTool(input: z.infer<typeof tool>): ToolDefinition {
  return {
    name: input.function.name,
    ...(input.function.description ? { description: input.function.description } : {}),
    parameters: input.function.parameters ?? { type: "object", properties: {} },
    strict: false,
  };
}
