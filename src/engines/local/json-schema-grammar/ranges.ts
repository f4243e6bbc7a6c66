/** Sets of Unicode code points as sorted, inclusive `[first, last]` ranges. */

/** Inclusive code point range. */
export type Range = readonly [number, number];

export function normalize(ranges: Range[]): Range[] {
  const sorted = [...ranges].sort((x, y) => x[0] - y[0]);
  const out: [number, number][] = [];
  for (const [a, b] of sorted) {
    const last = out[out.length - 1];
    if (last && a <= last[1] + 1) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

export function subtract(ranges: readonly Range[], remove: readonly Range[]): Range[] {
  let current: Range[] = [...ranges];
  for (const [ra, rb] of remove) {
    const next: Range[] = [];
    for (const [a, b] of current) {
      if (rb < a || ra > b) next.push([a, b]);
      else {
        if (a < ra) next.push([a, ra - 1]);
        if (b > rb) next.push([rb + 1, b]);
      }
    }
    current = next;
  }
  return current;
}

export function contains(ranges: readonly Range[], cp: number): boolean {
  return ranges.some(([a, b]) => a <= cp && cp <= b);
}

/** Code points dot and negated classes may produce: no controls, no surrogates. */
export const UNIVERSE: readonly Range[] = [
  [0x20, 0xd7ff],
  [0xe000, 0x10ffff],
];

/** Characters a JSON string holds unescaped (DEL excluded too); never surrogates or > U+10FFFF. */
export const JSON_RAW_CHARS: readonly Range[] = [
  [0x20, 0x21],
  [0x23, 0x5b],
  [0x5d, 0x7e],
  [0x80, 0xd7ff],
  [0xe000, 0x10ffff],
];

export function complement(ranges: readonly Range[]): Range[] {
  return subtract(UNIVERSE, ranges);
}
