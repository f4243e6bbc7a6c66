/**
 * Valid (and deliberately invalid) personal values for the redaction tests and the corpus
 * generator: card numbers with their Luhn digit, mainland ID numbers with their GB 11643 check
 * character, IBANs with their mod-97 check digits. All are computed, none is a real person's.
 */
import { cnIdCheckCharacter, luhnValid } from "../../src/privacy/detectors.js";

/** A source of randomness: `next()` in [0, 1). */
export interface Random {
  next(): number;
}

/** mulberry32: a small seeded PRNG, so generated corpora are the same on every run. */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return {
    next() {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
  };
}

export function pick<T>(random: Random, items: readonly T[]): T {
  return items[Math.floor(random.next() * items.length)]!;
}

export function digits(random: Random, count: number): string {
  let out = "";
  for (let index = 0; index < count; index++) out += String(Math.floor(random.next() * 10));
  return out;
}

/** The digit that makes `body` + digit Luhn-valid. */
export function luhnCheckDigit(body: string): string {
  for (let digit = 0; digit < 10; digit++) if (luhnValid(body + digit)) return String(digit);
  throw new Error("unreachable");
}

const CARD_PREFIXES: ReadonlyArray<{ prefix: string; lengths: number[] }> = [
  { prefix: "4", lengths: [13, 16, 19] },
  { prefix: "51", lengths: [16] },
  { prefix: "55", lengths: [16] },
  { prefix: "2221", lengths: [16] },
  { prefix: "62", lengths: [16, 17, 18, 19] },
  { prefix: "34", lengths: [15] },
  { prefix: "37", lengths: [15] },
  { prefix: "35", lengths: [16] },
  { prefix: "6011", lengths: [16] },
];

/** A Luhn-valid card number, compact. */
export function validCard(random: Random): string {
  const { prefix, lengths } = pick(random, CARD_PREFIXES);
  const length = pick(random, lengths);
  const body = prefix + digits(random, length - prefix.length - 1);
  return body + luhnCheckDigit(body);
}

/** The same number with its last digit changed: Luhn fails. */
export function luhnFailing(random: Random, card: string): string {
  const last = Number(card.at(-1));
  return card.slice(0, -1) + String((last + 1 + Math.floor(random.next() * 9)) % 10);
}

/** A card as people write it: compact, or in groups of four with spaces or dashes. */
export function formatCard(random: Random, card: string): string {
  const style = pick(random, ["compact", "space", "dash"] as const);
  if (style === "compact") return card;
  return card.match(/.{1,4}/g)!.join(style === "space" ? " " : "-");
}

const PROVINCES = ["11", "12", "13", "31", "32", "33", "37", "44", "51", "61", "65"];

/** A valid 18-character ID number (born 1930-2015); `X` as the check character when it falls so. */
export function validCnId(random: Random): string {
  const region = pick(random, PROVINCES) + digits(random, 4);
  const date = new Date(Date.UTC(1930, 0, 1) + Math.floor(random.next() * 85 * 365.25) * 86_400_000);
  const birth =
    String(date.getUTCFullYear()) +
    String(date.getUTCMonth() + 1).padStart(2, "0") +
    String(date.getUTCDate()).padStart(2, "0");
  const first17 = region + birth + digits(random, 3);
  return first17 + cnIdCheckCharacter(first17);
}

/** The same ID with a wrong check character. */
export function wrongIdCheck(random: Random, id: string): string {
  const right = id.at(-1)!;
  const wrong = "0123456789X".split("").filter((char) => char !== right);
  return id.slice(0, -1) + wrong[Math.floor(random.next() * wrong.length)]!;
}

/** An ID-shaped number whose birth date does not exist (Feb 30th), with a correct check character. */
export function invalidDateId(random: Random): string {
  const first17 = pick(random, PROVINCES) + digits(random, 4) + "19900230" + digits(random, 3);
  return first17 + cnIdCheckCharacter(first17);
}

const IBAN_COUNTRIES: ReadonlyArray<{ country: string; length: number; letters: number }> = [
  { country: "DE", length: 22, letters: 0 },
  { country: "GB", length: 22, letters: 4 },
  { country: "FR", length: 27, letters: 0 },
  { country: "NL", length: 18, letters: 4 },
  { country: "ES", length: 24, letters: 0 },
  { country: "IT", length: 27, letters: 1 },
  { country: "CH", length: 21, letters: 0 },
  { country: "BE", length: 16, letters: 0 },
];

/** A valid IBAN, compact. */
export function validIban(random: Random): string {
  const { country, length, letters } = pick(random, IBAN_COUNTRIES);
  let bban = "";
  for (let index = 0; index < letters; index++)
    bban += String.fromCharCode(65 + Math.floor(random.next() * 26));
  bban += digits(random, length - 4 - letters);
  return country + ibanCheckDigits(country, bban) + bban;
}

export function ibanCheckDigits(country: string, bban: string): string {
  const numeric = (bban + country + "00").replace(/[A-Z]/g, (char) => String(char.charCodeAt(0) - 55));
  let remainder = 0;
  for (const digit of numeric) remainder = (remainder * 10 + Number(digit)) % 97;
  return String(98 - remainder).padStart(2, "0");
}

/** An IBAN with its check digits changed. */
export function badIbanChecksum(iban: string): string {
  const check = Number(iban.slice(2, 4));
  const wrong = check === 97 ? 2 : check + 1;
  return iban.slice(0, 2) + String(wrong).padStart(2, "0") + iban.slice(4);
}

/** An IBAN compact or in groups of four. */
export function formatIban(random: Random, iban: string): string {
  return random.next() < 0.5 ? iban : iban.match(/.{1,4}/g)!.join(" ");
}

/** A mainland mobile number, compact, grouped 3-4-4, or with +86 / 0086. */
export function validMobile(random: Random): string {
  const number = "1" + pick(random, ["3", "5", "7", "8", "9"]) + digits(random, 9);
  const style = pick(random, ["compact", "space", "dash", "plus86", "0086"] as const);
  const grouped = (separator: string) =>
    [number.slice(0, 3), number.slice(3, 7), number.slice(7)].join(separator);
  if (style === "compact") return number;
  if (style === "space") return grouped(" ");
  if (style === "dash") return grouped("-");
  if (style === "plus86") return `+86 ${grouped(" ")}`;
  return `0086${number}`;
}

/** An E.164 number outside China: `+<country><number>`. */
export function validE164(random: Random): string {
  const country = pick(random, ["1", "44", "49", "33", "81", "61", "852"]);
  const body = digits(random, 9 - Math.min(country.length, 2) + 1).replace(/^0/, "5");
  return random.next() < 0.5 ? `+${country}${body}` : `+${country} ${body.slice(0, 3)} ${body.slice(3)}`;
}

const EMAIL_USERS = ["alice", "bob.smith", "zhang.wei", "li_na", "wang+news", "support", "chen2024"];
const EMAIL_DOMAINS = ["example.com", "qq.com", "163.com", "mail.example.cn", "corp.example.org"];

export function validEmail(random: Random): string {
  return `${pick(random, EMAIL_USERS)}${Math.floor(random.next() * 100)}@${pick(random, EMAIL_DOMAINS)}`;
}
