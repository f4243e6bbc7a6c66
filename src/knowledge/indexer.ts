/**
 * The background queue that turns an uploaded file into searchable chunks: extraction (on the
 * extraction worker), chunking, embedding in batches, storing. One file at a time, since
 * extraction and embedding each keep a CPU busy; between batches the event loop is handed back,
 * so requests (and `/health`) are answered while a large file indexes.
 */
import { setImmediate as nextTurn } from "node:timers/promises";
import { QiusuoError } from "../core/errors.js";
import type { CollectionRepository } from "../store/collections.js";
import { chunkDocument, type ChunkOptions } from "./chunk.js";
import type { Embedder } from "./embedder.js";
import { extractDocument, type ExtractionLimits } from "./extract/index.js";

export interface IndexJob {
  collectionId: string;
  fileId: string;
  fileName: string;
  mimeType: string;
  bytes: Buffer;
}

export interface IndexerOptions {
  repository: CollectionRepository;
  /** What embeds the chunks (an `Embedder`; the bench gives one that does not, to time the rest). */
  embedder: Pick<Embedder, "embed">;
  /** Extraction limits (default extract/limits.ts's). */
  limits?: Partial<ExtractionLimits> | undefined;
  chunking?: ChunkOptions | undefined;
  /** Chunks embedded per engine call (default 16). */
  batchSize?: number | undefined;
  /** Bytes of uploads waiting their turn, at most (default 512 MB); past it an upload is a 429. */
  maxQueuedBytes?: number | undefined;
  /** Told of a file's failure that is not the file's fault (a store error); default console.error. */
  log?: ((message: string) => void) | undefined;
}

/** A fault of the file or the model, recorded on the file as its error. */
interface FileFault {
  code: string;
  message: string;
}

export class Indexer {
  private readonly queue: IndexJob[] = [];
  private queuedBytes = 0;
  private running: Promise<void> | undefined;
  private readonly stopping = new AbortController();

  constructor(private readonly options: IndexerOptions) {}

  /** Queues a file (already recorded `queued`); throws a 429 when the queue holds too much. */
  enqueue(job: IndexJob): void {
    this.checkRoom(job.bytes.byteLength);
    this.queue.push(job);
    this.queuedBytes += job.bytes.byteLength;
    this.running ??= this.drain().finally(() => (this.running = undefined));
  }

  /** Checks the queue before an upload is read: the same 429 as `enqueue`, without the bytes. */
  checkRoom(bytes: number): void {
    // An empty queue takes any file the upload limit lets through.
    const limit = this.options.maxQueuedBytes ?? 512 * 1024 * 1024;
    if (this.queuedBytes > 0 && this.queuedBytes + bytes > limit) {
      throw new QiusuoError(
        "rate_limit",
        "indexing_queue_full",
        "Too many files are waiting to be indexed; upload this one again when they are done.",
      );
    }
  }

  /** Stops: the file being indexed is abandoned (left for markInterrupted at the next start). */
  async close(): Promise<void> {
    this.stopping.abort();
    this.queue.length = 0;
    await this.running?.catch(() => {});
  }

  /** Resolves once the queue is empty (tests and the bench). */
  async idle(): Promise<void> {
    while (this.running) await this.running.catch(() => {});
  }

  private async drain(): Promise<void> {
    for (let job = this.queue.shift(); job && !this.stopping.signal.aborted; job = this.queue.shift()) {
      this.queuedBytes -= job.bytes.byteLength;
      try {
        const fault = await this.index(job);
        if (fault) await this.options.repository.setFileStatus(job.fileId, { status: "failed", ...fault });
      } catch (error) {
        if (this.stopping.signal.aborted) return;
        // The file or its collection was deleted meanwhile, or the store failed: nothing to record.
        (this.options.log ?? console.error)(`indexing ${job.fileName} failed: ${String(error)}`);
        await this.options.repository
          .setFileStatus(job.fileId, {
            status: "failed",
            code: "indexing_failed",
            message: "Indexing failed.",
          })
          .catch(() => {});
      }
    }
  }

  /** Indexes one file; a fault of the file or the model is returned, to be recorded on it. */
  private async index(job: IndexJob): Promise<FileFault | undefined> {
    const { repository, embedder } = this.options;
    const signal = this.stopping.signal;
    const embedding = await repository.embeddingOf(job.collectionId);
    if (!embedding) return undefined;
    await repository.setFileStatus(job.fileId, { status: "indexing", done: 0, total: 0 });
    let chunks;
    try {
      const document = await extractDocument(
        job.bytes,
        { fileName: job.fileName, mimeType: job.mimeType },
        this.options.limits,
        signal,
      );
      chunks = chunkDocument(document, this.options.chunking);
    } catch (error) {
      return faultOf(error);
    }
    if (chunks.length === 0) return { code: "no_text", message: "The file holds no text to index." };
    const batchSize = this.options.batchSize ?? 16;
    await repository.setFileStatus(job.fileId, { status: "indexing", done: 0, total: chunks.length });
    for (let start = 0; start < chunks.length; start += batchSize) {
      const batch = chunks.slice(start, start + batchSize);
      let vectors: Float32Array[];
      try {
        vectors = await embedder.embed(embedding.model, batch.map(embeddingText), signal);
      } catch (error) {
        return faultOf(error, `The embedding model '${embedding.model}' failed: `);
      }
      const stored = await repository.addChunks(
        job.collectionId,
        job.fileId,
        batch.map((chunk, index) => ({
          ordinal: chunk.index,
          text: chunk.text,
          headingPath: chunk.headingPath,
          page: chunk.page,
          start: chunk.start,
          end: chunk.end,
          vector: vectors[index]!,
        })),
      );
      if (!stored) {
        return {
          code: "embedding_dimensions_mismatch",
          message: `The embedding model '${embedding.model}' now gives vectors of another length than this collection's; make a new collection.`,
        };
      }
      const done = Math.min(chunks.length, start + batchSize);
      await repository.setFileStatus(job.fileId, { status: "indexing", done, total: chunks.length });
      await nextTurn();
    }
    await repository.finishFile(job.fileId);
    return undefined;
  }
}

/** A chunk as the embedding model reads it: its headings first, for context. */
function embeddingText(chunk: { text: string; headingPath: readonly string[] }): string {
  return chunk.headingPath.length > 0 ? `${chunk.headingPath.join(" > ")}\n\n${chunk.text}` : chunk.text;
}

function faultOf(error: unknown, prefix = ""): FileFault {
  if (error instanceof QiusuoError) return { code: error.code, message: `${prefix}${error.message}` };
  throw error;
}
