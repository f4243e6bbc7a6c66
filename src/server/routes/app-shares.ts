import type { FastifyInstance } from "fastify";
import { branchOf } from "../../chat/reply-request.js";
import { InvalidRequestError, QiusuoError } from "../../core/errors.js";
import { parseNewShare, publicShareView, sharedMessages, shareView } from "../../protocol/app/shares.js";
import { notFound, type AppApiContext } from "./app-api.js";

type WithId = { Params: { id: string } };
type WithToken = { Params: { token: string } };

/**
 * Share links: the owner makes, lists and revokes them; anyone with a link reads its snapshot
 * (`GET /api/shared/:token`, a public route). A missing, revoked or someone else's link is the
 * same 404 everywhere, so an answer never tells whether a token ever existed.
 */
export function registerShareRoutes(app: FastifyInstance, context: AppApiContext): void {
  const { conversations, shares } = context.store;

  app.post<WithId>("/conversations/:id/shares", async (request, reply) => {
    const user = context.user(request);
    const { messageId, showName } = parseNewShare(request.body);
    const conversation = await conversations.get(user.id, request.params.id);
    const messages = conversation && (await conversations.messages(user.id, conversation.id));
    if (!conversation || !messages) throw notFound("Conversation", request.params.id);
    const lastId = messageId ?? conversation.currentLeafId;
    const last = messages.find((message) => message.id === lastId);
    if (messageId !== undefined && !last) {
      throw new QiusuoError("not_found", "message_not_found", `Message '${messageId}' does not exist.`, {
        param: "messageId",
      });
    }
    const snapshot = last ? sharedMessages(branchOf(messages, last)) : [];
    if (!last || snapshot.length === 0) {
      throw new InvalidRequestError("share_empty", "This conversation has no messages to share yet.");
    }
    const share = await shares.create(user.id, {
      conversationId: conversation.id,
      messageId: last.id,
      title: conversation.title,
      authorName: showName === true ? user.name : null,
      messages: snapshot,
    });
    if (!share) throw notFound("Conversation", conversation.id);
    return reply.code(201).send(shareView(share));
  });

  app.get<WithId>("/conversations/:id/shares", async (request) => {
    const user = context.user(request);
    if (!(await conversations.get(user.id, request.params.id))) {
      throw notFound("Conversation", request.params.id);
    }
    return { data: (await shares.list(user.id, request.params.id)).map(shareView) };
  });

  app.delete<WithId>("/conversations/:id/shares", async (request) => {
    const user = context.user(request);
    if (!(await conversations.get(user.id, request.params.id))) {
      throw notFound("Conversation", request.params.id);
    }
    return { revoked: await shares.revokeAll(user.id, request.params.id) };
  });

  app.get("/shares", async (request) => {
    const user = context.user(request);
    return { data: (await shares.list(user.id)).map(shareView) };
  });

  app.delete("/shares", async (request) => {
    const user = context.user(request);
    return { revoked: await shares.revokeAll(user.id) };
  });

  app.delete<WithToken>("/shares/:token", async (request) => {
    const user = context.user(request);
    if (!(await shares.revoke(user.id, request.params.token))) throw shareNotFound();
    return { ok: true };
  });

  // Public: one lookup by primary key (a token of the wrong shape is not even looked up), cheap
  // enough to need no rate limit of its own; 192-bit tokens cannot be guessed at any rate.
  app.get<WithToken>("/shared/:token", async (request, reply) => {
    void reply.headers({
      "cache-control": "no-store",
      "referrer-policy": "no-referrer",
      "x-robots-tag": "noindex, nofollow",
    });
    const share = await shares.find(request.params.token);
    if (!share) throw shareNotFound();
    return publicShareView(share);
  });
}

/** One answer for a link that is unknown, revoked or another user's. */
function shareNotFound(): QiusuoError {
  return new QiusuoError("not_found", "share_not_found", "This link does not exist or was revoked.");
}
