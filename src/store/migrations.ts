/**
 * Versioned migrations, defined in code so the build needs no files beside it. Kysely's Migrator
 * records each one it applies (and locks while it does), so running them at every open is safe,
 * also from several instances sharing one PostgreSQL. Never edit a migration once released; add one.
 */
import { sql, type Kysely, type Migration, type MigrationProvider } from "kysely";
import { collectionsMigration } from "./collections.js";
import { mcpServersMigration } from "./mcp-servers.js";
import type { StoreDialect } from "./dialects.js";

const initial: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable("users")
      .addColumn("id", "text", (column) => column.primaryKey())
      .addColumn("name", "text", (column) => column.notNull().unique())
      .addColumn("role", "text", (column) => column.notNull().check(sqlIn("role", ["admin", "user"])))
      .addColumn("password_hash", "text")
      .addColumn("disabled_at", "bigint")
      .addColumn("created_at", "bigint", (column) => column.notNull())
      .execute();

    await db.schema
      .createTable("sessions")
      .addColumn("id", "text", (column) => column.primaryKey())
      .addColumn("user_id", "text", (column) => column.notNull().references("users.id").onDelete("cascade"))
      .addColumn("created_at", "bigint", (column) => column.notNull())
      .addColumn("expires_at", "bigint", (column) => column.notNull())
      .addColumn("last_seen_at", "bigint", (column) => column.notNull())
      .execute();
    await db.schema.createIndex("sessions_user_id").on("sessions").column("user_id").execute();

    await db.schema
      .createTable("api_keys")
      .addColumn("id", "text", (column) => column.primaryKey())
      .addColumn("user_id", "text", (column) => column.notNull().references("users.id").onDelete("cascade"))
      .addColumn("name", "text", (column) => column.notNull())
      .addColumn("key_hash", "text", (column) => column.notNull().unique())
      .addColumn("prefix", "text", (column) => column.notNull())
      .addColumn("rpm", "bigint")
      .addColumn("tpm", "bigint")
      .addColumn("max_concurrent", "bigint")
      .addColumn("quota_tokens", "bigint")
      .addColumn("quota_requests", "bigint")
      .addColumn("used_tokens", "bigint", (column) => column.notNull().defaultTo(0))
      .addColumn("used_requests", "bigint", (column) => column.notNull().defaultTo(0))
      .addColumn("revoked_at", "bigint")
      .addColumn("created_at", "bigint", (column) => column.notNull())
      .execute();
    await db.schema.createIndex("api_keys_user_id").on("api_keys").column("user_id").execute();

    await db.schema
      .createTable("usage")
      .addColumn("id", "text", (column) => column.primaryKey())
      .addColumn("user_id", "text", (column) => column.notNull().references("users.id").onDelete("cascade"))
      .addColumn("api_key_id", "text", (column) => column.references("api_keys.id").onDelete("set null"))
      .addColumn("model", "text", (column) => column.notNull())
      .addColumn("prompt_tokens", "bigint", (column) => column.notNull())
      .addColumn("prompt_cache_hit_tokens", "bigint", (column) => column.notNull())
      .addColumn("prompt_cache_miss_tokens", "bigint", (column) => column.notNull())
      .addColumn("completion_tokens", "bigint", (column) => column.notNull())
      .addColumn("reasoning_tokens", "bigint", (column) => column.notNull())
      .addColumn("latency_ms", "bigint", (column) => column.notNull())
      .addColumn("status", "text", (column) => column.notNull())
      .addColumn("created_at", "bigint", (column) => column.notNull())
      .execute();
    await db.schema
      .createIndex("usage_user_id_created_at")
      .on("usage")
      .columns(["user_id", "created_at"])
      .execute();
    await db.schema.createIndex("usage_api_key_id").on("usage").column("api_key_id").execute();

    await db.schema
      .createTable("conversations")
      .addColumn("id", "text", (column) => column.primaryKey())
      .addColumn("user_id", "text", (column) => column.notNull().references("users.id").onDelete("cascade"))
      .addColumn("title", "text", (column) => column.notNull())
      .addColumn("created_at", "bigint", (column) => column.notNull())
      .addColumn("updated_at", "bigint", (column) => column.notNull())
      .execute();
    await db.schema
      .createIndex("conversations_user_id_updated_at")
      .on("conversations")
      .columns(["user_id", "updated_at"])
      .execute();

    await db.schema
      .createTable("messages")
      .addColumn("id", "text", (column) => column.primaryKey())
      .addColumn("conversation_id", "text", (column) =>
        column.notNull().references("conversations.id").onDelete("cascade"),
      )
      .addColumn("parent_id", "text", (column) => column.references("messages.id").onDelete("cascade"))
      .addColumn("role", "text", (column) =>
        column.notNull().check(sqlIn("role", ["system", "user", "assistant", "tool"])),
      )
      .addColumn("content", "text", (column) => column.notNull())
      .addColumn("reasoning", "text")
      .addColumn("tool_calls", "text")
      .addColumn("model", "text")
      .addColumn("settings", "text")
      .addColumn("usage", "text")
      .addColumn("provenance", "text")
      .addColumn("status", "text", (column) =>
        column.notNull().check(sqlIn("status", ["complete", "streaming", "interrupted"])),
      )
      .addColumn("created_at", "bigint", (column) => column.notNull())
      .execute();
    await db.schema
      .createIndex("messages_conversation_id_created_at")
      .on("messages")
      .columns(["conversation_id", "created_at"])
      .execute();
    await db.schema.createIndex("messages_parent_id").on("messages").column("parent_id").execute();
  },
};

