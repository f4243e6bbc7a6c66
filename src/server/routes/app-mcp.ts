import type { FastifyInstance } from "fastify";
import { QiusuoError } from "../../core/errors.js";
import {
  adminMcpServerView,
  parseMcpServerChanges,
  parseNewMcpServer,
  userMcpServerView,
} from "../../protocol/app/mcp.js";
import type { McpHub } from "../../tools/mcp/mcp-hub.js";
import { requireAdmin, type AppApiContext } from "./app-api.js";

type WithId = { Params: { id: string } };

/**
 * MCP servers: admins register, change, test and delete them (a stdio server is a command run on
 * this machine, so no one else may); every signed-in user lists the enabled ones and their tools,
 * never how they are reached.
 */
export function registerMcpRoutes(app: FastifyInstance, context: AppApiContext): void {
  const servers = context.store.mcpServers;
  const hub = (): McpHub => {
    if (!context.mcp)
      throw new QiusuoError("unavailable", "mcp_unavailable", "MCP tools are off on this server.");
    return context.mcp;
  };
  const serverOrNotFound = async (id: string) => {
    const server = await servers.get(id);
    if (!server) throw serverNotFound(id);
    return server;
  };

  app.get("/mcp/servers", async (request) => {
    context.user(request);
    const enabled = (await servers.list()).filter((server) => server.enabled);
    return { servers: enabled.map(userMcpServerView) };
  });

  app.get("/admin/mcp-servers", async (request) => {
    requireAdmin(context.user(request));
    return { servers: (await servers.list()).map(adminMcpServerView) };
  });

  app.post("/admin/mcp-servers", async (request, reply) => {
    requireAdmin(context.user(request));
    const server = parseNewMcpServer(request.body);
    const created = await servers.create({
      name: server.name,
      transport: server.transport,
      ...(server.description === undefined ? {} : { description: server.description }),
      ...(server.enabled === undefined ? {} : { enabled: server.enabled }),
      ...(server.toolSettings === undefined ? {} : { toolSettings: server.toolSettings }),
    });
    return reply.code(201).send(adminMcpServerView(created));
  });

  app.patch<WithId>("/admin/mcp-servers/:id", async (request) => {
    requireAdmin(context.user(request));
    const current = await serverOrNotFound(request.params.id);
    const changes = parseMcpServerChanges(request.body, current.transport);
    const updated = await servers.update(current.id, {
      ...(changes.name === undefined ? {} : { name: changes.name }),
      ...(changes.description === undefined ? {} : { description: changes.description }),
      ...(changes.transport === undefined ? {} : { transport: changes.transport }),
      ...(changes.enabled === undefined ? {} : { enabled: changes.enabled }),
      ...(changes.toolSettings === undefined ? {} : { toolSettings: changes.toolSettings }),
    });
    if (!updated) throw serverNotFound(request.params.id);
    // A running server keeps its old command or URL until it is started again.
    if (changes.transport !== undefined || changes.name !== undefined || changes.enabled === false) {
      await context.mcp?.forget(updated.id);
    }
    return adminMcpServerView(updated);
  });

  app.delete<WithId>("/admin/mcp-servers/:id", async (request, reply) => {
    requireAdmin(context.user(request));
    if (!(await servers.delete(request.params.id))) throw serverNotFound(request.params.id);
    await context.mcp?.forget(request.params.id);
    return reply.code(204).send();
  });

  app.post<WithId>("/admin/mcp-servers/:id/test", async (request) => {
    requireAdmin(context.user(request));
    const server = await serverOrNotFound(request.params.id);
    const result = await hub().test(server);
    const tested = (await servers.get(server.id)) ?? server;
    return result.ok
      ? { ok: true, server: adminMcpServerView(tested) }
      : { ok: false, error: result.error, server: adminMcpServerView(tested) };
  });
}

function serverNotFound(id: string): QiusuoError {
  return new QiusuoError("not_found", "mcp_server_not_found", `MCP server '${id}' does not exist.`);
}
