// Text similarity for the audit's behaviour part: overlap of word and character n-grams, and the
// cosine of embedding vectors.

/** Han, kana and hangul: scripts written without spaces, compared character by character. */
const UNSPACED = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u;

/**
 * The units of a text: lower-cased words (letters and digits) in spaced scripts, single characters
 * in Chinese and Japanese, and each other symbol on its own (code punctuation counts).
 */
export function textUnits(text: string): string[] {
  const units: string[] = [];
  for (const match of text
    .normalize("NFKC")
    .toLowerCase()
    .matchAll(/[\p{L}\p{N}_]+|[^\s]/gu)) {
    const piece = match[0];
    if (UNSPACED.test(piece)) {
      // A run may mix scripts ("python函数"): split out each unspaced character.
      for (const part of piece.split(
        /([\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}])/u,
      ))
        if (part !== "") units.push(part);
    } else {
      units.push(piece);
    }
  }
  return units;
}

/** The set of unigrams and bigrams of a text's units. */
export function shingles(text: string): Set<string> {
  const units = textUnits(text);
  const set = new Set<string>(units);
  for (let index = 1; index < units.length; index++) set.add(`${units[index - 1]}\u0000${units[index]}`);
  return set;
}

/** Jaccard similarity of the two texts' unigram-and-bigram sets: 1 for the same text, 0 for none shared. */
export function overlapSimilarity(a: string, b: string): number {
  const left = shingles(a);
  const right = shingles(b);
  if (left.size === 0 && right.size === 0) return 1;
  let shared = 0;
  for (const item of left) if (right.has(item)) shared++;
  return shared / (left.size + right.size - shared);
}

export function cosineSimilarity(a: readonly number[], b: readonly number[]): number {
  let dot = 0;
  let left = 0;
  let right = 0;
  for (let index = 0; index < Math.min(a.length, b.length); index++) {
    dot += a[index]! * b[index]!;
    left += a[index]! ** 2;
    right += b[index]! ** 2;
  }
  return left === 0 || right === 0 ? 0 : dot / Math.sqrt(left * right);
}

export interface SummaryStats {
  count: number;
  mean: number;
  median: number;
  min: number;
  max: number;
  /** Population standard deviation. */
  stdev: number;
}

export function summarize(values: readonly number[]): SummaryStats | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mean = sorted.reduce((sum, value) => sum + value, 0) / sorted.length;
  const middle = sorted.length / 2;
  const median =
    sorted.length % 2 === 1 ? sorted[Math.floor(middle)]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  const variance = sorted.reduce((sum, value) => sum + (value - mean) ** 2, 0) / sorted.length;
  return {
    count: sorted.length,
    mean,
    median,
    min: sorted[0]!,
    max: sorted.at(-1)!,
    stdev: Math.sqrt(variance),
  };
}
