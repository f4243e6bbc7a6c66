/**
 * One live connection to an MCP server with the SDK's client: a child process over stdio or a
 * streamable HTTP session. It lists the server's tools and calls them with a time limit; when the
 * server goes away (the process exits, the session ends) it says so through `onClosed`, and the
 * hub connects again on the next call.
 */
import { existsSync } from "node:fs";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ToolListChangedNotificationSchema, type CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { McpServer, McpToolInfo } from "../../store/mcp-servers.js";
import { describeMcpError } from "./mcp-errors.js";
import { boundedTool } from "./model-view.js";

/** Pages of `tools/list` read at most: a server listing more than this is cut off. */
const MAX_TOOL_PAGES = 20;
/** The end of a stdio server's stderr kept for error messages. */
const STDERR_TAIL_CHARS = 2_000;
/** How long closing an HTTP session may take before the connection is dropped anyway. */
const TERMINATE_TIMEOUT_MS = 2_000;

export interface ConnectOptions {
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

export class McpConnection {
  /** Set when the tool list may be out of date (the server said its tools changed). */
  toolsChanged = false;
  private closed = false;
  private stderrTail = "";

  private constructor(
    readonly server: McpServer,
    private readonly client: Client,
    private readonly transport: StdioClientTransport | StreamableHTTPClientTransport,
  ) {}

  /**
   * Starts the server (stdio) or opens a session (HTTP) and runs MCP's handshake. Throws an
   * Error whose message says what went wrong; nothing is left running when it throws.
   */
  static async open(
    server: McpServer,
    options: ConnectOptions & { onClosed: (connection: McpConnection) => void },
  ): Promise<McpConnection> {
    const client = new Client({ name: "qiusuo", version: "1" });
    const transport =
      server.transport.type === "stdio"
        ? new StdioClientTransport({
            command: server.transport.command,
            args: server.transport.args,
            env: server.transport.env,
            ...(server.transport.cwd === null ? {} : { cwd: server.transport.cwd }),
            stderr: "pipe",
          })
        : new StreamableHTTPClientTransport(new URL(server.transport.url), {
            requestInit: { headers: server.transport.headers },
          });
    const connection = new McpConnection(server, client, transport);
    if (transport instanceof StdioClientTransport) {
      transport.stderr?.on("data", (chunk: Buffer) => {
        connection.stderrTail = (connection.stderrTail + chunk.toString("utf8")).slice(-STDERR_TAIL_CHARS);
      });
    }
    client.onclose = () => {
      connection.closed = true;
      options.onClosed(connection);
    };
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      connection.toolsChanged = true;
    });
    try {
      await client.connect(transport, { timeout: options.timeoutMs, signal: options.signal });
    } catch (error) {
      await connection.close();
      // Node reports a missing working directory as a missing command (spawn ... ENOENT).
      const cwd = server.transport.type === "stdio" ? server.transport.cwd : null;
      if (cwd !== null && !existsSync(cwd)) {
        throw new Error(
          `The MCP server "${server.name}" cannot be started: its working directory ${cwd} does not exist.`,
          {
            cause: error,
          },
        );
      }
      throw new Error(connection.explain(error, "connecting"), { cause: error });
    }
    return connection;
  }

  /** The stdio server's process id; null over HTTP or once it has exited. */
  get pid(): number | null {
    return this.transport instanceof StdioClientTransport ? this.transport.pid : null;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Every tool the server lists (all pages, up to a bound), with bounded descriptions and schemas. */
  async listTools(options: ConnectOptions): Promise<McpToolInfo[]> {
    const tools: McpToolInfo[] = [];
    let cursor: string | undefined;
    try {
      for (let page = 0; page < MAX_TOOL_PAGES; page++) {
        const result = await this.client.listTools(cursor === undefined ? {} : { cursor }, {
          timeout: options.timeoutMs,
          signal: options.signal,
        });
        tools.push(...result.tools.map(boundedTool));
        cursor = result.nextCursor;
        if (cursor === undefined) break;
      }
    } catch (error) {
      throw new Error(this.explain(error, "listing its tools"), { cause: error });
    }
    this.toolsChanged = false;
    return tools;
  }

  /** Calls a tool. Protocol failures throw with a message for the model; a tool's own failure is `isError`. */
  async callTool(
    name: string,
    args: Record<string, unknown>,
    options: ConnectOptions,
  ): Promise<CallToolResult> {
    try {
      return (await this.client.callTool({ name, arguments: args }, undefined, {
        timeout: options.timeoutMs,
        signal: options.signal,
      })) as CallToolResult;
    } catch (error) {
      throw new Error(this.explain(error, `running ${name}`), { cause: error });
    }
  }

  /** Ends the session and stops the server's process (stdin closed, then SIGTERM, then SIGKILL). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.transport instanceof StreamableHTTPClientTransport && this.transport.sessionId !== undefined) {
      await Promise.race([
        this.transport.terminateSession().catch(() => {}),
        new Promise((resolve) => setTimeout(resolve, TERMINATE_TIMEOUT_MS).unref()),
      ]);
    }
    await this.client.close().catch(() => {});
  }

  private explain(error: unknown, doing: string): string {
    return describeMcpError(this.server.name, doing, error, this.stderrTail);
  }
}
