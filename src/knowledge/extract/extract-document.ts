import { Worker } from "node:worker_threads";
import { detectKind } from "./detect.js";
import type { ExtractedDocument } from "./document.js";
import { ExtractionError, type ExtractionErrorCode } from "./errors.js";
import { checkDeclaredSize, DEFAULT_EXTRACTION_LIMITS, type ExtractionLimits } from "./limits.js";
import type { ExtractionJob } from "./worker.js";

export interface FileDescription {
  /** The file's name as uploaded; its extension decides the kind where the bytes do not. */
  fileName: string;
  /** The MIME type the upload declared, the last resort for the kind. */
  mimeType?: string;
}

type WorkerReply =
  { id: number; document: ExtractedDocument } | { id: number; code?: ExtractionErrorCode; message: string };

interface Job {
  message: ExtractionJob;
  signal: AbortSignal | undefined;
  resolve: (document: ExtractedDocument) => void;
  reject: (error: Error) => void;
}

/** Heap a worker may use (MB): a hostile file that makes a parser allocate without end kills only the worker. */
const WORKER_HEAP_MB = 1024;
const WORKER_STACK_MB = 8;
/** How often a running job's memory is looked at. */
const MEMORY_WATCH_MS = 50;

/**
 * One worker thread that extracts files one after another, so parsing a 2,000-page PDF never holds
 * the event loop. A job that runs past its time, is aborted, or crashes the worker ends it; the
 * next job starts a fresh one. Idle, the worker does not keep the process alive.
 */
export class ExtractionThread {
  private worker: Worker | undefined;
  private running:
    { job: Job; timer: NodeJS.Timeout; watch: NodeJS.Timeout; onAbort: () => void } | undefined;
  private readonly queue: Job[] = [];
  private nextId = 0;

  /** Runs a job within its limits' time and memory; a job that passes either ends the worker. */
  run(message: Omit<ExtractionJob, "id">, signal?: AbortSignal): Promise<ExtractedDocument> {
    return new Promise((resolve, reject) => {
      const job: Job = { message: { ...message, id: this.nextId++ }, signal, resolve, reject };
      if (signal?.aborted) return reject(abortError(signal));
      signal?.addEventListener(
        "abort",
        () => {
          const at = this.queue.indexOf(job);
          if (at !== -1) {
            this.queue.splice(at, 1);
            reject(abortError(signal));
          }
        },
        { once: true },
      );
      this.queue.push(job);
      this.next();
    });
  }

  /** Ends the worker (tests; shutdown). Queued jobs still run on a fresh one. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  private next(): void {
    if (this.running) return;
    const job = this.queue.shift();
    if (!job) {
      this.worker?.unref();
      return;
    }
    const worker = this.start();
    worker.ref();
    const { fileName, limits } = job.message;
    const timer = setTimeout(
      () =>
        this.finish(
          new ExtractionError(
            "extraction_timeout",
            `${fileName} took longer than ${limits.timeoutMs / 1000} s to read, the limit a file.`,
          ),
          true,
        ),
      limits.timeoutMs,
    );
    // The worker's heap is capped, but typed arrays (a PDF stream pdf.js inflates whole, behind a
    // filter the stream check cannot undo) live outside it: the process's resident memory is watched.
    const baseline = process.memoryUsage.rss();
    const watch = setInterval(() => {
      if (process.memoryUsage.rss() - baseline > limits.maxMemoryBytes)
        this.finish(
          new ExtractionError(
            "document_too_complex",
            `${fileName} needs more than ${Math.round(limits.maxMemoryBytes / 1024 / 1024)} MB of memory to read, the limit a file.`,
          ),
          true,
        );
    }, MEMORY_WATCH_MS);
    const onAbort = () => this.finish(abortError(job.signal!), true);
    job.signal?.addEventListener("abort", onAbort, { once: true });
    this.running = { job, timer, watch, onAbort };
    // The worker gets a copy of just these bytes (a Buffer may be a view into a larger pool), so the
    // caller's stay theirs; copying 200 MB holds the loop some 30 ms, posting it moves it.
    const bytes = new Uint8Array(job.message.bytes);
    worker.postMessage({ ...job.message, bytes }, [bytes.buffer]);
  }

  /** Settles the running job; `endWorker` when the worker may still be busy with it. */
  private finish(outcome: ExtractedDocument | Error, endWorker: boolean): void {
    const running = this.running;
    if (!running) return;
    this.running = undefined;
    clearTimeout(running.timer);
    clearInterval(running.watch);
    running.job.signal?.removeEventListener("abort", running.onAbort);
    if (outcome instanceof Error) running.job.reject(outcome);
    else running.job.resolve(outcome);
    if (endWorker) {
      const worker = this.worker;
      this.worker = undefined;
      void worker?.terminate();
    }
    this.next();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(BOOTSTRAP, {
      eval: true,
      workerData: { module: WORKER_MODULE },
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB, stackSizeMb: WORKER_STACK_MB },
    });
    worker.on("message", (reply: WorkerReply) => {
      if (this.worker !== worker || reply.id !== this.running?.job.message.id) return;
      if ("document" in reply) this.finish(reply.document, false);
      else
        this.finish(
          new ExtractionError(
            reply.code ?? "unreadable_file",
            reply.code
              ? reply.message
              : `${this.running.job.message.fileName} could not be read: ${reply.message}.`,
          ),
          false,
        );
    });
    const crashed = (error: Error | undefined) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      const out = (error as { code?: string } | undefined)?.code === "ERR_WORKER_OUT_OF_MEMORY";
      const fileName = this.running?.job.message.fileName ?? "The file";
      this.finish(
        new ExtractionError(
          out ? "document_too_complex" : "unreadable_file",
          out
            ? `${fileName} needs more memory to read than a file may use (${WORKER_HEAP_MB} MB).`
            : `${fileName} could not be read: ${error?.message ?? "the extraction worker stopped"}.`,
        ),
        false,
      );
    };
    worker.on("error", crashed);
    worker.on("exit", () => crashed(undefined));
    this.worker = worker;
    return worker;
  }
}

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error
    ? signal.reason
    : new DOMException("The extraction was aborted.", "AbortError");
}

// Built, the worker is worker.js beside this file; under tsx (tests, bench) it is worker.ts, and the
// worker registers tsx itself, as a worker does not inherit the loader hooks.
const WORKER_MODULE = new URL(
  import.meta.url.endsWith(".ts") ? "./worker.ts" : "./worker.js",
  import.meta.url,
).href;
const BOOTSTRAP = `
const { workerData } = require("node:worker_threads");
(async () => {
  if (workerData.module.endsWith(".ts")) (await import("tsx/esm/api")).register();
  await import(workerData.module);
})();
`;

/** One per process: uploads are extracted one after another. */
export const extractionThread = new ExtractionThread();

/**
 * Extracts a file's text and structure on the extraction worker, within `limits` (each refused
 * with its own ExtractionError). The kind is found here, from the bytes, the name and the MIME
 * type, so an unsupported or empty file is refused without touching the worker.
 */
export async function extractDocument(
  bytes: Uint8Array,
  file: FileDescription,
  limits: Partial<ExtractionLimits> = {},
  signal?: AbortSignal,
): Promise<ExtractedDocument> {
  const bounds: ExtractionLimits = { ...DEFAULT_EXTRACTION_LIMITS, ...limits };
  checkDeclaredSize(bytes.byteLength, bounds);
  const kind = detectKind(bytes, file.fileName, file.mimeType);
  return extractionThread.run({ bytes, kind, fileName: file.fileName, limits: bounds }, signal);
}
