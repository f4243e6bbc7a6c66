/**
 * Knowledge bases for the app: collections of a user's files, indexed in the background and
 * searched hybrid (keyword and vector). The routes (server/routes/app-collections.ts) and the chat
 * turn's `knowledge_search` tool use it; every method acts for one user.
 */
import type { Engine } from "../core/engine.js";
import { QiusuoError } from "../core/errors.js";
import type { Collection, CollectionFile, CollectionRepository } from "../store/collections.js";
import type { Source, Tool, ToolResult } from "../tools/tool.js";
import type { ChunkOptions } from "./chunk.js";
import { Embedder } from "./embedder.js";
import type { ExtractionLimits } from "./extract/index.js";
import { hybridSearch, type KnowledgeHit } from "./hybrid-search.js";
import { Indexer } from "./indexer.js";

export type { KnowledgeHit } from "./hybrid-search.js";

export interface KnowledgeServiceOptions {
  repository: CollectionRepository;
  /** What embeds: the router, so a local GGUF or an upstream's `/v1/embeddings`. */
  engine: Engine;
  /**
   * The model new collections are indexed with (`--embedding-model`); default the server's
   * default model, since any GGUF can embed (a dedicated embedding model does it better).
   */
  embeddingModel?: string | undefined;
  limits?: Partial<ExtractionLimits> | undefined;
  chunking?: ChunkOptions | undefined;
  /** Bytes of uploads waiting to be indexed, at most (default 512 MB). */
  maxQueuedBytes?: number | undefined;
  /** This server's instance id, recorded on the files it indexes; none in a single process. */
  instanceId?: string | undefined;
  /**
   * The ids of the instances running now (store.instances.liveIds), so `start` fails only the
   * files of instances that are gone; without it, every file left queued or indexing.
   */
  liveInstances?: (() => Promise<string[]>) | undefined;
}

/** Passages the `knowledge_search` tool gives the model. */
const TOOL_PASSAGES = 5;

export class KnowledgeService {
  private readonly embedder: Embedder;
  private readonly indexer: Indexer;

  constructor(private readonly options: KnowledgeServiceOptions) {
    this.embedder = new Embedder(options.engine);
    this.indexer = new Indexer({
      repository: options.repository,
      embedder: this.embedder,
      limits: options.limits,
      chunking: options.chunking,
      maxQueuedBytes: options.maxQueuedBytes,
    });
  }

  /** Marks files a stopped server left half-indexed as failed (their bytes went with it). */
  async start(): Promise<void> {
    await this.options.repository.markInterrupted((await this.options.liveInstances?.()) ?? []);
  }

  async close(): Promise<void> {
    await this.indexer.close();
  }

  /** Resolves once every queued file is indexed (tests and the bench). */
  idle(): Promise<void> {
    return this.indexer.idle();
  }

  /** The model a collection made now is indexed with. */
  embeddingModel(): string {
    const model = this.options.embeddingModel ?? this.options.engine.listModels()[0]?.id;
    if (model === undefined) {
      throw new QiusuoError(
        "unavailable",
        "no_embedding_model",
        "This server has no model to embed files with; start it with --model or --embedding-model.",
      );
    }
    return model;
  }

  create(userId: string, fields: { name: string; description?: string | undefined }): Promise<Collection> {
    return this.options.repository.create(userId, {
      name: fields.name,
      ...(fields.description === undefined ? {} : { description: fields.description }),
      embeddingModel: this.embeddingModel(),
    });
  }

  /** Throws the 429 an upload of this size would get, before it is read. */
  checkRoom(bytes: number): void {
    this.indexer.checkRoom(bytes);
  }

  /**
   * Records a file and queues it for indexing; a file of the same name is replaced once this one
   * is ready. Undefined when the user has no such collection.
   */
  async upload(
    userId: string,
    collectionId: string,
    file: { name: string; mimeType: string; bytes: Buffer },
  ): Promise<CollectionFile | undefined> {
    this.indexer.checkRoom(file.bytes.byteLength);
    const added = await this.options.repository.addFile(
      userId,
      collectionId,
      { name: file.name, size: file.bytes.byteLength, mimeType: file.mimeType },
      this.options.instanceId ?? null,
    );
    if (!added) return undefined;
    this.indexer.enqueue({
      collectionId,
      fileId: added.id,
      fileName: file.name,
      mimeType: file.mimeType,
      bytes: file.bytes,
    });
    return added;
  }

  /** The passages of the user's `collectionIds` that best answer `query` (others' ids find nothing). */
  search(
    userId: string,
    collectionIds: readonly string[],
    query: string,
    options: { limit?: number; signal?: AbortSignal } = {},
  ): Promise<KnowledgeHit[]> {
    return hybridSearch(
      this.options.repository,
      this.embedder,
      { userId, collectionIds, query },
      { limit: options.limit ?? 8, signal: options.signal ?? new AbortController().signal },
    );
  }

  /** The `knowledge_search` tool over the user's `collectionIds`, for a chat turn. */
  tool(userId: string, collectionIds: readonly string[]): Tool {
    return {
      definition: {
        name: "knowledge_search",
        description:
          "Searches the user's attached knowledge base (their uploaded files) and gives the passages that match; " +
          "cite them as [citation:N].",
        parameters: {
          type: "object",
          properties: { query: { type: "string", description: "What to look for, in a few words." } },
          required: ["query"],
        },
        strict: false,
      },
      run: async (args, context) => {
        const query = queryOf(args);
        const hits = await this.search(userId, collectionIds, query, {
          limit: TOOL_PASSAGES,
          signal: context.signal,
        });
        return toolResult(query, hits);
      },
    };
  }
}

function queryOf(args: unknown): string {
  const query = typeof args === "object" && args !== null ? (args as { query?: unknown }).query : undefined;
  if (typeof query !== "string" || query.trim() === "")
    throw new QiusuoError(
      "invalid_request",
      "invalid_arguments",
      "knowledge_search needs a non-empty `query` string.",
    );
  return query.trim().slice(0, 2_000);
}

/** Numbered passages for the model, and the same numbers on the sources for `[citation:N]`. */
export function toolResult(query: string, hits: readonly KnowledgeHit[]): ToolResult {
  if (hits.length === 0)
    return { content: `No passage in the attached files matches "${query}".`, isError: false };
  const sources: Source[] = hits.map((hit, index) => ({
    index: index + 1,
    title: hit.page === undefined ? hit.fileName : `${hit.fileName}, page ${hit.page}`,
    file: hit.fileName,
    passage: hit.text,
  }));
  const content = hits
    .map((hit, index) => {
      const heading = hit.headingPath ? ` — ${hit.headingPath.join(" > ")}` : "";
      return `[citation:${index + 1}] ${sources[index]!.title}${heading}\n${hit.text}`;
    })
    .join("\n\n");
  return { content, isError: false, sources };
}
