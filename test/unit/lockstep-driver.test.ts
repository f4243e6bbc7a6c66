import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Token } from "node-llama-cpp";
import { LockstepDriver } from "../../src/engines/local/lockstep-driver.js";

/**
 * A stand-in for node-llama-cpp's evaluate(): each next() "decodes" in a shared batch that
 * collects every request made in the same tick, so the test can see how steps line up.
 */
function batchRecorder() {
  const batches: number[] = [];
  let open: { size: number } | undefined;
  async function* sequence(length: number, delays: number[] = []): AsyncGenerator<Token, void, void> {
    for (let index = 0; index < length; index++) {
      if (!open) {
        open = { size: 0 };
        const batch = open;
        setImmediate(() => {
          batches.push(batch.size);
          open = undefined;
        });
      }
      open.size++;
      await new Promise((resolve) => setImmediate(resolve));
      // A consumer slower on some steps would drift out of phase if it were not held in step.
      await new Promise((resolve) => setTimeout(resolve, delays[index] ?? 0));
      yield index as Token;
    }
  }
  return { batches, sequence };
}

describe("LockstepDriver", () => {
  it("asks every active generation for its next token in the same step", async () => {
    const { batches, sequence } = batchRecorder();
    const driver = new LockstepDriver();
    const seen: number[][] = [[], [], [], []];
    await Promise.all(
      [0, 1, 2, 3].map((stream) =>
        driver.run({
          iterator: sequence(8, stream === 1 ? [0, 5, 0, 9] : []),
          cancelled: () => false,
          onToken: (token) => {
            seen[stream]!.push(token as number);
            return false;
          },
        }),
      ),
    );
    assert.deepEqual(batches, [4, 4, 4, 4, 4, 4, 4, 4], "every step batches all four");
    for (const tokens of seen) assert.deepEqual(tokens, [0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it("lets a finished or cancelled generation leave at the next step while others go on", async () => {
    const { batches, sequence } = batchRecorder();
    const driver = new LockstepDriver();
    let cancel = false;
    const results = await Promise.all([
      driver.run({ iterator: sequence(6), cancelled: () => false, onToken: () => false }),
      driver.run({ iterator: sequence(6), cancelled: () => false, onToken: (token) => token === 1 }),
      driver.run({
        iterator: sequence(6),
        cancelled: () => cancel,
        onToken: (token) => {
          if (token === 2) cancel = true;
          return false;
        },
      }),
    ]);
    assert.deepEqual(results, ["end-of-generation", "done", "cancelled"]);
    assert.deepEqual(batches, [3, 3, 2, 1, 1, 1]);
  });

  it("passes an iterator's failure to its own caller only", async () => {
    const driver = new LockstepDriver();
    async function* failing(): AsyncGenerator<Token, void, void> {
      yield 1 as Token;
      throw new Error("decode failed");
    }
    const { sequence } = batchRecorder();
    const [failed, fine] = await Promise.allSettled([
      driver.run({ iterator: failing(), cancelled: () => false, onToken: () => false }),
      driver.run({ iterator: sequence(3), cancelled: () => false, onToken: () => false }),
    ]);
    assert.equal(failed.status, "rejected");
    assert.deepEqual(fine, { status: "fulfilled", value: "end-of-generation" });
  });
});
