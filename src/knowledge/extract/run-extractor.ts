import { decodeText } from "./decode-text.js";
import type { ExtractedDocument, ExtractorKind } from "./document.js";
import { extractDocx } from "./docx.js";
import { ExtractionError } from "./errors.js";
import { extractHtml } from "./html.js";
import type { ExtractionLimits } from "./limits.js";
import { extractMarkdown } from "./markdown.js";
import { extractPdf } from "./pdf.js";
import { extractCode, extractPlainText } from "./plain-text.js";
import { extractReadableText } from "./web-page.js";

/** Runs the extractor for a detected kind, on the thread it is called on, and checks the text's size. */
export async function runExtractor(
  bytes: Buffer,
  kind: ExtractorKind,
  fileName: string,
  limits: ExtractionLimits,
): Promise<ExtractedDocument> {
  const document = await extract(bytes, kind, fileName, limits);
  checkTextSize(document.text, fileName, limits);
  if (document.text.trim() === "")
    throw new ExtractionError(
      "no_text",
      kind === "pdf"
        ? `${fileName} has no text layer (a scan?); qiusuo does not read text from images.`
        : `${fileName} holds no text.`,
    );
  return document;
}

function checkTextSize(text: string, fileName: string, limits: ExtractionLimits): void {
  if (text.length > limits.maxTextChars)
    throw new ExtractionError(
      "text_too_large",
      `${fileName} holds more than ${limits.maxTextChars.toLocaleString("en")} characters of text, the limit a file.`,
    );
}

/** A text file's characters, refused before they are parsed when there are too many. */
function source(bytes: Buffer, fileName: string, limits: ExtractionLimits): string {
  const text = decodeText(bytes, fileName);
  checkTextSize(text, fileName, limits);
  return text;
}

function extract(
  bytes: Buffer,
  kind: ExtractorKind,
  fileName: string,
  limits: ExtractionLimits,
): ExtractedDocument | Promise<ExtractedDocument> {
  switch (kind) {
    case "pdf":
      return extractPdf(bytes, limits, fileName);
    case "docx":
      return extractDocx(bytes, limits, fileName);
    case "html":
      return extractHtml(decodeText(bytes, fileName), limits.maxHtmlElements, fileName);
    case "markdown":
      return extractMarkdown(source(bytes, fileName, limits));
    case "code":
      return extractCode(source(bytes, fileName, limits));
    case "text":
      return extractPlainText(source(bytes, fileName, limits));
    case "web-page":
      return { kind: "html", sections: [], ...extractReadableText(source(bytes, fileName, limits)) };
  }
}
