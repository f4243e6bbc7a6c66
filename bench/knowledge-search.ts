/**
 * Knowledge bases' speed: `npx tsx bench/knowledge-search.ts [--json] [--chunks N] [--queries N]
 * [--skip-indexing] [--skip-search]`.
 * - indexing throughput of a generated 100-page PDF through the real indexer (extraction worker,
 *   chunker, store), in pages/s: without embedding (a stand-in that returns a fixed vector) and
 *   with the tiny fixture model embedding every chunk on the CPU;
 * - hybrid search latency (FTS keyword hits, nearest vectors, RRF; alone with the query embedded
 *   beforehand, and whole with the tiny model embedding it) over N synthetic chunks (default
 *   100,000: Zipf-distributed prose with a Chinese phrase, random vectors of the tiny model's 64
 *   dimensions), inserted in bulk
 *   through the repository, on SQLite and, when DATABASE_URL or QIUSUO_TEST_DATABASE_URL names
 *   one, PostgreSQL. p50 and p95 of N queries after a warm-up (target p50 under 50 ms).
 * run-all's `knowledgesearch` phase.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import pg from "pg";
import { LocalEngine } from "../src/engines/local/local-engine.js";
import { Embedder } from "../src/knowledge/embedder.js";
import { extractDocument, extractionThread } from "../src/knowledge/extract/index.js";
import { hybridSearch } from "../src/knowledge/hybrid-search.js";
import { Indexer } from "../src/knowledge/indexer.js";
import { KnowledgeService } from "../src/knowledge/knowledge-service.js";
import { queryTerms } from "../src/store/search-text.js";
import { openStore, type StoreOptions } from "../src/store/store.js";
import { ensureFixtureModels } from "../test/fixtures/models.js";
import { makePdf } from "../test/integration/knowledge-documents.js";
import { wordSalad } from "./common.js";

const { values } = parseArgs({
  options: {
    json: { type: "boolean", default: false },
    chunks: { type: "string", default: "100000" },
    queries: { type: "string", default: "200" },
    "skip-indexing": { type: "boolean", default: false },
    "skip-search": { type: "boolean", default: false },
  },
});
const chunkTotal = Number(values.chunks);
const queryCount = Number(values.queries);
const postgresUrl = process.env.DATABASE_URL || process.env.QIUSUO_TEST_DATABASE_URL;
type Row = [metric: string, measured: string, target: string, met: string];
const rows: Row[] = [];
const log = (line: string) => (values.json ? process.stderr : process.stdout).write(`${line}\n`);

const CHUNKS_PER_FILE = 1000;
/**
 * Synthetic prose: words drawn from a 20,000-word vocabulary by Zipf's law (the rank-r word is
 * r times rarer than the first), as words are in real text, so a few words are in most chunks and
 * most words in few. Queries pick three words uniformly by rank, as a question's content words.
 */
const VOCABULARY = Array.from({ length: 20_000 }, (_, rank) => syllables(rank));
const ZIPF = (() => {
  const cumulative = new Float64Array(VOCABULARY.length);
  let sum = 0;
  for (let rank = 0; rank < VOCABULARY.length; rank++) cumulative[rank] = sum += 1 / (rank + 1);
  return cumulative.map((value) => value / sum);
})();

function syllables(rank: number): string {
  const parts = [
    "ka",
    "lo",
    "mi",
    "ne",
    "su",
    "ta",
    "ri",
    "po",
    "de",
    "va",
    "zu",
    "hi",
    "go",
    "be",
    "fa",
    "xu",
  ];
  let word = "";
  for (let rest = rank + 16; rest > 0; rest = Math.floor(rest / 16)) word += parts[rest % 16];
  return word;
}

function random(seed: number): () => number {
  let state = (seed * 2654435761 + 7) >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function prose(words: number, seed: number): string {
  const next = random(seed);
  return Array.from({ length: words }, () => {
    const target = next();
    let low = 0;
    let high = ZIPF.length - 1;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (ZIPF[middle]! < target) low = middle + 1;
      else high = middle;
    }
    return VOCABULARY[low]!;
  }).join(" ");
}

const CHINESE = [
  "量子计算",
  "知识库",
  "检索增强",
  "文档切分",
  "向量搜索",
  "全文索引",
  "引用来源",
  "中文分词",
];

function stats(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { p50: at(0.5), p95: at(0.95) };
}
const ms = (value: number) => `${value.toFixed(value < 10 ? 2 : 1)} ms`;

