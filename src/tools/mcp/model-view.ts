/**
 * An MCP server's tools as a model is offered them: named `<server>__<tool>` in the characters
 * and length a model's tool names allow, with descriptions and schemas of a bounded size (a
 * server is trusted to run, not to fill the prompt), and their results as bounded text.
 */
import { createHash } from "node:crypto";
import type { CallToolResult, Tool as SdkTool } from "@modelcontextprotocol/sdk/types.js";
import type { McpToolInfo } from "../../store/mcp-servers.js";

/** Characters of a tool's description kept. */
export const MAX_DESCRIPTION_CHARS = 2_000;
/** Characters of a tool's input schema (as JSON) kept; a larger one is replaced by `{type: object}`. */
export const MAX_SCHEMA_CHARS = 16_000;
/** Characters of a tool's result the model reads. */
export const MAX_RESULT_CHARS = 100_000;
const MAX_NAME_CHARS = 64;

/** A listed tool with its description and schema cut to size. */
export function boundedTool(tool: SdkTool): McpToolInfo {
  const schema = JSON.stringify(tool.inputSchema);
  return {
    name: tool.name,
    description: (tool.description ?? "").slice(0, MAX_DESCRIPTION_CHARS),
    inputSchema:
      schema.length <= MAX_SCHEMA_CHARS
        ? (tool.inputSchema as Record<string, unknown>)
        : { type: "object", description: "The server's schema was too large to pass on." },
  };
}

/**
 * The model's name for each of a server's tools: `<server>__<tool>` with every character outside
 * `[a-zA-Z0-9_-]` made `_`. A name that had to change, or that would be too long, ends in a
 * short hash of the original, so two tools never share a name.
 */
export function modelToolNames(server: string, tools: readonly string[]): Map<string, string> {
  const names = new Map<string, string>();
  const used = new Set<string>();
  for (const tool of tools) {
    const plain = `${server}__${tool}`;
    let name = plain.replace(/[^a-zA-Z0-9_-]/g, "_");
    if (name !== plain || name.length > MAX_NAME_CHARS || used.has(name)) {
      const hash = createHash("sha256").update(tool).digest("hex").slice(0, 8);
      name = `${name.slice(0, MAX_NAME_CHARS - hash.length - 1)}_${hash}`;
    }
    used.add(name);
    names.set(name, tool);
  }
  return names;
}

/**
 * A tool's result as the text the model reads: text parts as they are, other parts described
 * (an image's type and size, a resource's address), structured content as JSON when there is
 * nothing else; cut at {@link MAX_RESULT_CHARS}.
 */
export function resultText(result: CallToolResult): string {
  const parts = (result.content ?? []).map((part) => {
    switch (part.type) {
      case "text":
        return part.text;
      case "image":
      case "audio":
        return `[${part.type}: ${part.mimeType}, ${base64Bytes(part.data)} bytes, not shown]`;
      case "resource_link":
        return `[resource: ${part.name} ${part.uri}]`;
      case "resource":
        return "text" in part.resource && typeof part.resource.text === "string"
          ? part.resource.text
          : `[resource: ${part.resource.uri}${part.resource.mimeType ? ` (${part.resource.mimeType})` : ""}, not shown]`;
      default:
        return "[content of an unknown type, not shown]";
    }
  });
  if (parts.length === 0 && result.structuredContent !== undefined) {
    parts.push(JSON.stringify(result.structuredContent));
  }
  const text = parts.join("\n");
  if (text.length <= MAX_RESULT_CHARS) return text;
  return `${text.slice(0, MAX_RESULT_CHARS)}\n[… ${text.length - MAX_RESULT_CHARS} more characters cut]`;
}

/** The size of base64 data once decoded, without decoding it. */
function base64Bytes(data: string): number {
  const padding = data.endsWith("==") ? 2 : data.endsWith("=") ? 1 : 0;
  return Math.floor((data.length * 3) / 4) - padding;
}
