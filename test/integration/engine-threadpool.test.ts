import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { ensureFixtureModels } from "../fixtures/models.js";
import { cleanEnv, startServe, stopServe } from "./cli-process.js";
import { postJson } from "./harness.js";

/** Threads of a running process, from /proc (libuv starts its whole pool at first use). */
const threadsOf = (pid: number) => readdirSync(`/proc/${pid}/task`).length;

// `qiusuo` gives libuv one pool thread, so every llama.cpp decode starts on the same thread and
// one OpenMP team serves them all (src/cli/qiusuo.cts); UV_THREADPOOL_SIZE set by the user wins.
describe("the qiusuo command's thread pool", { skip: process.platform !== "linux" }, () => {
  const fixtures = ensureFixtureModels();
  let dataDir: string;
  before(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "qiusuo-pool-"));
  });
  after(async () => fs.rm(dataDir, { recursive: true, force: true }));

  async function threadsAfterARequest(env: Record<string, string>): Promise<number> {
    const server = await startServe(["--model", fixtures.tiny, "--data-dir", dataDir], { env, ready: true });
    try {
      const response = await postJson(`${server.url}/v1/chat/completions`, {
        model: "tiny",
        messages: [{ role: "user", content: "hi" }],
        max_tokens: 4,
      });
      assert.equal(response.status, 200);
      return threadsOf(server.child.pid!);
    } finally {
      await stopServe(server.child);
    }
  }

  it("runs with one pool thread unless UV_THREADPOOL_SIZE says otherwise", async () => {
    assert.equal(cleanEnv.UV_THREADPOOL_SIZE, undefined, "the test's own environment must not set it");
    const byDefault = await threadsAfterARequest({});
    const withFour = await threadsAfterARequest({ UV_THREADPOOL_SIZE: "4" });
    assert.equal(
      withFour - byDefault,
      3,
      `threads: ${byDefault} by default, ${withFour} with UV_THREADPOOL_SIZE=4`,
    );
  });
});
