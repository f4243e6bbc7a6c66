import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { inflateSync } from "node:zlib";
import { sectionsAt, type ExtractedDocument } from "./document.js";
import { ExtractionError } from "./errors.js";
import type { ExtractionLimits } from "./limits.js";

const pdfjsRoot = dirname(createRequire(import.meta.url).resolve("pdfjs-dist/package.json"));

/**
 * A PDF's text through pdf.js (its legacy build, for Node), one section per page. pdf.js runs on
 * this thread (its "fake worker"): the caller is already a worker of its own.
 */
export async function extractPdf(
  bytes: Uint8Array,
  limits: ExtractionLimits,
  fileName: string,
): Promise<ExtractedDocument> {
  checkStreams(bytes, limits, fileName);
  const pdfjs = await import("pdfjs-dist/legacy/build/pdf.mjs");
  const task = pdfjs.getDocument({
    // pdf.js refuses a Buffer; the same memory as a plain Uint8Array it takes.
    data: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    isEvalSupported: false,
    disableFontFace: true,
    useSystemFonts: false,
    verbosity: 0,
    // Chinese, Japanese and Korean PDFs often name a predefined CMap rather than embed one.
    cMapUrl: `${join(pdfjsRoot, "cmaps")}/`,
    cMapPacked: true,
    standardFontDataUrl: `${join(pdfjsRoot, "standard_fonts")}/`,
  });
  let document: Awaited<typeof task.promise>;
  try {
    document = await task.promise;
  } catch (error) {
    throw failure(error, fileName);
  }
  try {
    if (document.numPages > limits.maxPdfPages)
      throw new ExtractionError(
        "document_too_complex",
        `${fileName} has ${document.numPages.toLocaleString("en")} pages; the limit is ` +
          `${limits.maxPdfPages.toLocaleString("en")} a file.`,
      );
    let text = "";
    const starts: Array<{ start: number; page: number }> = [];
    for (let number = 1; number <= document.numPages; number++) {
      const page = await document.getPage(number);
      const content = await page.getTextContent();
      page.cleanup();
      let pageText = "";
      for (const item of content.items) if ("str" in item) pageText += item.str + (item.hasEOL ? "\n" : "");
      pageText = pageText.replace(/\s+$/, "");
      if (pageText === "") continue;
      if (text !== "") text += "\n\n";
      starts.push({ start: text.length, page: number });
      text += pageText;
      if (text.length > limits.maxTextChars)
        throw new ExtractionError(
          "text_too_large",
          `${fileName} holds more than ${limits.maxTextChars.toLocaleString("en")} characters of text, the limit a file.`,
        );
    }
    const info = (await document.getMetadata().catch(() => undefined))?.info as
      { Title?: unknown } | undefined;
    const title = typeof info?.Title === "string" ? info.Title.trim() : "";
    if (starts[0]) starts[0] = { ...starts[0], start: 0 };
    return {
      kind: "pdf",
      text,
      sections: text === "" ? [] : sectionsAt(text, starts),
      ...(title ? { title } : {}),
    };
  } catch (error) {
    throw failure(error, fileName);
  } finally {
    await document.destroy();
  }
}

/** What pdf.js threw, as the user should read it. */
function failure(error: unknown, fileName: string): ExtractionError {
  if (error instanceof ExtractionError) return error;
  // pdf.js parses nested objects recursively: a PDF nested past the stack is built to be. Its
  // message handler passes the RangeError on as an error of its own, with the message kept.
  if (error instanceof RangeError || /call stack/i.test((error as Error).message))
    return new ExtractionError("document_too_complex", `${fileName} nests its objects too deeply to read.`);
  if ((error as { name?: string }).name === "PasswordException")
    return new ExtractionError("unreadable_file", `${fileName} is protected by a password.`);
  return new ExtractionError(
    "unreadable_file",
    `${fileName} is not a readable PDF: ${(error as Error).message}.`,
  );
}

/**
 * pdf.js inflates a stream whole into memory, outside the heap limit a worker can set; so each
 * Flate stream that is not an image (images are never decoded for text) is inflated here first
 * with its output capped, and a PDF bomb is refused before pdf.js sees it.
 */
function checkStreams(bytes: Uint8Array, limits: ExtractionLimits, fileName: string): void {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = buffer.indexOf("stream"); at !== -1; at = buffer.indexOf("stream", at + 6)) {
    if (buffer[at - 1] === 0x64 /* d of endstream */) continue;
    let dataStart = at + 6;
    if (buffer[dataStart] === 0x0d) dataStart++;
    if (buffer[dataStart] !== 0x0a) continue;
    dataStart++;
    const dictionaryStart = buffer.lastIndexOf("<<", at);
    const dictionary = buffer.toString("latin1", Math.max(dictionaryStart, at - 4096), at);
    const end = buffer.indexOf("endstream", dataStart);
    if (end === -1) return;
    if (!/\/FlateDecode/.test(dictionary) || /\/Subtype\s*\/Image/.test(dictionary)) continue;
    try {
      inflateSync(buffer.subarray(dataStart, end), { maxOutputLength: limits.maxPdfStreamBytes });
    } catch (error) {
      if ((error as { code?: string }).code === "ERR_BUFFER_TOO_LARGE")
        throw new ExtractionError(
          "document_too_complex",
          `${fileName} has a compressed stream that inflates past ${Math.round(limits.maxPdfStreamBytes / 1024 / 1024)} MB, the limit.`,
        );
      // A damaged stream is pdf.js's to judge: it reads what it can.
    }
    at = end;
  }
}
