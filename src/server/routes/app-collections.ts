import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Readable } from "node:stream";
import { QiusuoError } from "../../core/errors.js";
import { checkDeclaredSize, DEFAULT_EXTRACTION_LIMITS, readUpload } from "../../knowledge/extract/index.js";
import type { KnowledgeService } from "../../knowledge/knowledge-service.js";
import {
  parseCollectionFields,
  parseCollectionSearch,
  parseFileName,
} from "../../protocol/app/collections.js";
import { notFound, type AppApiContext } from "./app-api.js";

type WithId = { Params: { id: string } };
type WithFile = { Params: { id: string; fileId: string } };

/**
 * Knowledge collections of the request's user: create, list, read, rename, delete, upload and
 * delete files, search (docs/api.md). Another user's collection or file is a 404, as a
 * conversation is. Scripts may call these with an API key (app-api.ts lets a bearer key through
 * for /api/collections only).
 */
export function registerCollectionRoutes(app: FastifyInstance, context: AppApiContext): void {
  const collections = context.store.collections;
  const knowledge = (): KnowledgeService => {
    if (!context.knowledge)
      throw new QiusuoError("unavailable", "knowledge_unavailable", "This server has no knowledge bases.");
    return context.knowledge;
  };

  app.get("/collections", async (request) => {
    const user = context.user(request);
    return { collections: await collections.list(user.id) };
  });

  app.post("/collections", async (request, reply) => {
    const user = context.user(request);
    const fields = parseCollectionFields(request.body, { create: true });
    return reply
      .code(201)
      .send(await knowledge().create(user.id, { name: fields.name!, description: fields.description }));
  });

  app.post("/collections/search", async (request) => {
    const user = context.user(request);
    const { query, collectionIds, limit } = parseCollectionSearch(request.body);
    return { results: await knowledge().search(user.id, collectionIds, query, { limit }) };
  });

  app.get<WithId>("/collections/:id", async (request) => {
    const user = context.user(request);
    const collection = await collections.get(user.id, request.params.id);
    const files = collection && (await collections.files(user.id, collection.id));
    if (!collection || !files) throw notFound("Collection", request.params.id);
    return { ...collection, files };
  });

  app.patch<WithId>("/collections/:id", async (request) => {
    const user = context.user(request);
    const changes = parseCollectionFields(request.body, { create: false });
    const updated = await collections.update(user.id, request.params.id, changes);
    if (!updated) throw notFound("Collection", request.params.id);
    return updated;
  });

  app.delete<WithId>("/collections/:id", async (request, reply) => {
    const user = context.user(request);
    if (!(await collections.delete(user.id, request.params.id)))
      throw notFound("Collection", request.params.id);
    return reply.code(204).send();
  });

  app.get<WithFile>("/collections/:id/files/:fileId", async (request) => {
    const user = context.user(request);
    const file = await collections.file(user.id, request.params.id, request.params.fileId);
    if (!file) throw notFound("File", request.params.fileId);
    return file;
  });

  app.delete<WithFile>("/collections/:id/files/:fileId", async (request, reply) => {
    const user = context.user(request);
    if (!(await collections.deleteFile(user.id, request.params.id, request.params.fileId)))
      throw notFound("File", request.params.fileId);
    return reply.code(204).send();
  });

  // The upload's body is the file itself, of any type: this scope hands the route the unread
  // stream, which it reads up to the size limit (and not at all when the declared size is over).
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", (_request, payload, done) => done(null, payload));
    scope.post<WithId>("/collections/:id/files", async (request, reply) => {
      const user = context.user(request);
      const service = knowledge();
      // Known before the bytes are read, so another user's collection costs no upload.
      if (!(await collections.get(user.id, request.params.id)))
        throw notFound("Collection", request.params.id);
      const name = parseFileName(request.headers["x-file-name"]);
      const declared = Number(request.headers["content-length"]);
      if (Number.isFinite(declared)) {
        checkDeclaredSize(declared, DEFAULT_EXTRACTION_LIMITS);
        service.checkRoom(declared);
      }
      const bytes = await readUpload(uploadStream(request), DEFAULT_EXTRACTION_LIMITS);
      const mimeType = (request.headers["content-type"] ?? "application/octet-stream").split(";")[0]!.trim();
      const file = await service.upload(user.id, request.params.id, { name, mimeType, bytes });
      if (!file) throw notFound("Collection", request.params.id);
      return reply.code(202).send(file);
    });
  });
}

function uploadStream(request: FastifyRequest): AsyncIterable<Uint8Array> {
  return (request.body as Readable | undefined) ?? request.raw;
}
