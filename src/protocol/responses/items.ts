import { randomBytes } from "node:crypto";
import { z } from "zod";
import type { ChatMessage, ImageInput, ToolCall } from "../../core/chat.js";
import { InvalidParameterError, type QiusuoError } from "../../core/errors.js";
import { SliceClock } from "../../core/slice-clock.js";
import { IMAGE_LIMITS } from "../image-limits.js";
import { checkImageUrl, tooManyImages } from "../images.js";
import { optional, shallowJsonText, zodIssueToError } from "../validation.js";

/**
 * Input and output items of the Responses API, in the one normalised shape this server stores
 * and hands back: every item has an id, every message a list of content parts. Output items are
 * valid input items, which is how a stored response is continued.
 */
export type ItemStatus = "in_progress" | "completed" | "incomplete";

export type ContentPart =
  | { type: "input_text"; text: string }
  | { type: "output_text"; text: string; annotations: unknown[]; logprobs?: unknown[] }
  | { type: "refusal"; refusal: string }
  | { type: "input_image"; image_url: string; detail: "auto" | "low" | "high" };

export interface MessageItem {
  type: "message";
  id: string;
  role: "user" | "system" | "developer" | "assistant";
  status: ItemStatus;
  content: ContentPart[];
}

export interface FunctionCallItem {
  type: "function_call";
  id: string;
  call_id: string;
  name: string;
  /** JSON text. */
  arguments: string;
  status: ItemStatus;
}

export interface FunctionCallOutputItem {
  type: "function_call_output";
  id: string;
  call_id: string;
  output: string;
  status: ItemStatus;
}

/** The model's reasoning, as the full text (`reasoning_text`), not a summary; never encrypted. */
export interface ReasoningItem {
  type: "reasoning";
  id: string;
  summary: Array<{ type: "summary_text"; text: string }>;
  content: Array<{ type: "reasoning_text"; text: string }>;
  status: ItemStatus;
}

export type Item = MessageItem | FunctionCallItem | FunctionCallOutputItem | ReasoningItem;

/** An id as OpenAI writes them: a kind prefix and 48 hex digits (`msg_…`, `fc_…`, `resp_…`). */
export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(24).toString("hex")}`;
}

type Path = Array<string | number>;

/** Items and parts are checked in two steps: their `type` here, their fields once it is known. */
const envelope = z.object({ type: optional(z.string()) }).passthrough();
type Envelope = z.infer<typeof envelope>;
const statusField = optional(z.enum(["in_progress", "completed", "incomplete"]));

const itemFields = {
  message: z.object({
    id: optional(z.string()),
    role: z.enum(["user", "system", "developer", "assistant"]),
    content: z.union([z.string(), z.array(envelope)]),
    status: statusField,
  }),
  function_call: z.object({
    id: optional(z.string()),
    call_id: z.string().min(1, "must not be empty"),
    name: z.string().min(1, "must not be empty"),
    arguments: shallowJsonText,
    status: statusField,
  }),
  function_call_output: z.object({
    id: optional(z.string()),
    call_id: z.string().min(1, "must not be empty"),
    output: z.union([z.string(), z.array(envelope)]),
    status: statusField,
  }),
  reasoning: z.object({
    id: optional(z.string()),
    summary: optional(z.array(z.object({ text: z.string() }).passthrough())),
    content: optional(z.array(z.object({ text: z.string() }).passthrough())),
    // Sent back by clients that asked for it (Codex does); this server never encrypts, so there
    // is nothing to read in it.
    encrypted_content: optional(z.string()),
    status: statusField,
  }),
};

const partFields = {
  input_text: z.object({ text: z.string() }),
  output_text: z.object({ text: z.string() }),
  refusal: z.object({ refusal: z.string() }),
  input_image: z.object({
    image_url: z.string({ required_error: "is required (uploaded files are not supported)" }),
    detail: optional(z.enum(["auto", "low", "high", "original"])),
  }),
};

/** Which content parts each role may send. */
const allowedParts: Record<MessageItem["role"], readonly string[]> = {
  user: ["input_text", "input_image"],
  system: ["input_text"],
  developer: ["input_text"],
  assistant: ["output_text", "input_text", "refusal"],
};

/**
 * Checks a request's `input` items one by one (yielding to the event loop between slices) into
 * the normalised shape, giving ids to the items that came without. Images are counted (20 at
 * most, as for chat completions) and their URLs checked.
 */
export async function parseInputItems(items: readonly unknown[], path: string): Promise<Item[]> {
  const parsed: Item[] = [];
  const clock = new SliceClock();
  const images = { count: 0 };
  for (const [index, item] of items.entries()) {
    parsed.push(parseItem(parseAt(envelope, item, [path, index]), [path, index], images));
    await clock.maybeYield();
  }
  return parsed;
}

function parseItem(item: Envelope, path: Path, images: { count: number }): Item {
  const type = item.type ?? "message";
  switch (type) {
    case "message": {
      const message = parseAt(itemFields.message, item, path);
      const content =
        typeof message.content === "string"
          ? [textPart(message.role, message.content)]
          : message.content.map((part, index) =>
              parsePart(part, message.role, [...path, "content", index], images),
            );
      return {
        type: "message",
        id: message.id ?? newId("msg"),
        role: message.role,
        status: message.status ?? "completed",
        content,
      };
    }
    case "function_call": {
      const call = parseAt(itemFields.function_call, item, path);
      return {
        type: "function_call",
        id: call.id ?? newId("fc"),
        call_id: call.call_id,
        name: call.name,
        arguments: call.arguments,
        status: call.status ?? "completed",
      };
    }
    case "function_call_output": {
      const result = parseAt(itemFields.function_call_output, item, path);
      const output =
        typeof result.output === "string"
          ? result.output
          : result.output
              .map((part, index) => {
                const at = [...path, "output", index];
                if (part.type !== "input_text")
                  throw unsupportedPart(part.type ?? "", ["input_text"], "here", at);
                return parseAt(partFields.input_text, part, at).text;
              })
              .join("\n\n");
      return {
        type: "function_call_output",
        id: result.id ?? newId("fco"),
        call_id: result.call_id,
        output,
        status: result.status ?? "completed",
      };
    }
    case "reasoning": {
      const reasoning = parseAt(itemFields.reasoning, item, path);
      return {
        type: "reasoning",
        id: reasoning.id ?? newId("rs"),
        summary: (reasoning.summary ?? []).map((part) => ({ type: "summary_text", text: part.text })),
        content: (reasoning.content ?? []).map((part) => ({ type: "reasoning_text", text: part.text })),
        status: reasoning.status ?? "completed",
      };
    }
    case "item_reference":
      throw new InvalidParameterError(
        "unsupported_item",
        "`item_reference` items are not supported; send the item itself, or continue a stored response with `previous_response_id`.",
        [...path, "type"].join("."),
      );
    default:
      throw new InvalidParameterError(
        "unsupported_item",
        `Input items of type '${type}' are not supported; use message, function_call, function_call_output or reasoning.`,
        [...path, "type"].join("."),
      );
  }
}

function textPart(role: MessageItem["role"], text: string): ContentPart {
  return role === "assistant" ? { type: "output_text", text, annotations: [] } : { type: "input_text", text };
}

function parsePart(
  part: Envelope,
  role: MessageItem["role"],
  path: Path,
  images: { count: number },
): ContentPart {
  const type = part.type ?? "";
  if (!allowedParts[role].includes(type)) {
    throw unsupportedPart(type, allowedParts[role], `in ${role} messages`, path);
  }
  switch (type) {
    case "input_text":
      return { type, text: parseAt(partFields.input_text, part, path).text };
    case "output_text":
      return { type, text: parseAt(partFields.output_text, part, path).text, annotations: [] };
    case "refusal":
      return { type, refusal: parseAt(partFields.refusal, part, path).refusal };
    default: {
      const image = parseAt(partFields.input_image, part, path);
      if (++images.count > IMAGE_LIMITS.imagesPerRequest) throw tooManyImages(path.join("."));
      checkImageUrl(image.image_url, [...path, "image_url"].join("."));
      // "original" asks for no downscaling; "high" is the nearest the core knows.
      const detail =
        image.detail === undefined ? "auto" : image.detail === "original" ? "high" : image.detail;
      return { type: "input_image", image_url: image.image_url, detail };
    }
  }
}

function unsupportedPart(type: string, allowed: readonly string[], where: string, path: Path): QiusuoError {
  const param = [...path, "type"].join(".");
  if (type === "input_file" || type === "input_audio") {
    return new InvalidParameterError(
      "unsupported_content",
      `\`${type}\` content is not supported: the models served here read text and images only.`,
      param,
    );
  }
  return new InvalidParameterError(
    "unsupported_content",
    `Content of type '${type}' is not supported ${where}; use ${allowed.join(", ")}.`,
    param,
  );
}

