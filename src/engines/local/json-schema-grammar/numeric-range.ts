/**
 * Numeric bounds (minimum, maximum, exclusive ones) and their exact digit-range rules. Integers: no
 * exponent, no leading zeros, no "-0"; minimum/maximum (exclusive or not) become rules that match
 * exactly the integers in range, digit position by digit position. Numbers with integer bounds: no
 * exponent, at most 9 integer digits, at most 6 fraction digits.
 */

import { paren, seq } from "./gbnf-syntax.js";
import { at, has, invalid } from "./schema.js";
import type { SchemaObject } from "./schema.js";

/** Largest integer part of a bounded `number`. */
const NUMBER_INT_LIMIT = 999_999_999n;

/** A numeric bound: `value`, and whether the value itself is excluded. */
export interface Bound {
  value: number;
  exclusive: boolean;
}

function allDigits(text: string, digit: string): boolean {
  return [...text].every((c) => c === digit);
}

function digitClass(from: string, to: string): string {
  return from === to ? `[${from}]` : `[${from}-${to}]`;
}

function nextDigit(d: string, delta: number): string {
  return String.fromCharCode(d.charCodeAt(0) + delta);
}

/** Decimal strings of a's length between a and b (same length, a ≤ b), leading zeros as given. */
function sameLengthRange(a: string, b: string): string {
  if (a.length === 0) return "";
  if (a === b) return `"${a}"`;
  let common = 0;
  while (a[common] === b[common]) common += 1;
  if (common > 0)
    return seq(`"${a.slice(0, common)}"`, paren(sameLengthRange(a.slice(common), b.slice(common))));
  const rest = a.length - 1;
  const a0 = a[0]!;
  const b0 = b[0]!;
  if (rest === 0) return digitClass(a0, b0);
  const aRest = a.slice(1);
  const bRest = b.slice(1);
  const lowFull = allDigits(aRest, "0");
  const highFull = allDigits(bRest, "9");
  const options: string[] = [];
  if (!lowFull) options.push(seq(`"${a0}"`, paren(sameLengthRange(aRest, "9".repeat(rest)))));
  const midFrom = lowFull ? a0 : nextDigit(a0, 1);
  const midTo = highFull ? b0 : nextDigit(b0, -1);
  if (midFrom <= midTo)
    options.push(seq(digitClass(midFrom, midTo), rest === 1 ? "[0-9]" : `[0-9]{${rest}}`));
  if (!highFull) options.push(seq(`"${b0}"`, paren(sameLengthRange("0".repeat(rest), bRest))));
  return options.length === 1 ? options[0]! : `(${options.join(" | ")})`;
}

/** Non-negative integers lo..hi without leading zeros. */
export function nonNegativeRange(lo: bigint, hi: bigint): string {
  const options: string[] = [];
  const loText = lo.toString();
  const hiText = hi.toString();
  let fullFrom = 0;
  let fullTo = 0;
  const flushFull = (): void => {
    if (fullFrom === 0) return;
    options.push(
      fullFrom === fullTo
        ? seq("[1-9]", fullFrom === 1 ? "" : fullFrom === 2 ? "[0-9]" : `[0-9]{${fullFrom - 1}}`)
        : `[1-9] [0-9]{${fullFrom - 1},${fullTo - 1}}`,
    );
    fullFrom = 0;
  };
  for (let length = loText.length; length <= hiText.length; length += 1) {
    const from = length === loText.length ? loText : `1${"0".repeat(length - 1)}`;
    const to = length === hiText.length ? hiText : "9".repeat(length);
    const isFull = length > 1 && from === `1${"0".repeat(length - 1)}` && to === "9".repeat(length);
    if (isFull) {
      if (fullFrom === 0) fullFrom = length;
      fullTo = length;
      continue;
    }
    flushFull();
    options.push(sameLengthRange(from, to));
  }
  flushFull();
  return options.length === 1 ? options[0]! : `(${options.join(" | ")})`;
}

/** Integers lo..hi (inclusive), no "-0". */
export function integerRange(lo: bigint, hi: bigint): string {
  const options: string[] = [];
  if (lo < 0n) {
    const magnitudeLo = hi < 0n ? -hi : 1n;
    options.push(seq('"-"', paren(nonNegativeRange(magnitudeLo, -lo))));
  }
  if (hi >= 0n) options.push(nonNegativeRange(lo > 0n ? lo : 0n, hi));
  return options.length === 1 ? options[0]! : `(${options.join(" | ")})`;
}

