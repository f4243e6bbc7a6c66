/**
 * MCP servers an admin registered (stdio or streamable HTTP) and their tools' settings (issue 11).
 * A stdio server is a command qiusuo runs on this machine, so only admins write here; the
 * environment and headers are stored as given (they often hold keys) and the routes decide who
 * sees them. The last tool list a server gave is kept, so the app can show its tools without
 * starting it.
 */
import { randomUUID } from "node:crypto";
import type { Kysely, Migration, Selectable } from "kysely";
import type { StoreDialect } from "./dialects.js";
import type { Database } from "./schema.js";
import { StoreError } from "./store-error.js";

/** How qiusuo reaches a server: a child process over stdin/stdout, or streamable HTTP. */
export type McpTransport =
  | { type: "stdio"; command: string; args: string[]; env: Record<string, string>; cwd: string | null }
  | { type: "http"; url: string; headers: Record<string, string> };

/** A tool as the server last listed it. */
export interface McpToolInfo {
  name: string;
  description: string;
  /** JSON Schema of the tool's arguments. */
  inputSchema: Record<string, unknown>;
}

export interface McpServer {
  id: string;
  /** Unique; the prefix of its tools' names as the model sees them. */
  name: string;
  description: string;
  transport: McpTransport;
  /** qiusuo never starts or calls a server that is not enabled. */
  enabled: boolean;
  /**
   * Tools whose "ask me first" an admin set, by the server's tool name. A tool not named asks
   * first: an MCP tool can act on the world (write files, send mail), so running it unasked is
   * the choice an admin makes, tool by tool.
   */
  toolSettings: Record<string, { askFirst: boolean }>;
  /** The tools it listed last time qiusuo connected; empty until then. */
  tools: McpToolInfo[];
  /** When `tools` was listed, in ms; null before the first connection. */
  toolsListedAt: number | null;
  createdAt: number;
  updatedAt: number;
}

export type NewMcpServer = Pick<McpServer, "name" | "transport"> &
  Partial<Pick<McpServer, "description" | "enabled" | "toolSettings">>;

export type McpServerChanges = Partial<
  Pick<McpServer, "name" | "description" | "transport" | "enabled" | "toolSettings">
>;

/** Whether a tool asks first: yes unless an admin switched it off. */
export function asksFirst(server: Pick<McpServer, "toolSettings">, toolName: string): boolean {
  return server.toolSettings[toolName]?.askFirst ?? true;
}

export interface McpServersTable {
  id: string;
  name: string;
  description: string;
  /** `McpTransport` as JSON. */
  transport: string;
  /** 1 or 0. */
  enabled: number;
  /** `toolSettings` as JSON. */
  tool_settings: string;
  /** `tools` as JSON. */
  tools: string;
  tools_listed_at: number | null;
  created_at: number;
  updated_at: number;
}

/** The tables this file owns, merged into `Database` (schema.ts). */
export interface McpServerTables {
  mcp_servers: McpServersTable;
}

/** Migration 0012: the MCP server registry. */
export const mcpServersMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable("mcp_servers")
      .addColumn("id", "text", (column) => column.primaryKey())
      .addColumn("name", "text", (column) => column.notNull().unique())
      .addColumn("description", "text", (column) => column.notNull().defaultTo(""))
      .addColumn("transport", "text", (column) => column.notNull())
      .addColumn("enabled", "bigint", (column) => column.notNull())
      .addColumn("tool_settings", "text", (column) => column.notNull())
      .addColumn("tools", "text", (column) => column.notNull())
      .addColumn("tools_listed_at", "bigint")
      .addColumn("created_at", "bigint", (column) => column.notNull())
      .addColumn("updated_at", "bigint", (column) => column.notNull())
      .execute();
  },
};

export class McpServerRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Pick<StoreDialect, "isUniqueViolation">,
  ) {}

  /** Registers a server; a name already taken is a `mcp_server_exists` StoreError. */
  async create(server: NewMcpServer): Promise<McpServer> {
    const now = Date.now();
    const row: McpServersTable = {
      id: randomUUID(),
      name: server.name,
      description: server.description ?? "",
      transport: JSON.stringify(server.transport),
      enabled: server.enabled === false ? 0 : 1,
      tool_settings: JSON.stringify(server.toolSettings ?? {}),
      tools: "[]",
      tools_listed_at: null,
      created_at: now,
      updated_at: now,
    };
    await this.unique(server.name, () => this.db.insertInto("mcp_servers").values(row).execute());
    return toServer(row);
  }

  /** Every server, by name. */
  async list(): Promise<McpServer[]> {
    const rows = await this.db.selectFrom("mcp_servers").selectAll().orderBy("name").orderBy("id").execute();
    return rows.map(toServer);
  }

  async get(id: string): Promise<McpServer | undefined> {
    const row = await this.db.selectFrom("mcp_servers").selectAll().where("id", "=", id).executeTakeFirst();
    return row && toServer(row);
  }

  /** Changes a server; undefined when there is none. */
  async update(id: string, changes: McpServerChanges): Promise<McpServer | undefined> {
    const current = await this.get(id);
    if (!current) return undefined;
    const updated: McpServer = { ...current, ...changes, updatedAt: Date.now() };
    await this.unique(updated.name, () =>
      this.db
        .updateTable("mcp_servers")
        .set({
          name: updated.name,
          description: updated.description,
          transport: JSON.stringify(updated.transport),
          enabled: updated.enabled ? 1 : 0,
          tool_settings: JSON.stringify(updated.toolSettings),
          updated_at: updated.updatedAt,
        })
        .where("id", "=", id)
        .execute(),
    );
    return updated;
  }

  /** Keeps the tool list a server just gave. */
  async recordTools(id: string, tools: readonly McpToolInfo[]): Promise<void> {
    await this.db
      .updateTable("mcp_servers")
      .set({ tools: JSON.stringify(tools), tools_listed_at: Date.now() })
      .where("id", "=", id)
      .execute();
  }

  async delete(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom("mcp_servers").where("id", "=", id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  private async unique(name: string, write: () => Promise<unknown>): Promise<void> {
    try {
      await write();
    } catch (error) {
      if (this.dialect.isUniqueViolation(error)) {
        throw new StoreError("mcp_server_exists", `An MCP server named "${name}" already exists.`, {
          cause: error,
        });
      }
      throw error;
    }
  }
}

function toServer(row: Selectable<McpServersTable>): McpServer {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    transport: JSON.parse(row.transport) as McpTransport,
    enabled: Number(row.enabled) === 1,
    toolSettings: JSON.parse(row.tool_settings) as McpServer["toolSettings"],
    tools: JSON.parse(row.tools) as McpToolInfo[],
    toolsListedAt: row.tools_listed_at === null ? null : Number(row.tools_listed_at),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}
