/**
 * The store: Kysely over SQLite (one file in the data dir, the default) or PostgreSQL (when a
 * database URL is given), migrated at open, with one repository per concern.
 */
import { Kysely, Migrator } from "kysely";
import { ApiKeyRepository } from "./api-keys.js";
import { ConversationRepository } from "./conversations.js";
import { postgresDialect, sqliteDialect, type StoreDialect } from "./dialects.js";
import { InstanceRepository } from "./instances.js";
import { KeyAdmissionRepository } from "./key-admissions.js";
import { InCodeMigrationProvider } from "./migrations.js";
import type { Database } from "./schema.js";
import { SessionRepository } from "./sessions.js";
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
  readonly keyAdmissions: KeyAdmissionRepository;
  readonly sessions: SessionRepository;
  readonly instances: InstanceRepository;
  readonly usage: UsageRepository;
  /** Closes the database; the store cannot be used afterwards. */
  close(): Promise<void>;
}

/** Opens the database and applies every migration not yet applied. */
export async function openStore(options: StoreOptions): Promise<Store> {
  const dialect = options.databaseUrl ? postgresDialect(options.databaseUrl) : sqliteDialect(options.dataDir);
  const db = new Kysely<Database>({ dialect: dialect.dialect });
  try {
    await migrate(db, dialect);
  } catch (error) {
    await db.destroy();
    throw error;
  }
  return {
    kind: dialect.kind,
    db,
    users: new UserRepository(db, dialect),
    apiKeys: new ApiKeyRepository(db),
    conversations: new ConversationRepository(db, dialect),
    keyAdmissions: new KeyAdmissionRepository(db),
    sessions: new SessionRepository(db),
    instances: new InstanceRepository(db),
    usage: new UsageRepository(db, dialect),
    close: () => db.destroy(),
  };
}

async function migrate(db: Kysely<Database>, dialect: StoreDialect): Promise<void> {
  const migrator = new Migrator({ db, provider: new InCodeMigrationProvider(dialect) });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((result) => result.status === "Error")?.migrationName;
    throw new Error(`Database migration ${failed ?? "(unknown)"} failed: ${String(error)}`, { cause: error });
  }
}
