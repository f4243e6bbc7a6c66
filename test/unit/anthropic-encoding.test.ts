import assert from "node:assert/strict";
import { describe, it } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import type { ChatEvent, Usage } from "../../src/core/chat.js";
import { QiusuoError } from "../../src/core/errors.js";
import { toAnthropicError } from "../../src/protocol/anthropic/errors.js";
import {
  parseCountTokensRequest,
  parseMessagesRequest,
} from "../../src/protocol/anthropic/messages-request.js";
import { collectMessage, streamMessage } from "../../src/protocol/anthropic/messages-response.js";
import { KEEP_ALIVE } from "../../src/protocol/keep-alive.js";

const usage: Usage = {
  promptTokens: 100,
  promptCacheHitTokens: 64,
  completionTokens: 20,
  reasoningTokens: 5,
};

/** A reply that reasons, says something, then calls two tools, with a wait in the middle. */
const toolReply: Array<ChatEvent | typeof KEEP_ALIVE> = [
  KEEP_ALIVE,
  { type: "reasoning-delta", text: "Need the " },
  { type: "reasoning-delta", text: "weather." },
  { type: "text-delta", text: "Checking." },
  { type: "tool-call-start", index: 0, id: "call_a", name: "get_weather" },
  { type: "tool-call-delta", index: 0, argumentsDelta: '{"city":' },
  { type: "tool-call-delta", index: 0, argumentsDelta: ' "Paris"}' },
  { type: "tool-call-start", index: 1, id: "call_b", name: "get_time" },
  { type: "tool-call-delta", index: 1, argumentsDelta: "{}" },
  { type: "finish", finishReason: "tool_calls", usage },
];

async function* replay<Item>(items: Item[], failWith?: Error): AsyncGenerator<Item> {
  for (const item of items) yield item;
  if (failWith) throw failWith;
}

async function sseText(events: Array<ChatEvent | typeof KEEP_ALIVE>, failWith?: Error): Promise<string> {
  let text = "";
  for await (const chunk of streamMessage("m", replay(events, failWith))) text += chunk;
  return text;
}

function parseSse(text: string): Array<{ event: string; data: any }> {
  return text
    .split("\n\n")
    .filter((block) => block.length > 0)
    .map((block) => {
      const [eventLine, dataLine, ...rest] = block.split("\n");
      assert.equal(rest.length, 0);
      assert.match(eventLine!, /^event: /);
      assert.match(dataLine!, /^data: /);
      return { event: eventLine!.slice(7), data: JSON.parse(dataLine!.slice(6)) };
    });
}

/** The real SDK reading our bytes: a client whose fetch answers with the given SSE text. */
function sdkReading(sse: string): Anthropic {
  return new Anthropic({
    apiKey: "unit",
    baseURL: "http://unit.test",
    maxRetries: 0,
    fetch: async () => new Response(sse, { headers: { "content-type": "text/event-stream" } }),
  });
}

