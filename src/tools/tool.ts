/**
 * A tool qiusuo itself runs in an app turn (web search, fetching a page, searching a knowledge
 * base, an MCP server's tool). The turn offers each tool's definition to the model, runs the
 * calls the model makes, and gives the results back to it. The API side never runs tools: there
 * they are the client's (`/v1/chat/completions` stays OpenAI-exact).
 */
import type { ToolDefinition } from "../core/chat.js";

export interface Tool {
  /** Name, description and JSON-Schema parameters, exactly as the model is offered them. */
  definition: ToolDefinition;
  /**
   * "Ask me first": when the model calls this tool the turn runs nothing, reports that approval is
   * needed and ends. Default false.
   */
  askFirst?: boolean;
  /**
   * Runs one call. `args` is the model's arguments, parsed from JSON (the turn answers the model
   * itself when they do not parse). A throw becomes an error result the model reads; a tool
   * should still stop promptly once `context.signal` aborts.
   */
  run(args: unknown, context: ToolContext): Promise<ToolResult>;
}

/** What a tool call runs for. */
export interface ToolContext {
  userId: string;
  conversationId: string;
  /** Aborts when the user stops the turn (or goes away) and when the turn's deadline passes. */
  signal: AbortSignal;
  /** When the turn's time is up, in ms since the epoch; a tool can size its own waits to it. */
  deadline: number;
}

/** What a tool call gave back. */
export interface ToolResult {
  /** The text the model reads as the tool's answer. */
  content: string;
  /** Whether the call failed; the model is told so and can try something else. */
  isError: boolean;
  /** Passages the answer may cite, numbered for `[citation:N]`. */
  sources?: Source[];
}

/** A passage a reply can cite, as DeepSeek's search templates number them. */
export interface Source {
  /** N of `[citation:N]`. */
  index: number;
  title: string;
  /** A web page's address; absent for a file. */
  url?: string;
  /** A knowledge-base file's name or id; absent for a web page. */
  file?: string;
  /** The text the model was given. */
  passage: string;
}
