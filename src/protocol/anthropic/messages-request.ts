import { withThinkingBudget } from "../../core/families/thinking-budget.js";
import { randomInt } from "node:crypto";
import { z } from "zod";
import type {
  ChatMessage,
  ChatRequest,
  ImageInput,
  ResponseFormat,
  ToolCall,
  ToolChoice,
  ToolDefinition,
} from "../../core/chat.js";
import { InvalidParameterError, InvalidRequestError, type QiusuoError } from "../../core/errors.js";
import { SliceClock } from "../../core/slice-clock.js";
import { IMAGE_LIMITS } from "../image-limits.js";
import { checkImageUrl, isImageMediaType, tooManyImages } from "../images.js";
import {
  checkBodyDepthInSlices,
  messageList,
  optional,
  parseItems,
  parseShape,
  shallowJson,
  zodIssueToError,
} from "../validation.js";

/** Blocks are checked in two steps: their `type` here, their fields once the type is known. */
const block = z.object({ type: z.string() }).passthrough();
type Block = z.infer<typeof block>;
const content = z.union([z.string(), z.array(block)]);

const MAX_STOP_SEQUENCES = 16;

const tool = z
  .object({
    type: optional(z.string()),
    name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, "must be 1 to 64 letters, digits, underscores or dashes"),
    description: optional(z.string()),
    input_schema: optional(shallowJson(z.record(z.string(), z.unknown()))),
    strict: optional(z.boolean()),
  })
  .passthrough();

const toolChoice = z.discriminatedUnion("type", [
  z.object({ type: z.literal("auto"), disable_parallel_tool_use: optional(z.boolean()) }),
  z.object({ type: z.literal("any"), disable_parallel_tool_use: optional(z.boolean()) }),
  z.object({ type: z.literal("tool"), name: z.string(), disable_parallel_tool_use: optional(z.boolean()) }),
  z.object({ type: z.literal("none") }),
]);

const thinking = z.discriminatedUnion("type", [
  z
    .object({ type: z.literal("enabled"), budget_tokens: z.number().int().min(1, "must be at least 1") })
    .passthrough(),
  z.object({ type: z.literal("disabled") }).passthrough(),
  z.object({ type: z.literal("adaptive") }).passthrough(),
  // Thinking between tool calls: still "think first" as far as our models go.
  z.object({ type: z.literal("between_tools") }).passthrough(),
]);

const messageSchema = z.object({ role: z.enum(["user", "assistant", "system"]), content });

export const messagesSchema = z.object({
  model: z.string().min(1, "must not be empty"),
  max_tokens: z.number().int().min(1, "must be at least 1"),
  messages: z.array(messageSchema).min(1, "must hold at least 1 message"),
  system: optional(content),
  stop_sequences: optional(
    z.array(z.string()).max(MAX_STOP_SEQUENCES, `must hold at most ${MAX_STOP_SEQUENCES} sequences`),
  ),
  temperature: optional(z.number().min(0, "must be between 0 and 1").max(1, "must be between 0 and 1")),
  top_p: optional(z.number().min(0, "must be between 0 and 1").max(1, "must be between 0 and 1")),
  // Accepted for compatibility and ignored: the samplers here have no top-k setting.
  top_k: optional(z.number().int().min(0, "must be at least 0")),
  tools: optional(z.array(tool)),
  tool_choice: optional(toolChoice),
  thinking: optional(thinking),
  metadata: optional(z.object({ user_id: optional(z.string()) }).passthrough()),
  output_config: optional(
    z
      .object({
        format: optional(
          z
            .object({
              type: z.literal("json_schema"),
              schema: shallowJson(z.record(z.string(), z.unknown())),
            })
            .passthrough(),
        ),
      })
      .passthrough(),
  ),
  stream: optional(z.boolean()),
});

/** `count_tokens` takes the same body, without `max_tokens`. */
export const countTokensSchema = messagesSchema.extend({
  max_tokens: optional(z.number().int().min(1, "must be at least 1")),
});

