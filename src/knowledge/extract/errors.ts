import { QiusuoError } from "../../core/errors.js";

/**
 * Why a file cannot be extracted. Each code names the limit or the fault, so the app can tell the
 * user what to do (split the file, export it as text, ...).
 */
export type ExtractionErrorCode =
  /** The file is not a kind qiusuo reads (an image, an archive, a spreadsheet). */
  | "unsupported_file"
  /** The file has no bytes. */
  | "empty_file"
  /** The file is over the upload limit. */
  | "file_too_large"
  /** The text extracted is over the text limit. */
  | "text_too_large"
  /** Too many pages, elements or zip entries, or a stream that inflates past its limit. */
  | "document_too_complex"
  /** A DOCX whose declared sizes or compression ratio say it is built to inflate without end. */
  | "zip_bomb"
  /** Extraction ran past the per-file time limit. */
  | "extraction_timeout"
  /** The file is damaged, encrypted, or not what its name says. */
  | "unreadable_file"
  /** The file holds no text (a scanned PDF, say: qiusuo does not OCR). */
  | "no_text";

export class ExtractionError extends QiusuoError {
  override readonly name = "ExtractionError";
  declare readonly code: ExtractionErrorCode;
  constructor(code: ExtractionErrorCode, message: string) {
    super(code === "file_too_large" ? "request_too_large" : "invalid_request", code, message, {
      param: "file",
    });
  }
}
