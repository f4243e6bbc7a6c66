/**
 * Knowledge collections: a user's named sets of files, their text chunks and the chunks' vectors,
 * searched by keyword and by vector (issue 11). As with conversations, every method that takes a
 * user id acts only on that user's rows: another user's collection answers as a missing one does.
 *
 * Vectors are stored as little-endian float32 bytes, normalised to unit length. SQLite ranks them
 * with sqlite-vec's `vec0` index (the dialect's `vectorIndex`). PostgreSQL has
 * no such function without pgvector, which Debian does not package (so CI could never test it):
 * there a file's vectors, which never change once the file is ready, are read once into an
 * in-process cache and ranked by an exact dot product here, about 10 ms for 100,000 64-dimension
 * vectors and no network transfer after the first search (docs/benchmarks.md, "Knowledge search").
 */
import { randomUUID } from "node:crypto";
import { sql, type ColumnType, type Generated, type Kysely, type Migration, type Selectable } from "kysely";
import type { StoreDialect } from "./dialects.js";
import type { Database } from "./schema.js";
import { indexText } from "./search-text.js";

type CreatedAt = ColumnType<number, number, never>;

export interface CollectionsTable {
  id: string;
  user_id: string;
  name: string;
  description: Generated<string>;
  /** The embedding model its files are indexed with; a query is embedded with the same one. */
  embedding_model: string;
  /** The vectors' length, set by the first file indexed; null before. */
  embedding_dimensions: number | null;
  created_at: CreatedAt;
  updated_at: number;
}

export interface CollectionFilesTable {
  id: string;
  collection_id: string;
  name: string;
  size: number;
  mime_type: string;
  status: FileStatus;
  error_code: string | null;
  error_message: string | null;
  chunk_count: Generated<number>;
  /** Chunks embedded so far and in all, while indexing; null before and after. */
  progress_done: number | null;
  progress_total: number | null;
  /** The server instance that holds its bytes to index it (instances.id); null without one. */
  indexer: string | null;
  created_at: CreatedAt;
  updated_at: number;
}

export interface CollectionChunksTable {
  id: string;
  file_id: string;
  collection_id: string;
  /** The chunk's place in its file, from 0. */
  ordinal: number;
  text: string;
  /** JSON: the headings it sits under, outermost first. */
  heading_path: string;
  page: number | null;
  /** Where `text` is in the file's extracted text (UTF-16 offsets). */
  start_offset: number;
  end_offset: number;
  /** The text's terms for keyword search (search-text.ts). */
  search_terms: string;
}

export interface CollectionVectorsTable {
  chunk_id: string;
  file_id: string;
  /** float32 little-endian, unit length. */
  embedding: Uint8Array;
}

/** The tables this file owns, merged into `Database` (schema.ts). */
export interface CollectionTables {
  collections: CollectionsTable;
  collection_files: CollectionFilesTable;
  collection_chunks: CollectionChunksTable;
  collection_vectors: CollectionVectorsTable;
}

export type FileStatus = "queued" | "indexing" | "ready" | "failed";

export interface Collection {
  id: string;
  name: string;
  description: string;
  fileCount: number;
  /** Chunks of its ready files. */
  chunkCount: number;
  embeddingModel: string;
  /** Milliseconds since the epoch. */
  createdAt: number;
  updatedAt: number;
}

export interface CollectionFile {
  id: string;
  name: string;
  /** Bytes uploaded. */
  size: number;
  mimeType: string;
  status: FileStatus;
  error: { code: string; message: string } | null;
  chunkCount: number;
  progress: { done: number; total: number } | null;
  createdAt: number;
  updatedAt: number;
}

/** A chunk to store, with its vector. */
export interface NewChunk {
  ordinal: number;
  text: string;
  headingPath: readonly string[];
  page?: number | undefined;
  start: number;
  end: number;
  vector: Float32Array;
}

/** A stored chunk as search shows it. */
export interface StoredChunk {
  collectionId: string;
  fileId: string;
  fileName: string;
  chunkId: string;
  text: string;
  page?: number;
  headingPath?: string[];
}

/** The collections a search reads, each with its ready files. */
export interface SearchScope {
  collections: Array<{ id: string; embeddingModel: string; fileIds: string[] }>;
}

