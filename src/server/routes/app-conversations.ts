import type { FastifyInstance, FastifyRequest } from "fastify";
import { parseImport, writeQiusuoExport } from "../../protocol/archive/index.js";
import {
  parseConversationFields,
  parseListQuery,
  parseSearchQuery,
  parseSetCurrent,
} from "../../protocol/app/requests.js";
import { conversationView, type ConversationView } from "../../protocol/app/conversation-view.js";
import type { ConversationPlacement } from "../../protocol/app/projects.js";
import { jsonBodyThread } from "../json-body-thread.js";
import { notFound, type AppApiContext } from "./app-api.js";

type WithId = { Params: { id: string } };

/** Conversations of the session's user: list, create, read, rename, delete, branches, search, export. */
export function registerConversationRoutes(app: FastifyInstance, context: AppApiContext): void {
  const conversations = context.store.conversations;

  /** `?project=`: the user's own project, else a 404 as on its own routes. */
  const projectFilter = async (userId: string, project: string | undefined) => {
    if (project !== undefined && !(await context.store.projects.get(userId, project))) {
      throw notFound("Project", project);
    }
    return project === undefined ? {} : { projectId: project };
  };

  app.get("/conversations", async (request) => {
    const user = context.user(request);
    const { limit, cursor, project } = parseListQuery(request.query);
    const page = await conversations.list(user.id, {
      limit,
      cursor: cursor ?? null,
      ...(await projectFilter(user.id, project)),
    });
    return { data: page.data.map(appConversationView), nextCursor: page.nextCursor };
  });

  app.post("/conversations", async (request, reply) => {
    const user = context.user(request);
    const { title, settings, projectId } = parseConversationFields(request.body);
    const fields = {
      ...(title === undefined ? {} : { title }),
      ...(settings === undefined ? {} : { settings: definedFields(settings) }),
    };
    const created = projectId
      ? await conversations.createInProject(user.id, projectId, fields)
      : await conversations.create(user.id, fields);
    if (!created) throw notFound("Project", projectId!);
    return reply.code(201).send(appConversationView(created));
  });

  app.get<WithId>("/conversations/:id", async (request) => {
    const user = context.user(request);
    const conversation = await conversations.get(user.id, request.params.id);
    const messages = conversation && (await conversations.messages(user.id, conversation.id));
    if (!conversation || !messages) throw notFound("Conversation", request.params.id);
    return { conversation: appConversationView(conversation), messages };
  });

  app.patch<WithId>("/conversations/:id", async (request) => {
    const user = context.user(request);
    const { title, settings, projectId, pinned } = parseConversationFields(request.body);
    // Moving into a project that is not the user's is a 404 naming the project.
    if (typeof projectId === "string" && !(await context.store.projects.get(user.id, projectId))) {
      throw notFound("Project", projectId);
    }
    const updated = await conversations.update(user.id, request.params.id, {
      ...(title === undefined ? {} : { title }),
      ...(settings === undefined ? {} : { settings: definedFields(settings) }),
      ...(projectId === undefined ? {} : { projectId }),
      ...(pinned === undefined ? {} : { pinned }),
    });
    if (!updated) throw notFound("Conversation", request.params.id);
    return appConversationView(updated);
  });

  app.delete<WithId>("/conversations/:id", async (request) => {
    const user = context.user(request);
    if (!(await conversations.delete(user.id, request.params.id))) {
      throw notFound("Conversation", request.params.id);
    }
    return { ok: true };
  });

  app.put<WithId>("/conversations/:id/current", async (request) => {
    const user = context.user(request);
    const { messageId } = parseSetCurrent(request.body);
    const updated = await conversations.setCurrent(user.id, request.params.id, messageId);
    if (!updated) throw notFound("Message", messageId);
    return appConversationView(updated);
  });

  app.get("/search", async (request) => {
    const user = context.user(request);
    const { q, limit, project } = parseSearchQuery(request.query);
    return {
      data: await conversations.search(user.id, q, { limit, ...(await projectFilter(user.id, project)) }),
    };
  });

  app.get("/export", async (request, reply) => {
    const user = context.user(request);
    const document = writeQiusuoExport(await conversations.exportAll(user.id));
    const day = new Date().toISOString().slice(0, 10);
    return reply
      .header("content-disposition", `attachment; filename="qiusuo-export-${day}.json"`)
      .send(document);
  });

  // An import may be 32 MB of JSON (the body limit), which JSON.parse would take most of a second
  // over: this scope parses its body on a worker thread instead, taking the value back in pieces.
  // Every other route keeps the parser server/app.ts sets.
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", { parseAs: "buffer" }, (_request: FastifyRequest, body: Buffer) =>
      jsonBodyThread.parse(body),
    );
    scope.post("/import", async (request) => {
      const user = context.user(request);
      // Read in slices: a 32 MB file shares the event loop with other requests while it is read.
      const parsed = await parseImport(request.body);
      const imported = await conversations.importConversations(user.id, parsed.conversations);
      return { imported, format: parsed.format };
    });
  });
}

/** A conversation as the app's API shows it: the exported fields, its project and its pin. */
function appConversationView(conversation: ConversationView & ConversationPlacement) {
  return {
    ...conversationView(conversation),
    projectId: conversation.projectId,
    pinnedAt: conversation.pinnedAt,
  };
}

/** Drops the keys whose value is undefined (zod's optional fields), as the store's types want. */
function definedFields<T extends object>(value: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>;
  };
}
