/**
 * A web page's readable text, read on the extraction worker for fetch-page.ts: Mozilla's
 * Readability (Firefox Reader View's extractor) over a linkedom document, so navigation, ads and
 * footers fall away and the article stays. Readability's own `textContent` runs paragraphs
 * together, so its article node is walked here instead, keeping paragraph and list breaks a model
 * can read. Pages Readability finds no article in (a short page, a listing) fall back to the
 * body's text without scripts and styles.
 */
import { Readability } from "@mozilla/readability";
import { parseHTML } from "linkedom";

/** What a page says, as text. */
export interface ReadableText {
  /** The article's title, else the document's `<title>`; empty when it has neither. */
  title: string;
  text: string;
  byline?: string;
  siteName?: string;
}

/** The small part of the DOM the walk uses (linkedom's nodes have it; the DOM lib is not loaded here). */
interface TextNode {
  nodeType: number;
  nodeName: string;
  textContent: string | null;
  childNodes: ArrayLike<TextNode>;
}

const ELEMENT = 1;
const TEXT = 3;
/** Elements whose text stands apart as a paragraph. */
const PARAGRAPH = new Set(
  "ADDRESS ARTICLE ASIDE BLOCKQUOTE DD DIV DL DT FIGCAPTION FIGURE FOOTER FORM H1 H2 H3 H4 H5 H6 HEADER HR MAIN NAV OL P SECTION TABLE UL".split(
    " ",
  ),
);
/** Elements that start a new line without a blank line before it. */
const LINE = new Set(["BR", "LI", "TR", "CAPTION"]);
/** Elements whose text is never shown. */
const HIDDEN = new Set(["SCRIPT", "STYLE", "NOSCRIPT", "TEMPLATE", "SVG", "CANVAS", "IFRAME", "HEAD"]);

/** `<pre>` text hides its layout from the whitespace clean-up behind private-use stand-ins. */
const PRE_STAND_INS: ReadonlyArray<[string, string]> = [
  ["\n", "\ue000"],
  [" ", "\ue001"],
  ["\t", "\ue002"],
];
const protect = (text: string) =>
  PRE_STAND_INS.reduce((result, [plain, stand]) => result.replaceAll(plain, stand), text);
const unprotect = (text: string) =>
  PRE_STAND_INS.reduce((result, [plain, stand]) => result.replaceAll(stand, plain), text);

/** The text under `root`: whitespace collapsed within lines, blocks on their own lines, `<pre>` kept. */
export function nodeText(root: TextNode): string {
  const parts: string[] = [];
  const walk = (node: TextNode, preformatted: boolean) => {
    if (node.nodeType === TEXT) {
      const text = node.textContent ?? "";
      parts.push(preformatted ? protect(text) : text.replace(/[\r\n]+/g, " "));
      return;
    }
    if (node.nodeType !== ELEMENT) return;
    const name = node.nodeName.toUpperCase(); // SVG and MathML keep their lower-case names
    if (HIDDEN.has(name)) return;
    const paragraph = PARAGRAPH.has(name) || name === "PRE";
    parts.push(paragraph ? "\n\n" : LINE.has(name) ? "\n" : "");
    if (name === "LI") parts.push("- ");
    if (name === "TD" || name === "TH") parts.push(" ");
    for (const child of Array.from(node.childNodes)) walk(child, preformatted || name === "PRE");
    if (paragraph) parts.push("\n\n");
  };
  walk(root, false);
  const cleaned = parts
    .join("")
    .split(/\n/)
    .map((line) => line.replace(/[ \t\f\v\r\u00a0]+/g, " ").trim())
    .join("\n")
    .replace(/\n{3,}/g, "\n\n")
    .trim();
  return unprotect(cleaned);
}

/** Readability's article from `html`, or the body's text when it finds none. */
export function extractReadableText(html: string): ReadableText {
  const { document } = parseHTML(html);
  const documentTitle = (document.title ?? "").trim();
  const article = new Readability<TextNode>(document as never, {
    serializer: (node) => node as unknown as TextNode,
  }).parse();
  // Readability prunes the document it reads, so the fallback parses the page afresh.
  const content = article?.content ?? (parseHTML(html).document.body as unknown as TextNode | null);
  const optional = (value: string | null | undefined) => {
    const trimmed = value?.trim();
    return trimmed ? trimmed : undefined;
  };
  return {
    title: optional(article?.title) ?? documentTitle,
    text: content ? nodeText(content) : "",
    ...(optional(article?.byline) === undefined ? {} : { byline: optional(article?.byline)! }),
    ...(optional(article?.siteName) === undefined ? {} : { siteName: optional(article?.siteName)! }),
  };
}
