/**
 * Hybrid search over a user's collections: the keyword search conversations use (FTS5 on SQLite,
 * PostgreSQL's full text) and nearest vectors by cosine, fused by reciprocal rank (RRF, k = 60),
 * which needs no common scale between a term count and a cosine.
 */
import { ModelNotFoundError, QiusuoError } from "../core/errors.js";
import type { CollectionRepository } from "../store/collections.js";
import { queryTerms } from "../store/search-text.js";
import type { Embedder } from "./embedder.js";

/** A passage found, as `KnowledgeService.search` and `POST /api/collections/search` give it. */
export interface KnowledgeHit {
  collectionId: string;
  fileId: string;
  fileName: string;
  chunkId: string;
  text: string;
  /** The fused score: the sum of 1 / (60 + rank) over the lists it is in; higher is better. */
  score: number;
  /** The PDF page it is on. */
  page?: number;
  /** The headings it sits under, outermost first. */
  headingPath?: string[];
}

/** RRF's constant: ranks past the first few count for little, and no list dominates. */
const RRF_K = 60;

export interface HybridSearchOptions {
  limit: number;
  signal: AbortSignal;
}

export async function hybridSearch(
  repository: CollectionRepository,
  embedder: Pick<Embedder, "embed">,
  request: { userId: string; collectionIds: readonly string[]; query: string },
  options: HybridSearchOptions,
): Promise<KnowledgeHit[]> {
  const scope = await repository.searchScope(request.userId, request.collectionIds);
  const candidates = Math.max(options.limit * 4, 20);
  const allFiles = scope.collections.flatMap((collection) => collection.fileIds);
  if (allFiles.length === 0) return [];
  // Each collection's vectors are compared only with the query embedded by its own model.
  const byModel = new Map<string, string[]>();
  for (const collection of scope.collections) {
    if (collection.fileIds.length === 0) continue;
    byModel.set(collection.embeddingModel, [
      ...(byModel.get(collection.embeddingModel) ?? []),
      ...collection.fileIds,
    ]);
  }
  const lists = await Promise.all([
    repository.keywordSearch(allFiles, queryTerms(request.query), candidates),
    ...[...byModel].map(async ([model, fileIds]) => {
      const [vector] = await embedder
        .embed(model, [request.query], options.signal)
        .catch((error: unknown) => {
          throw error instanceof ModelNotFoundError ? embeddingModelGone(model) : error;
        });
      return repository.vectorSearch(fileIds, vector!, candidates);
    }),
  ]);
  const fused = fuse(lists).slice(0, options.limit);
  const chunks = await repository.chunks(fused.map((hit) => hit.id));
  const scores = new Map(fused.map((hit) => [hit.id, hit.score]));
  return chunks.map((chunk) => ({ ...chunk, score: scores.get(chunk.chunkId)! }));
}

/**
 * A collection's vectors are comparable only with its own model's: with that model gone, its
 * search is refused rather than run on another model's vectors.
 */
function embeddingModelGone(model: string): QiusuoError {
  return new QiusuoError(
    "unavailable",
    "embedding_model_unavailable",
    `A collection searched was indexed with the embedding model '${model}', which this server no longer serves. ` +
      "Serve that model again, or upload the files to a new collection.",
    { param: "collectionIds" },
  );
}

/** Reciprocal rank fusion of ranked id lists, best first (ties keep the earlier lists' order). */
export function fuse(lists: ReadonlyArray<readonly string[]>): Array<{ id: string; score: number }> {
  const scores = new Map<string, number>();
  for (const list of lists) {
    list.forEach((id, index) => scores.set(id, (scores.get(id) ?? 0) + 1 / (RRF_K + index + 1)));
  }
  return [...scores].map(([id, score]) => ({ id, score })).sort((a, b) => b.score - a.score);
}
