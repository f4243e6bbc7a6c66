import { Worker } from "node:worker_threads";

export interface HealthPollReport {
  /** Polls that got an answer. */
  polls: number;
  /** The longest a poll waited for its answer, in ms (a poll still unanswered at stop counts too). */
  maxWaitMs: number;
  /** Polls that failed (connection refused, reset). */
  failures: number;
}

export interface HealthPoller {
  stop(): Promise<HealthPollReport>;
}

/**
 * Polls `GET {url}/health` every `intervalMs` from a worker thread. The worker has its own event
 * loop, so a server blocked in this process shows up as polls that wait, not as timers that fire
 * late (an in-thread poller would be frozen along with the server and measure nothing).
 */
export async function startHealthPoller(url: string, intervalMs = 100): Promise<HealthPoller> {
  const worker = new Worker(POLLER_SOURCE, { eval: true, workerData: { url, intervalMs } });
  await new Promise<void>((resolve, reject) => {
    worker.once("message", () => resolve());
    worker.once("error", reject);
  });
  return {
    async stop() {
      const report = new Promise<HealthPollReport>((resolve, reject) => {
        worker.once("message", resolve);
        worker.once("error", reject);
      });
      worker.postMessage("stop");
      const result = await report;
      await worker.terminate();
      return result;
    },
  };
}

const POLLER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { url, intervalMs } = workerData;
let polls = 0, failures = 0, maxWaitMs = 0, stopping = false, inFlightSince = undefined;
async function poll() {
  const started = performance.now();
  inFlightSince = started;
  try {
    const response = await fetch(url + "/health");
    await response.arrayBuffer();
    polls++;
  } catch {
    failures++;
  }
  inFlightSince = undefined;
  maxWaitMs = Math.max(maxWaitMs, performance.now() - started);
}
(async () => {
  parentPort.postMessage("started");
  while (!stopping) {
    const started = performance.now();
    await poll();
    const rest = intervalMs - (performance.now() - started);
    if (rest > 0) await new Promise((resolve) => setTimeout(resolve, rest));
  }
})();
parentPort.on("message", () => {
  stopping = true;
  const pending = inFlightSince === undefined ? 0 : performance.now() - inFlightSince;
  parentPort.postMessage({ polls, failures, maxWaitMs: Math.max(maxWaitMs, pending) });
});
`;
