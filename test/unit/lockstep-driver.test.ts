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

async function waitUntil(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 1));
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

  it("reads a long prompt in chunks between the steps of a generation already decoding", async () => {
    const { sequence } = batchRecorder();
    const driver = new LockstepDriver();
    const events: string[] = [];
    const prompt = Array.from({ length: 300 }, (_, index) => index as Token);
    // Decode steps of about 4 ms, prompt reads of 0.5 ms a token: chunks of about 20 tokens.
    const running = driver.run({
      iterator: sequence(40, new Array<number>(40).fill(4)),
      cancelled: () => false,
      onToken: (token) => {
        events.push(`a${token as number}`);
        // The long prompt arrives once the first stream is flowing (4 tokens and more).
        if (token === 10) void arriving();
        return false;
      },
    });
    let started: Token[] = [];
    const arriving = () =>
      driver.run({
        prompt: {
          tokens: prompt,
          read: async (chunk) => {
            events.push(`read ${chunk.length}`);
            await new Promise((resolve) => setTimeout(resolve, chunk.length / 2));
          },
          start: (rest) => {
            started = rest;
            return sequence(1);
          },
        },
        cancelled: () => false,
        onToken: () => {
          events.push("b0");
          return false;
        },
      });
    await running;
    await waitUntil(() => events.includes("b0"));
    const reads = events.filter((event) => event.startsWith("read"));
    assert.ok(reads.length >= 3, events.join(" "));
    // Every chunk was read in a step where the first stream also took a token.
    const firstRead = events.indexOf(reads[0]!);
    const between = events.slice(firstRead, events.indexOf("b0")).filter((event) => event.startsWith("a"));
    assert.ok(between.length >= reads.length - 1, events.join(" "));
    const read = reads.reduce((sum, event) => sum + Number(event.split(" ")[1]), 0);
    assert.equal(read + started.length, prompt.length, "every prompt token is read once");
    assert.ok(started.length > 0);
  });

  it("reads a prompt whole when no other generation is decoding", async () => {
    const { sequence } = batchRecorder();
    const driver = new LockstepDriver();
    let reads = 0;
    let started = 0;
    await driver.run({
      prompt: {
        tokens: Array.from({ length: 300 }, (_, index) => index as Token),
        read: async () => void reads++,
        start: (rest) => {
          started = rest.length;
          return sequence(2);
        },
      },
      cancelled: () => false,
      onToken: () => false,
    });
    assert.equal(reads, 0);
    assert.equal(started, 300);
  });

  it("reads whole, together, prompts that arrive just after a stream started", async () => {
    const { sequence } = batchRecorder();
    const driver = new LockstepDriver();
    let reads = 0;
    const started: number[] = [];
    const late = () =>
      driver.run({
        prompt: {
          tokens: Array.from({ length: 300 }, (_, index) => index as Token),
          read: async () => void reads++,
          start: (rest) => {
            started.push(rest.length);
            return sequence(2);
          },
        },
        cancelled: () => false,
        onToken: () => false,
      });
    let arrivals: Array<Promise<unknown>> = [];
    await driver.run({
      iterator: sequence(20, new Array<number>(20).fill(2)),
      cancelled: () => false,
      onToken: (token) => {
        // A burst whose first request got in alone: the others come one token later.
        if (token === 1) arrivals = [late(), late()];
        return false;
      },
    });
    await Promise.all(arrivals);
    assert.equal(reads, 0, "no chunks beside a stream that has not flowed yet");
    assert.deepEqual(started, [300, 300]);
  });

  it("starts from idle once the requests on their way have joined", async () => {
    const { batches, sequence } = batchRecorder();
    let onTheirWay = 1;
    const driver = new LockstepDriver({ arriving: () => onTheirWay });
    const run = () => driver.run({ iterator: sequence(3), cancelled: () => false, onToken: () => false });
    const first = run();
    // The second request is still rendering its prompt when the first reaches the driver.
    await new Promise((resolve) => setTimeout(resolve, 4));
    onTheirWay = 0;
    await Promise.all([first, run()]);
    assert.deepEqual(batches, [2, 2, 2], "both in every step, the first included");
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