/**
 * Rows the keyword search takes of each query term: all of a rare term's, a sample of a term in
 * most chunks (which tells little about which chunk answers anyway).
 */
const KEYWORD_ROWS_PER_TERM = 2_000;

/** Vectors an in-process scan keeps at most (PostgreSQL): 64 M floats, 256 MB. */
const VECTOR_CACHE_FLOATS = 64 * 1024 * 1024;

/** Migration 0011: the collections tables. */
export const collectionsMigration = (
  dialect: Pick<StoreDialect, "kind" | "createSearchIndex" | "storeSearchIndex">,
): Migration => ({
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable("collections")
      .addColumn("id", "text", (column) => column.primaryKey())
      .addColumn("user_id", "text", (column) => column.notNull().references("users.id").onDelete("cascade"))
      .addColumn("name", "text", (column) => column.notNull())
      .addColumn("description", "text", (column) => column.notNull().defaultTo(""))
      .addColumn("embedding_model", "text", (column) => column.notNull())
      .addColumn("embedding_dimensions", "bigint")
      .addColumn("created_at", "bigint", (column) => column.notNull())
      .addColumn("updated_at", "bigint", (column) => column.notNull())
      .execute();
    await db.schema.createIndex("collections_user_id").on("collections").column("user_id").execute();
    await db.schema
      .createTable("collection_files")
      .addColumn("id", "text", (column) => column.primaryKey())
      .addColumn("collection_id", "text", (column) =>
        column.notNull().references("collections.id").onDelete("cascade"),
      )
      .addColumn("name", "text", (column) => column.notNull())
      .addColumn("size", "bigint", (column) => column.notNull())
      .addColumn("mime_type", "text", (column) => column.notNull())
      .addColumn("status", "text", (column) => column.notNull())
      .addColumn("error_code", "text")
      .addColumn("error_message", "text")
      .addColumn("chunk_count", "bigint", (column) => column.notNull().defaultTo(0))
      .addColumn("progress_done", "bigint")
      .addColumn("progress_total", "bigint")
      .addColumn("indexer", "text")
      .addColumn("created_at", "bigint", (column) => column.notNull())
      .addColumn("updated_at", "bigint", (column) => column.notNull())
      .execute();
    await db.schema
      .createIndex("collection_files_collection_id")
      .on("collection_files")
      .columns(["collection_id", "created_at"])
      .execute();
    // markInterrupted looks for the files left queued or indexing.
    await db.schema.createIndex("collection_files_status").on("collection_files").column("status").execute();
    await db.schema
      .createTable("collection_chunks")
      .addColumn("id", "text", (column) => column.primaryKey())
      .addColumn("file_id", "text", (column) =>
        column.notNull().references("collection_files.id").onDelete("cascade"),
      )
      .addColumn("collection_id", "text", (column) => column.notNull())
      .addColumn("ordinal", "bigint", (column) => column.notNull())
      .addColumn("text", "text", (column) => column.notNull())
      .addColumn("heading_path", "text", (column) => column.notNull())
      .addColumn("page", "bigint")
      .addColumn("start_offset", "bigint", (column) => column.notNull())
      .addColumn("end_offset", "bigint", (column) => column.notNull())
      .addColumn("search_terms", "text", (column) => column.notNull().defaultTo(""))
      .execute();
    await db.schema
      .createIndex("collection_chunks_file_id")
      .on("collection_chunks")
      .columns(["file_id", "ordinal"])
      .execute();
    await dialect.createSearchIndex(db, "collection_chunks");
    await dialect.storeSearchIndex(db, "collection_chunks");
    await db.schema
      .createTable("collection_vectors")
      .addColumn("chunk_id", "text", (column) =>
        column.primaryKey().references("collection_chunks.id").onDelete("cascade"),
      )
      .addColumn("file_id", "text", (column) => column.notNull())
      // The binary type, the one DDL word the two engines spell differently here.
      .addColumn("embedding", dialect.kind === "postgres" ? "bytea" : "blob", (column) => column.notNull())
      .execute();
    await db.schema
      .createIndex("collection_vectors_file_id")
      .on("collection_vectors")
      .column("file_id")
      .execute();
  },
});

