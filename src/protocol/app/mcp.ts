/**
 * The MCP server registry in the chat app's API (`/api/admin/mcp-servers`, `/api/mcp/servers`,
 * see docs/api.md): request bodies and the shapes admins and users see. Admins see a server's
 * command, arguments and URL, and the names of its environment variables and headers with their
 * values masked: they often hold keys, and showing them once (when typed) is enough.
 */
import { z } from "zod";
import { asksFirst, type McpServer, type McpTransport } from "../../store/mcp-servers.js";
import { optional, parseWith } from "../validation.js";

/** What a secret's value reads as in an admin's view; sent back unchanged, it keeps the stored value. */
export const MASKED_VALUE = "********";

export const MCP_LIMITS = {
  /** A server's name: the prefix of its tools' names (`<server>__<tool>`, 64 characters at most). */
  nameChars: 32,
  descriptionChars: 500,
  commandChars: 1_000,
  args: 100,
  argChars: 4_000,
  /** Environment variables or headers. */
  entries: 50,
  valueChars: 8_000,
  urlChars: 2_000,
  /** Tools with a setting. */
  toolSettings: 1_000,
} as const;

const name = z
  .string()
  .trim()
  .regex(/^[a-zA-Z0-9_-]+$/, "use letters, digits, _ and - only")
  .max(MCP_LIMITS.nameChars);
const value = z.string().max(MCP_LIMITS.valueChars);
const entries = (key: z.ZodString) =>
  z.record(key, value).refine((record) => Object.keys(record).length <= MCP_LIMITS.entries, {
    message: `at most ${MCP_LIMITS.entries} entries`,
  });

const stdio = z
  .object({
    type: z.literal("stdio"),
    command: z.string().trim().min(1).max(MCP_LIMITS.commandChars),
    args: z.array(z.string().max(MCP_LIMITS.argChars)).max(MCP_LIMITS.args).default([]),
    env: entries(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "an environment variable's name")).default({}),
    cwd: optional(z.string().min(1).max(MCP_LIMITS.commandChars)),
  })
  .strict();
const http = z
  .object({
    type: z.literal("http"),
    url: z
      .string()
      .max(MCP_LIMITS.urlChars)
      .url()
      .refine((url) => /^https?:\/\//i.test(url), { message: "use an http:// or https:// URL" }),
    headers: entries(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, "a header's name"))
      .refine((headers) => Object.values(headers).every((text) => !/[\r\n\0]/.test(text)), {
        message: "a header's value cannot hold line breaks",
      })
      .default({}),
  })
  .strict();
const transport = z.discriminatedUnion("type", [stdio, http]);
const toolSettings = z
  .record(z.string().min(1).max(128), z.object({ askFirst: z.boolean() }).strict())
  .refine((settings) => Object.keys(settings).length <= MCP_LIMITS.toolSettings, {
    message: `at most ${MCP_LIMITS.toolSettings} tools`,
  });

const fields = {
  name,
  description: optional(z.string().max(MCP_LIMITS.descriptionChars)),
  transport,
  enabled: optional(z.boolean()),
  toolSettings: optional(toolSettings),
};

type ParsedTransport = z.infer<typeof transport>;

/** A server to register. */
export const parseNewMcpServer = (body: unknown) => {
  const parsed = parseWith(z.object(fields).strict(), body);
  return { ...parsed, transport: toTransport(parsed.transport) };
};

/** A change to a server: any of its fields; `transport` is replaced whole (masked values kept). */
export const parseMcpServerChanges = (body: unknown, current: McpTransport) => {
  const parsed = parseWith(
    z
      .object({ ...fields, name: optional(name), transport: optional(transport) })
      .strict()
      .refine((changes) => Object.values(changes).some((field) => field !== undefined), {
        message: "give at least one field to change",
      }),
    body ?? {},
  );
  return {
    ...parsed,
    transport: parsed.transport === undefined ? undefined : unmask(toTransport(parsed.transport), current),
  };
};

function toTransport(parsed: ParsedTransport): McpTransport {
  return parsed.type === "stdio"
    ? { type: "stdio", command: parsed.command, args: parsed.args, env: parsed.env, cwd: parsed.cwd ?? null }
    : { type: "http", url: parsed.url, headers: parsed.headers };
}

/** A changed transport with each masked value put back as stored (by name, same kind of transport). */
function unmask(next: McpTransport, current: McpTransport): McpTransport {
  const keep = (values: Record<string, string>, stored: Record<string, string>) =>
    Object.fromEntries(
      Object.entries(values).map(([key, text]) => [key, text === MASKED_VALUE ? (stored[key] ?? "") : text]),
    );
  if (next.type === "stdio")
    return { ...next, env: keep(next.env, current.type === "stdio" ? current.env : {}) };
  return { ...next, headers: keep(next.headers, current.type === "http" ? current.headers : {}) };
}

/** A server as an admin sees it: everything but its secrets' values. */
export function adminMcpServerView(server: McpServer) {
  const mask = (values: Record<string, string>) =>
    Object.fromEntries(Object.keys(values).map((key) => [key, MASKED_VALUE]));
  const transport =
    server.transport.type === "stdio"
      ? { ...server.transport, env: mask(server.transport.env) }
      : { ...server.transport, headers: mask(server.transport.headers) };
  return {
    id: server.id,
    name: server.name,
    description: server.description,
    transport,
    enabled: server.enabled,
    tools: server.tools.map((tool) => ({
      name: tool.name,
      description: tool.description,
      askFirst: asksFirst(server, tool.name),
    })),
    toolSettings: server.toolSettings,
    toolsListedAt: server.toolsListedAt,
    createdAt: server.createdAt,
    updatedAt: server.updatedAt,
  };
}

/** A server as every signed-in user sees it: what it offers, never how it is reached. */
export function userMcpServerView(server: McpServer) {
  const { id, name, description, tools } = adminMcpServerView(server);
  return { id, name, description, tools };
}
