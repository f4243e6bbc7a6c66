// `npm run gpu-check` on a machine without a GPU: it skips cleanly, and a GPU that llama.cpp does
// not use (one it is told to pretend is there) fails it. On a machine with a GPU these are skipped:
// `npm run gpu-check` itself is the test there.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { describe, it } from "node:test";
import { ensureFixtureModels } from "../fixtures/models.js";

const hasGpu =
  spawnSync("nvidia-smi", ["-L"], { encoding: "utf8" }).status === 0 ||
  existsSync("/dev/nvidia0") ||
  (process.platform === "darwin" && process.arch === "arm64");

function gpuCheck(...args: string[]) {
  return spawnSync(process.execPath, ["--import", "tsx", "bench/gpu-check.ts", ...args], {
    encoding: "utf8",
    timeout: 120_000,
  });
}

describe("gpu-check", { skip: hasGpu ? "this machine has a GPU: run npm run gpu-check" : false }, () => {
  it("skips cleanly without a GPU", () => {
    const result = gpuCheck();
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout.trim(), "no GPU found: skipped");
  });

  it("fails when a GPU is there but the model runs on the CPU", () => {
    const model = ensureFixtureModels().tiny;
    const result = gpuCheck(
      "--pretend-gpu",
      "Pretend GPU",
      "--model",
      model,
      "--tokens",
      "4",
      "--threads",
      "1",
    );
    assert.equal(result.status, 1, result.stdout + result.stderr);
    assert.match(result.stdout, /--gpu auto: backend cpu, decode [\d.]+ tokens\/s/);
    assert.match(result.stdout, /--gpu off: {2}backend cpu/);
    assert.match(result.stderr, /FAILED: a GPU is present but --gpu auto ran on the CPU/);
    assert.match(result.stderr, /Loading the CUDA binary alone says: .+/);
  });
});
