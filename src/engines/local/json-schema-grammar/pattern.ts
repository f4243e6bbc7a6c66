/**
 * `pattern` support: a parser for an ECMAScript regular expression subset and its translation to
 * GBNF over JSON string content.
 *
 * Supported: literals, escapes (\d \w \s \D \W \S \t \n \r \v \f \0 \xHH \uHHHH \u{H..},
 * escaped punctuation), `.`, classes with ranges and negation, groups (capturing, `(?:`,
 * `(?<name>`) with `|`, quantifiers ? * + {m} {m,} {m,n} (lazy ones too). `^` and `$` may only
 * open/close a top-level alternative; the pattern is always treated as a full match (which is a
 * subset of what an unanchored pattern allows, so output stays valid). Dot and negated classes never
 * produce control characters. Lookarounds, backreferences, \b, \p{..} → RegexError (a 422).
 *
 * Combined with minLength/maxLength, a pattern is accepted when its possible lengths fit; a pattern
 * with a single variable-length repeat of one character class has that repeat narrowed.
 */

import { ATOMIC, alternatives, classExpr, gbnfLiteral, paren, seq } from "./gbnf-syntax.js";
import { complement, contains, normalize, subtract } from "./ranges.js";
import type { Range } from "./ranges.js";
import { MAX_REPEAT } from "./schema.js";

export type RegexNode =
  | { kind: "set"; ranges: Range[] }
  | { kind: "seq"; items: RegexNode[] }
  | { kind: "alt"; options: RegexNode[] }
  | { kind: "rep"; node: RegexNode; min: number; max: number | undefined };

export class RegexError extends Error {}

const DIGIT: Range[] = [[0x30, 0x39]];
const WORD: Range[] = [
  [0x30, 0x39],
  [0x41, 0x5a],
  [0x5f, 0x5f],
  [0x61, 0x7a],
];
const SPACE: Range[] = normalize([
  [0x09, 0x0d],
  [0x20, 0x20],
  [0xa0, 0xa0],
  [0x1680, 0x1680],
  [0x2000, 0x200a],
  [0x2028, 0x2029],
  [0x202f, 0x202f],
  [0x205f, 0x205f],
  [0x3000, 0x3000],
  [0xfeff, 0xfeff],
]);
const DOT: Range[] = complement([
  [0x0a, 0x0a],
  [0x0d, 0x0d],
  [0x2028, 0x2029],
]);
const SYNTAX_CHARS = new Set([..."^$\\.*+?()[]{}|/-"].map((c) => c.codePointAt(0)!));

/** Deepest group nesting a pattern may use (the parser and every pass over the tree recurse). */
const MAX_GROUP_DEPTH = 64;

export class RegexParser {
  private readonly cps: number[];
  private i = 0;
  private depth = 0;

  constructor(source: string) {
    this.cps = Array.from(source, (c) => c.codePointAt(0)!);
  }

  parse(): RegexNode {
    const node = this.disjunction(true);
    if (this.i < this.cps.length) throw new RegexError(`unbalanced ')' at index ${this.i}`);
    return node;
  }

  private peek(offset = 0): string | undefined {
    const cp = this.cps[this.i + offset];
    return cp === undefined ? undefined : String.fromCodePoint(cp);
  }

  private disjunction(top: boolean): RegexNode {
    const options: RegexNode[] = [this.alternative(top)];
    while (this.peek() === "|") {
      this.i += 1;
      options.push(this.alternative(top));
    }
    return options.length === 1 ? options[0]! : { kind: "alt", options };
  }

  private alternative(top: boolean): RegexNode {
    const items: RegexNode[] = [];
    if (top && this.peek() === "^") this.i += 1;
    for (;;) {
      const c = this.peek();
      if (c === undefined || c === "|" || c === ")") break;
      if (c === "$") {
        const next = this.peek(1);
        if (top && (next === undefined || next === "|")) {
          this.i += 1;
          continue;
        }
        throw new RegexError(`'$' is only supported at the end of the pattern (index ${this.i})`);
      }
      if (c === "^")
        throw new RegexError(`'^' is only supported at the start of the pattern (index ${this.i})`);
      const atom = this.atom();
      items.push(this.quantified(atom));
    }
    return items.length === 1 ? items[0]! : { kind: "seq", items };
  }

