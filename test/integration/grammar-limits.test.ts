// What a response_format or tool schema costs llama.cpp's grammar sampler is bounded before any
// token is generated: the pattern that used to hold a sequence for minutes (500 × (a|b|c|d)?, 15 s
// a token) is rewritten into a cheap equivalent and generates in ordinary time; what cannot be made
// cheap is refused with a 422 naming where it is; grammars llama.cpp's parser would refuse are
// written so that it accepts them. /health is polled from a worker thread throughout.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startHealthPoller } from "./health-poller.js";
import { postJson, startTestServer, type TestServer } from "./harness.js";

const SCHEMA_PATH = "response_format.json_schema.schema";

/** POSTs a chat completion while polling /health; returns the answer and how long it took. */
async function chatWhilePolling(server: TestServer, body: Record<string, unknown>) {
  const text = JSON.stringify({
    model: "tiny",
    messages: [{ role: "user", content: "Answer in JSON." }],
    temperature: 1,
    seed: 1,
    ...body,
  });
  const poller = await startHealthPoller(server.url, 100);
  const started = performance.now();
  let answer: Awaited<ReturnType<typeof postJson>>;
  try {
    answer = await postJson(`${server.url}/v1/chat/completions`, text);
  } finally {
    const report = await poller.stop();
    assert.equal(report.failures, 0, "every /health poll was answered");
    assert.ok(report.maxWaitMs <= 250, `a /health poll waited ${Math.round(report.maxWaitMs)} ms`);
  }
  return { ...answer!, elapsedMs: performance.now() - started };
}

const jsonSchema = (schema: unknown) => ({
  response_format: { type: "json_schema", json_schema: { name: "answer", schema } },
});

describe("grammar cost limits over HTTP", () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ models: ["tiny"], engine: { contextSize: 2048 } });
  });
  after(() => server.close());

  it("generates under 500 × (a|b|c|d)? in ordinary time (it took minutes for 16 tokens)", async () => {
    const pattern = "(a|b|c|d)?".repeat(500);
    const { status, json, text, elapsedMs } = await chatWhilePolling(server, {
      ...jsonSchema({ type: "string", pattern }),
      max_tokens: 16,
      seed: 2, // a seed whose sample runs to the 16-token limit
    });
    assert.equal(status, 200, text);
    const [choice] = json.choices;
    assert.match(choice.message.content, /^"[a-d]*"?$/);
    const { completion_tokens: tokens } = json.usage;
    assert.ok(tokens === 16 || (choice.finish_reason === "stop" && tokens >= 1), text);
    assert.ok(elapsedMs < 10_000, `took ${Math.round(elapsedMs)} ms`);
  });

  it("refuses a pattern that stays costly with a 422 naming its path, before generating", async () => {
    const schema = {
      type: "object",
      properties: { code: { type: "string", pattern: "[a-z]?[0-9]?".repeat(40) } },
      required: ["code"],
    };
    const { status, json, elapsedMs } = await chatWhilePolling(server, jsonSchema(schema));
    assert.equal(status, 422);
    assert.equal(json.error.type, "invalid_request_error");
    assert.equal(json.error.code, "unsupported_schema");
    assert.equal(json.error.param, `${SCHEMA_PATH}.properties.code.pattern`);
    assert.match(json.error.message, /parse stacks/);
    assert.ok(elapsedMs < 2_000, `took ${Math.round(elapsedMs)} ms`);
  });

  it("refuses a schema that keeps too many alternatives open, and a costly tool schema", async () => {
    const properties = Object.fromEntries(
      Array.from({ length: 600 }, (_, i) => [`field${i}`, { type: "integer" }]),
    );
    const wide = await chatWhilePolling(server, jsonSchema({ type: "object", properties }));
    assert.equal(wide.status, 422);
    assert.equal(wide.json.error.param, SCHEMA_PATH);
    assert.match(wide.json.error.message, /601 alternatives/);

    const tool = {
      type: "function",
      function: {
        name: "lookup",
        parameters: {
          type: "object",
          properties: { id: { type: "string", pattern: "^([A-Za-z]+ ?){1,5}$" } },
          required: ["id"],
        },
      },
    };
    const costly = await chatWhilePolling(server, { tools: [tool], tool_choice: "required" });
    assert.equal(costly.status, 422);
    assert.equal(costly.json.error.param, "tools.0.function.parameters.properties.id.pattern");
  });

  it("serves a schema whose grammar llama.cpp's repetition guard used to refuse", async () => {
    const properties = Object.fromEntries(
      Array.from({ length: 40 }, (_, i) => [`prop${i}`, { type: "integer", minimum: 0, maximum: 9 }]),
    );
    const schema = { type: "object", properties, additionalProperties: { type: "string", maxLength: 4 } };
    const { status, json, text } = await chatWhilePolling(server, { ...jsonSchema(schema), max_tokens: 40 });
    assert.equal(status, 200, text);
    assert.ok(typeof json.choices[0].message.content === "string");
  });
});
