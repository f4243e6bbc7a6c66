/**
 * Knowledge collections: a user's named sets of files, their text chunks and the chunks' vectors,
 * searched by keyword and by vector (issue 11). Placeholder: the collections work fills it in.
 */
import type { Kysely, Migration } from "kysely";
import type { StoreDialect } from "./dialects.js";
import type { Database } from "./schema.js";

/** The tables this file owns, merged into `Database` (schema.ts). */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface CollectionTables {}

/** Migration 0011: the collections tables. */
export const collectionsMigration = (_dialect: Pick<StoreDialect, "kind">): Migration => ({
  async up(_db: Kysely<unknown>) {},
});

export class CollectionRepository {
  constructor(
    readonly db: Kysely<Database>,
    readonly dialect: StoreDialect,
  ) {}
}
