/**
 * String `format` grammars: date, time (timezone required), date-time, uuid, email (local part: up
 * to 4 dot-separated atoms of [A-Za-z0-9_%+-]; domain: 2–4 labels), ipv4, ipv6 (no embedded IPv4),
 * hostname — each a subset of the valid values.
 */

import { optional, seq } from "./gbnf-syntax.js";

/** Supported formats → the shortest and longest value each grammar allows (code points). */
export const FORMATS: Record<string, readonly [number, number]> = {
  date: [10, 10],
  time: [9, 21],
  "date-time": [20, 32],
  uuid: [36, 36],
  email: [5, 135],
  ipv4: [7, 15],
  ipv6: [2, 39],
  hostname: [1, 67],
};

/** Returns the name of a shared rule (created once under `key`, with `body()`). */
export type Primitive = (key: string, body: () => string) => string;

/** The name of the rule matching format `name` (unquoted), defined through `primitive`. */
export function formatGrammar(name: string, primitive: Primitive): string {
  const hexDigit = "[0-9a-fA-F]";
  switch (name) {
    case "date": {
      const leapYear = primitive(
        "leap-year",
        () => `[0-9]{2} ("0" [48] | [2468] [048] | [13579] [26]) | ([02468] [048] | [13579] [26]) "00"`,
      );
      return primitive("date", () =>
        [
          `[0-9]{4} "-" (("0" [13578] | "1" [02]) "-" ("0" [1-9] | [12] [0-9] | "3" [01])`,
          `| ("0" [469] | "11") "-" ("0" [1-9] | [12] [0-9] | "30")`,
          `| "02-" ("0" [1-9] | "1" [0-9] | "2" [0-8]))`,
          `| ${leapYear} "-02-29"`,
        ].join(" "),
      );
    }
    case "time":
      return primitive(
        "time",
        () =>
          `([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9] ":" [0-5] [0-9] ("." [0-9]{1,6})? ` +
          `("Z" | [+\\x2D] ([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9])`,
      );
    case "date-time":
      return primitive(
        "date-time",
        () => `${formatGrammar("date", primitive)} "T" ${formatGrammar("time", primitive)}`,
      );
    case "uuid":
      return primitive("uuid", () => [8, 4, 4, 4, 12].map((n) => `${hexDigit}{${n}}`).join(` "-" `));
    case "ipv4": {
      const octet = primitive(
        "ipv4-octet",
        () => `"25" [0-5] | "2" [0-4] [0-9] | "1" [0-9] [0-9] | [1-9] [0-9] | [0-9]`,
      );
      return primitive("ipv4", () => `${octet} ("." ${octet}){3}`);
    }
    case "ipv6": {
      const h16 = primitive("ipv6-h16", () => `${hexDigit}{1,4}`);
      return primitive("ipv6", () => {
        const groups = (n: number): string =>
          n === 0 ? "" : n === 1 ? h16 : seq(h16, n === 2 ? `":" ${h16}` : `(":" ${h16}){${n - 1}}`);
        const upTo = (n: number): string =>
          n === 0 ? "" : optional(seq(h16, n === 1 ? "" : `(":" ${h16}){0,${n - 1}}`));
        const options = [groups(8)];
        for (let left = 0; left <= 7; left += 1) options.push(seq(groups(left), `"::"`, upTo(7 - left)));
        return options.join(" | ");
      });
    }
    case "hostname":
    case "email": {
      const label = primitive("dns-label", () => `[A-Za-z0-9] ([A-Za-z0-9\\x2D]{0,14} [A-Za-z0-9])?`);
      if (name === "hostname") return primitive("hostname", () => `${label} ("." ${label}){0,3}`);
      const atom = primitive("email-atom", () => `[A-Za-z0-9_%+\\x2D]{1,16}`);
      return primitive("email", () => `${atom} ("." ${atom}){0,3} "@" ${label} ("." ${label}){1,3}`);
    }
    default:
      throw new Error(`unknown format ${name}`);
  }
}