/**
 * Admissions of keyed requests, so rate and concurrency limits hold across every instance sharing
 * the database: a row when a request is admitted, finished (with its tokens) when it ends.
 */
const keyRequests: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable("key_requests")
      .addColumn("id", "text", (column) => column.primaryKey())
      .addColumn("api_key_id", "text", (column) =>
        column.notNull().references("api_keys.id").onDelete("cascade"),
      )
      .addColumn("started_at", "bigint", (column) => column.notNull())
      .addColumn("finished_at", "bigint")
      .addColumn("tokens", "bigint", (column) => column.notNull().defaultTo(0))
      .execute();
    await db.schema
      .createIndex("key_requests_api_key_id_started_at")
      .on("key_requests")
      .columns(["api_key_id", "started_at"])
      .execute();
  },
};

/**
 * Conversations get their settings and the leaf of the branch shown; both tables get the
 * normalised text search looks in (search-text.ts), indexed the dialect's way. Rows already there
 * (none in any release before this one) are indexed with empty terms.
 */
const conversations = (dialect: Pick<StoreDialect, "createSearchIndex">): Migration => ({
  async up(db: Kysely<unknown>) {
    await db.schema
      .alterTable("conversations")
      .addColumn("settings", "text", (column) => column.notNull().defaultTo("{}"))
      .execute();
    await db.schema.alterTable("conversations").addColumn("current_leaf_id", "text").execute();
    await db.schema
      .alterTable("conversations")
      .addColumn("search_terms", "text", (column) => column.notNull().defaultTo(""))
      .execute();
    await db.schema
      .alterTable("messages")
      .addColumn("search_terms", "text", (column) => column.notNull().defaultTo(""))
      .execute();
    // markInterrupted looks for the rows left streaming.
    await db.schema.createIndex("messages_status").on("messages").column("status").execute();
    await dialect.createSearchIndex(db, "conversations");
    await dialect.createSearchIndex(db, "messages");
  },
});

/** `column IN ('a', 'b')` for a CHECK constraint; the values are constants written here. */
function sqlIn(column: string, values: readonly string[]) {
  return sql.raw(`${column} in (${values.map((value) => `'${value}'`).join(", ")})`);
}

/**
 * Which server instance writes each streaming reply, and the instances themselves, so an instance
 * that starts marks as interrupted only the replies of instances that are gone.
 */
