/**
 * The search-text normaliser behind conversation search. Both engines index the same thing: a
 * string of space-separated terms, so neither needs a tokenizer that knows Chinese (SQLite FTS5's
 * unicode61 and PostgreSQL's parser both treat a sentence without spaces as one word).
 *
 * Text is NFKC-normalised (full-width letters and digits become ASCII) and lower-cased. Runs of
 * letters, digits and marks are terms, except that CJK runs (Han, kana, Hangul) become their
 * overlapping two-character pieces plus each single character, so "量子计算" is found inside
 * "我们讨论量子计算的原理" whatever the words around it. A query is cut the same way (bigrams for a
 * CJK run of two or more characters, the character itself for a run of one) and a row matches when
 * it holds every query term: adjacency is not checked, so rare false positives are possible.
 */

/** Terms longer than this are cut (PostgreSQL refuses lexemes over 2 KB; nobody searches for one). */
const MAX_TERM_LENGTH = 64;
/** The indexed text stops growing here, far below PostgreSQL's 1 MB tsvector limit. */
const MAX_INDEX_BYTES = 256 * 1024;
/** A query holds at most this many terms; the rest are ignored. */
const MAX_QUERY_TERMS = 32;

const TOKEN = /[\p{L}\p{N}\p{M}]+/gu;
const CJK_RUN = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]+/gu;

/** Space-separated, de-duplicated terms to index for `text`. */
export function indexText(text: string): string {
  const seen = new Set<string>();
  let bytes = 0;
  for (const term of terms(text, "index")) {
    if (seen.has(term)) continue;
    bytes += Buffer.byteLength(term) + 1;
    if (bytes > MAX_INDEX_BYTES) break;
    seen.add(term);
  }
  return [...seen].join(" ");
}

/** The terms a query needs a row to hold, de-duplicated; empty when the query has no words. */
export function queryTerms(query: string): string[] {
  return [...new Set(terms(query, "query"))].slice(0, MAX_QUERY_TERMS);
}

/**
 * Whether indexed text (from `indexText`) holds every term of a query: the rule each dialect's
 * match (dialects.ts) applies in SQL, written once here for tests to check against.
 */
export function holdsEveryTerm(indexed: string, wanted: readonly string[]): boolean {
  const held = new Set(indexed.split(" "));
  return wanted.every((term) => held.has(term));
}

/**
 * About `width` characters of `text` around the first place the query's words occur (a CJK run
 * or word of the query, else any of its terms), with `…` where text was cut; the start of the
 * text when none occurs.
 */
export function snippet(text: string, query: string, width = 80): string {
  const { folded, origin } = foldWithOffsets(text);
  const hit = earliest(folded, queryPieces(query)) ?? earliest(folded, queryTerms(query));
  const characters = Array.from(text);
  if (!hit) return cut(characters, 0, width);
  const start = codePointIndex(text, origin[hit.at] ?? 0);
  const end = codePointIndex(text, origin[hit.at + hit.length - 1] ?? 0) + 1;
  const before = Math.max(0, Math.floor((width - (end - start)) / 3));
  return cut(characters, Math.max(0, start - before), width);
}

/** The first place any of `pieces` occurs in `folded`. */
function earliest(folded: string, pieces: readonly string[]): { at: number; length: number } | undefined {
  let best: { at: number; length: number } | undefined;
  for (const piece of pieces) {
    const at = folded.indexOf(piece);
    if (at >= 0 && (!best || at < best.at)) best = { at, length: piece.length };
  }
  return best;
}

function* terms(text: string, mode: "index" | "query"): Generator<string> {
  for (const token of fold(text).match(TOKEN) ?? []) {
    let last = 0;
    for (const run of token.matchAll(CJK_RUN)) {
      if (run.index > last) yield word(token.slice(last, run.index));
      yield* cjkTerms(run[0], mode);
      last = run.index + run[0].length;
    }
    if (last < token.length) yield word(token.slice(last));
  }
}

function* cjkTerms(run: string, mode: "index" | "query"): Generator<string> {
  const characters = Array.from(run);
  if (mode === "index" || characters.length === 1) yield* characters;
  for (let index = 0; index + 1 < characters.length; index++) {
    yield characters[index]! + characters[index + 1]!;
  }
}

function word(text: string): string {
  return text.length > MAX_TERM_LENGTH ? Array.from(text).slice(0, MAX_TERM_LENGTH).join("") : text;
}

/** The query's CJK runs and words, folded: what a snippet looks for first. */
function queryPieces(query: string): string[] {
  const pieces: string[] = [];
  for (const token of fold(query).match(TOKEN) ?? []) {
    let last = 0;
    for (const run of token.matchAll(CJK_RUN)) {
      if (run.index > last) pieces.push(token.slice(last, run.index));
      pieces.push(run[0]);
      last = run.index + run[0].length;
    }
    if (last < token.length) pieces.push(token.slice(last));
  }
  return pieces;
}

function fold(text: string): string {
  return text.normalize("NFKC").toLowerCase();
}

/** `text` folded one code point at a time, with the UTF-16 offset in `text` of each folded unit. */
function foldWithOffsets(text: string): { folded: string; origin: number[] } {
  let folded = "";
  const origin: number[] = [];
  let offset = 0;
  for (const character of text) {
    const piece = fold(character);
    folded += piece;
    for (let index = 0; index < piece.length; index++) origin.push(offset);
    offset += character.length;
  }
  return { folded, origin };
}

function codePointIndex(text: string, utf16Offset: number): number {
  return Array.from(text.slice(0, utf16Offset)).length;
}

function cut(characters: string[], start: number, width: number): string {
  const end = Math.min(characters.length, start + width);
  const from = Math.max(0, Math.min(start, end - width));
  const body = characters.slice(from, end).join("").replace(/\s+/g, " ").trim();
  return `${from > 0 ? "…" : ""}${body}${end < characters.length ? "…" : ""}`;
}
