/**
 * Detectors of personal data in free text (Chinese and English): bank card numbers, mainland
 * China resident ID numbers, phone numbers, e-mail addresses and IBANs. Pure functions; no value
 * found here is ever logged.
 *
 * Every numeric kind is validated, not just shaped: cards by Luhn, IDs by their GB 11643 check
 * digit and birth date, IBANs by ISO 7064 mod 97 and their country's length. Numbers are read as
 * runs of digit groups (`4111 1111 1111 1111`, `138-0013-8000`) bounded by anything that is not a
 * letter or digit, so a number inside a longer run of digits or a word (an order number
 * `ORD4111111111111111`, a 20-digit serial) is never taken apart, while Chinese text around a
 * number (`卡号4111111111111111谢谢`) is a boundary like a space.
 */

export type PiiKind = "card" | "cn_id" | "phone" | "email" | "iban";

/** The kinds in the order their placeholders and counts are listed. */
export const PII_KINDS: readonly PiiKind[] = ["card", "cn_id", "phone", "email", "iban"];

export interface PiiMatch {
  kind: PiiKind;
  /** UTF-16 offsets into the text, end exclusive. */
  start: number;
  end: number;
}

/** All personal data in `text`, in order, never overlapping. */
export function findPii(text: string): PiiMatch[] {
  // E-mail addresses and IBANs first: their letters decide them, and the numbers inside them
  // (`13800138000@qq.com`) must not be read again as phones.
  const ibans = findIbans(text);
  const found: PiiMatch[] = [...findEmails(text), ...ibans.valid];
  // Numbers inside an IBAN-shaped code whose checksum fails are parts of that code, not cards.
  const claimed = [...found, ...ibans.shaped];
  const taken = (start: number, end: number) =>
    claimed.some((match) => start < match.end && match.start < end);
  for (const match of findNumbers(text)) if (!taken(match.start, match.end)) found.push(match);
  return found.sort((a, b) => a.start - b.start);
}

// --- e-mail -------------------------------------------------------------------------------------

// The local part starts after anything that cannot be in it (a CJK character, a space, `:`); the
// domain ends before anything that cannot be in it, a trailing dot included.
const EMAIL =
  /[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9_%+-])?@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9-]|\.[A-Za-z0-9])/g;

function findEmails(text: string): PiiMatch[] {
  const matches: PiiMatch[] = [];
  for (const match of text.matchAll(EMAIL)) {
    const start = match.index;
    // `a..b@x.com` is not an address; a local part glued to a longer word is cut where it starts.
    if (match[0].slice(0, match[0].indexOf("@")).includes("..")) continue;
    matches.push({ kind: "email", start, end: start + match[0].length });
  }
  return matches;
}

// --- IBAN ---------------------------------------------------------------------------------------

/** IBAN lengths by country (SWIFT's IBAN registry); others are accepted at 15-34 characters. */
const IBAN_LENGTHS: Record<string, number> = {
  AD: 24,
  AE: 23,
  AL: 28,
  AT: 20,
  AZ: 28,
  BA: 20,
  BE: 16,
  BG: 22,
  BH: 22,
  BR: 29,
  BY: 28,
  CH: 21,
  CR: 22,
  CY: 28,
  CZ: 24,
  DE: 22,
  DK: 18,
  DO: 28,
  EE: 20,
  EG: 29,
  ES: 24,
  FI: 18,
  FO: 18,
  FR: 27,
  GB: 22,
  GE: 22,
  GI: 23,
  GL: 18,
  GR: 27,
  GT: 28,
  HR: 21,
  HU: 28,
  IE: 22,
  IL: 23,
  IQ: 23,
  IS: 26,
  IT: 27,
  JO: 30,
  KW: 30,
  KZ: 20,
  LB: 28,
  LC: 32,
  LI: 21,
  LT: 20,
  LU: 20,
  LV: 21,
  MC: 27,
  MD: 24,
  ME: 22,
  MK: 19,
  MR: 27,
  MT: 31,
  MU: 30,
  NL: 18,
  NO: 15,
  PK: 24,
  PL: 28,
  PS: 29,
  PT: 25,
  QA: 29,
  RO: 24,
  RS: 22,
  SA: 24,
  SC: 31,
  SE: 24,
  SI: 19,
  SK: 24,
  SM: 27,
  ST: 25,
  SV: 28,
  TL: 23,
  TN: 24,
  TR: 26,
  UA: 29,
  VA: 22,
  VG: 24,
  XK: 20,
};

