// MCP servers (docs/api.md, "MCP servers"): the admin registry, and the list every user may
// switch on in a conversation.
import { json, send } from "./client.ts";
import type { AdminMcpServer, McpServerSummary, McpTestResult, McpTransport } from "./types.ts";

const path = (id: string) => `/api/admin/mcp-servers/${encodeURIComponent(id)}`;

export interface NewMcpServer {
  name: string;
  description?: string;
  transport: McpTransport;
}

export const mcpApi = {
  /** The enabled servers and their tools, for the composer. */
  servers: () => json<{ servers: McpServerSummary[] }>("GET", "/api/mcp/servers"),
};

export const adminMcpApi = {
  list: () => json<{ servers: AdminMcpServer[] }>("GET", "/api/admin/mcp-servers"),
  create: (server: NewMcpServer) => json<AdminMcpServer>("POST", "/api/admin/mcp-servers", server),
  update: (id: string, changes: { enabled?: boolean; toolSettings?: AdminMcpServer["toolSettings"] }) =>
    json<AdminMcpServer>("PATCH", path(id), changes),
  test: (id: string) => json<McpTestResult>("POST", `${path(id)}/test`),
  remove: async (id: string) => {
    await send("DELETE", path(id));
  },
};
