import { Readability } from "@mozilla/readability";
import type { ExtractedDocument } from "./document.js";
import { htmlToSections, parseBoundedHtml } from "./html-sections.js";

/**
 * A web page's readable article (Mozilla's Readability, as Firefox's reader view finds it) with its
 * headings kept; a page Readability finds no article in is read whole, less its navigation.
 */
export function extractHtml(html: string, maxElements: number, fileName: string): ExtractedDocument {
  const page = parseBoundedHtml(html, maxElements, fileName);
  const pageTitle = page.document.title?.trim();
  // Readability edits the document it reads; the fallback reads a fresh parse.
  const article = new Readability(page.document as never, { maxElemsToParse: maxElements }).parse();
  const content = article?.content
    ? parseBoundedHtml(article.content, maxElements, fileName).document
    : undefined;
  const { text, sections } = htmlToSections(
    content ?? parseBoundedHtml(html, maxElements, fileName).document.body ?? page.document,
  );
  const title = article?.title?.trim() || pageTitle;
  return { kind: "html", text, sections, ...(title ? { title } : {}) };
}
