/**
 * The one error the archive readers throw, whatever the input: the route maps it like any other
 * QiusuoError (an unknown format is a 400, a recognised but unusable file a 422).
 */
import { QiusuoError } from "../../core/errors.js";

export type ArchiveErrorCode =
  /** The JSON is none of the formats `parseImport` reads. */
  | "import_format_unknown"
  /** The format is recognised but the file is broken (a cycle, a missing field, no conversations). */
  | "import_invalid"
  /** More conversations, messages or nesting than an import accepts. */
  | "import_too_large";

export class ArchiveError extends QiusuoError {
  override readonly name = "ArchiveError";
  declare readonly code: ArchiveErrorCode;

  constructor(code: ArchiveErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code === "import_format_unknown" ? "invalid_request" : "invalid_parameter", code, message, {
      cause: options.cause,
    });
  }
}
