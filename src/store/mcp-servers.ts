/**
 * MCP servers an admin registered (stdio or streamable HTTP) and their tools' settings (issue 11).
 * Placeholder: the MCP work fills it in.
 */
import type { Kysely, Migration } from "kysely";
import type { Database } from "./schema.js";

/** The tables this file owns, merged into `Database` (schema.ts). */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface McpServerTables {}

/** Migration 0012: the MCP server registry. */
export const mcpServersMigration: Migration = {
  async up(_db: Kysely<unknown>) {},
};

export class McpServerRepository {
  constructor(readonly db: Kysely<Database>) {}
}
