/**
 * The rule store under GbnfBuilder: unique rule names, shared rules emitted once, the output layout
 * and bounded repetition, and the primitive and free-form JSON rules every schema draws on.
 *
 * Layout: "compact" (default) is `{"a": 1, "b": [1, 2]}` — optionally one space after `:` and `,`,
 * nothing else; "multiline" also allows, after `{` `[` `,` and before `}` `]`, a space or a newline
 * plus up to 20 spaces/tabs. Whitespace is always bounded so a weak model cannot spin in it.
 * Free-form JSON nests at most `freeFormDepth` (8) containers deep.
 */

import { QUOTE, classExpr, optional, seq } from "./gbnf-syntax.js";
import { JSON_RAW_CHARS } from "./ranges.js";
import type { GbnfOptions } from "./schema.js";

/** Longest repetition count written as one `{m,n}` (llama.cpp refuses counts ≥ 2000). */
const CHUNK = 1000;

/** Rule bookkeeping, layout, repetition and primitive rules; GbnfBuilder adds the schemas. */
export abstract class GbnfRuleSet {
  protected readonly rules = new Map<string, string>();
  protected readonly byBody = new Map<string, string>();
  protected readonly primitives = new Map<string, string>();
  /** Base name → the next numeric suffix to try, so that naming stays linear in the rule count. */
  private readonly suffixes = new Map<string, number>();
  protected readonly layout: "compact" | "multiline";
  protected readonly freeFormDepth: number;
  protected readonly freeFormStringMaxLength: number | undefined;

  constructor(options: GbnfOptions = {}) {
    this.layout = options.layout ?? "compact";
    this.freeFormDepth = options.freeFormDepth ?? 8;
    this.freeFormStringMaxLength = options.freeFormStringMaxLength;
  }

  // -- rule bookkeeping ------------------------------------------------------------------------

  protected uniqueName(hint: string): string {
    const base =
      hint
        .replace(/[^A-Za-z0-9-]+/g, "-")
        .replace(/-+/g, "-")
        .slice(0, 48)
        .replace(/^-+|-+$/g, "") || "r";
    let name = base;
    let i = this.suffixes.get(base) ?? 2;
    while (name === "root" || this.rules.has(name)) name = `${base}-${i++}`;
    this.suffixes.set(base, i);
    this.rules.set(name, "");
    return name;
  }

  /** A rule with this body (reusing an identical one), returning its name. */
  protected define(hint: string, body: string): string {
    if (/^[A-Za-z0-9-]+$/.test(body)) return body;
    const existing = this.byBody.get(body);
    if (existing) return existing;
    const name = this.uniqueName(hint);
    this.rules.set(name, body);
    this.byBody.set(body, name);
    return name;
  }

  protected primitive(key: string, body: () => string): string {
    const existing = this.primitives.get(key);
    if (existing) return existing;
    const name = this.uniqueName(key);
    this.primitives.set(key, name);
    this.rules.set(name, body());
    return name;
  }

  // -- layout ----------------------------------------------------------------------------------

  protected get ws(): string {
    return this.primitive("ws", () => `([ \\x09] | "\\n" [ \\x09]{0,20})?`);
  }

  protected get colon(): string {
    return `":" ${this.primitive("sp", () => '" "?')}`;
  }

  protected get comma(): string {
    return this.layout === "multiline" ? `"," ${this.ws}` : `"," ${this.primitive("sp", () => '" "?')}`;
  }

  protected open(bracket: "{" | "["): string {
    return this.layout === "multiline" ? `"${bracket}" ${this.ws}` : `"${bracket}"`;
  }

  protected close(bracket: "}" | "]"): string {
    return this.layout === "multiline" ? `${this.ws} "${bracket}"` : `"${bracket}"`;
  }

  // -- repetition ------------------------------------------------------------------------------

