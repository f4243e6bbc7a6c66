import type { DocumentKind, DocumentSection } from "./extract/document.js";
import { sentenceEnds } from "./sentences.js";

export interface ChunkOptions {
  /** The most a chunk may hold, in characters (UTF-16 code units) or in tokens with `countTokens` (default 1,000). */
  maxSize?: number;
  /** How much of a chunk's end the next chunk repeats, at a sentence or line boundary (default 120; 0 for none). */
  overlap?: number;
  /** Counts tokens, to size chunks in tokens rather than characters (an embedding model's tokenizer). */
  countTokens?: (text: string) => number;
}

export interface Chunk {
  /** The chunk's place in the document, from 0. */
  index: number;
  /** Exactly `text.slice(start, end)` of the document. */
  text: string;
  start: number;
  end: number;
  /** The headings the chunk sits under, outermost first (for citations and for the embedding's context). */
  headingPath: string[];
  /** The PDF page it is on. */
  page?: number;
  /** The line it starts on (code files). */
  line?: number;
}

/** What the chunker reads: an ExtractedDocument, or any text with sections that tile it. */
export interface ChunkSource {
  kind: DocumentKind;
  text: string;
  sections: readonly DocumentSection[];
}

type Range = [start: number, end: number];

const DEFAULTS = { maxSize: 1000, overlap: 120 };

/**
 * Cuts a document into chunks for embedding and search: by structure first (a chunk never spans
 * two sections, so it has one heading path and one page), then by paragraph, then by sentence
 * (Chinese and Latin; lines for code), then by word, and at last anywhere, so no chunk is over
 * `maxSize` (in token mode, but for a single character over it on its own). Neighbouring pieces
 * are packed together up to `maxSize`, and each chunk after the first in a section starts with up
 * to `overlap` of the one before, cut at a sentence boundary. Chunks of a section leave no gap;
 * only whitespace-only stretches are left out. Deterministic: the same input gives the same chunks.
 */
export function chunkDocument(source: ChunkSource, options: ChunkOptions = {}): Chunk[] {
  const maxSize = Math.max(1, options.maxSize ?? DEFAULTS.maxSize);
  const overlap = Math.min(options.overlap ?? DEFAULTS.overlap, Math.floor(maxSize / 2));
  const { text } = source;
  const count = options.countTokens;
  const size = count
    ? (start: number, end: number) => count(text.slice(start, end))
    : (start: number, end: number) => end - start;
  const code = source.kind === "code";
  const sections = source.sections.length > 0 ? source.sections : [{ start: 0, end: text.length, text }];
  const chunks: Chunk[] = [];
  const headings: Array<{ level: number; heading: string }> = [];
  for (const section of sections) {
    let headingPath: string[];
    if (section.heading !== undefined && section.level !== undefined) {
      while (headings.length > 0 && headings[headings.length - 1]!.level >= section.level) headings.pop();
      headings.push({ level: section.level, heading: section.heading });
      headingPath = headings.map((entry) => entry.heading);
    } else if (section.heading !== undefined)
      headingPath = [...headings.map((entry) => entry.heading), section.heading];
    else headingPath = headings.map((entry) => entry.heading);
    if (text.slice(section.start, section.end).trim() === "") continue;
    const pieces = atoms(text, [section.start, section.end], code, maxSize, size);
    for (const [start, end] of pack(text, pieces, code, maxSize, overlap, size)) {
      const line =
        section.line === undefined ? undefined : section.line + countNewlines(text, section.start, start);
      chunks.push({
        index: chunks.length,
        text: text.slice(start, end),
        start,
        end,
        headingPath,
        ...(section.page === undefined ? {} : { page: section.page }),
        ...(line === undefined ? {} : { line }),
      });
    }
  }
  return chunks;
}

function countNewlines(text: string, from: number, to: number): number {
  let lines = 0;
  for (let at = text.indexOf("\n", from); at !== -1 && at < to; at = text.indexOf("\n", at + 1)) lines++;
  return lines;
}

/** The finer ways to cut a stretch, coarsest first. */
type Level = "paragraph" | "sentence" | "line" | "word";
const PROSE_LEVELS: Level[] = ["paragraph", "sentence", "line", "word"];
const CODE_LEVELS: Level[] = ["paragraph", "line", "word"];

