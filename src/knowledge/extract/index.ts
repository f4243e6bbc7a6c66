export type { DocumentKind, DocumentSection, ExtractedDocument } from "./document.js";
export { ExtractionError, type ExtractionErrorCode } from "./errors.js";
export {
  extractDocument,
  ExtractionThread,
  extractionThread,
  type FileDescription,
} from "./extract-document.js";
export { checkDeclaredSize, DEFAULT_EXTRACTION_LIMITS, readUpload, type ExtractionLimits } from "./limits.js";