describe("Anthropic response encoding", () => {
  it("builds the message with thinking, text and tool_use blocks", async () => {
    const message = await collectMessage("m", replay(toolReply));
    assert.deepEqual(message.content, [
      { type: "thinking", thinking: "Need the weather.", signature: "" },
      { type: "text", text: "Checking." },
      { type: "tool_use", id: "call_a", name: "get_weather", input: { city: "Paris" } },
      { type: "tool_use", id: "call_b", name: "get_time", input: {} },
    ]);
    assert.equal(message.stop_reason, "tool_use");
    assert.equal(message.stop_sequence, null);
    assert.deepEqual(message.usage, {
      input_tokens: 36,
      output_tokens: 20,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 64,
      output_tokens_details: { thinking_tokens: 5 },
    });
  });

  it("streams blocks in order, each opened and closed, with pings while waiting", async () => {
    const events = parseSse(await sseText(toolReply));
    for (const { event, data } of events) assert.equal(data.type, event);
    assert.deepEqual(
      events.map(({ data }) =>
        [data.type, data.index, data.content_block?.type ?? data.delta?.type]
          .filter((part) => part !== undefined)
          .join(" "),
      ),
      [
        "message_start",
        "ping",
        "content_block_start 0 thinking",
        "content_block_delta 0 thinking_delta",
        "content_block_delta 0 thinking_delta",
        "content_block_stop 0",
        "content_block_start 1 text",
        "content_block_delta 1 text_delta",
        "content_block_stop 1",
        "content_block_start 2 tool_use",
        "content_block_delta 2 input_json_delta",
        "content_block_delta 2 input_json_delta",
        "content_block_stop 2",
        "content_block_start 3 tool_use",
        "content_block_delta 3 input_json_delta",
        "content_block_stop 3",
        "message_delta",
        "message_stop",
      ],
    );
    assert.deepEqual(events[9]!.data.content_block, {
      type: "tool_use",
      id: "call_a",
      name: "get_weather",
      input: {},
    });
    assert.deepEqual(events.at(-2)!.data.delta, { stop_reason: "tool_use", stop_sequence: null });
  });

  it("is read by the official SDK into the same message as the non-streaming body", async () => {
    const sse = await sseText(toolReply);
    const whole = await collectMessage("m", replay(toolReply));
    const stream = sdkReading(sse).messages.stream({ model: "m", max_tokens: 10, messages: [] });
    const final = await stream.finalMessage();
    assert.deepEqual(final.content, whole.content);
    assert.equal(final.stop_reason, "tool_use");
    assert.equal(final.usage.input_tokens, 36);
    assert.equal(final.usage.cache_read_input_tokens, 64);
    assert.equal(final.usage.output_tokens, 20);
  });

  it("maps finish reasons, naming the stop sequence when the engine reports it", async () => {
    const finish = (event: Partial<Extract<ChatEvent, { type: "finish" }>>) =>
      collectMessage(
        "m",
        replay<ChatEvent>([
          { type: "text-delta", text: "x" },
          { type: "finish", finishReason: "stop", usage, ...event },
        ]),
      );
    assert.equal((await finish({})).stop_reason, "end_turn");
    assert.equal((await finish({ finishReason: "length" })).stop_reason, "max_tokens");
    const stopped = await finish({ stopSequence: "END" });
    assert.equal(stopped.stop_reason, "stop_sequence");
    assert.equal(stopped.stop_sequence, "END");
  });

  it("leaves out empty blocks and keeps cut-short tool input as {}", async () => {
    const message = await collectMessage(
      "m",
      replay<ChatEvent>([
        { type: "text-delta", text: "" },
        { type: "tool-call-start", index: 0, id: "call_a", name: "f" },
        { type: "tool-call-delta", index: 0, argumentsDelta: '{"a": "unfinis' },
        { type: "finish", finishReason: "length", usage },
      ]),
    );
    assert.deepEqual(message.content, [{ type: "tool_use", id: "call_a", name: "f", input: {} }]);
  });

  it("refuses to make a message from an aborted reply", async () => {
    await assert.rejects(
      collectMessage("m", replay<ChatEvent>([{ type: "text-delta", text: "x" }])),
      /cancelled/,
    );
  });

  it("sends an error event when the engine fails mid-stream, which the SDK raises", async () => {
    const sse = await sseText([{ type: "text-delta", text: "x" }], new Error("secret internals"));
    const last = parseSse(sse).at(-1)!;
    assert.equal(last.event, "error");
    assert.deepEqual(last.data, {
      type: "error",
      error: { type: "api_error", message: "The server had an internal error; see its log." },
    });
    const stream = sdkReading(sse).messages.stream({ model: "m", max_tokens: 10, messages: [] });
    await assert.rejects(stream.finalMessage(), /internal error/);
  });

  it("maps error kinds to Anthropic's statuses and types", () => {
    const cases: Array<[QiusuoError["kind"], number, string]> = [
      ["invalid_request", 400, "invalid_request_error"],
      ["invalid_parameter", 400, "invalid_request_error"],
      ["authentication", 401, "authentication_error"],
      ["permission", 403, "permission_error"],
      ["not_found", 404, "not_found_error"],
      ["rate_limit", 429, "rate_limit_error"],
      ["unavailable", 503, "overloaded_error"],
      ["internal", 500, "api_error"],
    ];
    for (const [kind, status, type] of cases) {
      const wire = toAnthropicError(new QiusuoError(kind, "code", "words"));
      assert.equal(wire.status, status);
      assert.deepEqual(wire.body, { type: "error", error: { type, message: "words" } });
    }
    const retry = toAnthropicError(new QiusuoError("unavailable", "busy", "later", { retryAfterSeconds: 3 }));
    assert.equal(retry.headers["retry-after"], "3");
  });
});