/** Numbers between integer bounds: no exponent, ≤ 9 integer digits, ≤ 6 fraction digits. */
export function numberRange(lower: Bound | undefined, upper: Bound | undefined, empty: () => never): string {
  const limit = NUMBER_INT_LIMIT;
  const big = (value: number): bigint =>
    value > Number(limit) ? limit + 1n : value < -Number(limit) ? -limit - 1n : BigInt(value);
  let lo = lower
    ? { value: big(lower.value), exclusive: lower.exclusive }
    : { value: -limit, exclusive: false };
  let hi = upper
    ? { value: big(upper.value), exclusive: upper.exclusive }
    : { value: limit, exclusive: false };
  if (lo.value < -limit) lo = { value: -limit, exclusive: false };
  if (hi.value > limit) hi = { value: limit, exclusive: false };
  if (lo.value > limit || hi.value < -limit) empty();
  const fraction = `("." [0-9]{1,6})?`;
  const zeroFraction = `("." "0"{1,6})?`;
  const nonZeroFraction = `"." [0-9]{0,5} [1-9]`;
  /** Magnitudes between a and b (a ≥ 0). */
  const magnitude = (
    a: { value: bigint; exclusive: boolean },
    b: { value: bigint; exclusive: boolean },
  ): string[] => {
    if (a.value > b.value) return [];
    if (a.value === b.value) {
      return a.exclusive || b.exclusive ? [] : [seq(`"${a.value}"`, zeroFraction)];
    }
    const options: string[] = [];
    const anyFrom = a.exclusive ? a.value + 1n : a.value;
    if (anyFrom <= b.value - 1n) options.push(seq(paren(nonNegativeRange(anyFrom, b.value - 1n)), fraction));
    if (a.exclusive) options.push(seq(`"${a.value}"`, nonZeroFraction));
    if (!b.exclusive) options.push(seq(`"${b.value}"`, zeroFraction));
    return options;
  };
  const options: string[] = [];
  if (hi.value > 0n || (hi.value === 0n && !hi.exclusive)) {
    const from = lo.value < 0n ? { value: 0n, exclusive: false } : lo;
    options.push(...magnitude(from, hi));
  }
  if (lo.value < 0n) {
    const from =
      hi.value < 0n ? { value: -hi.value, exclusive: hi.exclusive } : { value: 0n, exclusive: true };
    const negative = magnitude(from, { value: -lo.value, exclusive: lo.exclusive });
    if (negative.length > 0) options.push(seq('"-"', paren(negative.join(" | "))));
  }
  if (options.length === 0) empty();
  return options.join(" | ");
}

/** The lower and upper bounds a schema sets (minimum, exclusiveMinimum, ... draft-4 booleans too). */
export function numericBounds(schema: SchemaObject, path: string): { lower?: Bound; upper?: Bound } {
  const num = (key: string): number | boolean | undefined => {
    if (!has(schema, key)) return undefined;
    const value = schema[key];
    const draft4 = (key === "exclusiveMinimum" || key === "exclusiveMaximum") && typeof value === "boolean";
    if (!draft4 && (typeof value !== "number" || !Number.isFinite(value))) {
      invalid(at(path, key), `'${key}' at ${path} must be a number.`);
    }
    return value as number | boolean;
  };
  const pick = (inclusiveKey: string, exclusiveKey: string, stricter: (a: number, b: number) => boolean) => {
    const inclusive = num(inclusiveKey);
    const exclusive = num(exclusiveKey);
    if (typeof exclusive === "boolean") {
      if (inclusive === undefined && exclusive) {
        invalid(at(path, exclusiveKey), `'${exclusiveKey}: true' at ${path} needs '${inclusiveKey}'.`);
      }
      return inclusive === undefined ? undefined : { value: inclusive as number, exclusive };
    }
    if (inclusive === undefined)
      return exclusive === undefined ? undefined : { value: exclusive, exclusive: true };
    if (exclusive === undefined) return { value: inclusive as number, exclusive: false };
    return stricter(exclusive, inclusive as number) || exclusive === inclusive
      ? { value: exclusive, exclusive: true }
      : { value: inclusive as number, exclusive: false };
  };
  const lower = pick("minimum", "exclusiveMinimum", (a, b) => a > b);
  const upper = pick("maximum", "exclusiveMaximum", (a, b) => a < b);
  return { ...(lower ? { lower } : {}), ...(upper ? { upper } : {}) };
}
