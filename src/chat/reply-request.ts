/**
 * The request an app reply is generated from: one system message (the user's custom
 * instructions, then the project's instructions and files, then the conversation's system
 * prompt) and the branch down to the message it answers, with the reply's settings. Shared by the
 * chat route and replay, so a replay sends exactly what the reply was made from.
 */
import { createHash } from "node:crypto";
import type { ChatRequest } from "../core/chat.js";
import { IMAGE_LIMITS } from "../protocol/image-limits.js";
import { parseChatCompletion } from "../protocol/deepseek/chat-request.js";
import { fileBlocks, withFiles, type AttachedImage } from "../protocol/app/requests.js";
import type { Message } from "../store/conversations.js";

/** What a reply is given ahead of the conversation's own system prompt; each part optional. */
export interface PromptContext {
  /** The user's custom instructions, as applied (reply-context.ts writes them out). */
  customInstructions?: string | undefined;
  /** The instructions of the conversation's project. */
  projectInstructions?: string | undefined;
  /** The project's files, in DeepSeek's file template. */
  projectFiles?: ReadonlyArray<{ name: string; text: string }> | undefined;
}

export interface ReplySettings {
  /** The model as asked for (an id, alias or DeepSeek name). */
  model: string;
  /** The conversation's own system prompt, after the context. */
  systemPrompt?: string | undefined;
  /** Custom instructions and project, first in the system message. */
  context?: PromptContext | undefined;
  temperature?: number | undefined;
  topP?: number | undefined;
  thinking?: boolean | undefined;
  /** Drawn at random when unset (never the library's clock-based default). */
  seed?: number | undefined;
  maxTokens?: number | undefined;
}

/**
 * The chat request for the reply to the last message of `branch` (the messages from the root
 * down). The wire parser gives it every default the API has, and checks it the same way.
 */
export async function replyRequest(
  branch: readonly Message[],
  settings: ReplySettings,
): Promise<ChatRequest> {
  const system = systemMessage(settings.context ?? {}, settings.systemPrompt);
  const { request } = await parseChatCompletion({
    model: settings.model,
    messages: [...(system ? [{ role: "system", content: system }] : []), ...promptMessages(branch)],
    ...(settings.temperature === undefined ? {} : { temperature: settings.temperature }),
    ...(settings.topP === undefined ? {} : { top_p: settings.topP }),
    ...(settings.seed === undefined ? {} : { seed: settings.seed }),
    ...(settings.maxTokens === undefined ? {} : { max_tokens: settings.maxTokens }),
    ...(settings.thinking === undefined
      ? {}
      : { thinking: { type: settings.thinking ? "enabled" : "disabled" } }),
  });
  return request;
}

/**
 * The system message: custom instructions, project instructions, project files, the
 * conversation's system prompt, in that order, blank-line separated; empty parts left out.
 */
export function systemMessage(context: PromptContext, systemPrompt: string | undefined): string {
  const files = context.projectFiles ?? [];
  return [
    context.customInstructions,
    context.projectInstructions,
    files.length > 0 ? fileBlocks(files) : undefined,
    systemPrompt,
  ]
    .filter((part): part is string => part !== undefined && part.trim() !== "")
    .join("\n\n");
}

/** SHA-256 of the messages a request sends, so a replay can tell whether they are the same. */
export function promptSha256(request: ChatRequest): string {
  return createHash("sha256").update(JSON.stringify(request.messages)).digest("hex");
}

/** The messages from the root down to `leaf`. */
export function branchOf(messages: readonly Message[], leaf: Message): Message[] {
  const byId = new Map(messages.map((message) => [message.id, message]));
  const branch: Message[] = [];
  for (
    let at: Message | undefined = leaf;
    at;
    at = at.parentId === null ? undefined : byId.get(at.parentId)
  ) {
    branch.push(at);
    if (branch.length > messages.length) break; // a cycle cannot happen, but never loop forever
  }
  return branch.reverse();
}

/**
 * The branch as the model sees it. A request holds at most {@link IMAGE_LIMITS.imagesPerRequest}
 * images, so in a long conversation only the newest that many go with their messages.
 */
function promptMessages(branch: readonly Message[]) {
  let imagesLeft = IMAGE_LIMITS.imagesPerRequest;
  return branch
    .toReversed()
    .map((message) => {
      const images = ((message.role === "user" && message.settings?.images) || []) as AttachedImage[];
      const kept = images.slice(Math.max(0, images.length - imagesLeft));
      imagesLeft -= kept.length;
      return promptMessage(message, kept);
    })
    .reverse();
}

/**
 * A stored message as the model sees it: files in DeepSeek's template, images as OpenAI image
 * parts after the text; replies without reasoning.
 */
function promptMessage(message: Message, images: readonly AttachedImage[]) {
  if (message.role === "user") {
    const files = (message.settings?.files ?? []) as Array<{ name: string; text: string }>;
    const text = withFiles(message.content, files);
    if (images.length === 0) return { role: "user", content: text };
    return {
      role: "user",
      content: [
        { type: "text", text },
        ...images.map((image) => ({ type: "image_url", image_url: { url: image.url } })),
      ],
    };
  }
  if (message.role === "assistant") {
    return {
      role: "assistant",
      content: message.content,
      ...(message.toolCalls ? { tool_calls: message.toolCalls } : {}),
    };
  }
  return { role: message.role, content: message.content };
}
