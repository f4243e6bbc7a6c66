import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { QiusuoError } from "../../core/errors.js";
import { branchOf } from "../../chat/reply-request.js";
import { runTurn, type Generation } from "../../chat/turn.js";
import type { TurnEvent } from "../../chat/turn-events.js";
import { parseNewMessage, parseRegenerate } from "../../protocol/app/requests.js";
import { SSE_KEEP_ALIVE } from "../../protocol/sse.js";
import type { Conversation, Message } from "../../store/conversations.js";
import { disconnectSignal, sendEventStream } from "../reply-helpers.js";
import { notFound, type AppApiContext } from "./app-api.js";

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
 * Runs the turn that answers the last message of `branch` (the messages from the root down), after
 * `newUserMessage` when the request just added it, and streams its events.
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
  const signal = disconnectSignal(reply);
  const events = await runTurn({
    engine: context.engine,
    store: context.store,
    user: context.user(request),
    conversation,
    branch,
    newUserMessage,
    generation,
    signal,
    keepAliveMs: context.keepAliveMs,
    instanceId: context.instanceId,
    onError: (error, what) => request.log.error({ err: error }, what),
  });
  return sendEventStream(request, reply, serialise(events), signal);
}

/**
 * A turn's events as the named SSE events the web app reads (docs/api.md): `user`, `assistant`,
 * `delta`, `done` or `error`, and `tool-call`, `tool-result`, `sources`, `approval-needed`.
 */
async function* serialise(events: AsyncIterable<TurnEvent>): AsyncIterable<string> {
  for await (const part of events) {
    switch (part.type) {
      case "keep-alive":
        yield SSE_KEEP_ALIVE;
        break;
      case "user":
      case "assistant":
        yield event(part.type, part.message);
        break;
      case "reasoning":
        yield event("delta", { reasoning: part.text });
        break;
      case "text":
        yield event("delta", { content: part.text });
        break;
      case "tool-call":
      case "approval-needed":
        yield event(part.type, { id: part.id, name: part.name, arguments: part.arguments });
        break;
      case "tool-result":
        yield event(part.type, {
          id: part.id,
          name: part.name,
          content: part.content,
          isError: part.isError,
        });
        break;
      case "sources":
        yield event(part.type, { toolCallId: part.toolCallId, sources: part.sources });
        break;
      case "usage":
        break; // the reply's summed usage comes with `done`
      case "finish":
        if (part.reason === "error") {
          yield event("error", { error: { message: part.message, code: part.code } });
        } else if (part.reason !== "aborted") {
          yield event("done", part.reply);
        }
        break;
    }
  }
}

function event(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}