// A country code and check digits, then the BBAN in one piece or in groups of up to 4.
const IBAN_RUN = /(?<![A-Za-z0-9])[A-Z]{2}\d{2}[A-Z0-9]*(?: [A-Z0-9]{1,4}(?![A-Za-z0-9]))*/y;

/** Valid IBANs, and the IBAN-shaped runs (15+ characters) that are not. */
function findIbans(text: string): { valid: PiiMatch[]; shaped: PiiMatch[] } {
  const matches: PiiMatch[] = [];
  const shaped: PiiMatch[] = [];
  for (let from = text.search(/[A-Z]{2}\d{2}/); from !== -1 && from < text.length;) {
    IBAN_RUN.lastIndex = from;
    const run = IBAN_RUN.exec(text)?.[0];
    const end = run === undefined ? undefined : longestIban(text, from, run);
    if (end !== undefined) matches.push({ kind: "iban", start: from, end });
    else if (run !== undefined && run.replaceAll(" ", "").length >= 15)
      shaped.push({ kind: "iban", start: from, end: from + run.length });
    const next = text.slice(end ?? from + 1).search(/[A-Z]{2}\d{2}/);
    from = next === -1 ? -1 : (end ?? from + 1) + next;
  }
  return { valid: matches, shaped };
}

/**
 * Where the longest valid IBAN at the start of `run` ends: it ends on a group boundary, so
 * `DE89 3704 0044 0532 0130 00 AND` does not take the word after it.
 */
function longestIban(text: string, start: number, run: string): number | undefined {
  const ends: number[] = [];
  for (let at = run.indexOf(" "); at !== -1; at = run.indexOf(" ", at + 1)) ends.push(at);
  ends.push(run.length);
  for (const end of ends.reverse()) {
    if (end > 42 || !followedByBoundary(text, start + end)) continue;
    if (isValidIban(run.slice(0, end).replaceAll(" ", ""))) return start + end;
  }
  return undefined;
}

/** ISO 13616: the country's length and the ISO 7064 mod-97 check. */
export function isValidIban(compact: string): boolean {
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]+$/.test(compact)) return false;
  const expected = IBAN_LENGTHS[compact.slice(0, 2)];
  if (expected === undefined ? compact.length < 15 || compact.length > 34 : compact.length !== expected)
    return false;
  const rearranged = compact.slice(4) + compact.slice(0, 4);
  let remainder = 0;
  for (const char of rearranged) {
    const code = char.charCodeAt(0);
    const value = code >= 65 ? String(code - 55) : char;
    for (const digit of value) remainder = (remainder * 10 + Number(digit)) % 97;
  }
  return remainder === 1;
}

// --- numbers: cards, ID numbers, phones ---------------------------------------------------------

// A run of digit groups joined by single spaces or dashes, maybe led by `+`, maybe ending in the
// ID number's check character X. Letters and digits around it are not boundaries; a decimal point
// before it is not either (`3.14159265358979323` is one number).
const NUMBER_RUN = /(?<![A-Za-z0-9+_]|\d[.,])\+?\d+(?:[ -]\d+)*(?:[Xx](?![A-Za-z0-9_]))?/g;

interface DigitGroup {
  /** Offsets in the text. */
  start: number;
  end: number;
  digits: string;
}

function findNumbers(text: string): PiiMatch[] {
  const matches: PiiMatch[] = [];
  for (const match of text.matchAll(NUMBER_RUN)) {
    const run = match[0];
    const plus = run.startsWith("+");
    const groups: DigitGroup[] = [];
    for (const group of run.matchAll(/\d+[Xx]?/g))
      groups.push({
        start: match.index + group.index,
        end: match.index + group.index + group[0].length,
        digits: group[0],
      });
    if (plus) {
      const phone = internationalPhone(groups, text);
      if (phone) matches.push({ kind: "phone", start: match.index, end: phone.end });
      continue;
    }
    for (let first = 0; first < groups.length;) {
      const found = numberAt(groups, first, text);
      // A number starts where the run starts or right after another one: `1425 2018 209` is not
      // a phone inside `3710 1425 2018 209`, while `4111 1111 1111 1111 2025` still holds a card.
      if (!found) break;
      matches.push({ kind: found.kind, start: groups[first]!.start, end: groups[found.last]!.end });
      first = found.last + 1;
    }
  }
  return matches;
}

/** The longest number a span may hold: 0086 and a mobile number (15), a card (19), an ID (18). */
const MAX_SPAN_DIGITS = 19;

/**
 * The spans that start at group `first`, longest first: each ends on a group boundary followed by
 * a boundary in the text, is written plausibly, and holds at most MAX_SPAN_DIGITS characters (so a
 * run of ten thousand groups costs linear time).
 */
