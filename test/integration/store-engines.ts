// The database engines the store suites run over: SQLite always, PostgreSQL when
// QIUSUO_TEST_DATABASE_URL names a database (.ci/run starts one). Each `fresh()` is an empty
// database: a fresh data dir for SQLite, a fresh database for PostgreSQL.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import type { StoreOptions } from "../../src/store/store.js";

export interface Engine {
  name: string;
  /** Options for an empty database of this engine. */
  fresh(): Promise<StoreOptions>;
  cleanup(): Promise<void>;
}

export function sqliteEngine(): Engine {
  const root = mkdtempSync(join(tmpdir(), "qiusuo-store-"));
  let count = 0;
  return {
    name: "sqlite",
    fresh: async () => ({ dataDir: join(root, `db-${++count}`) }),
    cleanup: async () => rmSync(root, { recursive: true, force: true }),
  };
}

export function postgresEngine(url: string): Engine {
  // Each test gets its own database (the role needs CREATEDB; .ci/run grants it), since Kysely's
  // migrator looks for its tables in every schema of a database.
  const admin = new pg.Client({ connectionString: url });
  const connected = admin.connect();
  const databases: string[] = [];
  return {
    name: "postgres",
    async fresh() {
      await connected;
      const database = `qiusuo_test_${randomBytes(6).toString("hex")}`;
      await admin.query(`create database ${database}`);
      databases.push(database);
      const scoped = new URL(url);
      scoped.pathname = `/${database}`;
      return { dataDir: "/nonexistent", databaseUrl: scoped.toString() };
    },
    async cleanup() {
      await connected;
      for (const database of databases) await admin.query(`drop database ${database} with (force)`);
      await admin.end();
    },
  };
}

export const postgresUrl = process.env.QIUSUO_TEST_DATABASE_URL;

/** Every engine this run covers, and a line saying which (and why PostgreSQL is missing, if it is). */
export function testEngines(suite: string): Engine[] {
  const engines = [sqliteEngine(), ...(postgresUrl ? [postgresEngine(postgresUrl)] : [])];
  console.log(
    `${suite} dialects: ${engines.map((engine) => engine.name).join(", ")}` +
      (postgresUrl ? "" : " (postgres skipped: QIUSUO_TEST_DATABASE_URL is not set)"),
  );
  return engines;
}
