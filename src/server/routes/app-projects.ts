import type { FastifyInstance } from "fastify";
import {
  checkProjectFiles,
  parseCustomInstructions,
  parseProjectDelete,
  parseProjectFields,
  parseProjectFiles,
} from "../../protocol/app/requests.js";
import { notFound, type AppApiContext } from "./app-api.js";

type WithId = { Params: { id: string } };
type WithFile = { Params: { id: string; fileId: string } };

/**
 * Projects of the session's user (create, list, read, rename, change instructions, delete, add
 * and remove files) and their custom instructions. Another user's project is a 404, as a
 * conversation is.
 */
export function registerProjectRoutes(app: FastifyInstance, context: AppApiContext): void {
  const projects = context.store.projects;

  app.get("/projects", async (request) => {
    const user = context.user(request);
    return { data: await projects.list(user.id) };
  });

  app.post("/projects", async (request, reply) => {
    const user = context.user(request);
    const { name, instructions } = parseProjectFields(request.body, { create: true });
    const created = await projects.create(user.id, {
      name: name!,
      ...(instructions === undefined ? {} : { instructions }),
    });
    return reply.code(201).send(await projects.get(user.id, created.id));
  });

  app.get<WithId>("/projects/:id", async (request) => {
    const user = context.user(request);
    const project = await projects.get(user.id, request.params.id);
    if (!project) throw notFound("Project", request.params.id);
    return project;
  });

  app.patch<WithId>("/projects/:id", async (request) => {
    const user = context.user(request);
    const { name, instructions } = parseProjectFields(request.body, { create: false });
    const updated = await projects.update(user.id, request.params.id, {
      ...(name === undefined ? {} : { name }),
      ...(instructions === undefined ? {} : { instructions }),
    });
    if (!updated) throw notFound("Project", request.params.id);
    return projects.get(user.id, updated.id);
  });

  app.delete<WithId>("/projects/:id", async (request) => {
    const user = context.user(request);
    const { chats } = parseProjectDelete(request.query);
    if (!(await projects.delete(user.id, request.params.id, chats))) {
      throw notFound("Project", request.params.id);
    }
    return { ok: true, chats };
  });

  app.post<WithId>("/projects/:id/files", async (request, reply) => {
    const user = context.user(request);
    const { files } = parseProjectFiles(request.body);
    // A file over the limit is refused before anything is hashed or stored.
    checkProjectFiles(
      [],
      files.map((file) => ({ name: file.name, bytes: Buffer.byteLength(file.text, "utf8") })),
    );
    const added = await projects.addFiles(user.id, request.params.id, files, checkProjectFiles);
    if (!added) throw notFound("Project", request.params.id);
    return reply.code(201).send({ data: added });
  });

  app.delete<WithFile>("/projects/:id/files/:fileId", async (request) => {
    const user = context.user(request);
    if (!(await projects.removeFile(user.id, request.params.id, request.params.fileId))) {
      throw notFound("File", request.params.fileId);
    }
    return { ok: true };
  });

  app.get("/instructions", async (request) => {
    const user = context.user(request);
    return projects.instructions(user.id);
  });

  app.put("/instructions", async (request) => {
    const user = context.user(request);
    return projects.setInstructions(user.id, parseCustomInstructions(request.body));
  });
}