type MessagesBody = z.infer<typeof countTokensSchema>;
type Path = Array<string | number>;

export interface ParsedMessagesRequest {
  request: ChatRequest;
  stream: boolean;
}

/** Parses and validates a `/v1/messages` body into the core request. */
export async function parseMessagesRequest(body: unknown): Promise<ParsedMessagesRequest> {
  const parsed = await parseBody(messagesSchema, body);
  const request = await toChatRequest(parsed);
  await checkBodyDepthInSlices(body);
  return { request, stream: parsed.stream ?? false };
}

/** Parses a `/v1/messages/count_tokens` body into the request whose prompt is counted. */
export async function parseCountTokensRequest(body: unknown): Promise<ChatRequest> {
  const request = await toChatRequest(await parseBody(countTokensSchema, body));
  await checkBodyDepthInSlices(body);
  return request;
}

/** The body's shape first, then its messages in slices (see {@link parseItems}). */
async function parseBody(schema: typeof messagesSchema | typeof countTokensSchema, body: unknown) {
  const shape = parseShape(schema.extend({ messages: messageList }), body);
  const messages = await parseItems(messageSchema, shape.messages, "messages");
  return { ...shape, messages } as MessagesBody;
}

/**
 * Blocks are checked here, after the schema and before the whole body's depth, so a block's
 * too-deep `input` is named by its own path rather than by the body's.
 */
async function toChatRequest(body: MessagesBody): Promise<ChatRequest> {
  const system =
    body.system === undefined ? [] : [{ role: "system" as const, content: textOf(body.system, ["system"]) }];
  const messages: ChatMessage[] = [];
  const clock = new SliceClock();
  const images = { count: 0 };
  for (const [index, message] of body.messages.entries()) {
    const path = ["messages", index];
    messages.push(...toCoreMessages(message, path, index === body.messages.length - 1, images));
    await clock.maybeYield();
  }
  const tools = (body.tools ?? []).map((definition, index) => toToolDefinition(definition, ["tools", index]));
  const format = body.output_config?.format;
  const responseFormat: ResponseFormat = format
    ? { type: "json_schema", name: "output", schema: format.schema }
    : { type: "text" };
  return {
    model: body.model,
    messages: [...system, ...messages],
    sampling: {
      temperature: body.temperature ?? 1,
      topP: body.top_p ?? 1,
      seed: randomInt(0, 2 ** 31 - 1), // never the library's clock-based default
      frequencyPenalty: 0,
      presencePenalty: 0,
    },
    maxTokens: body.max_tokens,
    stop: (body.stop_sequences ?? []).filter((sequence) => sequence.length > 0),
    thinking: toThinking(body.thinking),
    ...withThinkingBudget(body.thinking?.type === "enabled" ? body.thinking.budget_tokens : undefined),
    tools,
    toolChoice: toToolChoice(body.tool_choice, tools),
    responseFormat,
    logprobs: undefined,
  };
}

function toThinking(setting: MessagesBody["thinking"]): boolean | undefined {
  switch (setting?.type) {
    case "enabled":
    case "between_tools":
      return true;
    case "disabled":
      return false;
    default:
      return undefined; // absent or adaptive: the model decides
  }
}

const blockFields = {
  text: z.object({ text: z.string() }),
  thinking: z.object({ thinking: z.string() }),
  tool_use: z.object({
    id: z.string().min(1, "must not be empty"),
    name: z.string().min(1, "must not be empty"),
    input: shallowJson(z.record(z.string(), z.unknown())),
  }),
  tool_result: z.object({
    tool_use_id: z.string().min(1, "must not be empty"),
    content: optional(content),
    is_error: optional(z.boolean()),
  }),
  image: z.object({
    source: z.discriminatedUnion("type", [
      z.object({ type: z.literal("base64"), media_type: z.string(), data: z.string() }),
      z.object({ type: z.literal("url"), url: z.string() }),
    ]),
  }),
};

