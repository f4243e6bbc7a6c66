/**
 * The MCP servers an admin registered, as tools a chat turn can offer: one lazy connection per
 * enabled server, shared by every turn, opened on first use and again after the server goes away.
 * Whatever a server does wrong (it hangs, crashes, is not found, answers nonsense) becomes an
 * error result the model reads, never a hung or failed turn. Closing the hub stops every server
 * process it started.
 */
import type { McpServer, McpToolInfo } from "../../store/mcp-servers.js";
import { asksFirst } from "../../store/mcp-servers.js";
import type { Tool, ToolContext, ToolResult } from "../tool.js";
import { McpConnection } from "./mcp-connection.js";
import { isTimeout } from "./mcp-errors.js";
import { modelToolNames, resultText } from "./model-view.js";

/** Where the hub reads servers and keeps the tool lists they give (the store's `mcpServers`). */
export interface McpServerSource {
  get(id: string): Promise<McpServer | undefined>;
  recordTools(id: string, tools: readonly McpToolInfo[]): Promise<void>;
}

export interface McpHubOptions {
  /** How long one tool call may run, in ms (less when the turn's deadline is nearer). Default 60 s. */
  callTimeoutMs?: number;
  /** How long starting a server and listing its tools may take, in ms. Default 20 s. */
  connectTimeoutMs?: number;
}

/** What testing a server found: its tools, or why it could not list them. */
export type McpTestResult = { ok: true; tools: McpToolInfo[] } | { ok: false; error: string };

export class McpHub {
  private readonly connections = new Map<string, Promise<McpConnection>>();
  private readonly callTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private closed = false;

  constructor(
    private readonly servers: McpServerSource,
    options: McpHubOptions = {},
  ) {
    this.callTimeoutMs = options.callTimeoutMs ?? 60_000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 20_000;
  }

  /**
   * The tools of the given servers, for one turn. Disabled and unknown servers give none. A
   * server's tools come from the list it last gave, so a turn does not wait for servers it may
   * never call; a server never listed (or whose tools changed) is connected to and listed now,
   * and gives none if that fails.
   */
  async toolsFor(serverIds: readonly string[]): Promise<Tool[]> {
    const lists = await Promise.all(
      [...new Set(serverIds)].map(async (id) => {
        const server = await this.servers.get(id);
        if (!server?.enabled) return [];
        const tools = await this.currentTools(server).catch(() => server.tools);
        return this.asTools(server, tools);
      }),
    );
    return lists.flat();
  }

  /** Connects to a server afresh (even a disabled one: an admin asked) and lists its tools. */
  async test(server: McpServer): Promise<McpTestResult> {
    await this.forget(server.id);
    try {
      const connection = await this.connection(server);
      return { ok: true, tools: await this.list(connection) };
    } catch (error) {
      return { ok: false, error: error instanceof Error ? error.message : String(error) };
    } finally {
      if (!server.enabled) await this.forget(server.id);
    }
  }

  /** Closes a server's connection (stopping its process); the next use connects with its new settings. */
  async forget(id: string): Promise<void> {
    const pending = this.connections.get(id);
    this.connections.delete(id);
    const connection = await pending?.catch(() => undefined);
    await connection?.close();
  }

  /** The process ids of the stdio servers running now. */
  async pids(): Promise<number[]> {
    const connections = await Promise.all(
      [...this.connections.values()].map((pending) => pending.catch(() => undefined)),
    );
    return connections.flatMap((connection) => (connection?.pid == null ? [] : [connection.pid]));
  }

  /** Stops every server; the hub connects to nothing afterwards. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.connections.keys()].map((id) => this.forget(id)));
  }

  private async currentTools(server: McpServer): Promise<McpToolInfo[]> {
    const live = await this.connections.get(server.id)?.catch(() => undefined);
    if (server.toolsListedAt !== null && !live?.toolsChanged) return server.tools;
    return this.list(await this.connection(server));
  }

  private async list(connection: McpConnection): Promise<McpToolInfo[]> {
    const tools = await connection.listTools({ timeoutMs: this.connectTimeoutMs });
    await this.servers.recordTools(connection.server.id, tools);
    return tools;
  }

  /**
   * The server's live connection, opened when there is none. Calls at the same time share one
   * open: nothing is awaited between finding no connection and recording the new one.
   */
  private async connection(server: McpServer): Promise<McpConnection> {
    for (let pending = this.connections.get(server.id); pending; pending = this.connections.get(server.id)) {
      const existing = await pending.catch(() => undefined);
      if (existing && !existing.isClosed) return existing;
      if (this.connections.get(server.id) === pending) this.connections.delete(server.id);
    }
    if (this.closed)
      throw new Error(`The MCP server "${server.name}" is not available: qiusuo is shutting down.`);
    const pending = McpConnection.open(server, {
      timeoutMs: this.connectTimeoutMs,
      onClosed: (connection) => {
        pending.then(
          (opened) => {
            if (opened === connection && this.connections.get(server.id) === pending) {
              this.connections.delete(server.id);
            }
          },
          () => {},
        );
      },
    });
    this.connections.set(server.id, pending);
    pending.catch(() => {
      if (this.connections.get(server.id) === pending) this.connections.delete(server.id);
    });
    return pending;
  }

  private asTools(server: McpServer, tools: readonly McpToolInfo[]): Tool[] {
    const byName = new Map(tools.map((tool) => [tool.name, tool]));
    return [...modelToolNames(server.name, [...byName.keys()])].map(([name, original]) => {
      const tool = byName.get(original)!;
      return {
        definition: { name, description: tool.description, parameters: tool.inputSchema, strict: false },
        askFirst: asksFirst(server, original),
        run: (args, context) => this.call(server, original, args, context),
      };
    });
  }

  private async call(
    server: McpServer,
    tool: string,
    args: unknown,
    context: ToolContext,
  ): Promise<ToolResult> {
    if (typeof args !== "object" || args === null || Array.isArray(args)) {
      return { content: `The arguments for ${tool} must be a JSON object.`, isError: true };
    }
    const timeoutMs = Math.min(this.callTimeoutMs, context.deadline - Date.now());
    if (timeoutMs <= 0) return { content: "The turn has no time left to run a tool.", isError: true };
    let connection: McpConnection;
    try {
      connection = await this.connection(server);
    } catch (error) {
      return { content: (error as Error).message, isError: true };
    }
    try {
      const result = await connection.callTool(tool, args as Record<string, unknown>, {
        timeoutMs,
        signal: context.signal,
      });
      const isError = result.isError === true;
      const content = resultText(result) || (isError ? `${tool} failed without saying why.` : "(no output)");
      return { content, isError };
    } catch (error) {
      if (context.signal.aborted) return { content: `The call to ${tool} was stopped.`, isError: true };
      // A server that let a call hang may be stuck for good: the next call starts it afresh.
      if (isTimeout(error)) await this.forgetConnection(server.id, connection);
      return { content: (error as Error).message, isError: true };
    }
  }

  private async forgetConnection(id: string, connection: McpConnection): Promise<void> {
    const current = await this.connections.get(id)?.catch(() => undefined);
    if (current === connection) await this.forget(id);
  }
}