const PARAGRAPH_BREAK = /\n[ \t]*\n(?:[ \t]*\n)*/g;
const WORD_BREAK = /\s+|[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]/g;

/** Offsets strictly inside `[start, end)` where a piece of this level ends. */
function boundaries(text: string, [start, end]: Range, level: Level): number[] {
  if (level === "sentence") return sentenceEnds(text, start, end);
  const pattern = level === "paragraph" ? PARAGRAPH_BREAK : level === "line" ? /\n/g : WORD_BREAK;
  const slice = text.slice(start, end);
  const found: number[] = [];
  for (const match of slice.matchAll(pattern)) {
    const at = start + match.index + match[0].length;
    if (at < end) found.push(at);
  }
  return found;
}

/** The stretch cut into pieces each within `maxSize`, at the coarsest level that does it. */
function atoms(
  text: string,
  range: Range,
  code: boolean,
  maxSize: number,
  size: (start: number, end: number) => number,
): Range[] {
  const levels = code ? CODE_LEVELS : PROSE_LEVELS;
  const out: Range[] = [];
  const stack: Array<{ range: Range; level: number }> = [{ range, level: 0 }];
  while (stack.length > 0) {
    const {
      range: [start, end],
      level,
    } = stack.pop()!;
    if (size(start, end) <= maxSize) {
      out.push([start, end]);
      continue;
    }
    if (level >= levels.length) {
      out.push(...hardCut(text, start, end, maxSize, size));
      continue;
    }
    const cuts = [start, ...boundaries(text, [start, end], levels[level]!), end];
    // Pushed last piece first, so they come off the stack in order.
    for (let index = cuts.length - 2; index >= 0; index--)
      stack.push({ range: [cuts[index]!, cuts[index + 1]!], level: level + 1 });
  }
  return out;
}

/** A run with no place to cut, cut at the size limit (never inside a surrogate pair). */
function hardCut(
  text: string,
  start: number,
  end: number,
  maxSize: number,
  size: (start: number, end: number) => number,
): Range[] {
  const out: Range[] = [];
  let from = start;
  while (from < end) {
    // The longest prefix within maxSize: a binary search, as size may count tokens.
    let low = from + 1;
    let high = end;
    while (low < high) {
      const middle = Math.ceil((low + high) / 2);
      if (size(from, middle) <= maxSize) low = middle;
      else high = middle - 1;
    }
    let to = low;
    if (to < end && /[\ud800-\udbff]/.test(text[to - 1]!)) to = to - 1 > from ? to - 1 : to + 1;
    out.push([from, to]);
    from = to;
  }
  return out;
}

/** Packs consecutive pieces into chunks within maxSize, each starting with the overlap of the last. */
function pack(
  text: string,
  pieces: Range[],
  code: boolean,
  maxSize: number,
  overlap: number,
  size: (start: number, end: number) => number,
): Range[] {
  const chunks: Range[] = [];
  let overlapStart: number | undefined;
  let index = 0;
  while (index < pieces.length) {
    const [first, firstEnd] = pieces[index]!;
    let start = first;
    if (overlapStart !== undefined && size(overlapStart, firstEnd) <= maxSize) start = overlapStart;
    let end = firstEnd;
    index++;
    while (index < pieces.length && size(start, pieces[index]![1]) <= maxSize) end = pieces[index++]![1];
    chunks.push([start, end]);
    overlapStart =
      overlap > 0 && index < pieces.length ? overlapFrom(text, start, end, code, overlap, size) : undefined;
  }
  return chunks;
}

/** The earliest sentence (or line) boundary in the chunk from which its end is within `overlap`. */
function overlapFrom(
  text: string,
  start: number,
  end: number,
  code: boolean,
  overlap: number,
  size: (start: number, end: number) => number,
): number | undefined {
  const cuts = code ? boundaries(text, [start, end], "line") : sentenceEnds(text, start, end);
  let best: number | undefined;
  for (let index = cuts.length - 1; index >= 0; index--) {
    if (size(cuts[index]!, end) > overlap) break;
    best = cuts[index];
  }
  return best;
}
