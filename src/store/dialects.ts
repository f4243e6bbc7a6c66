/**
 * The two database engines. What differs between them lives here, as a capability of the dialect,
 * so the repositories never ask which engine they run on.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { PostgresDialect, SqliteDialect, sql, type Dialect, type Expression, type RawBuilder } from "kysely";
import pg from "pg";

export interface StoreDialect {
  /** For logs and test reports only; shared code never branches on it. */
  readonly kind: "sqlite" | "postgres";
  readonly dialect: Dialect;
  /** The UTC calendar day (`YYYY-MM-DD`) of a millisecond timestamp. */
  utcDay(milliseconds: Expression<number>): RawBuilder<string>;
  /** Whether an error is the engine's unique-constraint violation. */
  isUniqueViolation(error: unknown): boolean;
}

/** One file, `<dataDir>/qiusuo.db`, in WAL mode with foreign keys enforced. */
export function sqliteDialect(dataDir: string): StoreDialect {
  mkdirSync(dataDir, { recursive: true });
  const database = new BetterSqlite3(join(dataDir, "qiusuo.db"));
  database.pragma("journal_mode = WAL");
  database.pragma("foreign_keys = ON");
  // Another process (a CLI command beside a running server) may hold the write lock for a moment.
  database.pragma("busy_timeout = 5000");
  // WAL makes NORMAL durable against a process crash; only power loss can drop the last commits.
  database.pragma("synchronous = NORMAL");
  return {
    kind: "sqlite",
    dialect: new SqliteDialect({ database }),
    utcDay: (milliseconds) => sql<string>`strftime('%Y-%m-%d', ${milliseconds} / 1000, 'unixepoch')`,
    isUniqueViolation: (error) => errorCode(error)?.startsWith("SQLITE_CONSTRAINT_UNIQUE") === true,
  };
}

// int8 (bigint, count(*)) comes back from pg as a string, since it may exceed 2^53. Every bigint
// here is a count or a millisecond timestamp, far below that, so read them as numbers.
const INT8_OID = 20;
const pgTypes = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === INT8_OID
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format as "text")) as typeof pg.types.getTypeParser,
};

/** A pooled PostgreSQL connection; `url` is a libpq-style `postgres://` URL. */
export function postgresDialect(url: string): StoreDialect {
  const pool = new pg.Pool({ connectionString: url, types: pgTypes, max: 10 });
  return {
    kind: "postgres",
    dialect: new PostgresDialect({ pool }),
    utcDay: (milliseconds) =>
      sql<string>`to_char(to_timestamp(${milliseconds} / 1000.0) at time zone 'UTC', 'YYYY-MM-DD')`,
    isUniqueViolation: (error) => errorCode(error) === "23505",
  };
}

function errorCode(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null || !("code" in error)) return undefined;
  return typeof error.code === "string" ? error.code : undefined;
}
