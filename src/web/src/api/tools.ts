// The turn's tools (docs/api.md, "Tools in a turn"): whether the server can search the web, what
// the composer can attach (collections, MCP servers; a 404 means that part of the server is
// absent), and the answer to a reply waiting for a tool call's approval.
import { ApiError, json, messageStream } from "./client.ts";
import type { Collection, GenerationOptions, McpServerSummary, WebSearchStatus } from "./types.ts";

/** `fallback` when the route does not exist on this server (404), the answer otherwise. */
async function unlessMissing<T>(request: Promise<T>, fallback: T): Promise<T> {
  try {
    return await request;
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return fallback;
    throw error;
  }
}

export const toolsApi = {
  webSearch: () =>
    unlessMissing(json<WebSearchStatus>("GET", "/api/web-search"), { available: false, provider: null }),
  /** null: this server has no knowledge collections. */
  collections: () =>
    unlessMissing(
      json<{ collections: Collection[] }>("GET", "/api/collections").then((answer) => answer.collections),
      null,
    ),
  /** null: this server has no MCP servers. */
  mcpServers: () =>
    unlessMissing(
      json<{ servers: McpServerSummary[] }>("GET", "/api/mcp/servers").then((answer) => answer.servers),
      null,
    ),
  /** Approves or denies the tool calls `messageId` stopped at; the new reply streams back. */
  decide: (
    conversationId: string,
    messageId: string,
    approve: boolean,
    options: GenerationOptions,
    signal: AbortSignal,
  ) =>
    messageStream(
      `/api/conversations/${encodeURIComponent(conversationId)}/messages/${encodeURIComponent(messageId)}/approval`,
      { approve, ...options },
      signal,
    ),
};
