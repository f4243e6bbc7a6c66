/**
 * The extraction worker's entry: one job at a time, as extract-document.ts sends them. Errors go
 * back as `{code, message}` for the typed ones, and as a plain message for anything else.
 */
import { parentPort } from "node:worker_threads";
import type { ExtractorKind } from "./document.js";
import { ExtractionError } from "./errors.js";
import type { ExtractionLimits } from "./limits.js";
import { runExtractor } from "./run-extractor.js";

export interface ExtractionJob {
  id: number;
  bytes: Uint8Array;
  kind: ExtractorKind;
  fileName: string;
  limits: ExtractionLimits;
}

parentPort!.on("message", async (job: ExtractionJob) => {
  try {
    const bytes = Buffer.from(job.bytes.buffer, job.bytes.byteOffset, job.bytes.byteLength);
    const document = await runExtractor(bytes, job.kind, job.fileName, job.limits);
    parentPort!.postMessage({ id: job.id, document });
  } catch (error) {
    if (error instanceof ExtractionError)
      parentPort!.postMessage({ id: job.id, code: error.code, message: error.message });
    else
      parentPort!.postMessage({
        id: job.id,
        message: error instanceof Error ? error.message : String(error),
      });
  }
});