  private quantified(atom: RegexNode): RegexNode {
    const c = this.peek();
    let min: number;
    let max: number | undefined;
    if (c === "*" || c === "+" || c === "?") {
      this.i += 1;
      [min, max] = c === "*" ? [0, undefined] : c === "+" ? [1, undefined] : [0, 1];
    } else if (c === "{") {
      const match = /^\{(\d+)(,(\d*))?\}/.exec(String.fromCodePoint(...this.cps.slice(this.i, this.i + 24)));
      if (!match) throw new RegexError(`invalid quantifier at index ${this.i}`);
      this.i += match[0].length;
      min = Number(match[1]);
      max = match[2] === undefined ? min : match[3] === "" ? undefined : Number(match[3]);
      if (max !== undefined && max < min) throw new RegexError(`quantifier {${min},${max}} is out of order`);
      if (min > MAX_REPEAT || (max ?? 0) > MAX_REPEAT) throw new RegexError("quantifier is too large");
    } else {
      return atom;
    }
    if (this.peek() === "?") this.i += 1; // lazy: same language for a full match
    const next = this.peek();
    if (next === "*" || next === "+" || next === "?" || next === "{") {
      throw new RegexError(`nothing to repeat at index ${this.i}`);
    }
    return { kind: "rep", node: atom, min, max };
  }

  private atom(): RegexNode {
    const c = this.peek()!;
    const start = this.i;
    this.i += 1;
    switch (c) {
      case ".":
        return { kind: "set", ranges: DOT };
      case "(": {
        if (this.peek() === "?") {
          const kind = this.peek(1);
          if (kind === ":") this.i += 2;
          else if (kind === "<" && this.peek(2) !== "=" && this.peek(2) !== "!") {
            const close = this.cps.indexOf(">".codePointAt(0)!, this.i);
            if (close < 0) throw new RegexError(`invalid group name at index ${start}`);
            this.i = close + 1;
          } else throw new RegexError(`lookaround and '(?' groups are not supported (index ${start})`);
        }
        if (this.depth >= MAX_GROUP_DEPTH) {
          throw new RegexError(`groups nest deeper than ${MAX_GROUP_DEPTH} levels (index ${start})`);
        }
        this.depth += 1;
        const inner = this.disjunction(false);
        this.depth -= 1;
        if (this.peek() !== ")") throw new RegexError(`unbalanced '(' at index ${start}`);
        this.i += 1;
        return inner;
      }
      case "[":
        return this.characterClass(start);
      case "\\":
        return this.escape(false);
      case "*":
      case "+":
      case "?":
      case "{":
        throw new RegexError(`nothing to repeat at index ${start}`);
      default:
        return { kind: "set", ranges: [[this.cps[start]!, this.cps[start]!]] };
    }
  }

