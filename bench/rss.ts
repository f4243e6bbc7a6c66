/**
 * Resident memory of a `serve` child process with no model: empty data dir, QIUSUO_NO_PULL=1 so it
 * does not download the default model. VmRSS is read from /proc once /health answers (503 is the
 * expected answer without a model) and the process has settled for a moment.
 */
import { log, mb, sleep } from "./common.js";
import { ServerProcess, tempDataDir } from "./server-process.js";

export interface RssResult {
  rss: number;
  hwm: number;
  startupMs: number;
}

export async function runRss(options: { threads: number; samples: number }): Promise<RssResult> {
  const server = await ServerProcess.start({
    dataDir: tempDataDir("rss"),
    threads: options.threads,
    env: { QIUSUO_NO_PULL: "1" },
    waitFor: "answer",
  });
  try {
    const health = await fetch(`${server.url}/health`);
    log(`/health answered ${health.status} ${(await health.text()).slice(0, 120)}`);
    let rss = 0;
    let hwm = 0;
    for (let sample = 0; sample < options.samples; sample++) {
      await sleep(250);
      const memory = server.memory();
      rss = Math.max(rss, memory.rss);
      hwm = Math.max(hwm, memory.hwm);
    }
    log(
      `VmRSS ${mb(rss)} (max of ${options.samples} samples), VmHWM ${mb(hwm)}, ready in ${server.startupMs.toFixed(0)} ms`,
    );
    return { rss, hwm, startupMs: server.startupMs };
  } finally {
    await server.stop();
  }
}
