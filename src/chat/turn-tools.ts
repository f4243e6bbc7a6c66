/**
 * The tools a turn offers, from the conversation's settings: `web_search` and `fetch_url` when web
 * search is on, `knowledge_search` over the attached collections, and the tools of the MCP servers
 * switched on. Knowledge and MCP come from services other parts of the server provide; each is
 * optional, and a conversation naming a collection or server that is gone (or another user's)
 * simply gets no tool for it: those services only hand out what the user may use.
 */
import { QiusuoError } from "../core/errors.js";
import type { ConversationSettings } from "../store/conversations.js";
import type { Tool } from "../tools/tool.js";
import { fetchUrlTool, SourceNumbering, webSearchTool, type WebSearchSetup } from "../tools/web/web-tools.js";

/** The knowledge service's side of a turn (src/knowledge/knowledge-service.ts). */
export interface KnowledgeTools {
  tool(userId: string, collectionIds: readonly string[]): Tool;
}

/** The MCP hub's side of a turn (src/tools/mcp/). */
export interface McpTools {
  toolsFor(serverIds: readonly string[]): Promise<Tool[]>;
}

/** Where a turn's tools come from; each absent when the server has none. */
export interface ToolSources {
  webSearch?: WebSearchSetup | undefined;
  knowledge?: KnowledgeTools | undefined;
  mcp?: McpTools | undefined;
}

/** Web search asked of a server that cannot search: a 503 (for a turn, before it starts). */
export function webSearchUnavailable(param?: string): QiusuoError {
  return new QiusuoError(
    "unavailable",
    "web_search_not_configured",
    "Web search is not available: this server has no search provider (an admin starts it with " +
      "--search-provider, or --searxng-url for SearXNG)." +
      (param ? " Switch web search off for this conversation to send." : ""),
    param ? { param } : {},
  );
}

/**
 * The tools for one turn. `question` is the user's message, quoted by the search template.
 * Throws {@link webSearchUnavailable} when web search is on with no provider.
 */
export async function turnTools(
  sources: ToolSources,
  settings: ConversationSettings,
  options: { userId: string; question?: string | undefined },
): Promise<Tool[]> {
  const numbering = new SourceNumbering();
  const tools: Tool[] = [];
  if (settings.webSearch === true) {
    if (!sources.webSearch?.provider) throw webSearchUnavailable("settings.webSearch");
    tools.push(
      webSearchTool(sources.webSearch, numbering, options.question),
      fetchUrlTool(sources.webSearch, numbering),
    );
  }
  const collectionIds = settings.collectionIds ?? [];
  if (collectionIds.length > 0 && sources.knowledge) {
    tools.push(numbered(sources.knowledge.tool(options.userId, collectionIds), numbering));
  }
  const serverIds = settings.mcpServerIds ?? [];
  if (serverIds.length > 0 && sources.mcp) {
    for (const tool of await sources.mcp.toolsFor(serverIds)) tools.push(numbered(tool, numbering));
  }
  // The first of two tools with one name wins: the model could not tell them apart.
  const names = new Set<string>();
  return tools.filter((tool) => !names.has(tool.definition.name) && names.add(tool.definition.name));
}

/** A tool whose sources are renumbered into the turn's numbering. */
function numbered(tool: Tool, numbering: SourceNumbering): Tool {
  return {
    definition: tool.definition,
    ...(tool.askFirst === undefined ? {} : { askFirst: tool.askFirst }),
    run: async (args, context) => numbering.renumber(await tool.run(args, context)),
  };
}
