import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { RequestMeter } from "../../auth/request-meter.js";
import type { ChatEvent, Usage } from "../../core/chat.js";
import { QiusuoError } from "../../core/errors.js";
import { systemFingerprint } from "../../core/fingerprint.js";
import { ReplyParts, wireToolCall } from "../../core/reply-parts.js";
import { loadReplyContext } from "../../chat/reply-context.js";
import { branchOf, promptSha256, replyRequest } from "../../chat/reply-request.js";
import { parseNewMessage, parseRegenerate } from "../../protocol/app/requests.js";
import { KEEP_ALIVE, withKeepAlive } from "../../protocol/keep-alive.js";
import { SSE_KEEP_ALIVE } from "../../protocol/sse.js";
import type { Conversation, JsonObject, Message } from "../../store/conversations.js";
import { disconnectSignal, sendEventStream } from "../reply-helpers.js";
import { notFound, type AppApiContext } from "./app-api.js";

/** A streaming reply is written to the database at most this often, and once at its end. */
const SAVE_INTERVAL_MS = 500;

interface Generation {
  model?: string | undefined;
  thinking?: boolean | undefined;
  temperature?: number | undefined;
}

type WithId = { Params: { id: string } };
type WithMessage = { Params: { id: string; messageId: string } };

/**
 * The app's chat: a user message (or a regenerate) answered as a stream of named SSE events,
 * saved as it goes, so a reply cut off by a stop, a crash or `kill -9` keeps what was written.
 */
export function registerChatRoutes(app: FastifyInstance, context: AppApiContext): void {
  const conversations = context.store.conversations;

  app.post<WithId>("/conversations/:id/messages", async (request, reply) => {
    const user = context.user(request);
    const body = parseNewMessage(request.body);
    const conversation = await conversations.get(user.id, request.params.id);
    if (!conversation) throw notFound("Conversation", request.params.id);
    const files = body.files ?? [];
    const images = body.images ?? [];
    if (body.content.trim().length === 0 && files.length === 0 && images.length === 0) {
      throw new QiusuoError("invalid_request", "empty_message", "The message is empty.", {
        param: "content",
      });
    }
    const userMessage = await conversations.addMessage(user.id, conversation.id, {
      parentId: body.parentId,
      role: "user",
      content: body.content,
      settings:
        files.length > 0 || images.length > 0
          ? { ...(files.length > 0 ? { files } : {}), ...(images.length > 0 ? { images } : {}) }
          : null,
    });
    const messages = userMessage && (await conversations.messages(user.id, conversation.id));
    if (!userMessage || !messages) throw notFound("Conversation", conversation.id);
    return answer(context, request, reply, conversation, branchOf(messages, userMessage), body, userMessage);
  });

  app.post<WithMessage>("/conversations/:id/messages/:messageId/regenerate", async (request, reply) => {
    const user = context.user(request);
    const body = parseRegenerate(request.body);
    const conversation = await conversations.get(user.id, request.params.id);
    const messages = conversation && (await conversations.messages(user.id, conversation.id));
    if (!conversation || !messages) throw notFound("Conversation", request.params.id);
    const replaced = messages.find((message) => message.id === request.params.messageId);
    const parent = replaced && messages.find((message) => message.id === replaced.parentId);
    if (!replaced || replaced.role !== "assistant" || !parent) {
      throw notFound("Reply", request.params.messageId);
    }
    return answer(context, request, reply, conversation, branchOf(messages, parent), body);
  });
}

/**
 * Generates the reply to the last message of `branch` (the messages from the root down) and
 * streams it, after `newUserMessage` when the request just added it.
 */
