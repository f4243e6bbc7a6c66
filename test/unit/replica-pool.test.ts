/**
 * The replica pool's routing and failover, with fake attempt and probe functions (the pool is
 * pure logic above HTTP; the integration tests drive it with real upstream processes).
 *
 * The standing property run is 1,000 random sequences. To run more by hand:
 *   QIUSUO_FUZZ_RUNS=20000 node --import tsx --test test/unit/replica-pool.test.ts
 * QIUSUO_FUZZ_SEED replays the seed a failure printed.
 */
import assert from "node:assert/strict";
import { afterEach, describe, it, mock } from "node:test";
import fc from "fast-check";
import type { ChatMessage } from "../../src/core/chat.js";
import { InvalidRequestError, QiusuoError } from "../../src/core/errors.js";
import type { ErrorKind } from "../../src/core/errors.js";
import { chatAffinityKeys, withReply } from "../../src/engines/remote/prefix-affinity.js";
import { ReplicaPool, displayUrl } from "../../src/engines/remote/replica-pool.js";
import type { Lease, PoolOptions, Replica } from "../../src/engines/remote/replica-pool.js";

const RUNS_OVERRIDE = process.env.QIUSUO_FUZZ_RUNS ? Number(process.env.QIUSUO_FUZZ_RUNS) : undefined;
const SEED = process.env.QIUSUO_FUZZ_SEED ? Number(process.env.QIUSUO_FUZZ_SEED) : undefined;
const runs = (standing: number) => ({
  numRuns: RUNS_OVERRIDE ?? standing,
  ...(SEED === undefined ? {} : { seed: SEED }),
});

const URLS = ["http://a.test:8000", "http://b.test:8000", "http://c.test:8000"];

function makePool(options: Partial<PoolOptions> = {}, count = 3): ReplicaPool {
  return new ReplicaPool({
    name: "gpu",
    replicas: URLS.slice(0, count).map((url) => ({ url })),
    probe: async () => {},
    healthIntervalMs: 0,
    ...options,
  });
}

const upstreamError = (kind: ErrorKind, message = `upstream said ${kind}`, retryAfterSeconds?: number) =>
  new QiusuoError(
    kind,
    `upstream_${kind}`,
    message,
    retryAfterSeconds === undefined ? {} : { retryAfterSeconds },
  );

/** Lets pending promise continuations run. */
const flush = async (rounds = 5) => {
  for (let index = 0; index < rounds; index++) await new Promise((resolve) => setImmediate(resolve));
};

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}
function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  return { promise, resolve, reject };
}

/** An attempt that answers at once with the replica's index. */
const answer = async (replica: Replica) => replica.index;

/** Dispatches and releases at once; returns the replica index that served. */
async function serveOne(pool: ReplicaPool, request: Partial<Parameters<ReplicaPool["dispatch"]>[0]> = {}) {
  const lease = await pool.dispatch({ signal: new AbortController().signal, ...request }, answer);
  lease.release("ok");
  return lease.replica.index;
}

const counts = (indexes: number[], size = 3) => {
  const result = new Array<number>(size).fill(0);
  for (const index of indexes) result[index]!++;
  return result;
};