function spansFrom(
  groups: DigitGroup[],
  first: number,
  text: string,
  international = false,
): Array<{ last: number; digits: string }> {
  const spans: Array<{ last: number; digits: string }> = [];
  let digits = "";
  for (let last = first; last < groups.length; last++) {
    const group = groups[last]!;
    digits += group.digits;
    if (digits.length > MAX_SPAN_DIGITS) break;
    if (/[Xx]/.test(group.digits) && last < groups.length - 1) break;
    // Pieces of one written number have 2+ digits; only the last may be shorter, and a country
    // code after `+` (`+1 415 555 2671`).
    if (last > first && groups[last - 1]!.digits.length < 2 && !(international && last - 1 === 0)) break;
    if (followedByBoundary(text, group.end)) spans.push({ last, digits });
  }
  return spans.reverse();
}

/** `+<country><number>`, 8-15 digits (E.164); after +86 and 11 digits, a mainland mobile number. */
function internationalPhone(groups: DigitGroup[], text: string): DigitGroup | undefined {
  for (const { last, digits } of spansFrom(groups, 0, text, true)) {
    if (/[Xx]/.test(digits) || digits.length < 8 || digits.length > 15 || digits.startsWith("0")) continue;
    if (digits.startsWith("86") && digits.length === 13 && !CN_MOBILE.test(digits.slice(2))) continue;
    return groups[last];
  }
  return undefined;
}

const CN_MOBILE = /^1[3-9]\d{9}$/;

/**
 * The number that starts at group `first`, if any: an ID number first (18 characters with its own
 * checks), then a card (the longest Luhn-valid span), then a mainland mobile (maybe after 0086).
 */
function numberAt(
  groups: DigitGroup[],
  first: number,
  text: string,
): { kind: PiiKind; last: number } | undefined {
  const spans = spansFrom(groups, first, text);
  const id = spans.find((span) => span.digits.length === 18 && isValidCnId(span.digits));
  if (id) return { kind: "cn_id", last: id.last };
  const card = spans.find((span) => isValidCard(span.digits));
  if (card) return { kind: "card", last: card.last };
  const phone = spans.find((span) =>
    CN_MOBILE.test(span.digits.startsWith("0086") ? span.digits.slice(4) : span.digits),
  );
  if (phone) return { kind: "phone", last: phone.last };
  return undefined;
}

/** Whether nothing that would continue a word or a number follows `offset`. */
function followedByBoundary(text: string, offset: number): boolean {
  const next = text.slice(offset, offset + 2);
  return !/^[A-Za-z0-9_]/.test(next) && !/^[.,]\d/.test(next);
}

/**
 * A payment card: 13-19 digits, Luhn-valid, starting 2-6 (the issuer ranges of Visa, Mastercard,
 * UnionPay, Amex, JCB, Discover, Diners). Timestamps and ISBNs (1…, 9…) are not cards.
 */
export function isValidCard(digits: string): boolean {
  if (!/^[2-6]\d{12,18}$/.test(digits)) return false;
  return luhnValid(digits);
}

export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let index = 0; index < digits.length; index++) {
    let digit = digits.charCodeAt(digits.length - 1 - index) - 48;
    if (index % 2 === 1) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return sum % 10 === 0;
}

/** Mainland province-level codes: the first two digits of a region code. */
const CN_PROVINCES = new Set([
  11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61,
  62, 63, 64, 65, 71, 81, 82, 83, 91,
]);
const CN_ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CN_ID_CHECK = "10X98765432";

/** GB 11643-1999: region, a real birth date (1900 to this year), sequence, ISO 7064 check. */
export function isValidCnId(id: string): boolean {
  if (!/^\d{17}[\dXx]$/.test(id)) return false;
  if (!CN_PROVINCES.has(Number(id.slice(0, 2)))) return false;
  const year = Number(id.slice(6, 10));
  const month = Number(id.slice(10, 12));
  const day = Number(id.slice(12, 14));
  if (year < 1900 || year > new Date().getFullYear()) return false;
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day)
    return false;
  return cnIdCheckCharacter(id.slice(0, 17)) === id[17]!.toUpperCase();
}

/** The 18th character of an ID number whose first 17 digits are given. */
export function cnIdCheckCharacter(first17: string): string {
  let sum = 0;
  for (let index = 0; index < 17; index++) sum += (first17.charCodeAt(index) - 48) * CN_ID_WEIGHTS[index]!;
  return CN_ID_CHECK[sum % 11]!;
}