async function answer(
  context: AppApiContext,
  request: FastifyRequest,
  reply: FastifyReply,
  conversation: Conversation,
  branch: Message[],
  generation: Generation,
  newUserMessage?: Message,
): Promise<FastifyReply> {
  const { engine, store } = context;
  const user = context.user(request);
  const parent = branch.at(-1)!;
  const model =
    generation.model ?? conversation.settings.model ?? engine.listModels()[0]?.id ?? "deepseek-chat";
  const temperature = generation.temperature ?? conversation.settings.temperature;
  // Custom instructions and the project come first in the system prompt, recorded for replay.
  const given = await loadReplyContext(store, user.id, conversation);
  const chatRequest = await replyRequest(branch, {
    model,
    systemPrompt: conversation.settings.systemPrompt,
    context: given.context,
    temperature,
    thinking: generation.thinking,
  });
  const signal = disconnectSignal(reply);
  const meter = new RequestMeter(store, { user, apiKey: null }, undefined, (error) =>
    request.log.error({ err: error }, "usage was not recorded"),
  );
  let events: AsyncIterable<ChatEvent>;
  try {
    events = await engine.chat(chatRequest, signal);
  } catch (error) {
    await meter.settle(errorCode(error), undefined, model);
    throw error;
  }
  // The model file's digest may still be computing (a large file's first hash takes a minute):
  // the reply does not wait for it; it is recorded on the reply once the file is hashed.
  const provenance = engine.provenance
    ? await engine.provenance(model, { waitForDigest: false }).catch(() => undefined)
    : undefined;
  // What replay needs beyond the weights: the seed this reply (a regenerate too) really used, the
  // name asked for (DeepSeek's names imply thinking), the prompt's hash, and when it started.
  const recorded = {
    ...provenance,
    seed: chatRequest.sampling.seed,
    requestedModel: model,
    promptSha256: promptSha256(chatRequest),
    context: { ...given.recorded },
    startedAt: new Date().toISOString(),
    ...(provenance ? { systemFingerprint: systemFingerprint(provenance) } : {}),
  };
  const settings = {
    thinking: chatRequest.thinking ?? null,
    temperature: chatRequest.sampling.temperature,
    topP: chatRequest.sampling.topP,
  };
  const started = await store.conversations.startReply(user.id, conversation.id, parent.id, {
    ...(context.instanceId === undefined ? {} : { owner: context.instanceId }),
    model: provenance?.model ?? model,
    settings,
    provenance: recorded,
  });
  if (!started) throw notFound("Conversation", conversation.id);
  // An upstream model has no file to hash; which replica answered is recorded when it finishes.
  if (provenance?.modelSha256 === null && provenance.pool === undefined && engine.provenance) {
    void engine
      .provenance(model)
      .then((known) =>
        store.conversations.recordProvenance(started.id, {
          ...recorded,
          ...known,
          systemFingerprint: systemFingerprint(known),
        }),
      )
      .catch((error: unknown) =>
        request.log.warn({ err: error }, "the reply's model digest was not recorded"),
      );
  }
  return sendEventStream(
    request,
    reply,
    replyStream(
      context,
      newUserMessage,
      started,
      recorded,
      withKeepAlive(meter.watch(model, events), context.keepAliveMs),
    ),
    signal,
  );
}

/**
 * The SSE events of one reply (after the user message it answers, when that is new), saving the
 * reply as it grows and marking how it ended.
 */
async function* replyStream(
  context: AppApiContext,
  userMessage: Message | undefined,
  started: Message,
  provenance: JsonObject,
  events: AsyncIterable<ChatEvent | typeof KEEP_ALIVE>,
): AsyncIterable<string> {
  const conversations = context.store.conversations;
  if (userMessage) yield event("user", userMessage);
  yield event("assistant", started);
  const parts = new ReplyParts();
  const startedAt = performance.now();
  let reasoningMs: number | undefined;
  let lastSave = performance.now();
  let finished = false;
  const progress = () => ({ content: parts.content, reasoning: parts.reasoning || null });
  // What was written stays, marked interrupted (an error, or the client went away: stop).
  const interrupt = async () => {
    finished = true;
    await conversations.finishReply(started.id, { status: "interrupted", ...progress() });
  };
  try {
    for await (const part of events) {
      if (part === KEEP_ALIVE) {
        yield SSE_KEEP_ALIVE;
        continue;
      }
      parts.add(part);
      if (part.type === "reasoning-delta") yield event("delta", { reasoning: part.text });
      if (part.type === "text-delta") {
        if (parts.reasoning && reasoningMs === undefined) reasoningMs = performance.now() - startedAt;
        yield event("delta", { content: part.text });
      }
      if (performance.now() - lastSave >= SAVE_INTERVAL_MS) {
        lastSave = performance.now();
        await conversations.saveReplyProgress(started.id, progress());
      }
    }
    if (parts.reasoning && reasoningMs === undefined) reasoningMs = performance.now() - startedAt;
    const usage = parts.finish?.usage;
    const servedBy = parts.finish?.servedBy;
    // What a redacting pool replaced before the request left: counts by kind, never values.
    const redactions = parts.finish?.redactions;
    if (servedBy)
      await conversations.recordProvenance(started.id, {
        ...provenance,
        servedBy: { ...servedBy },
        ...(redactions === undefined ? {} : { redactions: { ...redactions } }),
      });
    const done = await conversations.finishReply(started.id, {
      status: "complete",
      ...progress(),
      toolCalls: parts.toolCalls.length > 0 ? parts.toolCalls.map(wireToolCall) : null,
      usage: usage ? usageRecord(usage, reasoningMs) : null,
    });
    finished = true;
    yield event("done", done ?? started);
  } catch (error) {
    await interrupt();
    const wire = error instanceof QiusuoError ? error : undefined;
    yield event("error", {
      error: {
        message: wire?.message ?? "The reply failed; see the server log.",
        code: wire?.code ?? "internal_error",
      },
    });
  } finally {
    if (!finished) await interrupt();
  }
}

function usageRecord(usage: Usage, reasoningMs: number | undefined) {
  return {
    prompt_tokens: usage.promptTokens,
    prompt_cache_hit_tokens: usage.promptCacheHitTokens,
    prompt_cache_miss_tokens: usage.promptTokens - usage.promptCacheHitTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.promptTokens + usage.completionTokens,
    completion_tokens_details: { reasoning_tokens: usage.reasoningTokens },
    ...(reasoningMs === undefined ? {} : { reasoningMs: Math.round(reasoningMs) }),
  };
}

function event(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}

function errorCode(error: unknown): string {
  return error instanceof QiusuoError ? error.code : "internal_error";
}