export class CollectionRepository {
  /** PostgreSQL's in-process vectors by file id (insertion order is least recently used first). */
  private readonly vectorCache = new Map<string, FileVectors>();
  private cachedFloats = 0;

  constructor(
    readonly db: Kysely<Database>,
    readonly dialect: StoreDialect,
  ) {}

  async create(
    userId: string,
    fields: { name: string; description?: string; embeddingModel: string },
  ): Promise<Collection> {
    const now = Date.now();
    const row = {
      id: randomUUID(),
      user_id: userId,
      name: fields.name,
      description: fields.description ?? "",
      embedding_model: fields.embeddingModel,
      embedding_dimensions: null,
      created_at: now,
      updated_at: now,
    };
    await this.db.insertInto("collections").values(row).execute();
    return { ...toCollection(row), fileCount: 0, chunkCount: 0 };
  }

  /** The user's collections, by name. */
  async list(userId: string): Promise<Collection[]> {
    const rows = await this.collectionQuery()
      .where("c.user_id", "=", userId)
      .orderBy("c.name")
      .orderBy("c.id")
      .execute();
    return rows.map(toCollectionWithCounts);
  }

  async get(userId: string, id: string): Promise<Collection | undefined> {
    const row = await this.collectionQuery()
      .where("c.user_id", "=", userId)
      .where("c.id", "=", id)
      .executeTakeFirst();
    return row && toCollectionWithCounts(row);
  }

  async update(
    userId: string,
    id: string,
    changes: { name?: string | undefined; description?: string | undefined },
  ): Promise<Collection | undefined> {
    const result = await this.db
      .updateTable("collections")
      .set({
        ...(changes.name === undefined ? {} : { name: changes.name }),
        ...(changes.description === undefined ? {} : { description: changes.description }),
        updated_at: Date.now(),
      })
      .where("id", "=", id)
      .where("user_id", "=", userId)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n ? this.get(userId, id) : undefined;
  }

  /** Deletes the collection with its files, chunks and vectors. False when the user has none such. */
  async delete(userId: string, id: string): Promise<boolean> {
    const files = await this.db
      .selectFrom("collection_files as f")
      .innerJoin("collections as c", "c.id", "f.collection_id")
      .select("f.id")
      .where("c.id", "=", id)
      .where("c.user_id", "=", userId)
      .execute();
    const result = await this.db
      .deleteFrom("collections")
      .where("id", "=", id)
      .where("user_id", "=", userId)
      .executeTakeFirst();
    for (const file of files) this.forget(file.id);
    return result.numDeletedRows > 0n;
  }

  /** The collection's files, oldest first; undefined when the user has no such collection. */
  async files(userId: string, collectionId: string): Promise<CollectionFile[] | undefined> {
    if (!(await this.owns(userId, collectionId))) return undefined;
    const rows = await this.db
      .selectFrom("collection_files")
      .selectAll()
      .where("collection_id", "=", collectionId)
      .orderBy("created_at")
      .orderBy("id")
      .execute();
    return rows.map(toFile);
  }

  async file(userId: string, collectionId: string, fileId: string): Promise<CollectionFile | undefined> {
    const row = await this.db
      .selectFrom("collection_files as f")
      .innerJoin("collections as c", "c.id", "f.collection_id")
      .selectAll("f")
      .where("c.user_id", "=", userId)
      .where("c.id", "=", collectionId)
      .where("f.id", "=", fileId)
      .executeTakeFirst();
    return row && toFile(row);
  }

  /** Records an upload, `queued`; undefined when the user has no such collection. */
  async addFile(
    userId: string,
    collectionId: string,
    file: { name: string; size: number; mimeType: string },
    indexer: string | null = null,
  ): Promise<CollectionFile | undefined> {
    if (!(await this.owns(userId, collectionId))) return undefined;
    const now = Date.now();
    const row = {
      id: randomUUID(),
      collection_id: collectionId,
      name: file.name,
      size: file.size,
      mime_type: file.mimeType,
      status: "queued" as const,
      error_code: null,
      error_message: null,
      chunk_count: 0,
      progress_done: null,
      progress_total: null,
      indexer,
      created_at: now,
      updated_at: now,
    };
    await this.db.insertInto("collection_files").values(row).execute();
    await this.touch(collectionId, now);
    return toFile(row);
  }

