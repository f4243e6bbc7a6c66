/**
 * Memory read bandwidth from Node: Buffer.compare of two equal buffers is a memcmp that reads both
 * to the end. Measured with 1 worker thread and with `threads` workers started together (each on
 * its own buffers); best of a few runs. The decode limit is bandwidth / bytes read per token.
 */
import { Worker } from "node:worker_threads";
import { fmt, log } from "./common.js";

const WORKER = `
const { parentPort, workerData } = require("node:worker_threads");
const a = Buffer.alloc(workerData.bytes, 0x5a);
const b = Buffer.alloc(workerData.bytes, 0x5a);
const flag = new Int32Array(workerData.flag);
parentPort.postMessage({ ready: true });
let seen = 0;
for (;;) {
  Atomics.wait(flag, 0, seen);
  seen = Atomics.load(flag, 0);
  if (seen < 0) break;
  const started = performance.now();
  const result = Buffer.compare(a, b);
  parentPort.postMessage({ ms: performance.now() - started, result });
}
`;

/** Read GB/s (1e9 bytes) with `workers` threads, best of `runs`; each worker compares 2 x `bytes`. */
export async function readBandwidth(workers: number, bytes: number, runs: number): Promise<number> {
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const pool = Array.from(
    { length: workers },
    () => new Worker(WORKER, { eval: true, workerData: { bytes, flag: flag.buffer } }),
  );
  const next = (worker: Worker) =>
    new Promise<{ ms?: number; result?: number }>((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      worker.once("error", onError);
      worker.once("message", (message: { ms?: number; result?: number }) => {
        worker.off("error", onError);
        resolve(message);
      });
    });
  try {
    await Promise.all(pool.map(next)); // buffers allocated and filled
    let best = 0;
    for (let run = 1; run <= runs; run++) {
      const done = Promise.all(pool.map(next));
      Atomics.store(flag, 0, run);
      Atomics.notify(flag, 0);
      const results = await done;
      if (results.some((message) => message.result !== 0)) throw new Error("buffers differ");
      const slowest = Math.max(...results.map((message) => message.ms ?? Infinity));
      best = Math.max(best, (workers * 2 * bytes) / (slowest / 1000) / 1e9);
    }
    return best;
  } finally {
    Atomics.store(flag, 0, -1);
    Atomics.notify(flag, 0);
    await Promise.all(pool.map((worker) => worker.terminate()));
  }
}

export interface BandwidthResult {
  singleGBs: number;
  multiGBs: number;
  threads: number;
  /** The higher of the two: the limit the decode is held to. */
  bestGBs: number;
}

export async function runBandwidth(options: {
  threads: number;
  bytes: number;
  runs: number;
}): Promise<BandwidthResult> {
  const singleGBs = await readBandwidth(1, options.bytes, options.runs);
  log(
    `1 thread : ${fmt(singleGBs)} GB/s (Buffer.compare of 2 x ${options.bytes / 2 ** 20} MiB, best of ${options.runs})`,
  );
  let multiGBs = singleGBs;
  if (options.threads > 1) {
    multiGBs = await readBandwidth(options.threads, options.bytes, options.runs);
    log(
      `${options.threads} threads: ${fmt(multiGBs)} GB/s (each its own 2 x ${options.bytes / 2 ** 20} MiB)`,
    );
  }
  return { singleGBs, multiGBs, threads: options.threads, bestGBs: Math.max(singleGBs, multiGBs) };
}
