/**
 * What a `pattern` costs llama.cpp's grammar sampler, measured before any token is generated.
 *
 * The sampler holds one parse stack for every place in the grammar the text so far may have
 * reached, and for each candidate token follows every way the token's characters can be read from
 * each stack; ways that share a start are not merged. So two figures predict the time per token:
 * - `stacks`: the most stacks alive at once (each costs a pass over the vocabulary);
 * - `readings`: the most ways to read up to 16 characters (a long token) from one stack, which
 *   grows like C(n, 16) for n optional items in a row.
 * Both are taken over the pattern's position automaton (one position per character set, bounded
 * repeats unrolled as llama.cpp unrolls them, up to 64 copies), over all inputs: stacks by
 * exploring every reachable set of positions, readings by a per-character dynamic programme that
 * picks the worst character at each step (an upper bound; exact for optional items in a row).
 *
 * Measured (tiny fixture llama, 32k-token vocabulary of letters and punctuation, 2 CPU cores), ms
 * per token, grammar-free decoding about 25: `[a-z]?` n times in a row (stacks n, readings 2^n up
 * to n = 16): n=8 70, n=12 83, n=16 290 (worst token 1.7 s), n=24 3,800 (worst 30 s);
 * `[a-z]*[a-z]{0,n}` (stacks n+1, readings 153): n=64..256 about 50-95. `(a|b|c|d)?` x 500, the
 * reported case, took 15.8 s per token before its repeats were merged (pattern-simplify.ts), and
 * takes ordinary time after. Hence the limits in schema.ts: 64 stacks, 4,096 readings.
 */

import { normalize, subtract } from "./ranges.js";
import type { Range } from "./ranges.js";
import type { RegexNode } from "./pattern.js";

/** Limits and the token length the cost is taken at. */
export interface PatternCostLimits {
  /** Most parse stacks alive at once. */
  stacks: number;
  /** Most readings of `tokenLength` characters from one stack. */
  readings: number;
}

export interface PatternCost {
  stacks: number;
  readings: number;
}

/** Characters of the longest vocabulary token the cost is taken at. */
export const TOKEN_LENGTH = 16;
/** Repeats with more copies than this are analysed as a loop after the first copies. */
const UNROLL = 64;
/** Positions, reachable position sets and steps the analysis may use before it gives up. */
const MAX_POSITIONS = 4_096;
const MAX_STATES = 8_192;
const MAX_WORK = 2_000_000;

/** Thrown inside the analysis when a limit is passed; `reason` says which. */
class OverLimit extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

export type PatternVerdict =
  | ({ ok: true } & PatternCost)
  | {
      ok: false;
      /** Why it is refused, as a clause: "it lets more than 64 parse stacks be pending at once". */
      problem: string;
    };

/** Analysis steps shared by all the patterns of one grammar, so many patterns stay fast too. */
export class AnalysisBudget {
  constructor(public left = 4 * MAX_WORK) {}
}

/**
 * Measures `node` against `limits`, in bounded time: past its own budget, or past what is left of
 * `budget`, the pattern is refused.
 */
export function assessPattern(
  node: RegexNode,
  limits: PatternCostLimits,
  budget = new AnalysisBudget(),
): PatternVerdict {
  try {
    const automaton = new Automaton(limits.stacks, budget);
    const root = automaton.build(node);
    const stacks = automaton.widestStep(root.first, limits.stacks);
    const readings = automaton.mostReadings(root.first, limits.readings);
    return { ok: true, stacks, readings };
  } catch (error) {
    if (error instanceof OverLimit) return { ok: false, problem: error.reason };
    throw error;
  }
}

interface Fragment {
  first: number[];
  last: number[];
  nullable: boolean;
}

/** JSON escapes (`\"`, `\\`, `\n`, `\u0001`...) count as one symbol each, above U+10FFFF. */
const ESCAPE_BASE = 0x110000;
const ESCAPED: readonly Range[] = [
  [0, 0x1f],
  [0x22, 0x22],
  [0x5c, 0x5c],
];

/** The symbols llama.cpp reads for a set: its plain characters and its escapes. */
function symbols(ranges: readonly Range[]): Range[] {
  const plain = subtract(ranges, [...ESCAPED, [0xd800, 0xdfff]]);
  const escapes: Range[] = [];
  for (const [a, b] of ESCAPED) {
    for (const [x, y] of ranges) {
      if (x <= b && a <= y) escapes.push([ESCAPE_BASE + Math.max(a, x), ESCAPE_BASE + Math.min(b, y)]);
    }
  }
  return normalize([...plain, ...escapes]);
}