  /** Deletes a file with its chunks and vectors; false when the user has no such file. */
  async deleteFile(userId: string, collectionId: string, fileId: string): Promise<boolean> {
    if (!(await this.file(userId, collectionId, fileId))) return false;
    await this.db.deleteFrom("collection_files").where("id", "=", fileId).execute();
    this.forget(fileId);
    await this.touch(collectionId, Date.now());
    return true;
  }

  /** Where a file's indexing stands: `indexing` with its progress, or `failed` with why. */
  async setFileStatus(
    fileId: string,
    state:
      | { status: "indexing"; done: number; total: number }
      | { status: "failed"; code: string; message: string },
  ): Promise<void> {
    await this.db
      .updateTable("collection_files")
      .set(
        state.status === "indexing"
          ? {
              status: "indexing",
              progress_done: state.done,
              progress_total: state.total,
              updated_at: Date.now(),
            }
          : {
              status: "failed",
              error_code: state.code,
              error_message: state.message,
              progress_done: null,
              progress_total: null,
              updated_at: Date.now(),
            },
      )
      .where("id", "=", fileId)
      .execute();
  }

  /** The collection's model and dimensions, for the indexer (no user: the file is the user's already). */
  async embeddingOf(collectionId: string): Promise<{ model: string; dimensions: number | null } | undefined> {
    const row = await this.db
      .selectFrom("collections")
      .select(["embedding_model", "embedding_dimensions"])
      .where("id", "=", collectionId)
      .executeTakeFirst();
    return row && { model: row.embedding_model, dimensions: row.embedding_dimensions };
  }

  /**
   * Stores a batch of a file's chunks with their vectors (not searchable until `finishFile`). The
   * first vectors a collection gets fix its dimensions; false (nothing stored) when these differ.
   */
  async addChunks(collectionId: string, fileId: string, chunks: readonly NewChunk[]): Promise<boolean> {
    const dimensions = chunks[0]?.vector.length;
    if (dimensions === undefined) return true;
    return this.db.transaction().execute(async (transaction) => {
      await this.dialect.vectorIndex?.ensure(transaction, dimensions);
      await transaction
        .updateTable("collections")
        .set({ embedding_dimensions: dimensions })
        .where("id", "=", collectionId)
        .where("embedding_dimensions", "is", null)
        .execute();
      const collection = await transaction
        .selectFrom("collections")
        .select("embedding_dimensions")
        .where("id", "=", collectionId)
        .executeTakeFirst();
      if (
        collection?.embedding_dimensions !== dimensions ||
        chunks.some((chunk) => chunk.vector.length !== dimensions)
      )
        return false;
      const rows = chunks.map((chunk) => ({ id: randomUUID(), chunk }));
      // Batches stay under SQLite's 32,766 bound parameters (11 a chunk row).
      for (let start = 0; start < rows.length; start += 1000) {
        const batch = rows.slice(start, start + 1000);
        await transaction
          .insertInto("collection_chunks")
          .values(
            batch.map(({ id, chunk }) => ({
              id,
              file_id: fileId,
              collection_id: collectionId,
              ordinal: chunk.ordinal,
              text: chunk.text,
              heading_path: JSON.stringify(chunk.headingPath),
              page: chunk.page ?? null,
              start_offset: chunk.start,
              end_offset: chunk.end,
              search_terms: indexText(chunk.text),
            })),
          )
          .execute();
        await transaction
          .insertInto("collection_vectors")
          .values(
            batch.map(({ id, chunk }) => ({
              chunk_id: id,
              file_id: fileId,
              embedding: vectorBytes(chunk.vector),
            })),
          )
          .execute();
      }
      return true;
    });
  }