const replyOwners: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable("instances")
      .addColumn("id", "text", (column) => column.primaryKey())
      .addColumn("hostname", "text", (column) => column.notNull())
      .addColumn("pid", "bigint", (column) => column.notNull())
      .addColumn("started_at", "bigint", (column) => column.notNull())
      .addColumn("last_seen_at", "bigint", (column) => column.notNull())
      .execute();
    await db.schema.alterTable("messages").addColumn("stream_owner", "text").execute();
  },
};

/**
 * Search orders and limits in the database: the search index is read as stored (no per-row
 * rebuild), and messages are indexed newest-first, so a query for a common term walks the newest
 * messages and stops after a page of hits instead of sorting every hit.
 */
const searchOrder = (dialect: MigrationDialect): Migration => ({
  async up(db: Kysely<unknown>) {
    await dialect.storeSearchIndex(db, "conversations");
    await dialect.storeSearchIndex(db, "messages");
    await db.schema
      .createIndex("messages_created_at_id")
      .on("messages")
      .columns(["created_at", "id"])
      .execute();
  },
});

/**
 * Password login attempts per client address, so the login throttle holds across every instance
 * sharing the database (login-attempts.ts).
 */
const loginAttempts: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable("login_attempts")
      .addColumn("id", "text", (column) => column.primaryKey())
      .addColumn("address", "text", (column) => column.notNull())
      .addColumn("name_hash", "text")
      .addColumn("attempted_at", "bigint", (column) => column.notNull())
      .execute();
    await db.schema
      .createIndex("login_attempts_address_name_hash_attempted_at")
      .on("login_attempts")
      .columns(["address", "name_hash", "attempted_at"])
      .execute();
    await db.schema
      .createIndex("login_attempts_address_attempted_at")
      .on("login_attempts")
      .columns(["address", "attempted_at"])
      .execute();
    await db.schema
      .createIndex("login_attempts_attempted_at")
      .on("login_attempts")
      .column("attempted_at")
      .execute();
    await db.schema
      .createTable("login_addresses")
      .addColumn("address", "text", (column) => column.primaryKey())
      .addColumn("last_attempt_at", "bigint", (column) => column.notNull())
      .execute();
    await db.schema
      .createIndex("login_addresses_last_attempt_at")
      .on("login_addresses")
      .column("last_attempt_at")
      .execute();
  },
};

/**
 * Where each ledger row's token counts come from (the engine's tokenizer, an upstream's reported
 * usage, or an estimate when an upstream sent none) and which upstream pool answered.
 */
const usageSource: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .alterTable("usage")
      .addColumn("usage_source", "text", (column) => column.notNull().defaultTo("engine"))
      .execute();
    await db.schema.alterTable("usage").addColumn("upstream", "text").execute();
  },
};

/**
 * Stored Responses API replies, per principal (an API key, or a user without one), kept until
 * `expires_at` (store/responses.ts).
 */
const responses: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable("responses")
      .addColumn("id", "text", (column) => column.primaryKey())
      .addColumn("user_id", "text", (column) => column.notNull().references("users.id").onDelete("cascade"))
      .addColumn("api_key_id", "text", (column) => column.references("api_keys.id").onDelete("cascade"))
      .addColumn("response", "text", (column) => column.notNull())
      .addColumn("input_items", "text", (column) => column.notNull())
      .addColumn("created_at", "bigint", (column) => column.notNull())
      .addColumn("expires_at", "bigint", (column) => column.notNull())
      .execute();
    await db.schema.createIndex("responses_expires_at").on("responses").column("expires_at").execute();
  },
};

/**
 * Projects (folders of conversations with their own instructions and files), pinned
 * conversations, and each user's custom instructions. Deleting a project sets its conversations'
 * `project_id` to null, so a chat is lost only when its owner asks for it (projects.ts).
 */
