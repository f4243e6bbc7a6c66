import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, it } from "node:test";
import { type TestServer, postJson, postStream, startTestServer, waitFor } from "./harness.js";

const chat = (content: string, extra: Record<string, unknown> = {}) => ({
  model: "tiny",
  messages: [{ role: "user", content }],
  temperature: 0,
  ...extra,
});

describe("the scheduler's queue", () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({
      models: ["tiny"],
      engine: { parallel: 1, maxQueue: 2, contextSize: 4096 },
      app: { keepAliveSeconds: 0.05 },
    });
  });
  after(() => server.close());

  it("keeps queued requests alive, refuses one past the bound with 429, then serves the queue in order", async () => {
    const holder = new AbortController();
    const holding = await postStream(
      `${server.url}/v1/chat/completions`,
      chat("hold the only sequence", { max_tokens: 3500, stream: true }),
      holder.signal,
    );
    await waitFor(() => server.engine.stats().busySequences === 1, "the first request holds the sequence");

    // A queued stream gets `: keep-alive` comments; a queued non-stream gets blank lines.
    const streamed = postStream(
      `${server.url}/v1/chat/completions`,
      chat("queued stream", { max_tokens: 3, stream: true }),
    ).then((response) => response.text());
    await waitFor(() => server.engine.stats().queuedRequests === 1, "one request waits");
    const plain = postStream(
      `${server.url}/v1/chat/completions`,
      chat("queued plain", { max_tokens: 3 }),
    ).then(async (response) => ({ status: response.status, text: await response.text() }));
    await waitFor(() => server.engine.stats().queuedRequests === 2, "two requests wait");

    const refused = await postJson(
      `${server.url}/v1/chat/completions`,
      chat("one too many", { max_tokens: 3 }),
    );
    assert.equal(refused.status, 429);
    assert.equal(refused.json.error.code, "queue_full");
    assert.equal(refused.json.error.type, "rate_limit_error");
    assert.ok(Number(refused.headers.get("retry-after")) > 0);

    await sleep(200); // several keep-alive intervals while queued
    holder.abort();
    await holding.body?.cancel().catch(() => undefined);

    const streamText = await streamed;
    assert.match(streamText, /^data: .*\n\n(: keep-alive\n\n)+data: /s, "keep-alives while queued");
    assert.match(streamText, /data: \[DONE\]\n\n$/);
    const { status, text } = await plain;
    assert.equal(status, 200);
    assert.match(text, /^\n+\{/, "blank lines before the JSON body");
    assert.equal(JSON.parse(text).usage.completion_tokens, 3);
  });
});

describe("parallel sequences", () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ models: ["tiny"], engine: { parallel: 4, contextSize: 512 } });
  });
  after(() => server.close());

  it("give each of 4 concurrent requests the same greedy answer it gets alone", async () => {
    const prompts = ["alpha", "beta beta", "gamma gamma gamma", "delta"];
    const alone: string[] = [];
    for (const prompt of prompts) {
      const { json } = await postJson(`${server.url}/v1/chat/completions`, chat(prompt, { max_tokens: 24 }));
      alone.push(json.choices[0].message.content);
    }
    const together = await Promise.all(
      prompts.map((prompt) =>
        postJson(`${server.url}/v1/chat/completions`, chat(prompt, { max_tokens: 24 })),
      ),
    );
    assert.deepEqual(
      together.map(({ json }) => json.choices[0].message.content),
      alone,
    );
    assert.equal(server.engine.stats().busySequences, 0);
  });
});
