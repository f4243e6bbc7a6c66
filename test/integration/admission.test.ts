// Every request that makes the engine work is admitted like a chat: a burst gets a place or a
// clean 429 before its response starts, embeddings wait in the same queue and stop when their
// client leaves, and Anthropic's count_tokens counts against the key's limits.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { postJson, postStream, startTestServer, waitFor, type TestServer } from "./harness.js";
import { chatRequest } from "../support/chat-request.js";

const chat = (content: string, extra: Record<string, unknown> = {}) => ({
  model: "tiny",
  messages: [{ role: "user", content }],
  temperature: 0,
  ...extra,
});

describe("admission under bursts", () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({
      models: ["tiny"],
      engine: { parallel: 1, maxQueue: 2, contextSize: 2048 },
      app: { keepAliveSeconds: 0.05 },
    });
  });
  after(() => server.close());

  it("answers a burst of 16 streams with a slot or 429 + Retry-After, never a 200 carrying 'queue full'", async () => {
    const responses = await Promise.all(
      Array.from({ length: 16 }, (_, index) =>
        postStream(
          `${server.url}/v1/chat/completions`,
          chat(`burst ${index}`, { max_tokens: 40, stream: true }),
        ).then(async (response) => ({
          status: response.status,
          retryAfter: response.headers.get("retry-after"),
          text: await response.text(),
        })),
      ),
    );
    const served = responses.filter((response) => response.status === 200);
    const refused = responses.filter((response) => response.status === 429);
    assert.equal(served.length + refused.length, 16, JSON.stringify(responses.map((r) => r.status)));
    assert.ok(refused.length > 0, "the burst overflowed the queue");
    assert.ok(served.length >= 3, "one generating and two queued were served");
    for (const response of refused) {
      assert.ok(Number(response.retryAfter) > 0, "429 says when to retry");
      assert.match(response.text, /queue_full/);
    }
    for (const response of served) {
      assert.doesNotMatch(response.text, /"error"/, "a served stream carries no error");
      assert.match(response.text, /data: \[DONE\]\n\n$/);
    }
  });

  it("takes a place when a request is accepted, not when its stream is first read", async () => {
    // Five requests accepted before any of them is read (as when a burst arrives faster than
    // responses start): one sequence and two places in the queue, so the last two are refused
    // now, while the route can still answer 429, and the first three are all served.
    const signal = new AbortController().signal;
    const request = (index: number) =>
      chatRequest({
        model: "tiny",
        messages: [{ role: "user", content: `accepted ${index}` }],
        maxTokens: 5,
      });
    const accepted = await Promise.all(
      [0, 1, 2, 3, 4].map((index) =>
        server.engine.chat(request(index), signal).then(
          (events) => ({ events }),
          (error: { code?: string }) => ({ error }),
        ),
      ),
    );
    const refused = accepted.filter((outcome) => "error" in outcome);
    assert.deepEqual(
      refused.map((outcome) => ("error" in outcome ? outcome.error.code : undefined)),
      ["queue_full", "queue_full"],
    );
    for (const outcome of accepted) {
      if (!("events" in outcome)) continue;
      const events = [];
      for await (const event of outcome.events) events.push(event);
      assert.equal(events.at(-1)?.type, "finish", "an accepted request is served to the end");
    }
  });

  it("counts embeddings as busy, queues them behind chats, refuses them when the queue is full", async () => {
    const holder = new AbortController();
    const holding = await postStream(
      `${server.url}/v1/chat/completions`,
      chat("hold the only sequence", { max_tokens: 1900, stream: true }),
      holder.signal,
    );
    await waitFor(() => server.engine.stats().busySequences === 1, "the chat holds the sequence");
    const queued = [1, 2].map(() =>
      postJson(`${server.url}/v1/embeddings`, { model: "tiny", input: "queued text" }),
    );
    await waitFor(() => server.engine.stats().queuedRequests === 2, "two embeddings wait");
    const refused = await postJson(`${server.url}/v1/embeddings`, { model: "tiny", input: "one too many" });
    assert.equal(refused.status, 429, refused.text);
    assert.equal(refused.json.error.code, "queue_full");
    holder.abort();
    await holding.body?.cancel().catch(() => undefined);
    for (const response of await Promise.all(queued)) {
      assert.equal(response.status, 200, response.text);
      assert.equal(response.json.data.length, 1);
    }
  });

  it("stops an embeddings request whose client has gone", async () => {
    const input = (index: number) => `${index} ${"some words to embed ".repeat(20)}`;
    const sample = 40;
    const timed = performance.now();
    const measured = await postJson(`${server.url}/v1/embeddings`, {
      model: "tiny",
      input: Array.from({ length: sample }, (_, index) => input(index)),
    });
    assert.equal(measured.status, 200, measured.text);
    const perInputMs = (performance.now() - timed) / sample;

    const count = 2000;
    const controller = new AbortController();
    const started = performance.now();
    const request = postStream(
      `${server.url}/v1/embeddings`,
      { model: "tiny", input: Array.from({ length: count }, (_, index) => input(index)) },
      controller.signal,
    ).catch(() => undefined);
    await waitFor(() => server.engine.stats().busySequences === 1, "the embeddings run");
    await sleep(100);
    controller.abort();
    await request;
    await waitFor(() => server.engine.stats().busySequences === 0, "the embeddings stop", 5_000);
    const stoppedAfterMs = performance.now() - started;
    const wholeMs = perInputMs * count;
    assert.ok(
      stoppedAfterMs < wholeMs / 4,
      `stopped after ${Math.round(stoppedAfterMs)} ms; all ${count} inputs take about ${Math.round(wholeMs)} ms`,
    );
  });
});

describe("count_tokens is admitted like any request", () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ accounts: true });
  });
  after(() => server.close());

  it("refuses count_tokens past a key's requests per minute", async () => {
    const user = await server.store.users.create({ name: "counter", role: "user" });
    const { plaintext } = await server.store.apiKeys.create({ userId: user.id, name: "k", rpm: 2 });
    const count = () =>
      postJson(
        `${server.url}/anthropic/v1/messages/count_tokens`,
        { model: "scripted", messages: [{ role: "user", content: "hello" }] },
        { "x-api-key": plaintext },
      );
    assert.equal((await count()).status, 200);
    assert.equal((await count()).status, 200);
    const limited = await count();
    assert.equal(limited.status, 429, limited.text);
    assert.ok(Number(limited.headers.get("retry-after")) > 0);
  });
});