  /** After a backslash; returns a set. `inClass`: \b is backspace, '-' is allowed. */
  private escape(inClass: boolean): { kind: "set"; ranges: Range[] } {
    const c = this.peek();
    if (c === undefined) throw new RegexError("the pattern ends with '\\'");
    this.i += 1;
    const set = (ranges: Range[]): { kind: "set"; ranges: Range[] } => ({ kind: "set", ranges });
    const single = (cp: number): { kind: "set"; ranges: Range[] } => set([[cp, cp]]);
    switch (c) {
      case "d":
        return set(DIGIT);
      case "D":
        return set(complement(DIGIT));
      case "w":
        return set(WORD);
      case "W":
        return set(complement(WORD));
      case "s":
        return set(SPACE);
      case "S":
        return set(complement(SPACE));
      case "t":
        return single(0x09);
      case "n":
        return single(0x0a);
      case "v":
        return single(0x0b);
      case "f":
        return single(0x0c);
      case "r":
        return single(0x0d);
      case "0":
        if (/[0-9]/.test(this.peek() ?? "")) throw new RegexError("octal escapes are not supported");
        return single(0);
      case "x": {
        const digits = String.fromCodePoint(...this.cps.slice(this.i, this.i + 2));
        if (!/^[0-9a-fA-F]{2}$/.test(digits)) throw new RegexError("invalid \\x escape");
        this.i += 2;
        return single(parseInt(digits, 16));
      }
      case "u": {
        const rest = String.fromCodePoint(...this.cps.slice(this.i, this.i + 10));
        const braced = /^\{([0-9a-fA-F]{1,6})\}/.exec(rest);
        const plain = /^[0-9a-fA-F]{4}/.exec(rest);
        const match = braced ?? plain;
        if (!match) throw new RegexError("invalid \\u escape");
        this.i += match[0].length;
        const cp = parseInt(braced ? braced[1]! : match[0], 16);
        if (cp > 0x10ffff) throw new RegexError("invalid \\u escape");
        return single(cp);
      }
      case "b":
        if (inClass) return single(0x08);
        throw new RegexError("word boundaries (\\b) are not supported");
      case "B":
        throw new RegexError("word boundaries (\\B) are not supported");
      case "k":
        throw new RegexError("backreferences are not supported");
      case "p":
      case "P":
        throw new RegexError("unicode property escapes are not supported");
      case "c":
        throw new RegexError("control escapes (\\c) are not supported");
      default: {
        const cp = c.codePointAt(0)!;
        if (/[1-9]/.test(c)) throw new RegexError("backreferences are not supported");
        if (SYNTAX_CHARS.has(cp) || cp > 0x7f || !/[A-Za-z0-9_]/.test(c)) return single(cp);
        throw new RegexError(`unknown escape '\\${c}'`);
      }
    }
  }

  private characterClass(start: number): RegexNode {
    let negated = false;
    if (this.peek() === "^") {
      negated = true;
      this.i += 1;
    }
    const ranges: Range[] = [];
    for (;;) {
      const c = this.peek();
      if (c === undefined) throw new RegexError(`unbalanced '[' at index ${start}`);
      if (c === "]") {
        this.i += 1;
        break;
      }
      const low = this.classAtom();
      if (this.peek() === "-" && this.peek(1) !== "]" && this.peek(1) !== undefined) {
        this.i += 1;
        const high = this.classAtom();
        if (typeof low !== "number" || typeof high !== "number") {
          throw new RegexError(`invalid character class range at index ${start}`);
        }
        if (high < low) throw new RegexError(`character class range out of order at index ${start}`);
        ranges.push([low, high]);
      } else if (typeof low === "number") ranges.push([low, low]);
      else ranges.push(...low);
    }
    const normalized = normalize(ranges);
    return { kind: "set", ranges: negated ? complement(normalized) : normalized };
  }

  private classAtom(): number | Range[] {
    const cp = this.cps[this.i]!;
    this.i += 1;
    if (cp !== 0x5c) return cp;
    const escaped = this.escape(true).ranges;
    const only = escaped[0];
    return escaped.length === 1 && only && only[0] === only[1] ? only[0] : escaped;
  }
}

/** Shortest and longest match length in code points (max Infinity when unbounded). */
export function regexLength(node: RegexNode): [number, number] {
  switch (node.kind) {
    case "set":
      return [1, 1];
    case "seq":
      return node.items.reduce<[number, number]>(
        (acc, item) => {
          const [a, b] = regexLength(item);
          return [acc[0] + a, acc[1] + b];
        },
        [0, 0],
      );
    case "alt": {
      const lengths = node.options.map(regexLength);
      return [Math.min(...lengths.map((l) => l[0])), Math.max(...lengths.map((l) => l[1]))];
    }
    case "rep": {
      const [a, b] = regexLength(node.node);
      return [a * node.min, node.max === undefined ? (b === 0 ? 0 : Infinity) : b * node.max];
    }
  }
}

