// Recall@k of knowledge search on the retrieval corpus (test/fixtures/retrieval-corpus.ts): the
// corpus's files indexed through the real KnowledgeService (extraction worker, chunker, a fixture
// model as embedder) into a real store, then each question asked three ways: the keyword half
// alone, the vector half alone, and the fused hybrid search the app uses. Shared by
// bench/retrieval-recall.ts and test/integration/knowledge-recall.test.ts.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalEngine } from "../../src/engines/local/local-engine.js";
import { Embedder } from "../../src/knowledge/embedder.js";
import { KnowledgeService } from "../../src/knowledge/knowledge-service.js";
import { queryTerms } from "../../src/store/search-text.js";
import { openStore, type Store, type StoreOptions } from "../../src/store/store.js";
import {
  corpusMarkdown,
  passageOfHit,
  type CorpusFile,
  type CorpusQuestion,
} from "../fixtures/retrieval-corpus.js";

export type SearchMode = "keyword" | "vector" | "hybrid";

export interface RecallReport {
  k: number;
  questions: number;
  passages: number;
  /** Share of questions with an answering passage among the first k, per mode. */
  recall: Record<SearchMode, number>;
  /** The questions each mode missed. */
  misses: Record<SearchMode, string[]>;
  /** Time to index every file (extraction, chunking, embedding), in ms. */
  indexMs: number;
}

/**
 * Indexes `files` into one collection of a new user and asks `questions`. `modelPath` is the GGUF
 * that embeds; `store` options default to a fresh SQLite database in a temporary directory.
 */
export async function measureRecall(options: {
  files: readonly CorpusFile[];
  questions: readonly CorpusQuestion[];
  modelPath: string;
  k?: number;
  store?: StoreOptions;
}): Promise<RecallReport> {
  const k = options.k ?? 5;
  const dataDir = options.store ? undefined : mkdtempSync(join(tmpdir(), "qiusuo-recall-"));
  const store: Store = await openStore(options.store ?? { dataDir: dataDir! });
  const engine = new LocalEngine({ contextSize: 512, parallel: 1, threads: 1, gpu: "off" });
  const knowledge = new KnowledgeService({ repository: store.collections, engine });
  try {
    await engine.addModelFile(options.modelPath, [], { preload: true });
    const user = await store.users.create({ name: "reader", password: "reader's password" });
    const collection = await knowledge.create(user.id, { name: "Retrieval corpus" });
    const started = performance.now();
    for (const file of options.files) {
      await knowledge.upload(user.id, collection.id, {
        name: file.name,
        mimeType: "text/markdown",
        bytes: Buffer.from(corpusMarkdown(file)),
      });
    }
    await knowledge.idle();
    const indexMs = performance.now() - started;
    const failed = (await store.collections.files(user.id, collection.id))!.filter(
      (file) => file.status !== "ready",
    );
    if (failed.length > 0) throw new Error(`Not indexed: ${JSON.stringify(failed)}`);

    const repository = store.collections;
    const scope = await repository.searchScope(user.id, [collection.id]);
    const fileIds = scope.collections.flatMap((entry) => entry.fileIds);
    const embedder = new Embedder(engine);
    const signal = new AbortController().signal;
    const search: Record<SearchMode, (query: string) => Promise<Array<string | null>>> = {
      keyword: async (query) =>
        (await repository.chunks(await repository.keywordSearch(fileIds, queryTerms(query), k))).map(
          passageOfHit,
        ),
      vector: async (query) => {
        const [vector] = await embedder.embed(collection.embeddingModel, [query], signal);
        return (await repository.chunks(await repository.vectorSearch(fileIds, vector!, k))).map(
          passageOfHit,
        );
      },
      hybrid: async (query) =>
        (await knowledge.search(user.id, [collection.id], query, { limit: k })).map(passageOfHit),
    };
    const misses: Record<SearchMode, string[]> = { keyword: [], vector: [], hybrid: [] };
    for (const question of options.questions) {
      for (const mode of ["keyword", "vector", "hybrid"] as const) {
        const found = await search[mode](question.question);
        if (!question.answers.some((answer) => found.includes(answer))) misses[mode].push(question.question);
      }
    }
    const total = options.questions.length;
    const recall = (mode: SearchMode) => (total - misses[mode].length) / total;
    return {
      k,
      questions: total,
      passages: options.files.reduce((sum, file) => sum + file.passages.length, 0),
      recall: { keyword: recall("keyword"), vector: recall("vector"), hybrid: recall("hybrid") },
      misses,
      indexMs,
    };
  } finally {
    await knowledge.close();
    await engine.dispose();
    await store.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }
}