  /**
   * Makes a file's chunks searchable, and in the same transaction deletes the files of that name
   * uploaded before it, so a re-uploaded file replaces the old one only once it is ready.
   */
  async finishFile(fileId: string): Promise<void> {
    const replaced = await this.db.transaction().execute(async (transaction) => {
      const file = await transaction
        .selectFrom("collection_files")
        .select(["collection_id", "name", "created_at"])
        .where("id", "=", fileId)
        .executeTakeFirst();
      if (!file) return [];
      const count = await transaction
        .selectFrom("collection_chunks")
        .select((eb) => eb.fn.countAll<number>().as("count"))
        .where("file_id", "=", fileId)
        .executeTakeFirstOrThrow();
      const now = Date.now();
      await transaction
        .updateTable("collection_files")
        .set({
          status: "ready",
          chunk_count: Number(count.count),
          progress_done: null,
          progress_total: null,
          updated_at: now,
        })
        .where("id", "=", fileId)
        .execute();
      const older = await transaction
        .selectFrom("collection_files")
        .select("id")
        .where("collection_id", "=", file.collection_id)
        .where("name", "=", file.name)
        .where("id", "!=", fileId)
        .where("created_at", "<=", file.created_at)
        .where("status", "in", ["ready", "failed"])
        .execute();
      if (older.length > 0)
        await transaction
          .deleteFrom("collection_files")
          .where(
            "id",
            "in",
            older.map((row) => row.id),
          )
          .execute();
      await transaction
        .updateTable("collections")
        .set({ updated_at: now })
        .where("id", "=", file.collection_id)
        .execute();
      return older.map((row) => row.id);
    });
    for (const id of replaced) this.forget(id);
  }