/**
 * Narrows a pattern to lengths minLength..maxLength when it is a sequence of fixed-length parts and
 * one repeat of a single character; undefined when that is not its shape.
 */
export function narrowPattern(
  node: RegexNode,
  minLength: number,
  maxLength: number | undefined,
): RegexNode | undefined {
  const items = node.kind === "seq" ? node.items : [node];
  let variable = -1;
  let fixed = 0;
  for (const [index, item] of items.entries()) {
    const [a, b] = regexLength(item);
    if (a === b) {
      fixed += a;
      continue;
    }
    if (variable >= 0 || item.kind !== "rep" || item.node.kind !== "set") return undefined;
    variable = index;
  }
  const rep = items[variable];
  if (!rep || rep.kind !== "rep") return undefined;
  const min = Math.max(rep.min, minLength - fixed);
  const max = maxLength === undefined ? rep.max : Math.min(rep.max ?? Infinity, maxLength - fixed);
  if (max !== undefined && max < min) return undefined;
  const narrowed = [...items];
  narrowed[variable] = { ...rep, min, max };
  return { kind: "seq", items: narrowed };
}

/** The JSON text of one character inside a JSON string. */
function jsonEscaped(text: string): string {
  return JSON.stringify(text).slice(1, -1);
}

/** The rule-making operations the translation needs from its grammar builder. */
export interface PatternRules {
  /** A rule with this body (reusing an identical one), returning its name. */
  define(hint: string, body: string): string;
  /** `item` repeated min..max times (max undefined: unbounded); `item` must be atomic. */
  rep(item: string, min: number, max: number | undefined, hint: string): string;
}

/** A set of characters as JSON string content. */
function jsonChars(ranges: readonly Range[]): string {
  const options: string[] = [];
  const raw = subtract(ranges, [
    [0, 0x1f],
    [0x22, 0x22],
    [0x5c, 0x5c],
    [0xd800, 0xdfff],
  ]);
  if (raw.length > 0) options.push(classExpr(raw));
  for (let cp = 0; cp < 0x20; cp += 1) {
    if (contains(ranges, cp)) options.push(gbnfLiteral(jsonEscaped(String.fromCodePoint(cp))));
  }
  if (contains(ranges, 0x22)) options.push(gbnfLiteral('\\"'));
  if (contains(ranges, 0x5c)) options.push(gbnfLiteral("\\\\"));
  if (options.length === 0) throw new RegexError("a character class matches no character");
  return options.length === 1 ? options[0]! : `(${options.join(" | ")})`;
}

/** The GBNF for JSON string content (between the quotes) that `node` matches. */
export function patternToGbnf(node: RegexNode, hint: string, rules: PatternRules): string {
  switch (node.kind) {
    case "set":
      return jsonChars(node.ranges);
    case "seq": {
      const parts: string[] = [];
      let text = "";
      const flush = (): void => {
        if (text !== "") parts.push(gbnfLiteral(jsonEscaped(text)));
        text = "";
      };
      for (const item of node.items) {
        const only = item.kind === "set" && item.ranges.length === 1 ? item.ranges[0]! : undefined;
        if (only && only[0] === only[1] && !(only[0] >= 0xd800 && only[0] <= 0xdfff)) {
          text += String.fromCodePoint(only[0]);
          continue;
        }
        flush();
        parts.push(patternToGbnf(item, hint, rules));
      }
      flush();
      return seq(...parts.map((part) => (part.includes(" | ") && !ATOMIC.test(part) ? paren(part) : part)));
    }
    case "alt":
      return alternatives(node.options.map((option) => patternToGbnf(option, hint, rules)));
    case "rep": {
      const inner = patternToGbnf(node.node, hint, rules);
      if (inner === "") return "";
      if (regexLength(node.node)[0] === 0 && (node.max === undefined || node.max > 1)) {
        throw new RegexError("a repeated group that can match the empty string is not supported");
      }
      const item = ATOMIC.test(inner) ? inner : rules.define(`${hint}-part`, inner);
      return rules.rep(item, node.min, node.max, hint);
    }
  }
}