/** Which block types each role may send; `redacted_thinking` is accepted and dropped. */
const allowedBlocks: Record<"user" | "assistant", readonly string[]> = {
  user: ["text", "image", "tool_result"],
  assistant: ["text", "thinking", "redacted_thinking", "tool_use"],
};

function toCoreMessages(
  message: MessagesBody["messages"][number],
  path: Path,
  isLast: boolean,
  seen: { count: number },
): ChatMessage[] {
  const { role } = message;
  if (typeof message.content === "string") {
    return [role === "assistant" && isLast ? prefillOf(message.content) : { role, content: message.content }];
  }
  if (role === "system") return [{ role, content: textOf(message.content, [...path, "content"]) }];
  const blocks = message.content.map((item, index) => checkBlock(item, role, [...path, "content", index]));
  if (role === "assistant") return [toAssistantMessage(blocks, isLast)];

  // A user turn may mix tool results, text and images; each keeps its place in the conversation.
  const out: ChatMessage[] = [];
  let texts: string[] = [];
  let images: ImageInput[] = [];
  const flushText = () => {
    if (texts.length > 0 || images.length > 0) {
      out.push({ role: "user", content: texts.join("\n\n"), ...(images.length > 0 ? { images } : {}) });
    }
    texts = [];
    images = [];
  };
  blocks.forEach((item, index) => {
    if (item.type === "text") texts.push(item.text);
    else if (item.type === "image") {
      const at = [...path, "content", index];
      if (++seen.count > IMAGE_LIMITS.imagesPerRequest) throw tooManyImages(at.join("."));
      images.push(imageOf(item, at));
    } else if (item.type === "tool_result") {
      flushText();
      const resultPath = [...path, "content", index, "content"];
      out.push({
        role: "tool",
        toolCallId: item.tool_use_id,
        content: item.content === undefined ? "" : textOf(item.content, resultPath),
      });
    }
  });
  flushText();
  return out.length > 0 ? out : [{ role: "user", content: "" }];
}

type CheckedBlock =
  | ({ type: "text" } & z.infer<typeof blockFields.text>)
  | ({ type: "thinking" } & z.infer<typeof blockFields.thinking>)
  | ({ type: "tool_use" } & z.infer<typeof blockFields.tool_use>)
  | ({ type: "tool_result" } & z.infer<typeof blockFields.tool_result>)
  | ({ type: "image" } & z.infer<typeof blockFields.image>)
  | { type: "redacted_thinking" };

function checkBlock(item: Block, role: "user" | "assistant", path: Path): CheckedBlock {
  if (!allowedBlocks[role].includes(item.type)) {
    throw unsupportedBlock(item.type, allowedBlocks[role], `in ${role} messages`, path);
  }
  switch (item.type) {
    case "text":
    case "thinking":
    case "tool_use":
    case "tool_result":
    case "image":
      return { type: item.type, ...parseAt(blockFields[item.type], item, path) } as CheckedBlock;
    default:
      return { type: "redacted_thinking" };
  }
}

function toAssistantMessage(blocks: CheckedBlock[], isLast: boolean): ChatMessage {
  const texts: string[] = [];
  const thoughts: string[] = [];
  const toolCalls: ToolCall[] = [];
  for (const item of blocks) {
    if (item.type === "text") texts.push(item.text);
    else if (item.type === "thinking") thoughts.push(item.thinking);
    else if (item.type === "tool_use")
      toolCalls.push({ id: item.id, name: item.name, arguments: JSON.stringify(item.input) });
  }
  const reasoning = thoughts.join("");
  return {
    role: "assistant",
    content: texts.join("\n\n"),
    ...(reasoning.length > 0 ? { reasoning } : {}),
    ...(toolCalls.length > 0 ? { toolCalls } : {}),
    // Anthropic's prefill: a final assistant turn is continued, not answered.
    ...(isLast && toolCalls.length === 0 ? { prefix: true } : {}),
  };
}