class Automaton {
  private readonly sets: Range[][] = [];
  private readonly follow: Set<number>[] = [];
  private readonly symbolsOf = new Map<readonly Range[], Range[]>();
  private work = 0;

  constructor(
    private readonly stackLimit: number,
    private readonly budget: AnalysisBudget,
  ) {}

  private add(ranges: readonly Range[]): number {
    if (this.sets.length >= MAX_POSITIONS) {
      throw new OverLimit(`it unrolls to more than ${MAX_POSITIONS} character positions`);
    }
    let mapped = this.symbolsOf.get(ranges);
    if (!mapped) {
      mapped = symbols(ranges);
      this.symbolsOf.set(ranges, mapped);
    }
    this.sets.push(mapped);
    this.follow.push(new Set());
    return this.sets.length - 1;
  }

  /** Counts steps of the analysis, so that it gives up in bounded time. */
  private spend(steps: number): void {
    this.work += steps;
    this.budget.left -= steps;
    if (this.work > MAX_WORK) throw new OverLimit("it is too complex to analyse");
    if (this.budget.left < 0) {
      throw new OverLimit("the schemas' patterns together are too complex to analyse");
    }
  }

  private link(from: readonly number[], to: readonly number[]): void {
    this.spend(from.length * to.length);
    for (const p of from) {
      const next = this.follow[p]!;
      for (const q of to) next.add(q);
      if (next.size > this.stackLimit) this.tooManyStacks(next.size);
    }
  }

  /** A fragment's first positions are all pending when it starts. */
  private checkPending(first: readonly number[]): void {
    if (first.length > this.stackLimit) this.tooManyStacks(first.length);
  }

  private tooManyStacks(count: number): never {
    throw new OverLimit(
      `it lets ${count > this.stackLimit * 4 ? "far " : ""}more than ${this.stackLimit} parse stacks be pending at once`,
    );
  }

  build(node: RegexNode): Fragment {
    switch (node.kind) {
      case "set": {
        const p = this.add(node.ranges);
        return { first: [p], last: [p], nullable: false };
      }
      case "seq": {
        let acc: Fragment = { first: [], last: [], nullable: true };
        for (const item of node.items) {
          const next = this.build(item);
          this.link(acc.last, next.first);
          acc = {
            first: acc.nullable ? this.union(acc.first, next.first) : acc.first,
            last: next.nullable ? this.union(acc.last, next.last) : next.last,
            nullable: acc.nullable && next.nullable,
          };
          this.checkPending(acc.first);
        }
        return acc;
      }
      case "alt": {
        const parts = node.options.map((option) => this.build(option));
        const first = this.union(...parts.map((part) => part.first));
        this.checkPending(first);
        return {
          first,
          last: this.union(...parts.map((part) => part.last)),
          nullable: parts.some((part) => part.nullable),
        };
      }
      case "rep":
        return this.repeat(node.node, node.min, node.max);
    }
  }

  /** x{min,max}: copies in a row (llama.cpp's nested optionals), the last looping when unbounded. */
  private repeat(item: RegexNode, min: number, max: number | undefined): Fragment {
    if (max === 0) return { first: [], last: [], nullable: true };
    const loops = max === undefined || max > UNROLL;
    const copies = max === undefined ? Math.min(Math.max(min, 1), UNROLL) : Math.min(max, UNROLL);
    const parts: Fragment[] = [];
    for (let i = 0; i < copies; i += 1) {
      const part = this.build(item);
      if (i > 0) this.link(parts[i - 1]!.last, part.first);
      parts.push(part);
    }
    const lastPart = parts[copies - 1]!;
    if (loops) this.link(lastPart.last, lastPart.first);
    // Copy i (from 0) may end the repeat once at least `min` copies are in, or when looping.
    const enders = parts.filter((_, i) => i + 1 >= Math.min(min, copies));
    return {
      first: parts[0]!.first,
      last: this.union(...enders.map((part) => part.last)),
      nullable: min === 0 || parts.slice(0, min).every((part) => part.nullable),
    };
  }

