// Batches are built in sequence order on the real node-llama-cpp (src/engines/local/batch-order.ts):
// llama.cpp decodes a batch whose sequences are out of KV-stream order about twice as slowly, and
// node-llama-cpp queues them in the order they asked. The order comes from node-llama-cpp's own
// queue (an internal of the pinned version), so this checks it is found there.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { EvaluationPriority, LlamaContext, LlamaModel, Token } from "node-llama-cpp";
import {
  queuedSequenceOf,
  sequenceOrderedStrategy,
  shareBatch,
} from "../../src/engines/local/batch-order.js";
import { disposeRuntime, getRuntime } from "../../src/engines/local/llama-runtime.js";
import { ensureFixtureModels } from "../fixtures/models.js";

describe("batches in sequence order", () => {
  let model: LlamaModel;
  before(async () => {
    const llama = await getRuntime({ gpu: "off", maxThreads: 1 });
    model = await llama.loadModel({ modelPath: ensureFixtureModels().tiny });
  });
  after(async () => {
    await model?.dispose();
    await disposeRuntime();
  });

  it("orders the real queue's items by sequence, whatever order they were asked in", async () => {
    const created: { context?: LlamaContext } = {};
    const sequenceOf = queuedSequenceOf(() => created.context);
    const strategy = sequenceOrderedStrategy(sequenceOf);
    const asked: Array<Array<number | undefined>> = [];
    const built: Array<Array<number | undefined>> = [];
    const context = await model.createContext({
      contextSize: 1024,
      sequences: 4,
      threads: 1,
      batching: {
        itemPrioritizationStrategy: (options) => {
          asked.push(options.items.map((item) => sequenceOf(item.tokens)));
          const result = strategy(options);
          built.push(result.map((entry) => sequenceOf(entry.item.tokens)));
          return result;
        },
      },
    });
    created.context = context;
    try {
      const sequences = [0, 1, 2, 3].map(() => context.getSequence());
      // One token each, as in a decoding step (steps that read a prompt keep node-llama-cpp's order).
      await Promise.all(
        [3, 1, 2, 0].map((index) =>
          sequences[index]!.evaluateWithoutGeneratingNewTokens(
            model.tokenize(`${index}`).slice(0, 1) as Token[],
          ),
        ),
      );
      const together = built.findIndex((batch) => batch.length === 4);
      assert.ok(together >= 0, `no batch of all four: ${JSON.stringify(built)}`);
      // A fresh context hands out sequences 0, 1, 2, 3 in turn.
      assert.deepEqual(asked[together], [3, 1, 2, 0], "queued as asked");
      assert.deepEqual(built[together], [0, 1, 2, 3], "built in sequence order");
    } finally {
      await context.dispose();
    }
  });

  it("shares the batch as node-llama-cpp does: equal shares, the rest to those that want more", () => {
    const item = (length: number, evaluationPriority: EvaluationPriority = 5) => ({
      tokens: new Array<Token>(length).fill(1 as Token),
      logits: new Array<true | undefined>(length),
      evaluationPriority,
    });
    const decodes = [item(1), item(1), item(1)];
    const prompt = item(2000);
    const shared = shareBatch([...decodes, prompt], 512);
    assert.deepEqual(
      shared.map((entry) => entry.processAmount),
      [1, 1, 1, 509],
    );
    // A batch with a prompt in it keeps the order it was asked in.
    const unordered = sequenceOrderedStrategy((tokens) => (tokens.length === 2000 ? 0 : 1));
    assert.deepEqual(
      unordered({ items: [...decodes, prompt], size: 512 }).map((entry) => entry.item),
      [...decodes, prompt],
    );
    // More items than slots: the first ones get one token each.
    assert.equal(shareBatch([item(3), item(3), item(3)], 2).length, 2);
  });
});
