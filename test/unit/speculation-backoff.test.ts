// The draft length policy of SpeculativeGeneration, on a stand-in sequence whose "model" counts
// up (token t is followed by t + 1) and stand-in drafters: an always-wrong drafter must cost ever
// fewer checks (on a CPU each probe makes a decode of 2 tokens, ~2.7 decodes of one), and an
// always-right one must keep drafting. The real engine's exactness is test/integration/speculative.test.ts.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { LlamaContextSequence, Token } from "node-llama-cpp";
import { SpeculativeGeneration, type Drafter } from "../../src/engines/local/speculation.js";

type Item = Token | [Token, unknown];

/** A sequence of a model that always answers the last token plus one; it records each decode. */
function countingSequence() {
  const tokens: Token[] = [];
  const decodes: number[] = [];
  const sequence = {
    contextSize: 100_000,
    get nextTokenIndex() {
      return tokens.length;
    },
    get contextTokens() {
      return tokens;
    },
    model: { isEogToken: () => false },
    async controlledEvaluate(items: Item[]) {
      decodes.push(items.length);
      return items.map((item) => {
        const token = Array.isArray(item) ? item[0] : item;
        tokens.push(token);
        return Array.isArray(item) ? { next: { token: (token + 1) as Token } } : undefined;
      });
    },
    async eraseContextTokenRanges(ranges: Array<{ start: number; end: number }>) {
      for (const { start, end } of ranges) tokens.splice(start, end - start);
    },
  };
  return { sequence: sequence as unknown as LlamaContextSequence, decodes };
}

/** A drafter that drafts `right` continuations of the last token, or wrong ones. */
function drafter(right: boolean) {
  let last = 0;
  return {
    async start(_mode: unknown, _target: unknown, state: Token[]) {
      last = state.at(-1) ?? 0;
    },
    push(tokens: Token[]) {
      last = tokens.at(-1) ?? last;
    },
    async predict() {
      return Array.from({ length: 8 }, (_, index) => (right ? last + 1 + index : -1 - index) as Token);
    },
    stop() {},
  } as unknown as Drafter;
}

async function generate(right: boolean, count: number) {
  const { sequence, decodes } = countingSequence();
  const stats = { acceptedTokens: 0, rejectedTokens: 0 };
  const generation = new SpeculativeGeneration(
    sequence,
    drafter(right),
    { draft: true, lookup: false },
    [],
    stats,
    false,
  );
  const produced: Token[] = [];
  for await (const { token } of generation.tokens([1 as Token])) {
    produced.push(token);
    if (produced.length >= count) break;
  }
  return { produced, decodes, stats };
}

describe("speculative decoding's draft length", () => {
  it("probes ever more rarely when every draft is wrong, and the tokens stay exact", async () => {
    const { produced, decodes, stats } = await generate(false, 1000);
    assert.deepEqual(
      produced,
      Array.from({ length: 1000 }, (_, index) => (index + 2) as Token),
    );
    const checks = decodes.filter((size) => size > 1).length;
    // 3 rounds before the pause, then probes after 16, 32, 64, ... steps: 8 in 1,000 tokens
    // (a probe every 16 steps would make 64).
    assert.ok(checks <= 10, `${checks} decodes checked drafts: ${JSON.stringify(stats)}`);
    assert.equal(stats.acceptedTokens, 0);
  });

  it("keeps drafting while drafts are accepted", async () => {
    const { produced, decodes, stats } = await generate(true, 200);
    assert.deepEqual(
      produced.slice(0, 200),
      Array.from({ length: 200 }, (_, index) => (index + 2) as Token),
    );
    assert.ok(decodes.length < 40, `${decodes.length} decodes for 200 tokens`);
    assert.equal(stats.rejectedTokens, 0);
  });
});
