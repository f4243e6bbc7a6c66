import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { RequestThread } from "../../src/core/job-thread.js";

// Doubles a number; "die" ends the worker with code 7 before it answers; "throw" answers an error.
const SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
parentPort.on("message", (job) => {
  if (job.value === "die") process.exit(7);
  if (job.value === "throw") parentPort.postMessage({ id: job.id, error: "no number" });
  else parentPort.postMessage({ id: job.id, result: job.value * workerData.factor });
});
`;

class NumberError extends Error {}

describe("job threads", () => {
  it("answer each request with its own result, and its own error", async () => {
    const thread = new RequestThread<number>({
      source: SOURCE,
      workerData: { factor: 2 },
      name: "doubling",
      errorOf: (message) => new NumberError(message),
    });
    const failed = assert.rejects(
      thread.request({ value: "throw" }),
      (error) => error instanceof NumberError && error.message === "no number",
    );
    const results = await Promise.all([1, 2, 3].map((value) => thread.request({ value })));
    assert.deepEqual(results, [2, 4, 6]);
    await failed;
  });

  it("fail every pending job when the worker dies, and start a new worker for the next", async () => {
    const thread = new RequestThread<number>({ source: SOURCE, workerData: { factor: 3 }, name: "tripling" });
    await Promise.all(
      [thread.request({ value: "die" }), thread.request({ value: 5 })].map((job) =>
        assert.rejects(job, /The tripling worker exited \(code 7\)/),
      ),
    );
    assert.equal(await thread.request({ value: 5 }), 15);
  });

  it("never keep the process alive once the jobs are done", () => {
    const module = new URL("../../src/core/job-thread.ts", import.meta.url).href;
    const script = `
      const { RequestThread } = await import(${JSON.stringify(module)});
      const thread = new RequestThread({ source: ${JSON.stringify(SOURCE)}, workerData: { factor: 2 }, name: "t" });
      console.log(await thread.request({ value: 21 }));
    `;
    // A file, not -e: a worker that `eval`s its source inherits --input-type=module.
    const directory = mkdtempSync(join(tmpdir(), "job-thread-"));
    const file = join(directory, "one-job.mjs");
    writeFileSync(file, script);
    let child;
    try {
      child = spawnSync(process.execPath, ["--import", "tsx", file], { encoding: "utf8", timeout: 30_000 });
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
    assert.equal(child.signal, null, "the process had to be killed: the idle worker kept it alive");
    assert.equal(child.status, 0, child.stderr);
    assert.equal(child.stdout.trim(), "42");
  });
});
