import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { QiusuoError } from "../../core/errors.js";
import { branchOf } from "../../chat/reply-request.js";
import { runTurn, type Generation, type TurnOptions } from "../../chat/turn.js";
import type { TurnEvent } from "../../chat/turn-events.js";
import { turnTools, type ToolSources } from "../../chat/turn-tools.js";
import { parseNewMessage, parseRegenerate, parseToolApproval } from "../../protocol/app/requests.js";
import { SSE_KEEP_ALIVE } from "../../protocol/sse.js";
import type { Conversation, Message } from "../../store/conversations.js";
import type { Tool } from "../../tools/tool.js";
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
    // Before the message is kept: web search switched on with no provider is refused here.
    const tools = await toolsFor(context, conversation, user.id, body.content);
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
    return answer(context, request, reply, conversation, branchOf(messages, userMessage), body, {
      newUserMessage: userMessage,
      tools,
    });
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
    const branch = branchOf(messages, parent);
    const tools = await toolsFor(context, conversation, user.id, lastUserText(branch));
    return answer(context, request, reply, conversation, branch, body, { tools });
  });

  /**
   * The user's answer to a reply that stopped at an "ask me first" tool call. The decision is
   * answered by a new reply under the stopped one, which keeps its calls: approved, exactly those
   * calls are run; refused, the model is told so. Either way the new reply streams like any other.
   */
  app.post<WithMessage>("/conversations/:id/messages/:messageId/approval", async (request, reply) => {
    const user = context.user(request);
    const body = parseToolApproval(request.body);
    const conversation = await conversations.get(user.id, request.params.id);
    const messages = conversation && (await conversations.messages(user.id, conversation.id));
    if (!conversation || !messages) throw notFound("Conversation", request.params.id);
    const stopped = messages.find((message) => message.id === request.params.messageId);
    if (!stopped || stopped.role !== "assistant") throw notFound("Reply", request.params.messageId);
    const finish = (stopped.provenance?.turn as { finish?: unknown } | undefined)?.finish;
    if (finish !== "approval-needed" || !stopped.toolCalls) {
      throw new QiusuoError(
        "conflict",
        "no_pending_tool_call",
        "This reply is not waiting for a tool call to be approved.",
      );
    }
    if (messages.some((message) => message.parentId === stopped.id)) {
      throw new QiusuoError(
        "conflict",
        "tool_call_decided",
        "This tool call was already approved or denied.",
      );
    }
    const branch = branchOf(messages, stopped);
    const tools = await toolsFor(context, conversation, user.id, lastUserText(branch));
    const calls = stopped.toolCalls.map((call) => ({
      id: call.id,
      name: call.function.name,
      arguments: call.function.arguments,
    }));
    return answer(context, request, reply, conversation, branch, body, {
      tools,
      resume: { calls, approved: body.approve },
    });
  });
}

/** The tools the conversation's settings switch on; knowledge and MCP when the server has them. */
function toolsFor(
  context: AppApiContext,
  conversation: Conversation,
  userId: string,
  question: string | undefined,
): Promise<Tool[]> {
  // Knowledge joins through the context once the knowledge service is part of the server.
  const { webSearch, knowledge, mcp } = context as AppApiContext & ToolSources;
  return turnTools({ webSearch, knowledge, mcp }, conversation.settings, { userId, question });
}

/** The text of the branch's last user message, which a search answer quotes. */
function lastUserText(branch: readonly Message[]): string | undefined {
  return branch.findLast((message) => message.role === "user")?.content;
}

/**
 * Runs the turn that answers the last message of `branch` (the messages from the root down), after
 * `turn.newUserMessage` when the request just added it, and streams its events.
 */
async function answer(
  context: AppApiContext,
  request: FastifyRequest,
  reply: FastifyReply,
  conversation: Conversation,
  branch: Message[],
  generation: Generation,
  turn: Pick<TurnOptions, "newUserMessage" | "tools" | "resume">,
): Promise<FastifyReply> {
  const signal = disconnectSignal(reply);
  const events = await runTurn({
    engine: context.engine,
    store: context.store,
    user: context.user(request),
    conversation,
    branch,
    ...turn,
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