/** A deterministic random unit vector. */
function randomVector(dimensions: number, seed: number): Float32Array {
  let state = (seed * 2654435761 + 1) >>> 0;
  return Float32Array.from({ length: dimensions }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32 - 0.5;
  });
}

/** A fresh database per engine: a temp dir for SQLite, a new database for PostgreSQL. */
async function stores(): Promise<Array<{ name: string; options: StoreOptions; drop: () => Promise<void> }>> {
  const dir = mkdtempSync(join(tmpdir(), "qiusuo-bench-knowledge-"));
  const list = [
    {
      name: "SQLite",
      options: { dataDir: dir },
      drop: async () => rmSync(dir, { recursive: true, force: true }),
    },
  ];
  if (!postgresUrl) {
    log("PostgreSQL skipped: set DATABASE_URL or QIUSUO_TEST_DATABASE_URL");
    return list;
  }
  const admin = new pg.Client({ connectionString: postgresUrl });
  await admin.connect();
  const database = `qiusuo_bench_knowledge_${Date.now()}`;
  await admin.query(`create database ${database}`);
  const url = new URL(postgresUrl);
  url.pathname = `/${database}`;
  list.push({
    name: "PostgreSQL",
    options: { dataDir: dir, databaseUrl: url.toString() } as StoreOptions & { dataDir: string },
    drop: async () => {
      // The pool's connections may still be closing: retry until the database can go.
      for (let attempt = 1; ; attempt++) {
        try {
          await admin.query(`drop database ${database}`);
          break;
        } catch (error) {
          if (attempt === 50) throw error;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
      await admin.end();
    },
  });
  return list;
}

const fixtures = ensureFixtureModels();
const engine = new LocalEngine({ contextSize: 512, parallel: 1, threads: 2, gpu: "off" });
await engine.addModelFile(fixtures.tiny, [], { preload: true });
const model = engine.listModels()[0]!.id;
const embedder = new Embedder(engine);
const dimensions = (await embedder.embed(model, ["dimension probe"], new AbortController().signal))[0]!
  .length;

const [sqlite, ...others] = await stores();

// --- indexing throughput -------------------------------------------------------------------------
const PAGES = 100;
const pdf = makePdf(
  Array.from({ length: PAGES }, (_, page) =>
    Array.from(
      { length: 40 },
      (_, line) => `Page ${page + 1}, line ${line + 1}: ${wordSalad(10, page * 40 + line)}`,
    ),
  ),
  { compress: true },
);
if (!values["skip-indexing"]) {
  const store = await openStore(sqlite!.options);
  const user = await store.users.create({ name: "indexer", password: "indexer's password" });
  const fixed = new Float32Array(dimensions).fill(1);
  // Warm-up: the extraction worker starts and loads pdf.js once, not in the first figure.
  await extractDocument(pdf, { fileName: "warm-up.pdf" });
  for (const [label, embed] of [
    ["without embedding", { embed: async (_: string, texts: readonly string[]) => texts.map(() => fixed) }],
    ["with embedding (tiny model, 64-dim, CPU)", embedder],
  ] as const) {
    const collection = await store.collections.create(user.id, { name: label, embeddingModel: model });
    const indexer = new Indexer({ repository: store.collections, embedder: embed });
    const file = await store.collections.addFile(user.id, collection.id, {
      name: "bench.pdf",
      size: pdf.byteLength,
      mimeType: "application/pdf",
    });
    const started = performance.now();
    indexer.enqueue({
      collectionId: collection.id,
      fileId: file!.id,
      fileName: "bench.pdf",
      mimeType: "application/pdf",
      bytes: pdf,
    });
    await indexer.idle();
    const seconds = (performance.now() - started) / 1000;
    const indexed = await store.collections.file(user.id, collection.id, file!.id);
    if (indexed?.status !== "ready") throw new Error(`bench.pdf not indexed: ${JSON.stringify(indexed)}`);
    log(`indexing ${label}: ${PAGES} pages, ${indexed.chunkCount} chunks in ${seconds.toFixed(2)} s`);
    rows.push([
      `knowledge indexing ${label}, 100-page PDF (${indexed.chunkCount} chunks)`,
      `${(PAGES / seconds).toFixed(1)} pages/s`,
      "-",
      "-",
    ]);
    await indexer.close();
  }
  await store.close();
}

// --- hybrid search over N chunks -----------------------------------------------------------------
for (const target of values["skip-search"] ? [] : [sqlite!, ...others]) {
  const store = await openStore(target.options);
  const knowledge = new KnowledgeService({ repository: store.collections, engine, embeddingModel: model });
  const user = await store.users.create({ name: "searcher", password: "searcher's password" });
  const collection = await knowledge.create(user.id, { name: "Synthetic" });
  const started = performance.now();
  for (let fileIndex = 0; fileIndex * CHUNKS_PER_FILE < chunkTotal; fileIndex++) {
    const file = await store.collections.addFile(user.id, collection.id, {
      name: `file-${fileIndex}.md`,
      size: 0,
      mimeType: "text/markdown",
    });
    const chunks = Array.from(
      { length: Math.min(CHUNKS_PER_FILE, chunkTotal - fileIndex * CHUNKS_PER_FILE) },
      (_, index) => {
        const seed = fileIndex * CHUNKS_PER_FILE + index;
        const text = `${prose(60, seed)} ${CHINESE[seed % CHINESE.length]}，第${seed % 97}节。`;
        return {
          ordinal: index,
          text,
          headingPath: [],
          start: 0,
          end: text.length,
          vector: randomVector(dimensions, seed),
        };
      },
    );
    await store.collections.addChunks(collection.id, file!.id, chunks);
    await store.collections.finishFile(file!.id);
  }
  const loadSeconds = (performance.now() - started) / 1000;
  log(`${target.name}: ${chunkTotal} chunks stored in ${loadSeconds.toFixed(1)} s`);
  const queries = Array.from({ length: queryCount }, (_, index) =>
    index % 4 === 3
      ? `${CHINESE[index % CHINESE.length]} 第${index % 97}节`
      : Array.from(
          { length: 3 },
          (_, word) => VOCABULARY[Math.floor(random(index * 3 + word)() * VOCABULARY.length)],
        ).join(" "),
  );
  // Warm-up: the first searches load the vector cache (PostgreSQL) and the pages.
  for (const query of queries.slice(0, 5))
    await knowledge.search(user.id, [collection.id], query, { limit: 8 });
  // The store's part alone: the same search with each query's vector embedded beforehand.
  const vectors = new Map<string, Float32Array>();
  for (const query of queries)
    vectors.set(query, (await embedder.embed(model, [query], new AbortController().signal))[0]!);
  const embedded = {
    embed: async (_: string, texts: readonly string[]) => texts.map((text) => vectors.get(text)!),
  };
  const signal = new AbortController().signal;
  const scope = await store.collections.searchScope(user.id, [collection.id]);
  const fileIds = scope.collections.flatMap((entry) => entry.fileIds);
  const modes = [
    [
      "keyword half only (FTS)",
      (query: string) => store.collections.keywordSearch(fileIds, queryTerms(query), 32),
    ],
    [
      "vector half only (32 nearest)",
      (query: string) => store.collections.vectorSearch(fileIds, vectors.get(query)!, 32),
    ],
    [
      "store only: FTS + vectors + RRF, query embedded beforehand",
      (query: string) =>
        hybridSearch(
          store.collections,
          embedded,
          { userId: user.id, collectionIds: [collection.id], query },
          { limit: 8, signal },
        ),
    ],
    [
      "whole search, query embedded by the tiny model",
      (query: string) => knowledge.search(user.id, [collection.id], query, { limit: 8 }),
    ],
  ] as const;
  for (const [label, search] of modes) {
    const samples: number[] = [];
    let found = 0;
    for (const query of queries) {
      const begun = performance.now();
      const hits = await search(query);
      samples.push(performance.now() - begun);
      if (hits.length > 0) found++;
    }
    const { p50, p95 } = stats(samples);
    log(
      `${target.name}, ${label}: p50 ${ms(p50)}, p95 ${ms(p95)} (${found}/${queries.length} queries with hits)`,
    );
    rows.push([
      `knowledge hybrid search over ${chunkTotal.toLocaleString("en")} chunks, ${target.name}, ${label} (p50 / p95)`,
      `${ms(p50)} / ${ms(p95)}`,
      "p50 < 50 ms",
      p50 < 50 ? "yes" : "no",
    ]);
  }
  await knowledge.close();
  await store.close();
  await target.drop();
}

if (values["skip-search"]) for (const target of [sqlite!, ...others]) await target.drop();
await engine.dispose();
await extractionThread.close();
if (values.json) console.log(JSON.stringify({ rows }));
else for (const row of rows) console.log(row.join(" | "));