/** A small seeded generator, so the load simulations are the same every run. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
}

afterEach(() => mock.timers.reset());

describe("ReplicaPool balancing", () => {
  it("spreads concurrent requests by least outstanding", async () => {
    const pool = makePool();
    const leases: Array<Lease<number>> = [];
    for (let index = 0; index < 6; index++) {
      leases.push(await pool.dispatch({ signal: new AbortController().signal }, answer));
    }
    assert.deepEqual(
      pool.health().replicas.map((replica) => replica.outstanding),
      [2, 2, 2],
    );
    // Free two on replica 1: the next two go there.
    leases.filter((lease) => lease.replica.index === 1).forEach((lease) => lease.release("ok"));
    const next = [
      await pool.dispatch({ signal: new AbortController().signal }, answer),
      await pool.dispatch({ signal: new AbortController().signal }, answer),
    ];
    assert.deepEqual(
      next.map((lease) => lease.replica.index),
      [1, 1],
    );
  });

  it("goes round the replicas when they are all idle, not always to the first", async () => {
    const pool = makePool();
    const served: number[] = [];
    for (let index = 0; index < 9; index++) served.push(await serveOne(pool));
    assert.deepEqual(counts(served), [3, 3, 3]);
    assert.deepEqual(served.slice(0, 3).sort(), [0, 1, 2]);
  });

  it("shares by weight, idle and under load", async () => {
    const pool = new ReplicaPool({
      name: "weighted",
      replicas: [
        { url: URLS[0]!, weight: 2, maxConcurrent: 100 },
        { url: URLS[1]!, maxConcurrent: 100 },
        { url: URLS[2]!, maxConcurrent: 100 },
      ],
      probe: async () => {},
      healthIntervalMs: 0,
    });
    const served: number[] = [];
    for (let index = 0; index < 400; index++) served.push(await serveOne(pool));
    assert.deepEqual(counts(served), [200, 100, 100]);
    const held: Array<Lease<number>> = [];
    for (let index = 0; index < 40; index++) {
      held.push(await pool.dispatch({ signal: new AbortController().signal }, answer));
    }
    assert.deepEqual(
      pool.health().replicas.map((replica) => replica.outstanding),
      [20, 10, 10],
    );
    held.forEach((lease) => lease.release("ok"));
  });

  it("never puts more than maxConcurrent on a replica, and queues the rest", async () => {
    const caps = [2, 3, 1];
    const pool = new ReplicaPool({
      name: "capped",
      replicas: caps.map((maxConcurrent, index) => ({ url: URLS[index]!, maxConcurrent })),
      probe: async () => {},
      healthIntervalMs: 0,
      maxQueue: 100,
    });
    const next = random(7);
    const inFlight = [0, 0, 0];
    const peak = [0, 0, 0];
    const requests = Array.from({ length: 60 }, async () => {
      const lease = await pool.dispatch({ signal: new AbortController().signal }, async (replica) => {
        inFlight[replica.index]!++;
        peak[replica.index] = Math.max(peak[replica.index]!, inFlight[replica.index]!);
        await flush(1 + Math.floor(next() * 3));
        return replica.index;
      });
      await flush(1 + Math.floor(next() * 4));
      inFlight[lease.replica.index]!--;
      lease.release("ok");
    });
    await flush(1);
    assert.equal(pool.health().queued, 60 - 6);
    await Promise.all(requests);
    assert.deepEqual(peak, caps);
    assert.equal(pool.health().queued, 0);
    assert.deepEqual(
      pool.health().replicas.map((replica) => replica.outstanding),
      [0, 0, 0],
    );
  });
});

describe("ReplicaPool queue", () => {
  const oneSlot = () =>
    new ReplicaPool({
      name: "one",
      replicas: [{ url: URLS[0]!, maxConcurrent: 1 }],
      probe: async () => {},
      healthIntervalMs: 0,
      maxQueue: 2,
    });

  it("serves waiters in FIFO order as slots free", async () => {
    const pool = oneSlot();
    const first = await pool.dispatch({ signal: new AbortController().signal }, answer);
    const order: string[] = [];
    const second = pool.dispatch({ signal: new AbortController().signal }, async () => "second");
    const third = pool.dispatch({ signal: new AbortController().signal }, async () => "third");
    void second.then((lease) => order.push(lease.value));
    void third.then((lease) => order.push(lease.value));
    await flush();
    assert.equal(pool.health().queued, 2);
    first.release("ok");
    await flush();
    assert.deepEqual(order, ["second"]);
    (await second).release("ok");
    await flush();
    assert.deepEqual(order, ["second", "third"]);
    (await third).release("ok");
    assert.equal(pool.health().replicas[0]!.outstanding, 0);
  });

  it("refuses with 429 pool_queue_full past maxQueue", async () => {
    const pool = oneSlot();
    const held = await pool.dispatch({ signal: new AbortController().signal }, answer);
    const waiting = [0, 1].map(() => pool.dispatch({ signal: new AbortController().signal }, answer));
    await flush();
    await assert.rejects(pool.dispatch({ signal: new AbortController().signal }, answer), (error) => {
      assert.ok(error instanceof QiusuoError);
      assert.equal(error.kind, "rate_limit");
      assert.equal(error.code, "pool_queue_full");
      assert.equal(error.retryAfterSeconds, 1);
      return true;
    });
    held.release("ok");
    for (const request of waiting) (await request).release("ok");
  });

  it("drops an aborted waiter at once, and the slot goes to the next", async () => {
    const pool = oneSlot();
    const held = await pool.dispatch({ signal: new AbortController().signal }, answer);
    const controller = new AbortController();
    const aborted = pool.dispatch({ signal: controller.signal }, answer);
    const next = pool.dispatch({ signal: new AbortController().signal }, async () => "next");
    await flush();
    controller.abort();
    await assert.rejects(aborted, { code: "request_aborted" });
    assert.equal(pool.health().queued, 1);
    held.release("ok");
    const lease = await next;
    assert.equal(lease.value, "next");
    lease.release("ok");
    assert.equal(pool.health().replicas[0]!.outstanding, 0);
  });

  it("refuses a request whose signal is already aborted, taking nothing", async () => {
    const pool = oneSlot();
    const controller = new AbortController();
    controller.abort();
    let called = false;
    await assert.rejects(
      pool.dispatch({ signal: controller.signal }, async () => (called = true)),
      { code: "request_aborted" },
    );
    assert.equal(called, false);
    assert.equal(pool.health().replicas[0]!.outstanding, 0);
  });

  it("stop() refuses the requests still queued", async () => {
    const pool = oneSlot();
    const held = await pool.dispatch({ signal: new AbortController().signal }, answer);
    const waiting = pool.dispatch({ signal: new AbortController().signal }, answer);
    await flush();
    pool.stop();
    await assert.rejects(waiting, { code: "pool_stopped" });
    held.release("ok");
  });
});

describe("ReplicaPool failover", () => {
  it("retries a retryable error on another replica and counts the failure", async () => {
    const pool = makePool();
    const seen: number[] = [];
    const lease = await pool.dispatch({ signal: new AbortController().signal }, async (replica) => {
      seen.push(replica.index);
      if (seen.length < 3) throw upstreamError(seen.length === 1 ? "unavailable" : "bad_gateway");
      return "answer";
    });
    assert.equal(lease.value, "answer");
    assert.equal(lease.retries, 2);
    assert.equal(new Set(seen).size, 3);
    lease.release("ok");
    const health = pool.health();
    assert.equal(health.replicas[seen[0]!]!.consecutiveFailures, 1);
    assert.equal(health.replicas[seen[0]!]!.lastError, "upstream said unavailable");
    assert.equal(health.replicas[seen[2]!]!.served, 1);
    assert.deepEqual(
      health.replicas.map((replica) => replica.outstanding),
      [0, 0, 0],
    );
  });

  it("tries another replica on a 429 without counting it toward ejection", async () => {
    const pool = makePool({ ejectAfterFailures: 1 });
    let first = true;
    const lease = await pool.dispatch({ signal: new AbortController().signal }, async (replica) => {
      if (first) {
        first = false;
        throw upstreamError("rate_limit", "slow down", 7);
      }
      return replica.index;
    });
    lease.release("ok");
    const limited = pool.health().replicas.find((replica) => replica.failed === 1)!;
    assert.equal(limited.state, "healthy");
    assert.equal(limited.consecutiveFailures, 0);
  });

  it("throws a non-retryable error at once, without failover or a failure counted", async () => {
    const pool = makePool({ ejectAfterFailures: 1 });
    let calls = 0;
    const refusal = new InvalidRequestError("invalid_value", "bad temperature", "temperature");
    await assert.rejects(
      pool.dispatch({ signal: new AbortController().signal }, async () => {
        calls++;
        throw refusal;
      }),
      (error) => error === refusal,
    );
    // A bug (not a QiusuoError) is not retried either.
    await assert.rejects(
      pool.dispatch({ signal: new AbortController().signal }, async () => {
        calls++;
        throw new TypeError("oops");
      }),
      TypeError,
    );
    assert.equal(calls, 2);
    for (const replica of pool.health().replicas) {
      assert.equal(replica.failed, 0);
      assert.equal(replica.outstanding, 0);
    }
  });

  it("rethrows an attempt aborted by the client, counting nothing", async () => {
    const pool = makePool({ ejectAfterFailures: 1 });
    const controller = new AbortController();
    const seen: number[] = [];
    const request = pool.dispatch({ signal: controller.signal }, (replica, signal) => {
      seen.push(replica.index);
      return new Promise((_, reject) =>
        signal.addEventListener("abort", () => reject(upstreamError("unavailable", "cancelled"))),
      );
    });
    await flush();
    controller.abort();
    await assert.rejects(request, { message: "cancelled" });
    assert.deepEqual(seen.length, 1);
    for (const replica of pool.health().replicas) {
      assert.equal(replica.failed, 0);
      assert.equal(replica.outstanding, 0);
      assert.equal(replica.state, "healthy");
    }
  });

  it("throws the only replica's own error when it alone was tried", async () => {
    const pool = makePool({}, 1);
    const timeout = upstreamError("gateway_timeout");
    await assert.rejects(
      pool.dispatch({ signal: new AbortController().signal }, async () => {
        throw timeout;
      }),
      (error) => error === timeout,
    );
  });

  it("names every replica tried, without credentials, when all fail", async () => {
    const pool = new ReplicaPool({
      name: "gpu",
      replicas: [{ url: "http://alice:s3cret@a.test:8000/v1?api_key=k3y123" }, { url: "https://b.test/" }],
      probe: async () => {},
      healthIntervalMs: 0,
      ejectAfterFailures: 5,
    });
    await assert.rejects(
      pool.dispatch({ signal: new AbortController().signal }, async (replica) => {
        throw upstreamError("bad_gateway", `connection reset by ${replica.url}`);
      }),
      (error) => {
        assert.ok(error instanceof QiusuoError);
        assert.equal(error.kind, "unavailable");
        assert.equal(error.code, "upstream_unavailable");
        assert.equal(
          error.message,
          "No replica of pool gpu could take the request: http://a.test:8000/v1: connection reset by " +
            "http://a.test:8000/v1; https://b.test: connection reset by https://b.test.",
        );
        return true;
      },
    );
    const text = JSON.stringify(pool.health());
    for (const secret of ["alice", "s3cret", "k3y123"]) assert.ok(!text.includes(secret), text);
  });

  it("answers 429 when every replica is rate-limited", async () => {
    const pool = makePool();
    await assert.rejects(
      pool.dispatch({ signal: new AbortController().signal }, async (replica) => {
        throw upstreamError("rate_limit", "busy", 3 + replica.index);
      }),
      { kind: "rate_limit", code: "upstream_rate_limited", retryAfterSeconds: 3 },
    );
  });

  it("gives up failover once the deadline has passed", async () => {
    let clock = 1_000_000;
    const pool = makePool({ now: () => clock });
    let calls = 0;
    await assert.rejects(
      pool.dispatch({ signal: new AbortController().signal, deadlineMs: 5000 }, async () => {
        calls++;
        clock += 3000; // each attempt takes 3 s to fail
        throw upstreamError("gateway_timeout", "no answer in 3 s");
      }),
      (error) => {
        assert.ok(error instanceof QiusuoError);
        assert.match(error.message, /within its failover deadline of 5000 ms/);
        return true;
      },
    );
    assert.equal(calls, 2);
  });

  it("waits for a busy untried replica when failing over, until the deadline", async () => {
    mock.timers.enable({ apis: ["setTimeout", "Date"], now: 0 });
    const pool = new ReplicaPool({
      name: "two",
      replicas: [
        { url: URLS[0]!, maxConcurrent: 1 },
        { url: URLS[1]!, maxConcurrent: 1 },
      ],
      probe: async () => {},
      healthIntervalMs: 0,
    });
    const busy = await pool.dispatch({ signal: new AbortController().signal }, answer);
    const other = 1 - busy.replica.index;
    const request = pool.dispatch(
      { signal: new AbortController().signal, deadlineMs: 1000 },
      async (replica) => {
        if (replica.index === other) throw upstreamError("unavailable");
        return "took the freed slot";
      },
    );
    await flush();
    assert.equal(pool.health().queued, 1);
    busy.release("ok");
    const lease = await request;
    assert.equal(lease.value, "took the freed slot");
    assert.equal(lease.retries, 1);
    // Again, but the busy replica stays busy past the deadline.
    const late = pool.dispatch({ signal: new AbortController().signal, deadlineMs: 1000 }, async () => {
      throw upstreamError("unavailable", "down");
    });
    await flush();
    mock.timers.tick(1000);
    await assert.rejects(late, { message: "down" });
    lease.release("ok");
    assert.equal(pool.health().queued, 0);
  });
});

describe("ReplicaPool health", () => {
  it("ejects after N consecutive failures, probes with backoff, and re-admits", async () => {
    mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"], now: 0 });
    const lines: string[] = [];
    let healthy = false;
    const probes: number[] = [];
    const pool = makePool(
      {
        ejectAfterFailures: 3,
        probeBaseMs: 1000,
        probeMaxMs: 4000,
        log: (line) => lines.push(line),
        probe: async () => {
          probes.push(Date.now());
          if (!healthy) throw new Error("connection refused");
        },
      },
      2,
    );
    const failOn0 = async (replica: Replica) => {
      if (replica.index === 0) throw upstreamError("unavailable", "connection refused");
      return replica.index;
    };
    for (let index = 0; index < 6; index++)
      (await pool.dispatch({ signal: new AbortController().signal }, failOn0)).release("ok");
    const ejected = pool.health().replicas[0]!;
    assert.equal(ejected.state, "ejected");
    assert.equal(ejected.consecutiveFailures, 3);
    assert.equal(ejected.nextProbeAt, 1000);
    assert.equal(pool.health().healthy, 1);
    assert.match(
      lines[0]!,
      /pool gpu: replica http:\/\/a\.test:8000 ejected after 3 consecutive failures \(connection refused\); next probe in 1000 ms; 1\/2 healthy/,
    );
    // While ejected, requests go to replica 1 only.
    for (let index = 0; index < 4; index++) assert.equal(await serveOne(pool), 1);
    // Probes at 1 s, then 2 s and 4 s later, then every 4 s (the cap).
    for (const at of [1000, 3000, 7000, 11000]) {
      mock.timers.tick(at - Date.now());
      await flush();
    }
    assert.deepEqual(probes, [1000, 3000, 7000, 11000]);
    assert.equal(pool.health().replicas[0]!.nextProbeAt, 15000);
    healthy = true;
    mock.timers.tick(4000);
    await flush();
    const back = pool.health().replicas[0]!;
    assert.equal(back.state, "healthy");
    assert.equal(back.consecutiveFailures, 0);
    assert.equal(back.nextProbeAt, undefined);
    assert.match(lines.at(-1)!, /replica http:\/\/a\.test:8000 re-admitted \(probe passed\); 2\/2 healthy/);
    pool.stop();
  });

  it("counts consecutive failures only: a completed reply resets the count", async () => {
    const pool = makePool({ ejectAfterFailures: 3 }, 1);
    const fail = async () => {
      throw upstreamError("bad_gateway");
    };
    for (let index = 0; index < 2; index++)
      await assert.rejects(pool.dispatch({ signal: new AbortController().signal }, fail));
    assert.equal(pool.health().replicas[0]!.consecutiveFailures, 2);
    const lease = await pool.dispatch({ signal: new AbortController().signal }, answer);
    assert.equal(pool.health().replicas[0]!.consecutiveFailures, 2, "not reset before the reply completes");
    lease.release("ok");
    assert.equal(pool.health().replicas[0]!.consecutiveFailures, 0);
    for (let index = 0; index < 2; index++)
      await assert.rejects(pool.dispatch({ signal: new AbortController().signal }, fail));
    assert.equal(pool.health().replicas[0]!.state, "healthy");
    await assert.rejects(pool.dispatch({ signal: new AbortController().signal }, fail));
    assert.equal(pool.health().replicas[0]!.state, "ejected");
    pool.stop();
  });

  it("counts a stream that died mid-reply toward ejection", async () => {
    const pool = makePool({ ejectAfterFailures: 2 }, 1);
    for (let index = 0; index < 2; index++) {
      const lease = await pool.dispatch({ signal: new AbortController().signal }, answer);
      lease.release("failed", new Error("stream reset"));
      lease.release("failed", new Error("twice")); // idempotent
    }
    const replica = pool.health().replicas[0]!;
    assert.equal(replica.state, "ejected");
    assert.equal(replica.failed, 2);
    assert.equal(replica.outstanding, 0);
    assert.equal(replica.lastError, "stream reset");
    pool.stop();
  });

  it("ejects a healthy replica at once when an active health check fails", async () => {
    mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"], now: 0 });
    const down = new Set<number>();
    const pool = makePool({
      healthIntervalMs: 15_000,
      probe: async (replica) => {
        if (down.has(replica.index)) throw new Error("ECONNREFUSED");
      },
    });
    pool.start();
    mock.timers.tick(15_000);
    await flush();
    assert.equal(pool.health().healthy, 3);
    down.add(2);
    mock.timers.tick(15_000);
    await flush();
    assert.equal(pool.health().replicas[2]!.state, "ejected");
    assert.equal(pool.health().replicas[2]!.lastError, "ECONNREFUSED");
    pool.stop();
    down.clear();
    mock.timers.tick(60_000);
    await flush();
    assert.equal(pool.health().replicas[2]!.state, "ejected", "no probes after stop()");
  });

  it("fails a probe that never answers after probeTimeoutMs", async () => {
    mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"], now: 0 });
    let aborted = false;
    const pool = makePool({
      healthIntervalMs: 1000,
      probeTimeoutMs: 500,
      probe: (_replica, signal) =>
        new Promise(() => signal.addEventListener("abort", () => (aborted = true))),
    });
    pool.start();
    mock.timers.tick(1000);
    await flush();
    mock.timers.tick(500);
    await flush();
    assert.ok(aborted);
    assert.equal(pool.health().healthy, 0);
    assert.match(pool.health().replicas[0]!.lastError!, /did not answer within 500 ms/);
    pool.stop();
  });

  it("when every replica is ejected, lets a request try the one probed soonest", async () => {
    mock.timers.enable({ apis: ["setTimeout", "Date"], now: 0 });
    const pool = makePool({
      ejectAfterFailures: 1,
      probeBaseMs: 10_000,
      probe: async () => {
        throw new Error("still down");
      },
    });
    // Eject all three, replica by replica, a second apart.
    const down = async () => {
      throw upstreamError("unavailable", "connection refused");
    };
    await assert.rejects(pool.dispatch({ signal: new AbortController().signal }, down));
    assert.equal(pool.health().healthy, 0);
    const due = pool.health().replicas.map((replica) => replica.nextProbeAt);
    assert.deepEqual(due, [10_000, 10_000, 10_000]);
    mock.timers.tick(4000);
    // The trial fails: 503 with Retry-After until the next probe (6 s).
    const tried: number[] = [];
    await assert.rejects(
      pool.dispatch({ signal: new AbortController().signal }, async (replica) => {
        tried.push(replica.index);
        throw upstreamError("unavailable", "connection refused");
      }),
      (error) => {
        assert.ok(error instanceof QiusuoError);
        assert.equal(error.code, "upstream_unavailable");
        assert.equal(error.retryAfterSeconds, 6);
        assert.match(error.message, /every replica is out of service/);
        return true;
      },
    );
    assert.equal(tried.length, 1, "a trial is one attempt, no failover");
    // The failed trial doubled that replica's backoff.
    assert.equal(pool.health().replicas[tried[0]!]!.nextProbeAt, 4000 + 20_000);
    // A trial that succeeds re-admits its replica.
    const lease = await pool.dispatch({ signal: new AbortController().signal }, answer);
    assert.notEqual(lease.replica.index, tried[0]);
    assert.equal(pool.health().replicas[lease.replica.index]!.state, "healthy");
    assert.equal(pool.health().healthy, 1);
    lease.release("ok");
    pool.stop();
  });

  it("refuses at once while the only ejected replica is already on trial", async () => {
    const pool = makePool({ ejectAfterFailures: 1, probeBaseMs: 2500 }, 1);
    await assert.rejects(
      pool.dispatch({ signal: new AbortController().signal }, async () => {
        throw upstreamError("bad_gateway");
      }),
    );
    const trial = deferred<string>();
    const first = pool.dispatch({ signal: new AbortController().signal }, () => trial.promise);
    await flush();
    await assert.rejects(pool.dispatch({ signal: new AbortController().signal }, answer), {
      code: "upstream_unavailable",
      retryAfterSeconds: 3,
    });
    trial.resolve("back");
    const lease = await first;
    assert.equal(lease.value, "back");
    assert.equal(pool.health().healthy, 1);
    lease.release("ok");
    pool.stop();
  });

  it("wakes queued requests when the last healthy replica is ejected", async () => {
    const pool = new ReplicaPool({
      name: "one",
      replicas: [{ url: URLS[0]!, maxConcurrent: 1 }],
      probe: async () => {},
      healthIntervalMs: 0,
      ejectAfterFailures: 1,
    });
    const held = await pool.dispatch({ signal: new AbortController().signal }, answer);
    const queued = pool.dispatch({ signal: new AbortController().signal }, async () => "trial");
    await flush();
    held.release("failed", new Error("stream died"));
    // The replica was ejected; the queued request goes on trial and re-admits it.
    const lease = await queued;
    assert.equal(lease.value, "trial");
    assert.equal(pool.health().replicas[0]!.state, "healthy");
    lease.release("ok");
    pool.stop();
  });
});

describe("ReplicaPool prefix affinity", () => {
  const MODEL = "qwen3";

  /** One turn: dispatch with the conversation's keys, reply, remember. */
  async function turn(pool: ReplicaPool, messages: ChatMessage[], reply: string) {
    const affinity = chatAffinityKeys(MODEL, messages);
    const lease = await pool.dispatch({ signal: new AbortController().signal, affinity }, answer);
    lease.release("ok");
    lease.remember(withReply(MODEL, messages, undefined, { content: reply }));
    messages.push({ role: "assistant", content: reply });
    return lease.replica.index;
  }

  it("returns a conversation to its replica turn after turn", async () => {
    const pool = makePool();
    const conversations = [0, 1, 2, 3].map((index): ChatMessage[] => [
      { role: "user", content: `conversation ${index}: ${"context ".repeat(50)}` },
    ]);
    const homes = new Map<number, number>();
    for (let round = 0; round < 5; round++) {
      for (const [index, messages] of conversations.entries()) {
        const replica = await turn(pool, messages, `reply ${round}`);
        if (round === 0) homes.set(index, replica);
        else assert.equal(replica, homes.get(index), `conversation ${index}, round ${round}`);
        messages.push({ role: "user", content: `follow-up ${round}` });
      }
    }
    assert.ok(new Set(homes.values()).size >= 2, "first turns are spread");
  });

  /** A pool, and a conversation whose prefix lives on `home`, with its next request's keys. */
  async function affinePool(options: Partial<PoolOptions>) {
    const pool = makePool({ probeBaseMs: 60_000, ...options });
    const messages: ChatMessage[] = [{ role: "user", content: "x".repeat(1000) }];
    const home = await turn(pool, messages, "ok");
    messages.push({ role: "user", content: "more" });
    const affinity = chatAffinityKeys(MODEL, messages);
    const send = () => pool.dispatch({ signal: new AbortController().signal, affinity }, answer);
    return { pool, messages, home, send };
  }

  it("leaves the affine replica once it is more than affinitySlack above the least loaded", async () => {
    const { pool, home, send } = await affinePool({ affinitySlack: 2 });
    const held = [await send(), await send(), await send()];
    assert.deepEqual(
      held.map((lease) => lease.replica.index),
      [home, home, home],
      "up to 2 above the others (0) it still wins",
    );
    const elsewhere = await send();
    assert.notEqual(elsewhere.replica.index, home);
    elsewhere.release("ok");
    for (const lease of held) lease.release("ok");
    // The request's prefix now lives on both; the latest writer wins, as its next turn will
    // extend the reply written there.
    const after = await send();
    assert.equal(after.replica.index, elsewhere.replica.index);
    after.release("ok");
    assert.ok(pool.health().replicas.every((replica) => replica.outstanding === 0));
  });

  it("never sends to the affine replica at its cap, whatever the slack", async () => {
    const { pool, home, send } = await affinePool({
      affinitySlack: 100,
      replicas: URLS.map((url) => ({ url, maxConcurrent: 2 })),
    });
    const held = [await send(), await send()];
    assert.deepEqual(
      held.map((lease) => lease.replica.index),
      [home, home],
    );
    const capped = await send();
    assert.notEqual(capped.replica.index, home);
    assert.deepEqual(
      pool
        .health()
        .replicas.map((replica) => replica.outstanding)
        .sort(),
      [0, 1, 2],
    );
    for (const lease of [...held, capped]) lease.release("ok");
  });

  it("moves a conversation off an ejected replica, and keeps it where it moved", async () => {
    const { pool, messages, home } = await affinePool({ ejectAfterFailures: 1 });
    const affinity = chatAffinityKeys(MODEL, messages);
    await assert.rejects(
      pool.dispatch({ signal: new AbortController().signal, affinity }, async (replica) => {
        if (replica.index === home) throw upstreamError("bad_gateway", "reset");
        throw upstreamError("invalid_request");
      }),
      { kind: "invalid_request" },
    );
    assert.equal(pool.health().replicas[home]!.state, "ejected");
    const moved = await turn(pool, messages, "ok again");
    assert.notEqual(moved, home);
    messages.push({ role: "user", content: "and again" });
    assert.equal(await turn(pool, messages, "fine"), moved);
    pool.stop();
  });

  it("ignores a match that covers less than affinityMinShare of the request", async () => {
    const pool = makePool();
    const messages: ChatMessage[] = [{ role: "user", content: "short question" }];
    const home = await turn(pool, messages, "short answer");
    messages.push({ role: "user", content: "a long new document ".repeat(100) });
    // Not affine: round-robin moves on from `home`.
    const next = await pool.dispatch(
      { signal: new AbortController().signal, affinity: chatAffinityKeys(MODEL, messages) },
      answer,
    );
    assert.notEqual(next.replica.index, home);
    next.release("ok");
  });

  for (const affinity of [true, false]) {
    it(`bench scenario, affinity ${affinity ? "on" : "off"}: 8 conversations x 6 turns over 3 replicas`, async () => {
      const pool = makePool({ affinity });
      const next = random(42);
      let stayed = 0;
      let followUps = 0;
      await Promise.all(
        Array.from({ length: 8 }, async (_, conversation) => {
          const messages: ChatMessage[] = [
            { role: "system", content: "You are a helpful assistant." },
            { role: "user", content: `Conversation ${conversation}: ${"tell me about the sea ".repeat(20)}` },
          ];
          let previous: number | undefined;
          for (let round = 0; round < 6; round++) {
            await flush(Math.floor(next() * 3));
            const request = chatAffinityKeys(MODEL, messages);
            const lease = await pool.dispatch(
              { signal: new AbortController().signal, affinity: request },
              answer,
            );
            await flush(1 + Math.floor(next() * 6)); // streaming
            const reply = `Answer ${round}: ${"waves ".repeat(30 + Math.floor(next() * 30))}`;
            lease.release("ok");
            lease.remember(withReply(MODEL, messages, undefined, { content: reply }));
            if (previous !== undefined) {
              followUps++;
              if (lease.replica.index === previous) stayed++;
            }
            previous = lease.replica.index;
            messages.push({ role: "assistant", content: reply }, { role: "user", content: `and ${round}?` });
          }
        }),
      );
      const share = stayed / followUps;
      console.log(
        `# affinity ${affinity ? "on" : "off"}: ${stayed}/${followUps} follow-up turns on the same replica`,
      );
      if (affinity) assert.ok(share >= 0.9, `${share}`);
      else assert.ok(share > 0.1 && share < 0.6, `${share}`);
    });
  }
});

