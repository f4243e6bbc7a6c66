/**
 * GBNF text building blocks: string literals, character classes, sequences, optional parts and
 * alternatives. Every helper returns GBNF expression text; "" stands for "nothing".
 */

import type { Range } from "./ranges.js";

/** The GBNF literal for a `"` character (a JSON string's quotes). */
export const QUOTE = '"\\""';

function hex(value: number, width: number): string {
  return value.toString(16).toUpperCase().padStart(width, "0");
}

export function escapeCodePoint(cp: number): string {
  if (cp < 0x100) return `\\x${hex(cp, 2)}`;
  if (cp < 0x10000) return `\\u${hex(cp, 4)}`;
  return `\\U${hex(cp, 8)}`;
}

/** A GBNF string literal matching `text` exactly. */
export function gbnfLiteral(text: string): string {
  let out = '"';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === "\\") out += "\\\\";
    else if (cp >= 0x20 && cp < 0x7f) out += ch;
    else out += escapeCodePoint(cp);
  }
  return `${out}"`;
}

function classChar(cp: number): string {
  const alnum = (cp >= 0x30 && cp <= 0x39) || (cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a);
  return alnum ? String.fromCodePoint(cp) : escapeCodePoint(cp);
}

export function classExpr(ranges: readonly Range[], negated = false): string {
  const body = ranges.map(([a, b]) => (a === b ? classChar(a) : `${classChar(a)}-${classChar(b)}`)).join("");
  return `[${negated ? "^" : ""}${body}]`;
}

/** Joins sequence parts, dropping empty ones. */
export function seq(...parts: string[]): string {
  return parts.filter((part) => part !== "").join(" ");
}

export const ATOMIC = /^(?:[A-Za-z0-9-]+|"(?:[^"\\]|\\.)*"|\[(?:[^\]\\]|\\.)*\])$/;

/** Wraps an expression in parentheses unless it is a single rule name, literal or class. */
export function paren(expr: string): string {
  return ATOMIC.test(expr) ? expr : `(${expr})`;
}

/** `expr` or nothing. */
export function optional(expr: string): string {
  return expr === "" ? "" : `${paren(expr)}?`;
}

/** Alternatives; an empty one makes the whole group optional. */
export function alternatives(options: string[]): string {
  const unique = [...new Set(options)];
  const nonEmpty = unique.filter((option) => option !== "");
  if (nonEmpty.length === 0) return "";
  const group = nonEmpty.length === 1 ? nonEmpty[0]! : `(${nonEmpty.join(" | ")})`;
  return nonEmpty.length < unique.length ? optional(group) : group;
}
