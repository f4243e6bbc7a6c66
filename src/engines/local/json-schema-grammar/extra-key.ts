/**
 * Names for extra object properties (`additionalProperties` as a schema): 1–64 characters without
 * escapes, differing from every declared property name.
 */

import { QUOTE, alternatives, classExpr, gbnfLiteral, paren, seq } from "./gbnf-syntax.js";
import { UNIVERSE, subtract } from "./ranges.js";
import type { Range } from "./ranges.js";

const EXTRA_KEY_MAX_LENGTH = 64;

/** The rule-making operations extraKey needs from its grammar builder. */
export interface KeyRules {
  /** A shared rule created once under `key`, with `body()`. */
  primitive(key: string, body: () => string): string;
  /** `item` repeated min..max times (max undefined: unbounded); `item` must be atomic. */
  rep(item: string, min: number, max: number | undefined, hint: string): string;
  /** A rule with this body (reusing an identical one), returning its name. */
  define(hint: string, body: string): string;
}

/** A quoted property name of 1–64 plain characters that is none of `names`. */
export function extraKey(names: readonly string[], hint: string, rules: KeyRules): string {
  interface Node {
    children: Map<number, Node>;
    terminal: boolean;
  }
  const root: Node = { children: new Map(), terminal: false };
  for (const name of names) {
    let node = root;
    for (const ch of name) {
      const cp = ch.codePointAt(0)!;
      let child = node.children.get(cp);
      if (!child) {
        child = { children: new Map(), terminal: false };
        node.children.set(cp, child);
      }
      node = child;
    }
    node.terminal = true;
  }
  const plain: Range[] = subtract(UNIVERSE, [
    [0x22, 0x22],
    [0x5c, 0x5c],
  ]);
  const keyChar = rules.primitive("key-char", () => classExpr(plain));
  const visit = (node: Node, depth: number): string => {
    const options: string[] = [];
    if (depth < EXTRA_KEY_MAX_LENGTH) {
      for (const [cp, child] of node.children) {
        if (cp < 0x20 || cp === 0x22 || cp === 0x5c || (cp >= 0xd800 && cp <= 0xdfff)) continue;
        options.push(seq(gbnfLiteral(String.fromCodePoint(cp)), paren(visit(child, depth + 1) || '""')));
      }
      const others = subtract(
        plain,
        [...node.children.keys()].map((cp) => [cp, cp] as const),
      );
      if (others.length > 0) {
        options.push(seq(classExpr(others), rules.rep(keyChar, 0, EXTRA_KEY_MAX_LENGTH - depth - 1, "key")));
      }
    }
    if (depth > 0 && !node.terminal) options.push("");
    return alternatives(options);
  };
  return rules.define(`${hint}-key`, seq(QUOTE, visit(root, 0), QUOTE));
}
