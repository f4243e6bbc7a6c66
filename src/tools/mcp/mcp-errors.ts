/**
 * What went wrong with an MCP server, in one sentence a model (and the person reading the thread)
 * can act on: it did not answer in time, its process exited, its command does not exist, its
 * URL refused us. The SDK's own messages ("MCP error -32001: Request timed out") say too little.
 */
import { StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js";

/** The end of the server's stderr quoted in a message. */
const STDERR_QUOTE_CHARS = 500;

export function describeMcpError(server: string, doing: string, error: unknown, stderr = ""): string {
  const said =
    stderr.trim() === "" ? "" : ` Its last output on stderr: "${stderr.trim().slice(-STDERR_QUOTE_CHARS)}"`;
  return `The MCP server "${server}" ${what(error, doing)}.${said}`;
}

function what(error: unknown, doing: string): string {
  if (error instanceof McpError) {
    const timeout = (error.data as { timeout?: unknown } | undefined)?.timeout;
    if (error.code === ErrorCode.RequestTimeout && typeof timeout === "number") {
      return `did not answer within ${Math.round(timeout / 1000)} s while ${doing}`;
    }
    if (error.code === ErrorCode.ConnectionClosed) {
      return `closed the connection while ${doing} (its process exited or its session ended)`;
    }
    return `failed while ${doing}: ${error.message}`;
  }
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === "ENOENT") return `cannot be started: its command was not found (${message})`;
  if (code === "EACCES") return `cannot be started: its command is not executable (${message})`;
  // fetch's own failure hides the reason (refused, unknown host, TLS) in its cause.
  const cause = error instanceof Error ? error.cause : undefined;
  if (message === "fetch failed" && cause instanceof Error) return `cannot be reached: ${cause.message}`;
  if (error instanceof StreamableHTTPError && typeof code === "number" && code >= 400) {
    return `answered HTTP ${code} while ${doing}: ${message.replace(/^Streamable HTTP error: /, "")}`;
  }
  return `failed while ${doing}: ${message}`;
}

/** Whether a call failed (or its wrapper's cause did) because the server did not answer in time. */
export function isTimeout(error: unknown): boolean {
  const cause = error instanceof Error && error.cause !== undefined ? error.cause : error;
  return cause instanceof McpError && cause.code === ErrorCode.RequestTimeout;
}