describe("Anthropic request parsing", () => {
  const base = { model: "m", max_tokens: 32 };

  it("maps a conversation with tools into core messages", async () => {
    const { request, stream } = await parseMessagesRequest({
      ...base,
      stream: true,
      system: [
        { type: "text", text: "Rule one." },
        { type: "text", text: "Rule two.", cache_control: { type: "ephemeral" } },
      ],
      messages: [
        { role: "user", content: "Weather?" },
        {
          role: "assistant",
          content: [
            { type: "thinking", thinking: "Look it up.", signature: "sig" },
            { type: "redacted_thinking", data: "opaque" },
            { type: "text", text: "Checking." },
            { type: "tool_use", id: "toolu_1", name: "get_weather", input: { city: "Paris" } },
          ],
        },
        {
          role: "user",
          content: [
            { type: "tool_result", tool_use_id: "toolu_1", content: [{ type: "text", text: "Sunny" }] },
            { type: "tool_result", tool_use_id: "toolu_2", content: "Boom", is_error: true },
            { type: "text", text: "So?" },
          ],
        },
      ],
      tools: [{ name: "get_weather", description: "Weather.", input_schema: { type: "object" } }],
      tool_choice: { type: "tool", name: "get_weather", disable_parallel_tool_use: true },
      stop_sequences: ["END", ""],
      temperature: 0.5,
      top_k: 40,
      thinking: { type: "enabled", budget_tokens: 1024 },
      metadata: { user_id: "u1" },
    });
    assert.equal(stream, true);
    assert.deepEqual(request.messages, [
      { role: "system", content: "Rule one.\n\nRule two." },
      { role: "user", content: "Weather?" },
      {
        role: "assistant",
        content: "Checking.",
        reasoning: "Look it up.",
        toolCalls: [{ id: "toolu_1", name: "get_weather", arguments: '{"city":"Paris"}' }],
      },
      { role: "tool", toolCallId: "toolu_1", content: "Sunny" },
      { role: "tool", toolCallId: "toolu_2", content: "Boom" },
      { role: "user", content: "So?" },
    ]);
    assert.deepEqual(request.tools, [
      { name: "get_weather", description: "Weather.", parameters: { type: "object" }, strict: false },
    ]);
    assert.deepEqual(request.toolChoice, { type: "function", name: "get_weather" });
    assert.deepEqual(request.stop, ["END"]);
    assert.equal(request.sampling.temperature, 0.5);
    assert.equal(request.maxTokens, 32);
    assert.equal(request.thinking, true);
    assert.deepEqual(request.responseFormat, { type: "text" });
    assert.equal(request.logprobs, undefined);
  });

  it("fills defaults like the DeepSeek side", async () => {
    const { request, stream } = await parseMessagesRequest({
      ...base,
      messages: [{ role: "user", content: "Hi" }],
    });
    assert.equal(stream, false);
    assert.equal(request.sampling.temperature, 1);
    assert.equal(request.sampling.topP, 1);
    assert.ok(Number.isInteger(request.sampling.seed));
    assert.equal(request.thinking, undefined);
    assert.deepEqual(request.tools, []);
    assert.deepEqual(request.toolChoice, { type: "none" });
  });

  it("maps tool_choice and thinking settings", async () => {
    const tools = [{ name: "f", input_schema: { type: "object" }, strict: true }];
    const messages = [{ role: "user", content: "Hi" }];
    const choice = async (tool_choice: unknown) =>
      (await parseMessagesRequest({ ...base, messages, tools, tool_choice })).request.toolChoice;
    assert.deepEqual(await choice({ type: "any" }), { type: "required" });
    assert.deepEqual(await choice({ type: "auto" }), { type: "auto" });
    assert.deepEqual(await choice({ type: "none" }), { type: "none" });
    assert.deepEqual(await choice(undefined), { type: "auto" });
    assert.equal((await parseMessagesRequest({ ...base, messages, tools })).request.tools[0]!.strict, true);
    const thinking = async (setting: unknown) =>
      (await parseMessagesRequest({ ...base, messages, thinking: setting })).request.thinking;
    assert.equal(await thinking({ type: "disabled" }), false);
    assert.equal(await thinking({ type: "adaptive" }), undefined);
  });

  it("continues a final assistant turn (prefill)", async () => {
    const { request } = await parseMessagesRequest({
      ...base,
      messages: [
        { role: "user", content: "Hi" },
        { role: "assistant", content: "{" },
      ],
    });
    assert.deepEqual(request.messages.at(-1), { role: "assistant", content: "{", prefix: true });
  });

  it("maps output_config.format to a JSON schema response format", async () => {
    const schema = { type: "object", properties: { a: { type: "number" } } };
    const { request } = await parseMessagesRequest({
      ...base,
      messages: [{ role: "user", content: "Hi" }],
      output_config: { format: { type: "json_schema", schema } },
    });
    assert.deepEqual(request.responseFormat, { type: "json_schema", name: "output", schema });
  });

  it("counts tokens without max_tokens", async () => {
    const request = await parseCountTokensRequest({
      model: "m",
      messages: [{ role: "user", content: "Hi" }],
    });
    assert.equal(request.maxTokens, undefined);
  });

  it("refuses what it cannot serve, naming the field", async () => {
    const cases: Array<{ body: Record<string, unknown>; param: string; says: RegExp }> = [
      {
        body: {
          messages: [
            {
              role: "user",
              content: [{ type: "tool_result", tool_use_id: "t", content: [{ type: "image", source: {} }] }],
            },
          ],
        },
        param: "messages.0.content.0.content.0.type",
        says: /`image` content blocks are taken only in a user message's own content/,
      },
      {
        body: {
          messages: [
            {
              role: "user",
              content: [{ type: "tool_result", tool_use_id: "t", content: [{ type: "document" }] }],
            },
          ],
        },
        param: "messages.0.content.0.content.0.type",
        says: /`document` content blocks are not supported/,
      },
      {
        body: { messages: [{ role: "assistant", content: [{ type: "tool_result", tool_use_id: "t" }] }] },
        param: "messages.0.content.0.type",
        says: /'tool_result' are not supported in assistant messages/,
      },
      {
        body: {
          messages: [{ role: "assistant", content: [{ type: "tool_use", id: "t", name: "f", input: 3 }] }],
        },
        param: "messages.0.content.0.input",
        says: /expected object, got number/,
      },
      {
        body: { messages: [{ role: "user", content: "x" }], tools: [{ name: "f" }] },
        param: "tools.0.input_schema",
        says: /Missing required field/,
      },
      {
        body: { messages: [{ role: "user", content: "x" }], tool_choice: { type: "any" } },
        param: "tool_choice.type",
        says: /needs `tools`/,
      },
      {
        body: {
          messages: [{ role: "user", content: "x" }],
          tools: [{ name: "f", input_schema: {} }],
          tool_choice: { type: "tool", name: "g" },
        },
        param: "tool_choice.name",
        says: /'g' is not one of the tools/,
      },
      {
        body: { messages: [{ role: "user", content: "x" }], temperature: 2 },
        param: "temperature",
        says: /between 0 and 1/,
      },
      {
        body: { messages: [{ role: "user", content: "x" }], max_tokens: undefined },
        param: "max_tokens",
        says: /Missing/,
      },
    ];
    for (const { body, param, says } of cases) {
      await assert.rejects(
        () => parseMessagesRequest({ ...base, ...body }),
        (error: unknown) => {
          assert.ok(error instanceof QiusuoError);
          assert.equal(error.param, param, error.message);
          assert.match(error.message, says);
          assert.equal(toAnthropicError(error).status, 400);
          return true;
        },
      );
    }
  });
});
