import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, it } from "node:test";
import { type TestServer, postJson, postStream, readUntil, startTestServer, waitFor } from "./harness.js";

describe("a client that goes away", () => {
  let server: TestServer;
  before(async () => {
    // One sequence only: if an abandoned request kept it, the next request could not run.
    server = await startTestServer({ models: ["tiny"], engine: { parallel: 1, contextSize: 4096 } });
  });
  after(() => server.close());

  const waitUntilIdle = () =>
    waitFor(() => server.engine.stats().busySequences === 0, "the sequence is free", 2000);

  it("mid-stream stops generation at once and frees the sequence", async () => {
    const maxTokens = 3500;
    const controller = new AbortController();
    const response = await postStream(
      `${server.url}/v1/chat/completions`,
      {
        model: "tiny",
        messages: [{ role: "user", content: "write forever" }],
        max_tokens: maxTokens,
        stream: true,
      },
      controller.signal,
    );
    const reader = response.body!.getReader();
    await readUntil(reader, (text) => text.includes("reasoning_content") || text.includes('"content":"'));
    const before = server.engine.stats();
    assert.equal(before.busySequences, 1, "the stream holds the only sequence");
    controller.abort();
    await waitUntilIdle();
    const afterAbort = server.engine.stats();
    assert.equal(afterAbort.busySequences, 0);
    assert.equal(afterAbort.abortedRequests, before.abortedRequests + 1);
    assert.ok(
      afterAbort.generatedTokens < maxTokens,
      `stopped early (${afterAbort.generatedTokens} tokens generated)`,
    );

    const next = await postJson(`${server.url}/v1/chat/completions`, {
      model: "tiny",
      messages: [{ role: "user", content: "next" }],
      max_tokens: 4,
    });
    assert.equal(next.status, 200);
    // The random-weight model may sample its end-of-text early (temperature 1): a reply that ends
    // by length has all 4 tokens, one that stops has fewer.
    const choice = next.json.choices[0];
    assert.ok(["length", "stop"].includes(choice.finish_reason), choice.finish_reason);
    if (choice.finish_reason === "length") assert.equal(next.json.usage.completion_tokens, 4);
    else assert.ok(next.json.usage.completion_tokens < 4);
  });

  it("during a non-streaming request also frees the sequence", async () => {
    const controller = new AbortController();
    const pending = postStream(
      `${server.url}/v1/chat/completions`,
      {
        model: "tiny",
        messages: [{ role: "user", content: "long" }],
        max_tokens: 3500,
      },
      controller.signal,
    ).catch(() => undefined);
    for (let attempt = 0; attempt < 200 && server.engine.stats().busySequences === 0; attempt++)
      await sleep(5);
    const generatedBefore = server.engine.stats().generatedTokens;
    controller.abort();
    await pending;
    await waitUntilIdle();
    const stats = server.engine.stats();
    assert.equal(stats.busySequences, 0);
    assert.ok(stats.generatedTokens - generatedBefore < 3500);
  });
});
