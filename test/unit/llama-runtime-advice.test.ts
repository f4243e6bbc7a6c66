// When the server tells a CPU user to compile llama.cpp (llama-runtime.ts): only on the prebuilt CPU
// binary with more than one thread, where its per-decode thread start-up makes threads hurt.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Llama } from "node-llama-cpp";
import { runtimeAdvice } from "../../src/engines/local/llama-runtime.js";

const runtime = (buildType: string, gpu: string | false) => ({ buildType, gpu }) as unknown as Llama;

test("the prebuilt CPU binary with two threads is told about build-engine", () => {
  assert.match(runtimeAdvice(runtime("prebuilt", false), 2) ?? "", /qiusuo build-engine/);
});

test("nothing to say for one thread, a local build or a GPU", () => {
  assert.equal(runtimeAdvice(runtime("prebuilt", false), 1), undefined);
  assert.equal(runtimeAdvice(runtime("localBuild", false), 4), undefined);
  assert.equal(runtimeAdvice(runtime("prebuilt", "cuda"), 4), undefined);
});
