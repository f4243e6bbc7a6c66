/** What the account commands (`users`, `keys`) share: the store flags, opening the store, tables. */
import { InvalidArgumentError, type Command } from "commander";
import { loadStoreConfig, type StoreConfig } from "../config/config.js";
import { openStore, StoreOpenError, type Store } from "../store/store.js";

/** The flags every store command accepts. */
export interface StoreFlags {
  dataDir?: string;
  databaseUrl?: string;
}

/** A mistake the person at the terminal can fix; main prints its message without a stack. */
export class CommandError extends Error {
  override readonly name = "CommandError";
}

export function addStoreOptions(command: Command): Command {
  return command
    .option("--data-dir <dir>", "where qiusuo.db lives (default QIUSUO_DATA_DIR or ~/.qiusuo)")
    .option("--database-url <url>", "a postgres:// URL to use instead of SQLite (default DATABASE_URL)");
}

/**
 * Opens the store the flags and environment name, runs `work` and closes the store whatever
 * happens, so the process can exit (a PostgreSQL pool would otherwise keep it alive).
 */
export async function withStore<T>(flags: StoreFlags, work: (store: Store) => Promise<T>): Promise<T> {
  const store = await openCommandStore(loadStoreConfig(flags));
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

/**
 * Opens the store for a command (`serve` too). When it cannot be opened, the error says where
 * the database is, why, what to do, and which flag or variable chose it.
 */
export async function openCommandStore(config: StoreConfig): Promise<Store> {
  try {
    return await openStore(config);
  } catch (error) {
    if (!(error instanceof StoreOpenError)) throw error;
    const chosenBy =
      config.databaseUrl === undefined
        ? `The data directory (${config.dataDir}) comes from --data-dir or QIUSUO_DATA_DIR.`
        : "The database URL comes from --database-url or DATABASE_URL.";
    throw new CommandError(`${error.message}\n${chosenBy}`, { cause: error });
  }
}

/** A commander option parser for counts and limits: a whole number of at least 1. */
export function positiveInteger(value: string): number {
  const number = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(number) || number < 1) {
    throw new InvalidArgumentError("Expected a whole number of at least 1.");
  }
  return number;
}

/** Prints rows as columns aligned by spaces; the first row is the header. */
export function printTable(rows: string[][]): void {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  for (const row of rows) {
    console.log(
      row
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join("  ")
        .trimEnd(),
    );
  }
}

/** `YYYY-MM-DD` in UTC, for tables. */
export function isoDate(date: Date): string {
  return date.toISOString().slice(0, 10);
}