  /** Sorted union of position lists; a first set wider than the stack limit is refused at once. */
  private union(...lists: ReadonlyArray<readonly number[]>): number[] {
    let size = 0;
    for (const list of lists) size += list.length;
    this.spend(size * 2);
    return [...new Set(lists.flat())].sort((x, y) => x - y);
  }

  /** Minterms: the code point intervals no set boundary splits, and which sets hold each. */
  private minterms(): { starts: number[]; of: number[][] } {
    const points = new Set<number>();
    for (const ranges of this.sets) {
      for (const [a, b] of ranges) points.add(a).add(b + 1);
    }
    const starts = [...points].sort((x, y) => x - y);
    const index = new Map(starts.map((point, i) => [point, i]));
    const cache = new Map<readonly Range[], number[]>();
    const of = this.sets.map((ranges) => {
      let list = cache.get(ranges);
      if (!list) {
        list = [];
        for (const [a, b] of ranges) {
          for (let j = index.get(a)!; j < index.get(b + 1)!; j += 1) list.push(j);
        }
        cache.set(ranges, list);
      }
      return list;
    });
    return { starts, of };
  }

  /**
   * The most stacks alive after any input: explores every reachable set of positions that may
   * have read the last character (a subset construction), from the stacks before the first.
   */
  widestStep(first: readonly number[], limit: number): number {
    if (first.length > limit) this.tooManyStacks(first.length);
    const { of } = this.minterms();
    const seen = new Set<string>();
    const queue: number[][] = [];
    let widest = first.length;
    const expand = (stacks: readonly number[]): void => {
      const buckets = new Map<number, number[]>();
      for (const q of stacks) {
        const list = of[q]!;
        this.spend(list.length);
        for (const j of list) {
          const bucket = buckets.get(j);
          if (bucket) bucket.push(q);
          else buckets.set(j, [q]);
        }
      }
      for (const bucket of buckets.values()) {
        const key = bucket.join(",");
        if (seen.has(key)) continue;
        seen.add(key);
        if (seen.size > MAX_STATES) throw new OverLimit("it is too complex to analyse");
        queue.push(bucket);
      }
    };
    expand([...first]);
    while (queue.length > 0) {
      const state = queue.pop()!;
      const stacks = this.union(...state.map((p) => [...this.follow[p]!]));
      widest = Math.max(widest, stacks.length);
      if (stacks.length > limit) this.tooManyStacks(stacks.length);
      expand(stacks);
    }
    return widest;
  }

  /**
   * The most ways to read up to TOKEN_LENGTH characters from one stack: ways[k][p] is an upper
   * bound on the readings of k more characters after position p, choosing at each step the
   * character that the most next positions accept.
   */
  mostReadings(first: readonly number[], limit: number): number {
    const count = this.sets.length;
    const follows = this.follow.map((set) => [...set]);
    let previous = new Float64Array(count).fill(1);
    const total = new Float64Array(count).fill(1);
    let fromStart = 1;
    for (let k = 1; k <= TOKEN_LENGTH; k += 1) {
      const current = new Float64Array(count);
      for (let p = 0; p < count; p += 1) {
        const next = follows[p]!;
        if (next.length === 0) continue;
        current[p] = this.worstCharacter(next, previous);
        total[p]! += current[p]!;
      }
      fromStart += this.worstCharacter(first, previous);
      previous = current;
    }
    let most = fromStart;
    for (const value of total) most = Math.max(most, value);
    if (most > limit) {
      throw new OverLimit(
        `it can be read in more than ${limit} ways within one ${TOKEN_LENGTH}-character token (ambiguous repeats or optional parts in a row)`,
      );
    }
    return most;
  }

  /** max over characters c of the sum of weight[q] over positions q that accept c. */
  private worstCharacter(positions: readonly number[], weight: Float64Array): number {
    if (positions.length === 1) return weight[positions[0]!]!;
    const events: Array<[number, number]> = [];
    for (const q of positions) {
      const w = weight[q]!;
      if (w === 0) continue;
      for (const [a, b] of this.sets[q]!) events.push([a, w], [b + 1, -w]);
    }
    this.spend(events.length * 4);
    events.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    let sum = 0;
    let most = 0;
    for (const [, delta] of events) {
      sum += delta;
      most = Math.max(most, sum);
    }
    return most;
  }
}
