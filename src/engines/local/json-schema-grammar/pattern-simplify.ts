/**
 * Rewrites a parsed `pattern` into an equivalent one that llama.cpp's grammar sampler runs cheaply.
 *
 * The sampler keeps one parse stack per way the text so far can be read, and tries every way again
 * for each vocabulary token. `(a|b|c|d)?` written 500 times can be read as any choice of 500 slots,
 * so 16 tokens took minutes; as `[a-d]{0,500}` (which llama.cpp expands to nested optionals) there
 * is one way. Two rewrites, both keeping the language exactly:
 * - an alternation's single-character options become one character set (`a|b|[cd]` → `[a-d]`), and
 *   duplicate options go;
 * - neighbouring repeats of the same item merge (`x? x? x` → `x{1,3}`, `\d+\d*` → `\d{1,}`), since
 *   x{a,b} x{c,d} matches exactly x{a+c,b+d}. Runs of fixed counts (`xx`) stay as they are.
 */

import { normalize } from "./ranges.js";
import type { Range } from "./ranges.js";
import { MAX_REPEAT } from "./schema.js";
import type { RegexNode } from "./pattern.js";

/** The same language as `node`, with alternations of characters and repeats of one item merged. */
export function simplifyRegex(node: RegexNode): RegexNode {
  switch (node.kind) {
    case "set":
      return node;
    case "rep": {
      const inner = simplifyRegex(node.node);
      if (node.min === 1 && node.max === 1) return inner;
      return { ...node, node: inner };
    }
    case "alt":
      return simplifyAlternation(node.options.map(simplifyRegex));
    case "seq":
      return simplifySequence(node.items.map(simplifyRegex));
  }
}

function simplifyAlternation(simplified: RegexNode[]): RegexNode {
  const flat = simplified.flatMap((option) => (option.kind === "alt" ? option.options : [option]));
  const characters: Range[] = [];
  const others: RegexNode[] = [];
  const seen = new Set<string>();
  let setIndex = -1;
  for (const option of flat) {
    if (option.kind === "set") {
      if (setIndex < 0) setIndex = others.length;
      characters.push(...option.ranges);
      continue;
    }
    const key = JSON.stringify(option);
    if (seen.has(key)) continue;
    seen.add(key);
    others.push(option);
  }
  const options = [...others];
  if (setIndex >= 0) options.splice(setIndex, 0, { kind: "set", ranges: normalize(characters) });
  return options.length === 1 ? options[0]! : { kind: "alt", options };
}

interface Run {
  item: RegexNode;
  key: string;
  min: number;
  max: number | undefined;
  /** Every part of the run had a fixed count. */
  fixed: boolean;
  parts: RegexNode[];
}

function simplifySequence(simplified: RegexNode[]): RegexNode {
  const flat = simplified.flatMap((item) => (item.kind === "seq" ? item.items : [item]));
  const runs: Run[] = [];
  for (const part of flat) {
    const [item, min, max] = part.kind === "rep" ? [part.node, part.min, part.max] : [part, 1, 1];
    const key = JSON.stringify(item);
    const last = runs[runs.length - 1];
    if (last && last.key === key && !matchesEmpty(item)) {
      last.min += min;
      last.max = last.max === undefined || max === undefined ? undefined : last.max + max;
      last.fixed &&= min === max;
      last.parts.push(part);
      continue;
    }
    runs.push({ item, key, min, max, fixed: min === max, parts: [part] });
  }
  const items = runs.flatMap((run): RegexNode[] =>
    run.fixed || run.parts.length === 1 || run.min > MAX_REPEAT || (run.max ?? 0) > MAX_REPEAT
      ? run.parts
      : [{ kind: "rep", node: run.item, min: run.min, max: run.max }],
  );
  return items.length === 1 ? items[0]! : { kind: "seq", items };
}

/** Whether `node` can match the empty string (such items are left alone: repeating them is refused). */
function matchesEmpty(node: RegexNode): boolean {
  switch (node.kind) {
    case "set":
      return false;
    case "seq":
      return node.items.every(matchesEmpty);
    case "alt":
      return node.options.some(matchesEmpty);
    case "rep":
      return node.min === 0 || matchesEmpty(node.node);
  }
}
