import mammoth from "mammoth";
import type { ExtractedDocument } from "./document.js";
import { ExtractionError } from "./errors.js";
import { htmlToSections, parseBoundedHtml } from "./html-sections.js";
import type { ExtractionLimits } from "./limits.js";
import { checkZip } from "./zip-guard.js";

/**
 * A Word document through mammoth: to HTML (headings from Word's heading styles), then to
 * sections at each heading. The zip is checked before mammoth inflates it; images are skipped
 * without being read.
 */
export async function extractDocx(
  bytes: Buffer,
  limits: ExtractionLimits,
  fileName: string,
): Promise<ExtractedDocument> {
  const entries = checkZip(bytes, limits, fileName);
  if (!entries.includes("word/document.xml"))
    throw new ExtractionError("unreadable_file", `${fileName} is a zip file but not a Word document.`);
  let html: string;
  try {
    const result = await mammoth.convertToHtml(
      { buffer: bytes },
      { convertImage: mammoth.images.imgElement(async () => ({ src: "" })) },
    );
    html = result.value;
  } catch (error) {
    throw new ExtractionError(
      "unreadable_file",
      `${fileName} is not a readable DOCX file: ${error instanceof Error ? error.message : String(error)}.`,
    );
  }
  const { text, sections } = htmlToSections(
    parseBoundedHtml(html, limits.maxHtmlElements, fileName).document,
  );
  const title = sections.find((section) => section.level === 1)?.heading;
  return { kind: "docx", text, sections, ...(title ? { title } : {}) };
}
