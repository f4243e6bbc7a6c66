/**
 * The two database engines. What differs between them lives here, as a capability of the dialect,
 * so the repositories never ask which engine they run on.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import {
  OperationNodeTransformer,
  PostgresDialect,
  SqliteDialect,
  sql,
  type Dialect,
  type Expression,
  type Kysely,
  type KyselyPlugin,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type PrimitiveValueListNode,
  type QueryExecutorProvider,
  type QueryResult,
  type RawBuilder,
  type RootOperationNode,
  type SqlBool,
  type UnknownRow,
  type ValueNode,
} from "kysely";
import pg from "pg";
import * as sqliteVec from "sqlite-vec";

export interface StoreDialect {
  /** For logs and test reports only; shared code never branches on it. */
  readonly kind: "sqlite" | "postgres";
  readonly dialect: Dialect;
  /** Kysely plugins the engine needs (PostgreSQL: text without NUL characters). */
  readonly plugins: KyselyPlugin[];
  /** The UTC calendar day (`YYYY-MM-DD`) of a millisecond timestamp. */
  utcDay(milliseconds: Expression<number>): RawBuilder<string>;
  /** Whether an error is the engine's unique-constraint violation. */
  isUniqueViolation(error: unknown): boolean;
  /**
   * Creates the full-text index over `table.search_terms` (space-separated terms from
   * search-text.ts) and whatever keeps it in step with the table's rows. Run once, by a migration.
   */
  createSearchIndex(db: Kysely<unknown>, table: SearchableTable): Promise<void>;
  /**
   * Makes what `createSearchIndex` made readable without recomputing it per row, where it is not
   * already: a planner that walks `table` newest-first (to stop at a LIMIT) tests each row it
   * meets, and must not rebuild that row's terms to do so. Run once, by a later migration.
   */
  storeSearchIndex(db: Kysely<unknown>, table: SearchableTable): Promise<void>;
  /**
   * A condition true for exactly the rows of `table` whose `search_terms` hold every one of
   * `terms`, so a query can order and limit by it with nothing left to check in code.
   */
  matchesSearchTerms(table: SearchableTable, terms: readonly string[]): RawBuilder<SqlBool>;
  /**
   * A condition true for rows of `table` whose `search_terms` hold any of `terms`, answered from
   * the full-text index (the rows are found through it, not tested one by one), and for at most
   * `perTerm` rows of each term: a term in most rows (a stop word, 的) costs no more than a rare
   * one, at the price of some of its rows. It may be true for a few rows that hold none (FTS5
   * folds some characters together): callers rank rows by the terms each holds, 0 for those.
   */
  matchesAnySearchTerm(
    table: SearchableTable,
    terms: readonly string[],
    perTerm: number,
  ): RawBuilder<SqlBool>;
  /**
   * Nearest-vector search over `collection_vectors` (store/collections.ts) in the engine:
   * sqlite-vec on SQLite. Absent where the engine has none, and the caller ranks them itself.
   */
  vectorIndex?: VectorIndex;
}

/** A nearest-vector index beside `collection_vectors`, one per vector length. */
export interface VectorIndex {
  /** Makes the index for vectors of this length, with what keeps it in step, if it is missing. */
  ensure(db: QueryExecutorProvider, dimensions: number): Promise<void>;
  /** The `limit` chunks of `fileIds` nearest `vector` by cosine distance, nearest first. */
  nearest(vector: Float32Array, fileIds: readonly string[], limit: number): RawBuilder<{ chunk_id: string }>;
}

/** The tables with a `search_terms` column and a full-text index over it. */
export type SearchableTable = "conversations" | "messages" | "collection_chunks";

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
  // sqlite-vec's functions (vec_distance_cosine) for knowledge collections' vector search.
  sqliteVec.load(database);
  return {
    kind: "sqlite",
    plugins: [],
    dialect: new SqliteDialect({ database }),
    utcDay: (milliseconds) => sql<string>`strftime('%Y-%m-%d', ${milliseconds} / 1000, 'unixepoch')`,
    isUniqueViolation: (error) => errorCode(error)?.startsWith("SQLITE_CONSTRAINT_UNIQUE") === true,
    createSearchIndex: createFts5Index,
    // The FTS5 table is already its own stored index.
    storeSearchIndex: async () => {},
    // Each quoted term is one token to FTS5, and space-separated ones must all match. FTS5's hits
    // become a set each row is tested against: the unary plus keeps SQLite, which knows nothing of
    // how many hits there are, from fetching and sorting every one of them for a common term, so
    // it walks the rows in the query's order and stops at its LIMIT. The instr() tests then make
    // each hit exact on the row itself, whatever FTS5 folds together or a VACUUM renumbered
    // (createFts5Index), so both engines return the same rows.
    matchesSearchTerms: (table, terms) => {
      const index = sql.table(`${table}_search`);
      const query = terms.map((term) => `"${term.replaceAll('"', '""')}"`).join(" ");
      const padded = sql`' ' || ${sql.ref(`${table}.search_terms`)} || ' '`;
      const holds = terms.map((term) => sql`instr(${padded}, ${` ${term} `}) > 0`);
      return sql<SqlBool>`+${sql.ref(`${table}.rowid`)} in (select rowid from ${index} where ${index} match ${query}) and ${sql.join(holds, sql` and `)}`;
    },
    matchesAnySearchTerm: (table, terms, perTerm) => {
      const index = sql.table(`${table}_search`);
      const each = terms.map(
        (term) =>
          sql`select rowid from (select rowid from ${index} where ${index} match ${`"${term.replaceAll('"', '""')}"`} limit ${perTerm})`,
      );
      return sql<SqlBool>`${sql.ref(`${table}.rowid`)} in (${sql.join(each, sql` union `)})`;
    },
    vectorIndex: sqliteVectorIndex,
  };
}