  /** `item` repeated min..max times (max undefined: unbounded); `item` must be atomic. */
  protected rep(item: string, min: number, max: number | undefined, hint: string): string {
    if (max === 0) return "";
    if (max === undefined) {
      if (min === 0) return `${item}*`;
      if (min === 1) return `${item}+`;
      if (min <= CHUNK) return `${item}{${min},}`;
      return seq(this.exactly(item, min, hint), `${item}*`);
    }
    if (min === 0 && max === 1) return `${item}?`;
    if (min === max) return this.exactly(item, min, hint);
    if (max <= CHUNK) return `${item}{${min},${max}}`;
    return seq(this.exactly(item, min, hint), this.upTo(item, max - min, hint));
  }

  protected chunk(item: string, hint: string): string {
    return this.define(`${hint}-chunk`, `${item}{${CHUNK}}`);
  }

  protected exactly(item: string, count: number, hint: string): string {
    if (count === 0) return "";
    if (count === 1) return item;
    if (count <= CHUNK) return `${item}{${count}}`;
    const chunks = Math.floor(count / CHUNK);
    const chunk = this.chunk(item, hint);
    return seq(chunks === 1 ? chunk : `${chunk}{${chunks}}`, this.exactly(item, count % CHUNK, hint));
  }

  protected upTo(item: string, count: number, hint: string): string {
    if (count <= CHUNK) return count === 1 ? `${item}?` : `${item}{0,${count}}`;
    const chunks = Math.floor(count / CHUNK);
    const chunk = this.chunk(item, hint);
    const fewer = seq(chunks === 1 ? "" : this.rep(chunk, 0, chunks - 1, hint), `${item}{0,${CHUNK - 1}}`);
    const most = seq(chunks === 1 ? chunk : `${chunk}{${chunks}}`, this.upTo(item, count % CHUNK, hint));
    return `(${fewer} | ${most === "" ? '""' : most})`;
  }

  // -- primitives ------------------------------------------------------------------------------

  protected get char(): string {
    return this.primitive(
      "char",
      () =>
        `${classExpr(JSON_RAW_CHARS)} | "\\\\" (["\\\\/bfnrt] | "u" ([0-9a-cA-CeEfF] [0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2}))`,
    );
  }

  protected stringOfLength(min: number, max: number | undefined): string {
    if (min === 0 && max === undefined)
      return this.primitive("string", () => seq(QUOTE, `${this.char}*`, QUOTE));
    return this.define(
      `string-${min}-${max ?? "n"}`,
      seq(QUOTE, this.rep(this.char, min, max, "char"), QUOTE),
    );
  }

  protected get integer(): string {
    return this.primitive("integer", () => `"0" | "-"? [1-9] [0-9]{0,15}`);
  }

  protected get number(): string {
    return this.primitive(
      "number",
      () => `"-"? ("0" | [1-9] [0-9]{0,15}) ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,2})?`,
    );
  }

  protected get boolean(): string {
    return this.primitive("boolean", () => `"true" | "false"`);
  }

  protected get null(): string {
    return this.primitive("null", () => `"null"`);
  }

  protected freeString(): string {
    return this.stringOfLength(0, this.freeFormStringMaxLength);
  }

  protected freeValue(depth: number): string {
    return this.primitive(`value-d${depth}`, () => {
      const scalars = [this.freeString(), this.number, this.boolean, this.null];
      if (depth <= 0) return [`"{}"`, `"[]"`, ...scalars].join(" | ");
      return [this.freeObject(depth), this.freeArray(depth), ...scalars].join(" | ");
    });
  }

  protected freeObject(depth: number): string {
    return this.primitive(`object-d${depth}`, () => {
      if (depth <= 0) return `"{}"`;
      const member = seq(this.freeString(), this.colon, this.freeValue(depth - 1));
      return seq(this.open("{"), optional(seq(member, `(${seq(this.comma, member)})*`)), this.close("}"));
    });
  }

  protected freeArray(depth: number): string {
    return this.primitive(`array-d${depth}`, () => {
      const value = this.freeValue(depth - 1);
      return seq(this.open("["), optional(seq(value, `(${seq(this.comma, value)})*`)), this.close("]"));
    });
  }
}