describe("ReplicaPool invariants", () => {
  type Behaviour = "ok" | "unavailable" | "rate_limit" | "invalid" | "hang";
  type Command =
    | { type: "dispatch"; behaviours: Behaviour[]; deadlineMs: number }
    | { type: "settle"; pick: number }
    | { type: "abort"; pick: number }
    | { type: "release"; pick: number; outcome: "ok" | "failed" | "aborted" }
    | { type: "probe-health"; healthy: boolean }
    | { type: "tick"; ms: number };

  const behaviour = fc.constantFrom<Behaviour>("ok", "ok", "unavailable", "rate_limit", "invalid", "hang");
  const command: fc.Arbitrary<Command> = fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        type: fc.constant("dispatch" as const),
        behaviours: fc.array(behaviour, { maxLength: 4 }),
        deadlineMs: fc.constantFrom(0, 500, 30_000),
      }),
    },
    { weight: 4, arbitrary: fc.record({ type: fc.constant("settle" as const), pick: fc.nat() }) },
    { weight: 2, arbitrary: fc.record({ type: fc.constant("abort" as const), pick: fc.nat() }) },
    {
      weight: 3,
      arbitrary: fc.record({
        type: fc.constant("release" as const),
        pick: fc.nat(),
        outcome: fc.constantFrom("ok" as const, "failed" as const, "aborted" as const),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({ type: fc.constant("probe-health" as const), healthy: fc.boolean() }),
    },
    {
      weight: 1,
      arbitrary: fc.record({ type: fc.constant("tick" as const), ms: fc.constantFrom(100, 1000, 5000) }),
    },
  );

  it("never leaks or overfills a slot, over random dispatch, abort and failure sequences", async () => {
    mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"], now: 0 });
    await fc.assert(
      fc.asyncProperty(
        // Each command with whether the next one runs in the same tick, before any promise settles
        // (so aborts and releases race with slots being handed over).
        fc.array(fc.tuple(command, fc.boolean()), { minLength: 1, maxLength: 40 }),
        fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }),
        async (commands, caps) => {
          let probesPass = true;
          const pool = new ReplicaPool({
            name: "fuzz",
            replicas: caps.map((maxConcurrent, index) => ({ url: URLS[index]!, maxConcurrent })),
            probe: async () => {
              if (!probesPass) throw new Error("probe failed");
            },
            ejectAfterFailures: 2,
            probeBaseMs: 1000,
            probeMaxMs: 4000,
            healthIntervalMs: 3000,
            maxQueue: 3,
          });
          pool.start();
          const attempts: Array<{ behaviour: Behaviour; done: boolean; settle: () => void }> = [];
          const requests: Array<{ controller: AbortController; settled: boolean }> = [];
          const leases: Array<{ lease: Lease<string>; released: boolean }> = [];
          const check = () => {
            const health = pool.health();
            let outstanding = 0;
            health.replicas.forEach((replica, index) => {
              assert.ok(replica.outstanding >= 0, `replica ${index}: ${replica.outstanding}`);
              assert.ok(
                replica.outstanding <= caps[index]!,
                `replica ${index}: ${replica.outstanding} > ${caps[index]}`,
              );
              outstanding += replica.outstanding;
            });
            const held =
              attempts.filter((attempt) => !attempt.done).length +
              leases.filter((lease) => !lease.released).length;
            assert.equal(outstanding, held, "slots held = attempts running + leases not released");
          };
          for (const [step, sameTick] of commands) {
            switch (step.type) {
              case "dispatch": {
                const controller = new AbortController();
                const entry = { controller, settled: false };
                requests.push(entry);
                const plan = [...step.behaviours];
                pool
                  .dispatch(
                    { signal: controller.signal, deadlineMs: step.deadlineMs },
                    (_replica, signal) => {
                      const current = plan.shift() ?? "ok";
                      const result = deferred<string>();
                      const attempt = {
                        behaviour: current,
                        done: false,
                        settle: () => {
                          if (attempt.done) return;
                          if (current === "ok") result.resolve("value");
                          else if (current === "unavailable") result.reject(upstreamError("unavailable"));
                          else if (current === "rate_limit") result.reject(upstreamError("rate_limit"));
                          else if (current === "invalid") result.reject(new InvalidRequestError("x", "bad"));
                          else return; // "hang" ends only on abort
                          attempt.done = true;
                        },
                      };
                      signal.addEventListener("abort", () => {
                        if (attempt.done) return;
                        attempt.done = true;
                        result.reject(new Error("aborted"));
                      });
                      attempts.push(attempt);
                      return result.promise;
                    },
                  )
                  .then(
                    (lease) => leases.push({ lease, released: false }),
                    () => {},
                  )
                  .finally(() => (entry.settled = true));
                break;
              }
              case "settle": {
                const running = attempts.filter((attempt) => !attempt.done);
                running[step.pick % Math.max(1, running.length)]?.settle();
                break;
              }
              case "abort":
                requests[step.pick % Math.max(1, requests.length)]?.controller.abort();
                break;
              case "release": {
                const entry = leases[step.pick % Math.max(1, leases.length)];
                if (entry) {
                  entry.lease.release(step.outcome, new Error("mid-stream"));
                  entry.released = true;
                }
                break;
              }
              case "probe-health":
                probesPass = step.healthy;
                break;
              case "tick":
                mock.timers.tick(step.ms);
                break;
            }
            if (sameTick) continue;
            await flush(3);
            check();
          }
          // Wind down: the client goes away from everything, every lease is released.
          for (const request of requests) request.controller.abort();
          await flush(3);
          for (const entry of leases) {
            entry.lease.release("aborted");
            entry.released = true;
          }
          await flush(3);
          check();
          const health = pool.health();
          assert.equal(health.queued, 0);
          assert.deepEqual(
            health.replicas.map((replica) => replica.outstanding),
            caps.map(() => 0),
          );
          assert.ok(
            requests.every((request) => request.settled),
            "every dispatch settled",
          );
          pool.stop();
        },
      ),
      runs(1000),
    );
  });
});

describe("displayUrl", () => {
  it("drops credentials, query and fragment", () => {
    assert.equal(displayUrl("https://user:pass@api.example.com/v1?key=abc#x"), "https://api.example.com/v1");
    assert.equal(displayUrl("http://127.0.0.1:8080/"), "http://127.0.0.1:8080");
    assert.equal(displayUrl("not a url"), "(invalid URL)");
  });
});