const projects: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable("projects")
      .addColumn("id", "text", (column) => column.primaryKey())
      .addColumn("user_id", "text", (column) => column.notNull().references("users.id").onDelete("cascade"))
      .addColumn("name", "text", (column) => column.notNull())
      .addColumn("instructions", "text", (column) => column.notNull().defaultTo(""))
      .addColumn("created_at", "bigint", (column) => column.notNull())
      .addColumn("updated_at", "bigint", (column) => column.notNull())
      .execute();
    await db.schema.createIndex("projects_user_id").on("projects").column("user_id").execute();
    await db.schema
      .createTable("project_files")
      .addColumn("id", "text", (column) => column.primaryKey())
      .addColumn("project_id", "text", (column) =>
        column.notNull().references("projects.id").onDelete("cascade"),
      )
      .addColumn("name", "text", (column) => column.notNull())
      .addColumn("text", "text", (column) => column.notNull())
      .addColumn("sha256", "text", (column) => column.notNull())
      .addColumn("bytes", "bigint", (column) => column.notNull())
      .addColumn("created_at", "bigint", (column) => column.notNull())
      .execute();
    await db.schema
      .createIndex("project_files_project_id")
      .on("project_files")
      .column("project_id")
      .execute();
    await db.schema
      .alterTable("conversations")
      .addColumn("project_id", "text", (column) => column.references("projects.id").onDelete("set null"))
      .execute();
    await db.schema.alterTable("conversations").addColumn("pinned_at", "bigint").execute();
    await db.schema
      .createIndex("conversations_project_id")
      .on("conversations")
      .column("project_id")
      .execute();
    // The list walks a user's pinned conversations apart from the rest.
    await db.schema
      .createIndex("conversations_user_id_pinned_at")
      .on("conversations")
      .columns(["user_id", "pinned_at"])
      .execute();
    await db.schema
      .createTable("user_instructions")
      .addColumn("user_id", "text", (column) =>
        column.primaryKey().references("users.id").onDelete("cascade"),
      )
      .addColumn("about_user", "text", (column) => column.notNull())
      .addColumn("response_style", "text", (column) => column.notNull())
      .addColumn("enabled", "bigint", (column) => column.notNull())
      .addColumn("updated_at", "bigint", (column) => column.notNull())
      .execute();
  },
};

/**
 * Share links (shares.ts): a snapshot of a branch at an unguessable token. A conversation's links
 * go with it, and a user's with the user.
 */
const shares: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable("shares")
      .addColumn("token", "text", (column) => column.primaryKey())
      .addColumn("user_id", "text", (column) => column.notNull().references("users.id").onDelete("cascade"))
      .addColumn("conversation_id", "text", (column) =>
        column.notNull().references("conversations.id").onDelete("cascade"),
      )
      .addColumn("message_id", "text", (column) => column.notNull())
      .addColumn("title", "text", (column) => column.notNull())
      .addColumn("author_name", "text")
      .addColumn("messages", "text", (column) => column.notNull())
      .addColumn("message_count", "bigint", (column) => column.notNull())
      .addColumn("created_at", "bigint", (column) => column.notNull())
      .execute();
    await db.schema
      .createIndex("shares_user_id_created_at")
      .on("shares")
      .columns(["user_id", "created_at"])
      .execute();
    await db.schema.createIndex("shares_conversation_id").on("shares").column("conversation_id").execute();
  },
};

/** What the migrations ask of the dialect: DDL that differs between engines. */
type MigrationDialect = Pick<StoreDialect, "kind" | "createSearchIndex" | "storeSearchIndex">;

/** Every migration, by name; names sort in the order they apply. Some build DDL the dialect's way. */
export function migrations(dialect: MigrationDialect): Record<string, Migration> {
  return {
    "0001-initial": initial,
    "0002-key-requests": keyRequests,
    "0003-conversations": conversations(dialect),
    "0004-reply-owners": replyOwners,
    "0005-search-order": searchOrder(dialect),
    "0006-login-attempts": loginAttempts,
    "0007-usage-source": usageSource,
    "0008-responses": responses,
    "0009-shares": shares,
    "0010-projects": projects,
    "0011-collections": collectionsMigration(dialect),
    "0012-mcp-servers": mcpServersMigration,
  };
}

export class InCodeMigrationProvider implements MigrationProvider {
  constructor(private readonly dialect: MigrationDialect) {}

  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations(this.dialect);
  }
}
