// The worst request of each kind must not freeze the server: /health is polled every 100 ms from
// a worker thread while each runs, and no poll may wait more than 250 ms. Each request must end
// in a clean answer or a typed 4xx.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startHealthPoller } from "./health-poller.js";
import { postJson, startTestServer, type TestServer } from "./harness.js";

const MAX_POLL_WAIT_MS = 250;

/**
 * POSTs `body` while polling /health, and returns the response. The body is serialised before
 * polling starts: the test client shares this process's event loop with the server.
 */
async function whilePolling(url: string, path: string, body: unknown) {
  const text = JSON.stringify(body);
  const poller = await startHealthPoller(url, 100);
  let result: Awaited<ReturnType<typeof postJson>>;
  try {
    result = await postJson(`${url}${path}`, text);
  } finally {
    const report = await poller.stop();
    assert.equal(report.failures, 0, "every /health poll was answered");
    assert.ok(
      report.maxWaitMs <= MAX_POLL_WAIT_MS,
      `a /health poll waited ${Math.round(report.maxWaitMs)} ms (limit ${MAX_POLL_WAIT_MS} ms)`,
    );
  }
  return result!;
}

const oneCharacterMessages = (count: number) =>
  Array.from({ length: count }, (_, index) => ({
    role: index % 2 === 0 ? "user" : "assistant",
    content: "x",
  }));

describe("the worst requests leave the event loop free", () => {
  let small: TestServer; // the scripted model in a 512-token context
  let large: TestServer; // the tiny model in an 8,192-token context: long prompts really render
  before(async () => {
    small = await startTestServer({ models: ["scripted", "tiny"] });
    large = await startTestServer({ models: ["tiny"], engine: { contextSize: 8192 } });
  });
  after(async () => {
    await small.close();
    await large.close();
  });

  it("a chat request with 10,000 one-character messages (the most accepted; too many for the context) is a 400", async () => {
    const response = await whilePolling(small.url, "/v1/chat/completions", {
      model: "scripted",
      messages: oneCharacterMessages(10_000),
    });
    assert.equal(response.status, 400, response.text);
    assert.equal(response.json.error.code, "context_length_exceeded");
    assert.match(response.json.error.message, /at least \d+ in the messages/);
  });

  it("the issue's request, 100,000 one-character messages (3.4 MB), is refused at once", async () => {
    const response = await whilePolling(small.url, "/v1/chat/completions", {
      model: "scripted",
      messages: oneCharacterMessages(100_000),
    });
    assert.equal(response.status, 422, response.text);
    assert.equal(response.json.error.param, "messages");
    assert.match(response.json.error.message, /at most 10000 messages/);
  });

  it("Anthropic count_tokens of 10,000 messages is a 400 without freezing the server", async () => {
    const response = await whilePolling(small.url, "/anthropic/v1/messages/count_tokens", {
      model: "scripted",
      messages: oneCharacterMessages(10_000),
    });
    assert.equal(response.status, 400, response.text);
    assert.equal(response.json.type, "error");
  });

  it("a chat request of one 7 MB message (under the 8 MiB API limit) is a quick 400", async () => {
    const response = await whilePolling(small.url, "/v1/chat/completions", {
      model: "scripted",
      messages: [{ role: "user", content: "word ".repeat(1_400_000) }],
    });
    assert.equal(response.status, 400, response.text);
    assert.equal(response.json.error.code, "context_length_exceeded");
  });

  it("a 20 MB chat request is refused with 413 before it is parsed", async () => {
    const response = await whilePolling(small.url, "/v1/chat/completions", {
      model: "scripted",
      messages: [{ role: "user", content: "word ".repeat(4_000_000) }],
    });
    assert.equal(response.status, 413, response.text);
    assert.equal(response.json.error.code, "body_too_large");
  });

  it("a long conversation that fits a large context renders off the event loop and is answered", async () => {
    // 601 messages of 'x', about 13 tokens each once the template has run, in a 8,192 context.
    const response = await whilePolling(large.url, "/v1/chat/completions", {
      model: "tiny",
      messages: oneCharacterMessages(601),
      max_tokens: 1,
    });
    assert.equal(response.status, 200, response.text);
    assert.ok(response.json.usage.prompt_tokens > 601 * 10, "every message reached the prompt");
  });

  it("a prompt just over a large context, in many messages, is refused while tokenizing", async () => {
    const messages = oneCharacterMessages(4000).map((message) => ({ ...message, content: "abc def" }));
    const response = await whilePolling(large.url, "/v1/chat/completions", {
      model: "tiny",
      messages,
      max_tokens: 1,
    });
    assert.equal(response.status, 400, response.text);
    assert.equal(response.json.error.code, "context_length_exceeded");
  });

  it("Anthropic count_tokens of a huge prompt is a quick 400, not minutes of work", async () => {
    const response = await whilePolling(small.url, "/anthropic/v1/messages/count_tokens", {
      model: "scripted",
      messages: [{ role: "user", content: "word ".repeat(1_400_000) }],
    });
    assert.equal(response.status, 400, response.text);
    assert.equal(response.json.type, "error");
  });

  it("a 7 MB completion prompt is a quick 400", async () => {
    const response = await whilePolling(small.url, "/beta/completions", {
      model: "scripted",
      prompt: "abc ".repeat(1_750_000),
    });
    assert.equal(response.status, 400, response.text);
    assert.equal(response.json.error.code, "context_length_exceeded");
  });

  it("embeddings of 64 inputs of 8 KB each: refused per input without blocking", async () => {
    const response = await whilePolling(small.url, "/v1/embeddings", {
      model: "tiny",
      input: Array.from({ length: 64 }, (_, index) => `${index} ${"lorem ipsum ".repeat(700)}`),
    });
    assert.equal(response.status, 400, response.text);
    assert.equal(response.json.error.code, "context_length_exceeded");
    assert.equal(response.json.error.param, "input.0");
  });
});
