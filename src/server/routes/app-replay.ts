import type { FastifyInstance } from "fastify";
import { replayReply } from "../../chat/replay.js";
import { disconnectSignal } from "../reply-helpers.js";
import { notFound, type AppApiContext } from "./app-api.js";

type WithMessage = { Params: { id: string; messageId: string } };

/**
 * `POST /api/conversations/:id/messages/:messageId/replay`: re-runs one of the user's own local
 * replies through the server's engine and answers with the comparison (chat/replay.ts). Another
 * user's conversation is a 404, as everywhere in the app API.
 */
export function registerReplayRoutes(app: FastifyInstance, context: AppApiContext): void {
  app.post<WithMessage>("/conversations/:id/messages/:messageId/replay", async (request, reply) => {
    const user = context.user(request);
    const conversation = await context.store.conversations.get(user.id, request.params.id);
    const messages = conversation && (await context.store.conversations.messages(user.id, conversation.id));
    if (!conversation || !messages) throw notFound("Conversation", request.params.id);
    if (
      !messages.some((message) => message.id === request.params.messageId && message.role === "assistant")
    ) {
      throw notFound("Reply", request.params.messageId);
    }
    return replayReply({
      engine: context.engine,
      conversation,
      messages,
      messageId: request.params.messageId,
      signal: disconnectSignal(reply),
      projectFileText: (sha256) => context.store.projects.fileText(user.id, sha256),
    });
  });
}
