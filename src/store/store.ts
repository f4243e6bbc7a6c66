/**
 * The store: Kysely over SQLite (one file in the data dir, the default) or PostgreSQL (when a
 * database URL is given), migrated at open, with one repository per concern.
 */
import path from "node:path";
import { Kysely, Migrator } from "kysely";
import { ApiKeyRepository } from "./api-keys.js";
import { CollectionRepository } from "./collections.js";
import { ConversationRepository } from "./conversations.js";
import { postgresDialect, sqliteDialect, type StoreDialect } from "./dialects.js";
import { InstanceRepository } from "./instances.js";
import { KeyAdmissionRepository } from "./key-admissions.js";
import { LoginAttemptRepository } from "./login-attempts.js";
import { McpServerRepository } from "./mcp-servers.js";
import { InCodeMigrationProvider } from "./migrations.js";
import { ProjectRepository } from "./projects.js";
import { ResponseRepository } from "./responses.js";
import type { Database } from "./schema.js";
import { SessionRepository } from "./sessions.js";
import { ShareRepository } from "./shares.js";
import { UsageRepository } from "./usage.js";
import { UserRepository } from "./users.js";

export interface StoreOptions {
  /** Where `qiusuo.db` lives when no `databaseUrl` is given. */
  dataDir: string;
  /** A `postgres://` URL; when set, PostgreSQL is used instead of SQLite. */
  databaseUrl?: string;
}

export interface Store {
  /** Which engine this store runs on, for logs and reports. */
  readonly kind: StoreDialect["kind"];
  readonly db: Kysely<Database>;
  readonly users: UserRepository;
  readonly apiKeys: ApiKeyRepository;
  readonly conversations: ConversationRepository;
  /** Projects and custom instructions. */
  readonly projects: ProjectRepository;
  readonly keyAdmissions: KeyAdmissionRepository;
  readonly loginAttempts: LoginAttemptRepository;
  readonly sessions: SessionRepository;
  /** Share links: read-only snapshots of conversations. */
  readonly shares: ShareRepository;
  readonly instances: InstanceRepository;
  readonly usage: UsageRepository;
  /** Stored Responses API replies (`/v1/responses`). */
  readonly responses: ResponseRepository;
  /** Knowledge collections: files, chunks and vectors (issue 11). */
  readonly collections: CollectionRepository;
  /** MCP servers an admin registered. */
  readonly mcpServers: McpServerRepository;
  /** Closes the database; the store cannot be used afterwards. */
  close(): Promise<void>;
}

/**
 * The database could not be opened or brought up to date. The message names the database and
 * says what to do, for a person at a terminal; `cause` holds the driver's own error.
 */
export class StoreOpenError extends Error {
  override readonly name = "StoreOpenError";
  /** The SQLite file's path, or PostgreSQL's host and database (never its password). */
  readonly location: string;

  constructor(location: string, cause: unknown, kind: StoreDialect["kind"]) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    const code = errorCode(cause);
    super(
      `Cannot open the database ${location}: ${reason.replace(/\.$/, "")}` +
        `${code && !reason.includes(code) ? ` (${code})` : ""}.\n` +
        advice(kind, code),
      { cause },
    );
    this.location = location;
  }
}

/** Opens the database and applies every migration not yet applied. */
export async function openStore(options: StoreOptions): Promise<Store> {
  const location = storeLocation(options);
  const kind = options.databaseUrl ? "postgres" : "sqlite";
  let dialect: StoreDialect;
  try {
    dialect = options.databaseUrl ? postgresDialect(options.databaseUrl) : sqliteDialect(options.dataDir);
  } catch (error) {
    throw new StoreOpenError(location, error, kind);
  }
  const db = new Kysely<Database>({ dialect: dialect.dialect, plugins: dialect.plugins });
  try {
    await migrate(db, dialect);
  } catch (error) {
    await db.destroy().catch(() => {});
    throw new StoreOpenError(location, error, kind);
  }
  return {
    kind: dialect.kind,
    db,
    users: new UserRepository(db, dialect),
    apiKeys: new ApiKeyRepository(db),
    conversations: new ConversationRepository(db, dialect),
    projects: new ProjectRepository(db),
    keyAdmissions: new KeyAdmissionRepository(db),
    loginAttempts: new LoginAttemptRepository(db),
    sessions: new SessionRepository(db),
    shares: new ShareRepository(db),
    instances: new InstanceRepository(db),
    usage: new UsageRepository(db, dialect),
    responses: new ResponseRepository(db),
    collections: new CollectionRepository(db, dialect),
    mcpServers: new McpServerRepository(db, dialect),
    close: () => db.destroy(),
  };
}

/** Where the store is, for messages: without the password a database URL may hold. */
export function storeLocation(options: StoreOptions): string {
  if (options.databaseUrl === undefined) return path.join(options.dataDir, "qiusuo.db");
  try {
    const url = new URL(options.databaseUrl);
    return `PostgreSQL at ${url.host}${url.pathname}`;
  } catch {
    return "PostgreSQL";
  }
}

/** SQLite's or Node's error code, looked for down the chain of causes (a migration wraps it). */
function errorCode(error: unknown): string | undefined {
  for (let current = error; current instanceof Error; current = current.cause) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string") return code;
  }
  return undefined;
}

/** What the person who runs qiusuo can do about an opening error with this code. */
function advice(kind: StoreDialect["kind"], code: string | undefined): string {
  if (kind === "postgres") {
    return "Check the database URL, that PostgreSQL is running and reachable from here, and the user's password and rights.";
  }
  const moveAway =
    "move it away (with any qiusuo.db-wal and qiusuo.db-shm beside it) and qiusuo starts a new, empty one";
  const access =
    "Check that the data directory is a directory, that this user may read and write it and the files in it, " +
    "and that the disk is not read-only or full.";
  if (code === undefined) {
    return `If the file is damaged, restore it from a backup or ${moveAway}. Otherwise: ${access}`;
  }
  if (code === "SQLITE_NOTADB" || code.startsWith("SQLITE_CORRUPT")) {
    return `The file is damaged or is not a SQLite database: restore it from a backup, or ${moveAway}.`;
  }
  if (code === "SQLITE_FULL" || code === "ENOSPC")
    return "The disk is full: free some space and start again.";
  if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED")) {
    return "Another process holds the database locked: wait for it or stop it, and try again.";
  }
  return access;
}

async function migrate(db: Kysely<Database>, dialect: StoreDialect): Promise<void> {
  const migrator = new Migrator({ db, provider: new InCodeMigrationProvider(dialect) });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((result) => result.status === "Error")?.migrationName;
    // No migration ran: the database could not be reached or read at all, which says it better.
    if (failed === undefined) throw error;
    throw new Error(`Database migration ${failed} failed: ${String(error)}`, { cause: error });
  }
}
