import { ExtractionError } from "./errors.js";

/** The bounds on one file's extraction; each one refused gives its own error code. */
export interface ExtractionLimits {
  /** Bytes of the uploaded file (default 200 MB): `file_too_large`. */
  maxFileBytes: number;
  /** Characters of text extracted (default 20 million): `text_too_large`. */
  maxTextChars: number;
  /** Pages of a PDF (default 2,000): `document_too_complex`. */
  maxPdfPages: number;
  /** Bytes one compressed PDF stream may inflate to (default 128 MB): `document_too_complex`. */
  maxPdfStreamBytes: number;
  /** Bytes a DOCX's entries may inflate to, all together (default 256 MB): `zip_bomb`. */
  maxUnzippedBytes: number;
  /** Inflated to compressed size of a DOCX entry over 1 MB (default 200; XML runs 5-30): `zip_bomb`. */
  maxZipRatio: number;
  /** Entries in a DOCX (default 10,000): `document_too_complex`. */
  maxZipEntries: number;
  /** Elements of an HTML page or a DOCX's HTML (default 200,000): `document_too_complex`. */
  maxHtmlElements: number;
  /**
   * Bytes the process's resident memory may grow by while one file is read (default 1 GB):
   * `document_too_complex`, and the worker is replaced.
   */
  maxMemoryBytes: number;
  /** Milliseconds one file may take (default 60 s): `extraction_timeout`, and the worker is replaced. */
  timeoutMs: number;
}

export const DEFAULT_EXTRACTION_LIMITS: Readonly<ExtractionLimits> = Object.freeze({
  maxFileBytes: 200 * 1024 * 1024,
  maxTextChars: 20_000_000,
  maxPdfPages: 2000,
  maxPdfStreamBytes: 128 * 1024 * 1024,
  maxUnzippedBytes: 256 * 1024 * 1024,
  maxZipRatio: 200,
  maxZipEntries: 10_000,
  maxHtmlElements: 200_000,
  maxMemoryBytes: 1024 * 1024 * 1024,
  timeoutMs: 60_000,
});

const megabytes = (bytes: number) => `${Math.round((bytes / 1024 / 1024) * 10) / 10} MB`;

/**
 * Refuses a file by the size its upload declares (a Content-Length, a multipart part's size)
 * before a byte of it is read.
 */
export function checkDeclaredSize(bytes: number, limits: Pick<ExtractionLimits, "maxFileBytes">): void {
  if (bytes > limits.maxFileBytes)
    throw new ExtractionError(
      "file_too_large",
      `The file is ${megabytes(bytes)}; the limit is ${megabytes(limits.maxFileBytes)} a file.`,
    );
}

/**
 * Reads an upload into memory, refusing it as soon as it passes the size limit (so a file that
 * declared no size, or lied about it, is never read whole).
 */
export async function readUpload(
  stream: AsyncIterable<Uint8Array>,
  limits: Pick<ExtractionLimits, "maxFileBytes">,
): Promise<Buffer> {
  const pieces: Uint8Array[] = [];
  let total = 0;
  for await (const piece of stream) {
    total += piece.byteLength;
    if (total > limits.maxFileBytes)
      throw new ExtractionError(
        "file_too_large",
        `The file is over ${megabytes(limits.maxFileBytes)}, the limit a file.`,
      );
    pieces.push(piece);
  }
  return Buffer.concat(pieces, total);
}
