import { parseHTML } from "linkedom";
import { sectionsAt, type DocumentSection } from "./document.js";
import { ExtractionError } from "./errors.js";

/** The few DOM members the walk reads; linkedom's nodes have them (the project has no DOM lib types). */
interface DomNode {
  nodeType: number;
  nodeName: string;
  textContent: string | null;
  childNodes: ArrayLike<DomNode>;
}

const BLOCKS = new Set(
  "P DIV SECTION ARTICLE MAIN BLOCKQUOTE PRE UL OL LI TABLE TR DL DT DD FIGURE FIGCAPTION HR BR ADDRESS".split(
    " ",
  ),
);
const SKIPPED = new Set(
  "SCRIPT STYLE NOSCRIPT TEMPLATE SVG CANVAS IFRAME OBJECT NAV HEADER FOOTER ASIDE FORM BUTTON".split(" "),
);
const HEADING = /^H([1-6])$/;

/**
 * Parses HTML with linkedom, refusing a page of more elements than `maxElements` before the DOM
 * is built (counting `<` followed by a letter is enough to bound it).
 */
export function parseBoundedHtml(html: string, maxElements: number, fileName: string) {
  let tags = 0;
  for (let at = html.indexOf("<"); at !== -1; at = html.indexOf("<", at + 1)) {
    const next = html.charCodeAt(at + 1);
    if ((next | 32) >= 97 && (next | 32) <= 122 && ++tags > maxElements)
      throw new ExtractionError(
        "document_too_complex",
        `${fileName} has more than ${maxElements.toLocaleString("en")} HTML elements, the limit a file.`,
      );
  }
  return parseHTML(html);
}

/**
 * Text built from the end only: reading a character of a long concatenated string makes V8
 * flatten it, so the builder remembers what its end holds instead.
 */
class TextBuilder {
  private readonly parts: string[] = [];
  length = 0;
  /** Newlines the text ends with. */
  private newlines = 0;
  /** A space is owed before the next word. */
  private space = false;

  /** Inline text, its whitespace already collapsed to single spaces. */
  inline(piece: string): void {
    const leading = piece.startsWith(" ");
    const trailing = piece.endsWith(" ");
    const word = piece.trim();
    if (word === "") {
      this.space ||= leading;
      return;
    }
    const last = this.parts.at(-1)?.at(-1);
    if ((this.space || leading) && last !== undefined && !/\s/.test(last)) this.append(" ");
    this.append(word);
    this.space = trailing;
  }

  /** Ends the line, with a blank line after it when `blank`. */
  breakLine(blank: boolean): void {
    this.space = false;
    if (this.length === 0) return;
    while (this.newlines < (blank ? 2 : 1)) this.append("\n");
  }

  append(piece: string): void {
    if (piece === "") return;
    this.parts.push(piece);
    this.length += piece.length;
    const trailing = piece.length - piece.replace(/\n+$/, "").length;
    this.newlines = trailing === piece.length ? this.newlines + trailing : trailing;
    this.space = false;
  }

  toString(): string {
    return this.parts.join("").trimEnd();
  }
}

/**
 * The text of an HTML tree, a line per block and a blank line between paragraphs, cut into a
 * section at each heading (`h1`-`h6`). Navigation, scripts, forms and page furniture are skipped.
 */
export function htmlToSections(root: unknown): { text: string; sections: DocumentSection[] } {
  const out = new TextBuilder();
  const starts: Array<Omit<DocumentSection, "end" | "text">> = [{ start: 0 }];
  // An explicit stack: a page may nest deeper than the call stack allows.
  const stack: Array<DomNode | "end-block" | "end-cell"> = [root as DomNode];
  while (stack.length > 0) {
    const item = stack.pop()!;
    if (item === "end-block") {
      out.breakLine(true);
      continue;
    }
    if (item === "end-cell") {
      out.append("\t");
      continue;
    }
    if (item.nodeType === 3) {
      out.inline((item.textContent ?? "").replace(/\s+/g, " "));
      continue;
    }
    if (item.nodeType !== 1 && item.nodeType !== 9 && item.nodeType !== 11) continue;
    const name = item.nodeName.toUpperCase();
    if (SKIPPED.has(name)) continue;
    const heading = HEADING.exec(name);
    if (heading) {
      const title = (item.textContent ?? "").replace(/\s+/g, " ").trim();
      if (title === "") continue;
      out.breakLine(true);
      starts.push({ start: out.length, heading: title, level: Number(heading[1]) });
      out.append(`${title}\n\n`);
      continue;
    }
    if (name === "PRE") {
      out.breakLine(true);
      out.append(`${(item.textContent ?? "").trimEnd()}\n\n`);
      continue;
    }
    if (name === "BR") {
      out.breakLine(false);
      continue;
    }
    if (name === "LI") {
      out.breakLine(false);
      out.append("- ");
    } else if (name === "TR") out.breakLine(false);
    else if (BLOCKS.has(name)) out.breakLine(true);
    if (name === "TD" || name === "TH") stack.push("end-cell");
    else if (BLOCKS.has(name) && name !== "LI" && name !== "TR") stack.push("end-block");
    // linkedom builds childNodes afresh on each read: read it once.
    const children = item.childNodes;
    for (let index = children.length - 1; index >= 0; index--) stack.push(children[index]!);
  }
  const text = out.toString();
  const tiled = starts.filter(
    (section, index) => section.start !== starts[index + 1]?.start && section.start < text.length,
  );
  return { text, sections: sectionsAt(text, tiled.length > 0 ? tiled : [{ start: 0 }]) };
}
