/**
 * Where sentences end, in Chinese and in Latin text, for the chunker. A sentence keeps its
 * closing quotes and brackets, and the whitespace after it, so sentences tile the text.
 */

/** Chinese full stops and their kin, ideographic and full-width: always end a sentence. */
const CJK_TERMINATORS = new Set(["。", "｡", "！", "？", "；"]);
/** Latin terminators: end a sentence before whitespace, or (! ? ;) right after a Chinese character. */
const LATIN_TERMINATORS = new Set([".", "!", "?"]);
/** Closing quotes and brackets that belong to the sentence they close. */
const CLOSERS = new Set(["”", "’", "」", "』", "）", "》", "〉", "】", "〕", '"', "'", ")", "]"]);
/**
 * Words a full stop follows without ending a sentence ("e.g. this", "Dr. Li"), lower-cased, their
 * inner dots kept.
 */
const ABBREVIATIONS = new Set(
  (
    "e.g i.e etc vs cf al mr mrs ms dr prof sr jr st mt no nos vol fig figs pp p ch sec eq approx dept " +
    "est inc ltd co corp jan feb mar apr jun jul aug sep sept oct nov dec a.m p.m u.s u.k ph.d"
  ).split(" "),
);

const CJK = /[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]/;
const isSpace = (char: string | undefined) => char !== undefined && /\s/.test(char);

/**
 * The offsets in `[from, to)` where a sentence ends (after its trailing whitespace), in order;
 * `to` itself is not listed. A full stop inside a number (3.14), a URL or an address never ends
 * one (no whitespace follows it), nor one after a known abbreviation or a single capital (an
 * initial), nor one followed by a lower-case word.
 */
export function sentenceEnds(text: string, from = 0, to = text.length): number[] {
  const ends: number[] = [];
  let index = from;
  while (index < to) {
    const char = text[index]!;
    const cjk = CJK_TERMINATORS.has(char);
    if (!cjk && !LATIN_TERMINATORS.has(char) && char !== ";") {
      index++;
      continue;
    }
    let end = index + 1;
    while (end < to && (CJK_TERMINATORS.has(text[end]!) || LATIN_TERMINATORS.has(text[end]!))) end++;
    while (end < to && CLOSERS.has(text[end]!)) end++;
    const afterCjk = index > from && CJK.test(text[index - 1]!);
    const isEnd =
      cjk ||
      (afterCjk && char !== ".") ||
      (char !== ";" && (end === to || isSpace(text[end])) && !continues(text, index, end, to));
    if (isEnd) {
      while (end < to && isSpace(text[end])) end++;
      if (end < to) ends.push(end);
    }
    index = end;
  }
  return ends;
}

/** Whether a full stop at `dot` is an abbreviation's or an initial's, or the next word is lower case. */
function continues(text: string, dot: number, end: number, to: number): boolean {
  if (text[dot] !== "." || end !== dot + 1) return false;
  const word = /[A-Za-z][A-Za-z.]*$/.exec(text.slice(Math.max(0, dot - 12), dot))?.[0];
  if (word && (ABBREVIATIONS.has(word.toLowerCase()) || /^[A-Z]$/.test(word))) return true;
  let next = end;
  while (next < to && isSpace(text[next])) next++;
  return next < to && /\p{Ll}/u.test(text[next]!);
}