  /**
   * Marks files left `queued` or `indexing` by a server that stopped as failed, since their bytes
   * were held only in its memory: those whose indexer is not among `liveIndexers` (or is none).
   * Returns how many.
   */
  async markInterrupted(liveIndexers: readonly string[] = []): Promise<number> {
    const result = await this.db
      .updateTable("collection_files")
      .set({
        status: "failed",
        error_code: "indexing_interrupted",
        error_message: "The server stopped while this file was being indexed. Upload it again.",
        progress_done: null,
        progress_total: null,
        updated_at: Date.now(),
      })
      .where("status", "in", ["queued", "indexing"])
      .where((eb) =>
        liveIndexers.length === 0
          ? eb.lit(true)
          : eb.or([eb("indexer", "is", null), eb("indexer", "not in", [...liveIndexers])]),
      )
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  /** The user's collections among `collectionIds` with their ready files; unknown ids are left out. */
  async searchScope(userId: string, collectionIds: readonly string[]): Promise<SearchScope> {
    if (collectionIds.length === 0) return { collections: [] };
    const collections = await this.db
      .selectFrom("collections")
      .select(["id", "embedding_model"])
      .where("user_id", "=", userId)
      .where("id", "in", [...collectionIds])
      .execute();
    if (collections.length === 0) return { collections: [] };
    const files = await this.db
      .selectFrom("collection_files")
      .select(["id", "collection_id"])
      .where(
        "collection_id",
        "in",
        collections.map((collection) => collection.id),
      )
      .where("status", "=", "ready")
      .execute();
    return {
      collections: collections.map((row) => ({
        id: row.id,
        embeddingModel: row.embedding_model,
        fileIds: files.filter((file) => file.collection_id === row.id).map((file) => file.id),
      })),
    };
  }

  /**
   * Chunks of `fileIds` holding any of `terms`, most terms held first (then by file and place),
   * at most `limit`: the keyword half of hybrid search. The full-text index finds the rows
   * holding any term, set apart first (a materialized CTE) so the planner cannot instead walk
   * every chunk of the files and test each; only those rows are then scored.
   */
  async keywordSearch(
    fileIds: readonly string[],
    terms: readonly string[],
    limit: number,
  ): Promise<string[]> {
    if (fileIds.length === 0 || terms.length === 0) return [];
    const padded = sql`' ' || ${sql.ref("hits.search_terms")} || ' '`;
    // Terms are letters, digits and marks only (search-text.ts): nothing in them is a LIKE wildcard.
    const score = sql<number>`${sql.join(
      terms.map((term) => sql`case when ${padded} like ${`% ${term} %`} then 1 else 0 end`),
      sql` + `,
    )}`;
    const rows = await this.db
      .with(
        (cte) => cte("hits").materialized(),
        (db) =>
          db
            .selectFrom("collection_chunks")
            .select(["id", "file_id", "ordinal", "search_terms"])
            .where(this.dialect.matchesAnySearchTerm("collection_chunks", terms, KEYWORD_ROWS_PER_TERM)),
      )
      .selectFrom("hits")
      .select(["id", score.as("score")])
      .where("file_id", "in", [...fileIds])
      .where(score, ">", 0)
      .orderBy("score", "desc")
      .orderBy("file_id")
      .orderBy("ordinal")
      .limit(limit)
      .execute();
    return rows.map((row) => row.id);
  }

  /** The `limit` chunks of `fileIds` nearest `vector` by cosine, nearest first: the vector half. */
  async vectorSearch(fileIds: readonly string[], vector: Float32Array, limit: number): Promise<string[]> {
    if (fileIds.length === 0) return [];
    const query = normalized(vector);
    const index = this.dialect.vectorIndex;
    if (index) {
      await index.ensure(this.db, query.length);
      const { rows } = await index.nearest(query, fileIds, limit).execute(this.db);
      return rows.map((row) => row.chunk_id);
    }
    return this.scanVectors(fileIds, query, limit);
  }

  /** The chunks of `ids` with their files' names, in the order of `ids`. */
  async chunks(ids: readonly string[]): Promise<StoredChunk[]> {
    if (ids.length === 0) return [];
    // Two lookups by key, not a join: SQLite would plan the join from the files' side and walk
    // every chunk of each file to find these few.
    const rows = await this.db
      .selectFrom("collection_chunks")
      .select(["id", "collection_id", "file_id", "text", "page", "heading_path"])
      .where("id", "in", [...ids])
      .execute();
    if (rows.length === 0) return [];
    const files = await this.db
      .selectFrom("collection_files")
      .select(["id", "name"])
      .where("id", "in", [...new Set(rows.map((row) => row.file_id))])
      .execute();
    const names = new Map(files.map((file) => [file.id, file.name]));
    const byId = new Map(rows.map((row) => [row.id, { ...row, name: names.get(row.file_id) ?? "" }]));
    return ids.flatMap((id) => {
      const row = byId.get(id);
      if (!row) return [];
      const headingPath = JSON.parse(row.heading_path) as string[];
      return [
        {
          collectionId: row.collection_id,
          fileId: row.file_id,
          fileName: row.name,
          chunkId: row.id,
          text: row.text,
          ...(row.page === null ? {} : { page: Number(row.page) }),
          ...(headingPath.length > 0 ? { headingPath } : {}),
        },
      ];
    });
  }

  /** Exact cosine over the files' cached vectors (read from the database on a miss). */
  private async scanVectors(
    fileIds: readonly string[],
    query: Float32Array,
    limit: number,
  ): Promise<string[]> {
    const missing = fileIds.filter((id) => !this.vectorCache.has(id));
    if (missing.length > 0) await this.loadVectors(missing);
    const best: Array<{ id: string; score: number }> = [];
    for (const fileId of fileIds) {
      const file = this.vectorCache.get(fileId);
      if (!file || file.dimensions !== query.length) continue;
      // Refresh its place in the least-recently-used order.
      this.vectorCache.delete(fileId);
      this.vectorCache.set(fileId, file);
      const { vectors, dimensions, ids } = file;
      for (let row = 0; row < ids.length; row++) {
        let score = 0;
        const offset = row * dimensions;
        for (let index = 0; index < dimensions; index++) score += vectors[offset + index]! * query[index]!;
        if (best.length < limit || score > best[best.length - 1]!.score)
          insertRanked(best, { id: ids[row]!, score }, limit);
      }
    }
    return best.map((hit) => hit.id);
  }

  private async loadVectors(fileIds: readonly string[]): Promise<void> {
    const rows = await this.db
      .selectFrom("collection_vectors")
      .select(["chunk_id", "file_id", "embedding"])
      .where("file_id", "in", [...fileIds])
      .execute();
    const byFile = new Map<string, Array<{ id: string; bytes: Uint8Array }>>();
    for (const row of rows) {
      const list = byFile.get(row.file_id) ?? [];
      list.push({ id: row.chunk_id, bytes: row.embedding });
      byFile.set(row.file_id, list);
    }
    for (const [fileId, list] of byFile) {
      const dimensions = list[0]!.bytes.byteLength / 4;
      const vectors = new Float32Array(list.length * dimensions);
      list.forEach((entry, row) => vectors.set(floats(entry.bytes), row * dimensions));
      this.vectorCache.set(fileId, { ids: list.map((entry) => entry.id), vectors, dimensions });
      this.cachedFloats += vectors.length;
    }
    for (const [fileId, file] of this.vectorCache) {
      if (this.cachedFloats <= VECTOR_CACHE_FLOATS) break;
      this.vectorCache.delete(fileId);
      this.cachedFloats -= file.vectors.length;
    }
  }

  private forget(fileId: string): void {
    const file = this.vectorCache.get(fileId);
    if (!file) return;
    this.vectorCache.delete(fileId);
    this.cachedFloats -= file.vectors.length;
  }

  private async owns(userId: string, collectionId: string): Promise<boolean> {
    const row = await this.db
      .selectFrom("collections")
      .select("id")
      .where("id", "=", collectionId)
      .where("user_id", "=", userId)
      .executeTakeFirst();
    return row !== undefined;
  }

  private async touch(collectionId: string, now: number): Promise<void> {
    await this.db
      .updateTable("collections")
      .set({ updated_at: now })
      .where("id", "=", collectionId)
      .execute();
  }

  private collectionQuery() {
    return this.db.selectFrom("collections as c").select((eb) => [
      "c.id",
      "c.name",
      "c.description",
      "c.embedding_model",
      "c.created_at",
      "c.updated_at",
      eb
        .selectFrom("collection_files as f")
        .select((inner) => inner.fn.countAll<number>().as("count"))
        .whereRef("f.collection_id", "=", "c.id")
        .as("file_count"),
      eb
        .selectFrom("collection_files as f")
        .select((inner) => inner.fn.coalesce(inner.fn.sum<number>("f.chunk_count"), inner.lit(0)).as("sum"))
        .whereRef("f.collection_id", "=", "c.id")
        .where("f.status", "=", "ready")
        .as("chunk_count"),
    ]);
  }
}

interface FileVectors {
  ids: string[];
  /** Row-major, `dimensions` floats a chunk. */
  vectors: Float32Array;
  dimensions: number;
}

/** Puts `hit` into `best` (highest score first), keeping at most `limit`. */
function insertRanked(
  best: Array<{ id: string; score: number }>,
  hit: { id: string; score: number },
  limit: number,
) {
  let at = best.length;
  while (at > 0 && best[at - 1]!.score < hit.score) at--;
  best.splice(at, 0, hit);
  if (best.length > limit) best.pop();
}

/** `vector` scaled to unit length (a zero vector stays zero). */
export function normalized(vector: ArrayLike<number>): Float32Array {
  let sum = 0;
  for (let index = 0; index < vector.length; index++) sum += vector[index]! * vector[index]!;
  const scale = sum > 0 ? 1 / Math.sqrt(sum) : 0;
  return Float32Array.from({ length: vector.length }, (_, index) => vector[index]! * scale);
}

function vectorBytes(vector: Float32Array): Uint8Array {
  const unit = normalized(vector);
  return new Uint8Array(unit.buffer, unit.byteOffset, unit.byteLength);
}

function floats(bytes: Uint8Array): Float32Array {
  // A copy: the driver's Buffer may sit at an offset that is not a multiple of 4.
  const copy = new Uint8Array(bytes);
  return new Float32Array(copy.buffer, 0, copy.byteLength / 4);
}

function toCollection(
  row: Pick<
    Selectable<CollectionsTable>,
    "id" | "name" | "description" | "embedding_model" | "created_at" | "updated_at"
  >,
): Omit<Collection, "fileCount" | "chunkCount"> {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    embeddingModel: row.embedding_model,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

function toCollectionWithCounts(
  row: Parameters<typeof toCollection>[0] & { file_count: number | null; chunk_count: number | null },
): Collection {
  return {
    ...toCollection(row),
    fileCount: Number(row.file_count ?? 0),
    chunkCount: Number(row.chunk_count ?? 0),
  };
}

function toFile(row: Selectable<CollectionFilesTable>): CollectionFile {
  return {
    id: row.id,
    name: row.name,
    size: Number(row.size),
    mimeType: row.mime_type,
    status: row.status,
    error: row.error_code === null ? null : { code: row.error_code, message: row.error_message ?? "" },
    chunkCount: Number(row.chunk_count),
    progress:
      row.progress_total === null
        ? null
        : { done: Number(row.progress_done ?? 0), total: Number(row.progress_total) },
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}
