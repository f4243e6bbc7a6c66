import assert from "node:assert/strict";
import { stat } from "node:fs";
import { describe, it } from "node:test";
import { EventQueue } from "../../src/engines/local/event-queue.js";

describe("EventQueue", () => {
  it("wakes its consumer at once for the first token, after the next decode's dispatch for the others", async () => {
    const queue = new EventQueue<number>();
    const order: string[] = [];
    const consumed = (async () => {
      for await (const item of queue) {
        order.push(`consumed ${item}`);
        if (item === 3) return;
      }
    })();
    await new Promise((resolve) => setImmediate(resolve)); // the consumer is waiting now
    for (const item of [1, 2, 3]) {
      // A decode ends in libuv's poll phase (its completion is I/O, like this stat); the token is
      // pushed there, and node-llama-cpp dispatches the next batch on setImmediate.
      await new Promise<void>((resolve) =>
        stat(".", () => {
          queue.push(item);
          setImmediate(() => order.push(`dispatch after ${item}`));
          setTimeout(resolve, 5);
        }),
      );
    }
    await consumed;
    assert.deepEqual(order, [
      "consumed 1",
      "dispatch after 1",
      "dispatch after 2",
      "consumed 2",
      "dispatch after 3",
      "consumed 3",
    ]);
  });

  it("delivers every item in order, then the end or the failure", async () => {
    const queue = new EventQueue<number>();
    const received: number[] = [];
    const consumed = (async () => {
      for await (const item of queue) received.push(item);
    })();
    for (let item = 0; item < 1000; item++) {
      queue.push(item);
      if (item % 100 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
    }
    queue.end();
    await consumed;
    assert.deepEqual(
      received,
      Array.from({ length: 1000 }, (_, item) => item),
    );

    const failing = new EventQueue<number>();
    const reader = (async () => {
      const seen: number[] = [];
      for await (const item of failing) seen.push(item);
      return seen;
    })();
    failing.push(7);
    failing.fail(new Error("engine gone"));
    await assert.rejects(reader, /engine gone/);
  });

  it("wakes its consumer at once at the end, when no decode follows", async () => {
    const queue = new EventQueue<number>();
    const order: string[] = [];
    const consumed = (async () => {
      for await (const item of queue) order.push(`consumed ${item}`);
      order.push("ended");
    })();
    await new Promise((resolve) => setImmediate(resolve));
    queue.push(1);
    await new Promise((resolve) => setImmediate(resolve));
    queue.push(2);
    queue.end();
    setImmediate(() => order.push("next turn"));
    await consumed;
    assert.deepEqual(order, ["consumed 1", "consumed 2", "ended"]);
  });
});