/** An `image` block as the URL engines take: base64 data becomes a `data:` URL; both are checked. */
function imageOf(block: z.infer<typeof blockFields.image>, path: Path): ImageInput {
  const source = block.source;
  if (source.type === "url") {
    checkImageUrl(source.url, [...path, "source", "url"].join("."));
    return { url: source.url };
  }
  if (!isImageMediaType(source.media_type)) {
    const param = [...path, "source", "media_type"].join(".");
    throw new InvalidRequestError(
      "invalid_image",
      `\`${param}\` must be one of ${IMAGE_LIMITS.mediaTypes.join(", ")}; got '${source.media_type}'.`,
      param,
    );
  }
  const url = `data:${source.media_type};base64,${source.data}`;
  checkImageUrl(url, [...path, "source", "data"].join("."));
  return { url };
}

function prefillOf(text: string): ChatMessage {
  return { role: "assistant", content: text, prefix: true };
}

/** The text of a string or of text blocks (system prompts, tool results). */
function textOf(value: string | Block[], path: Path): string {
  if (typeof value === "string") return value;
  return value
    .map((item, index) => {
      const itemPath = [...path, index];
      if (item.type !== "text") throw unsupportedBlock(item.type, ["text"], "here", itemPath);
      return parseAt(blockFields.text, item, itemPath).text;
    })
    .join("\n\n");
}

function toToolDefinition(definition: z.infer<typeof tool>, path: Path): ToolDefinition {
  if (definition.type !== undefined && definition.type !== "custom") {
    throw new InvalidParameterError(
      "unsupported_tool",
      `Server tools such as '${definition.type}' are not supported; define the tool with \`input_schema\` and run it yourself.`,
      [...path, "type"].join("."),
    );
  }
  if (definition.input_schema === undefined) {
    const param = [...path, "input_schema"].join(".");
    throw new InvalidRequestError("missing_field", `Missing required field \`${param}\`.`, param);
  }
  return {
    name: definition.name,
    ...(definition.description === undefined ? {} : { description: definition.description }),
    parameters: definition.input_schema,
    strict: definition.strict ?? false,
  };
}

function toToolChoice(choice: MessagesBody["tool_choice"], tools: ToolDefinition[]): ToolChoice {
  // disable_parallel_tool_use is accepted and not enforced.
  if (choice === undefined) return { type: tools.length > 0 ? "auto" : "none" };
  if (choice.type === "auto" || choice.type === "none") return { type: choice.type };
  if (tools.length === 0) {
    throw new InvalidParameterError(
      "invalid_value",
      `\`tool_choice.type\` '${choice.type}' needs \`tools\`, and none were given.`,
      "tool_choice.type",
    );
  }
  if (choice.type === "any") return { type: "required" };
  if (!tools.some((definition) => definition.name === choice.name)) {
    throw new InvalidParameterError(
      "invalid_value",
      `\`tool_choice.name\` '${choice.name}' is not one of the tools given.`,
      "tool_choice.name",
    );
  }
  return { type: "function", name: choice.name };
}

function unsupportedBlock(type: string, allowed: readonly string[], where: string, path: Path): QiusuoError {
  const param = [...path, "type"].join(".");
  if (type === "image") {
    return new InvalidParameterError(
      "unsupported_content",
      "`image` content blocks are taken only in a user message's own content; send the image there.",
      param,
    );
  }
  if (type === "document" || type === "search_result") {
    return new InvalidParameterError(
      "unsupported_content",
      `\`${type}\` content blocks are not supported: the models served here read text only.`,
      param,
    );
  }
  return new InvalidParameterError(
    "unsupported_content",
    `Content blocks of type '${type}' are not supported ${where}; use ${allowed.join(", ")}.`,
    param,
  );
}

/** Validates a nested value, naming the field by its full path in the body. */
function parseAt<Schema extends z.ZodTypeAny>(schema: Schema, value: unknown, path: Path): z.infer<Schema> {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw zodIssueToError({ ...issue, path: [...path, ...issue.path] });
  }
  return result.data;
}