/**
 * The conversation the items hold, as core messages. A run of assistant-side items (reasoning,
 * an assistant message, function calls) is one assistant turn; a function call's output is a
 * tool message; system and developer messages are system messages.
 */
export function itemsToMessages(items: readonly Item[]): ChatMessage[] {
  const messages: ChatMessage[] = [];
  let turn: { content: string[]; reasoning: string[]; toolCalls: ToolCall[] } | undefined;
  const assistantTurn = () => (turn ??= { content: [], reasoning: [], toolCalls: [] });
  const flush = () => {
    if (!turn) return;
    const reasoning = turn.reasoning.join("\n\n");
    messages.push({
      role: "assistant",
      content: turn.content.join("\n\n"),
      ...(reasoning.length > 0 ? { reasoning } : {}),
      ...(turn.toolCalls.length > 0 ? { toolCalls: turn.toolCalls } : {}),
    });
    turn = undefined;
  };
  for (const item of items) {
    switch (item.type) {
      case "reasoning": {
        const parts = item.content.length > 0 ? item.content : item.summary;
        assistantTurn().reasoning.push(...parts.map((part) => part.text));
        break;
      }
      case "function_call":
        assistantTurn().toolCalls.push({ id: item.call_id, name: item.name, arguments: item.arguments });
        break;
      case "function_call_output":
        flush();
        messages.push({ role: "tool", toolCallId: item.call_id, content: item.output });
        break;
      case "message":
        if (item.role === "assistant") {
          assistantTurn().content.push(...item.content.map(partText));
          break;
        }
        flush();
        messages.push(userOrSystem(item));
        break;
    }
  }
  flush();
  return messages;
}

function userOrSystem(item: MessageItem): ChatMessage {
  const text = item.content
    .filter((part) => part.type !== "input_image")
    .map(partText)
    .join("\n\n");
  if (item.role !== "user") return { role: "system", content: text };
  const images: ImageInput[] = item.content.flatMap((part) =>
    part.type === "input_image" ? [{ url: part.image_url, detail: part.detail }] : [],
  );
  return { role: "user", content: text, ...(images.length > 0 ? { images } : {}) };
}

function partText(part: ContentPart): string {
  switch (part.type) {
    case "refusal":
      return part.refusal;
    case "input_image":
      return "";
    default:
      return part.text;
  }
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
