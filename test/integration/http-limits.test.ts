// The limits a request meets before any route sees it: the body's size, the time to send it, and
// the size of its head. Each answers in DeepSeek's error envelope, never in Fastify's own shape.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { postJson, startTestServer, type TestServer } from "./harness.js";

const messages = [{ role: "user", content: "Q" }];

describe("HTTP limits", () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ app: { bodyLimit: 4096 } });
  });
  after(() => server.close());

  it("answers a body over the limit with 413 body_too_large", async () => {
    const reply = await postJson(`${server.url}/v1/chat/completions`, {
      model: "scripted",
      messages: [{ role: "user", content: "x".repeat(8192) }],
    });
    assert.equal(reply.status, 413);
    assert.deepEqual(Object.keys(reply.json.error), ["message", "type", "param", "code"]);
    assert.equal(reply.json.error.type, "invalid_request_error");
    assert.equal(reply.json.error.code, "body_too_large");
    assert.match(reply.json.error.message, /too large/);
  });

  it("answers a body over the limit on the Anthropic routes with Anthropic's 413", async () => {
    const reply = await postJson(`${server.url}/anthropic/v1/messages`, {
      model: "scripted",
      max_tokens: 8,
      messages: [{ role: "user", content: "x".repeat(8192) }],
    });
    assert.equal(reply.status, 413);
    assert.equal(reply.json.type, "error");
    assert.equal(reply.json.error.type, "request_too_large");
  });

  it("still serves a body under the limit", async () => {
    const reply = await postJson(`${server.url}/v1/chat/completions`, { model: "scripted", messages });
    assert.equal(reply.status, 200);
  });
});
