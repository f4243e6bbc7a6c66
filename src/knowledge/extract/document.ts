/** What extraction makes of one file: its text, and that text's structure for chunking and citing. */

/** How a file was read. `code` keeps its lines; `text` is prose without markup. */
export type DocumentKind = "pdf" | "docx" | "html" | "markdown" | "text" | "code";

/**
 * What the worker can be asked to read: a file of a detected kind, or a fetched web page (search
 * answers: Readability's article as paragraphs, with its byline and site name; never an upload).
 */
export type ExtractorKind = DocumentKind | "web-page";

/**
 * One stretch of the document under one heading (or one PDF page). Sections tile the text in
 * order: the first starts at 0, each starts where the one before ends, the last ends at
 * `text.length`, and `text` is `document.text.slice(start, end)`, its heading line included.
 */
export interface DocumentSection {
  /** The heading this stretch sits under, as written (Markdown and DOCX/HTML headings; a code block's first line). */
  heading?: string;
  /** The heading's level, 1 for a top-level heading; absent where there is no heading. */
  level?: number;
  /** The PDF page it is on, from 1. */
  page?: number;
  /** The line it starts on, from 1 (code files, so a citation can point at it). */
  line?: number;
  start: number;
  end: number;
  text: string;
}

export interface ExtractedDocument {
  kind: DocumentKind;
  /** The document's own title, when it names one (PDF metadata, HTML `<title>`, a first top heading). */
  title?: string;
  /** A web page's author line and site name, when Readability finds them. */
  byline?: string;
  siteName?: string;
  text: string;
  sections: DocumentSection[];
}

/** Builds sections that tile `text` from the offsets where each one starts (the first must be 0). */
export function sectionsAt(
  text: string,
  starts: ReadonlyArray<Omit<DocumentSection, "end" | "text">>,
): DocumentSection[] {
  return starts.map((section, index) => {
    const end = starts[index + 1]?.start ?? text.length;
    return { ...section, end, text: text.slice(section.start, end) };
  });
}