/**
 * sqlite-vec's `vec0` virtual table, one per vector length (its columns have a fixed length),
 * partitioned by file so a search reads only the files it covers, and kept in step with
 * `collection_vectors` by triggers (so deletes that cascade from a file, a collection or a user
 * reach it). `vec0` scans its vectors in bulk: about 6 times faster than calling
 * `vec_distance_cosine` once per row. Keyed by `collection_vectors`' rowid, which only a VACUUM
 * could renumber (qiusuo runs none); the chunk id rides along, so results never depend on it.
 */
const sqliteVectorIndex: VectorIndex = {
  async ensure(db, dimensions) {
    const table = `collection_vectors_${Math.trunc(dimensions)}`;
    const found = await sql`select 1 from sqlite_master where name = ${table}`.execute(db);
    if (found.rows.length > 0) return;
    const bytes = Math.trunc(dimensions) * 4;
    const statements = [
      `create virtual table ${table} using vec0(file_id text partition key, ` +
        `embedding float[${Math.trunc(dimensions)}] distance_metric=cosine, +chunk_id text)`,
      `insert into ${table}(rowid, file_id, embedding, chunk_id) ` +
        `select rowid, file_id, embedding, chunk_id from collection_vectors where length(embedding) = ${bytes}`,
      `create trigger ${table}_insert after insert on collection_vectors when length(new.embedding) = ${bytes} begin
         insert into ${table}(rowid, file_id, embedding, chunk_id) values (new.rowid, new.file_id, new.embedding, new.chunk_id);
       end`,
      `create trigger ${table}_delete after delete on collection_vectors when length(old.embedding) = ${bytes} begin
         delete from ${table} where rowid = old.rowid;
       end`,
    ];
    for (const statement of statements) await sql.raw(statement).execute(db);
  },
  // `k` nearest in each file, then the nearest of those. The CTE is materialized so SQLite does
  // not fold the outer LIMIT into the KNN query, which takes a LIMIT or a k, not both.
  nearest: (vector, fileIds, limit) => {
    const table = sql.table(`collection_vectors_${vector.length}`);
    const bytes = Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength);
    return sql<{ chunk_id: string }>`with hits as materialized (select chunk_id, distance from ${table}
      where embedding match ${bytes} and k = ${limit} and file_id in (${sql.join([...fileIds])}))
      select chunk_id from hits order by distance limit ${limit}`;
  },
};

/**
 * An external-content FTS5 table over the column, kept in step by triggers (FTS5's documented
 * pattern). The tokenizer only splits on the spaces between terms: diacritics are kept and marks
 * count as letters, so both engines match exactly the same terms. It is keyed by rowid, which
 * SQLite documents VACUUM may renumber in tables without an integer primary key; the match
 * re-checks every hit against the row, so that could only lose hits, never show wrong ones
 * (`insert into <table>_search(<table>_search) values ('rebuild')` restores them).
 */
