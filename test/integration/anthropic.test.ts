import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import type { Engine } from "../../src/core/engine.js";
import { postJson, startTestServer, type TestServer } from "./harness.js";

const question = [{ role: "user" as const, content: "What is the answer?" }];

/** Prompt tokens however the cache split them. */
const promptTokens = (usage: Anthropic.Usage) => usage.input_tokens + (usage.cache_read_input_tokens ?? 0);

/** The official `@anthropic-ai/sdk` client, used unchanged against qiusuo's /anthropic routes. */
describe("the Anthropic Messages API", () => {
  let server: TestServer;
  let client: Anthropic;
  before(async () => {
    // Room for a conversation that carries a tool's schema (the fixture's tokenizer is coarse).
    server = await startTestServer({ engine: { contextSize: 2048 } });
    client = new Anthropic({ baseURL: `${server.url}/anthropic`, apiKey: "sk-local", maxRetries: 0 });
  });
  after(() => server.close());

  it("answers with a thinking block, a text block and usage", async () => {
    const message = await client.messages.create({ model: "scripted", max_tokens: 64, messages: question });
    assert.match(message.id, /^msg_/);
    assert.equal(message.type, "message");
    assert.equal(message.role, "assistant");
    assert.equal(message.model, "scripted");
    assert.deepEqual(message.content, [
      { type: "thinking", thinking: "let me think", signature: "" },
      { type: "text", text: "The answer is 42" },
    ]);
    assert.equal(message.stop_reason, "end_turn");
    assert.equal(message.stop_sequence, null);
    assert.equal(message.usage.output_tokens, 4);
    assert.equal(message.usage.output_tokens_details?.thinking_tokens, 3);
    assert.equal(message.usage.cache_creation_input_tokens, 0);
    assert.ok(promptTokens(message.usage) > 0);
  });

  it("streams the same message, with events in Anthropic's order", async () => {
    const whole = await client.messages.create({ model: "scripted", max_tokens: 64, messages: question });
    const stream = client.messages.stream({ model: "scripted", max_tokens: 64, messages: question });
    const events: Anthropic.MessageStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    const final = await stream.finalMessage();

    assert.deepEqual(final.content, whole.content);
    assert.equal(final.stop_reason, "end_turn");
    assert.equal(final.usage.output_tokens, 4);
    assert.equal(promptTokens(final.usage), promptTokens(whole.usage));

    const names = events.map((event) =>
      event.type === "content_block_start"
        ? `start ${event.content_block.type}`
        : event.type === "content_block_delta"
          ? `delta ${event.delta.type}`
          : event.type,
    );
    const runs = names.filter((name, index) => name !== names[index - 1]);
    assert.deepEqual(runs, [
      "message_start",
      "start thinking",
      "delta thinking_delta",
      "content_block_stop",
      "start text",
      "delta text_delta",
      "content_block_stop",
      "message_delta",
      "message_stop",
    ]);
    const indexes = events.flatMap((event) => ("index" in event ? [event.index] : []));
    assert.deepEqual([...new Set(indexes)], [0, 1]);
  });

  it("counts the input in message_start, before the first token", async () => {
    const stream = client.messages.stream({ model: "scripted", max_tokens: 64, messages: question });
    let start: Anthropic.MessageStartEvent | undefined;
    for await (const event of stream) if (event.type === "message_start") start ??= event;
    const final = await stream.finalMessage();
    assert.ok(start);
    assert.ok(start.message.usage.input_tokens > 0, "message_start reports the prompt's tokens");
    assert.equal(
      start.message.usage.input_tokens,
      promptTokens(final.usage),
      "the same prompt size as the final usage (cached or not)",
    );
  });

  it("ends at a stop sequence without returning it", async () => {
    const message = await client.messages.create({
      model: "scripted",
      max_tokens: 64,
      messages: question,
      stop_sequences: ["is 42", "never"],
    });
    assert.deepEqual(message.content.at(-1), { type: "text", text: "The answer " });
  });

  it("reports which stop sequence ended the message", async () => {
    const message = await client.messages.create({
      model: "scripted",
      max_tokens: 64,
      messages: question,
      stop_sequences: ["is 42", "never"],
    });
    assert.equal(message.stop_reason, "stop_sequence");
    assert.equal(message.stop_sequence, "is 42");
  });

  it("reports max_tokens when the budget runs out", async () => {
    const message = await client.messages.create({ model: "scripted", max_tokens: 2, messages: question });
    assert.equal(message.stop_reason, "max_tokens");
    assert.equal(message.usage.output_tokens, 2);
    assert.deepEqual(message.content, [{ type: "thinking", thinking: "let me think", signature: "" }]);
  });

  it("takes the system prompt as a string or as text blocks", async () => {
    const plain = await client.messages.create({ model: "scripted", max_tokens: 64, messages: question });
    const asString = await client.messages.create({
      model: "scripted",
      max_tokens: 64,
      system: "Be brief and exact.",
      messages: question,
    });
    const asBlocks = await client.messages.create({
      model: "scripted",
      max_tokens: 64,
      system: [{ type: "text", text: "Be brief and exact." }],
      messages: question,
    });
    assert.ok(
      promptTokens(asString.usage) > promptTokens(plain.usage),
      "the system prompt reaches the model",
    );
    assert.equal(promptTokens(asBlocks.usage), promptTokens(asString.usage));
    assert.deepEqual(asBlocks.content, plain.content);
  });

  it("accepts a conversation with thinking, tool_use and tool_result blocks", async () => {
    const message = await client.messages.create({
      model: "scripted",
      max_tokens: 64,
      tools: [
        {
          name: "get_weather",
          description: "The weather in a city.",
          input_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
        },
      ],
      messages: [
        { role: "user", content: "What is the weather in Paris?" },
        {
          role: "assistant",
          content: [
            { type: "thinking", thinking: "I should look it up.", signature: "" },
            { type: "redacted_thinking", data: "opaque" },
            { type: "text", text: "Let me check." },
            { type: "tool_use", id: "toolu_1", name: "get_weather", input: { city: "Paris" } },
          ],
        },
        {
          role: "user",
          content: [
            {
              type: "tool_result",
              tool_use_id: "toolu_1",
              content: [{ type: "text", text: "Sunny, 21 °C" }],
            },
            { type: "text", text: "Thanks. And the answer?" },
          ],
        },
      ],
    });
    assert.deepEqual(message.content.at(-1), { type: "text", text: "The answer is 42" });
  });

  it("raises the SDK's typed error, in Anthropic's shape, for an unknown model", async () => {
    await assert.rejects(
      client.messages.create({ model: "nope", max_tokens: 16, messages: question }),
      (error: unknown) => {
        assert.ok(error instanceof Anthropic.BadRequestError);
        assert.equal(error.status, 400);
        assert.deepEqual(Object.keys(error.error as object), ["type", "error"]);
        assert.equal((error.error as any).type, "error");
        assert.equal((error.error as any).error.type, "invalid_request_error");
        assert.match((error.error as any).error.message, /'nope' does not exist/);
        return true;
      },
    );
  });

  it("answers bad requests with 400 in Anthropic's shape", async () => {
    const url = `${server.url}/anthropic/v1/messages`;
    const body = { model: "scripted", max_tokens: 16, messages: question };
    const cases: Array<{ body: unknown; says: RegExp }> = [
      { body: '{"model": "scripted", "messages": [', says: /not valid JSON/ },
      { body: { model: "scripted", messages: question }, says: /Missing required field `max_tokens`/ },
      { body: { ...body, temperature: 1.5 }, says: /`temperature`: must be between 0 and 1/ },
      {
        body: {
          ...body,
          messages: [
            { role: "user", content: [{ type: "image", source: { type: "url", url: "http://x" } }] },
          ],
        },
        says: /must be an `https:` URL/,
      },
      {
        body: { ...body, tools: [{ type: "web_search_20250305", name: "web_search" }] },
        says: /Server tools .* are not supported/,
      },
    ];
    for (const { body: requestBody, says } of cases) {
      const { status, json } = await postJson(url, requestBody);
      assert.equal(status, 400, JSON.stringify(json));
      assert.equal(json.type, "error");
      assert.equal(json.error.type, "invalid_request_error");
      assert.match(json.error.message, says);
    }
    const missing = await postJson(`${server.url}/anthropic/v1/nothing`, body);
    assert.equal(missing.status, 404);
    assert.deepEqual(Object.keys(missing.json), ["type", "error"]);
    assert.equal(missing.json.error.type, "not_found_error");
  });

  it("serves /anthropic/messages too, and accepts x-api-key or a Bearer token", async () => {
    const body = { model: "scripted", max_tokens: 64, messages: question };
    for (const [path, headers] of [
      ["/anthropic/v1/messages", { "x-api-key": "sk-local", "anthropic-version": "2023-06-01" }],
      ["/anthropic/messages", { authorization: "Bearer sk-local" }],
      ["/anthropic/v1/messages", {}],
    ] as const) {
      const { status, json } = await postJson(`${server.url}${path}`, body, headers);
      assert.equal(status, 200, `${path} ${JSON.stringify(headers)}`);
      assert.equal(json.content.at(-1).text, "The answer is 42");
    }
  });

  it("counts prompt tokens when the engine can", async () => {
    const params = { model: "scripted", system: "Be brief.", messages: question };
    if (typeof (server.engine as Engine).countTokens !== "function") {
      const { status, json } = await postJson(`${server.url}/anthropic/v1/messages/count_tokens`, params);
      assert.equal(status, 503);
      assert.equal(json.error.type, "overloaded_error");
      assert.match(json.error.message, /not supported by this engine/);
      return;
    }
    const counted = await client.messages.countTokens(params);
    const message = await client.messages.create({ ...params, max_tokens: 64 });
    assert.equal(counted.input_tokens, promptTokens(message.usage));
    const { json } = await postJson(`${server.url}/anthropic/messages/count_tokens`, params);
    assert.equal(json.input_tokens, counted.input_tokens);
  });
});
