import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { inspectGgufFile } from "../../src/engines/local/gguf-file.js";
import { makeRerankerModel, makeTinyModel, QWEN3_RERANK_TEMPLATE } from "../fixtures/models.js";

describe("the reranker fixture and reranker detection", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "qiusuo-reranker-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("is a Qwen3-Reranker-shaped GGUF that the checker marks as a reranker", async () => {
    const file = path.join(dir, "reranker.gguf");
    makeRerankerModel(file);
    const summary = await inspectGgufFile(file);
    assert.equal(summary.reranker, true);
    assert.equal(summary.architecture, "qwen3");
    assert.equal(summary.metadata.get("qwen3.pooling_type"), 4);
    assert.equal(summary.metadata.get("tokenizer.chat_template.rerank"), QWEN3_RERANK_TEMPLATE);
  });

  it("is byte-identical for the same seed, and a chat model is no reranker", async () => {
    const [first, second] = [path.join(dir, "a.gguf"), path.join(dir, "b.gguf")];
    makeRerankerModel(first, { seed: 3 });
    makeRerankerModel(second, { seed: 3 });
    assert.ok(readFileSync(first).equals(readFileSync(second)));
    const tiny = path.join(dir, "tiny.gguf");
    makeTinyModel(tiny);
    assert.equal((await inspectGgufFile(tiny)).reranker, false);
  });
});