async function createFts5Index(db: Kysely<unknown>, table: SearchableTable): Promise<void> {
  const index = `${table}_search`;
  const statements = [
    `create virtual table ${index} using fts5(search_terms, content='${table}', content_rowid='rowid', ` +
      `tokenize = "unicode61 remove_diacritics 0 categories 'L* N* M* Co'")`,
    `create trigger ${index}_insert after insert on ${table} begin
       insert into ${index}(rowid, search_terms) values (new.rowid, new.search_terms);
     end`,
    `create trigger ${index}_delete after delete on ${table} begin
       insert into ${index}(${index}, rowid, search_terms) values ('delete', old.rowid, old.search_terms);
     end`,
    `create trigger ${index}_update after update of search_terms on ${table} begin
       insert into ${index}(${index}, rowid, search_terms) values ('delete', old.rowid, old.search_terms);
       insert into ${index}(rowid, search_terms) values (new.rowid, new.search_terms);
     end`,
    `insert into ${index}(${index}) values ('rebuild')`,
  ];
  for (const statement of statements) await sql.raw(statement).execute(db);
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

/**
 * PostgreSQL's text cannot hold NUL (U+0000): an insert of one fails ("invalid byte sequence"),
 * which turned a title, a message or a reply with one (random-weight models emit them; JSON
 * allows "\u0000") into an error and lost the reply. Every string parameter has its NULs
 * replaced with U+FFFD, the character for "something was here that cannot be shown"; SQLite
 * stores NUL as it is.
 */
class NulFreeText implements KyselyPlugin {
  private readonly transformer = new (class extends OperationNodeTransformer {
    protected override transformValue(node: ValueNode): ValueNode {
      return typeof node.value === "string" && node.value.includes("\0")
        ? { ...node, value: node.value.replaceAll("\0", "\uFFFD") }
        : node;
    }
    protected override transformPrimitiveValueList(node: PrimitiveValueListNode): PrimitiveValueListNode {
      return {
        ...node,
        values: node.values.map((value) =>
          typeof value === "string" ? value.replaceAll("\0", "\uFFFD") : value,
        ),
      };
    }
  })();

  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    return this.transformer.transformNode(args.node);
  }

  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return args.result;
  }
}

/** A pooled PostgreSQL connection; `url` is a libpq-style `postgres://` URL. */
export function postgresDialect(url: string): StoreDialect {
  const pool = new pg.Pool({ connectionString: url, types: pgTypes, max: 10 });
  // An idle connection the server ends (a restart, a failover, pg_terminate_backend) is an
  // 'error' on the pool, which would be an uncaught exception without a listener. The pool drops
  // that connection and opens a new one for the next query, so saying so is all there is to do.
  pool.on("error", (error) => {
    console.warn(`PostgreSQL closed an idle connection (${error.message}); the next query reconnects.`);
  });
  return {
    kind: "postgres",
    plugins: [new NulFreeText()],
    dialect: new PostgresDialect({ pool }),
    utcDay: (milliseconds) =>
      sql<string>`to_char(to_timestamp(${milliseconds} / 1000.0) at time zone 'UTC', 'YYYY-MM-DD')`,
    isUniqueViolation: (error) => errorCode(error) === "23505",
    // The terms become lexemes as they are (array_to_tsvector and a quoted tsquery skip the text
    // parser, which would drop CJK characters under a C locale). Lexemes compare exactly, so a
    // match needs no check beyond the index.
    createSearchIndex: async (db, table) => {
      await sql
        .raw(`create index ${table}_search on ${table} using gin (${searchVector("search_terms")})`)
        .execute(db);
    },
    // An expression index leaves the planner two bad choices for a common term: recompute every
    // row's vector while walking newest-first, or fetch and sort every hit. A stored vector makes
    // the walk cheap, so it stops after LIMIT hits; the GIN index still serves rare terms. Adding
    // the column rewrites the table once, under the migration's lock.
    storeSearchIndex: async (db, table) => {
      const statements = [
        `alter table ${table} add column search_vector tsvector ` +
          `generated always as (${searchVector("search_terms")}) stored`,
        `create index ${table}_search_vector on ${table} using gin (search_vector)`,
        `drop index ${table}_search`,
      ];
      for (const statement of statements) await sql.raw(statement).execute(db);
    },
    matchesSearchTerms: (table, terms) => {
      const query = terms.map(tsqueryLexeme).join(" & ");
      return sql<SqlBool>`${sql.ref(`${table}.search_vector`)} @@ cast(${query} as tsquery)`;
    },
    matchesAnySearchTerm: (table, terms, perTerm) => {
      const each = terms.map(
        (term) =>
          sql`(select id from ${sql.table(table)} where search_vector @@ cast(${tsqueryLexeme(term)} as tsquery) limit ${perTerm})`,
      );
      return sql<SqlBool>`${sql.ref(`${table}.id`)} in (${sql.join(each, sql` union `)})`;
    },
  };
}

function searchVector(column: string): string {
  return `array_to_tsvector(string_to_array(${column}, ' '))`;
}

/** A term as a quoted tsquery lexeme, taken literally. */
function tsqueryLexeme(term: string): string {
  return `'${term.replaceAll("\\", "\\\\").replaceAll("'", "''")}'`;
}

function errorCode(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null || !("code" in error)) return undefined;
  return typeof error.code === "string" ? error.code : undefined;
}
