// The Ollama wire format without a server: request parsing into the core request, durations,
// the reply encoding (tool calls, hidden thinking, errors mid-stream) and the error table.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ChatEvent } from "../../src/core/chat.js";
import { ModelNotFoundError, QiusuoError } from "../../src/core/errors.js";
import { parseOllamaChat } from "../../src/protocol/ollama/chat-request.js";
import { toOllamaError } from "../../src/protocol/ollama/errors.js";
import { parseOllamaGenerate } from "../../src/protocol/ollama/generate-request.js";
import { parameterSize, resolveModelName, showResponse } from "../../src/protocol/ollama/models.js";
import { keepAliveSeconds } from "../../src/protocol/ollama/request-options.js";
import {
  collectReply,
  ndjsonLines,
  ollamaChunks,
  type ReplyOptions,
} from "../../src/protocol/ollama/responses.js";

const usage = { promptTokens: 10, promptCacheHitTokens: 0, completionTokens: 3, reasoningTokens: 1 };

async function* from(events: ChatEvent[], thenThrow?: Error): AsyncGenerator<ChatEvent> {
  for (const event of events) yield event;
  if (thenThrow) throw thenThrow;
}

const replyOptions = (overrides: Partial<ReplyOptions> = {}): ReplyOptions => ({
  shape: "chat",
  model: "m",
  clock: { startedAt: performance.now() - 5, readyAt: performance.now() - 2 },
  hideThinking: false,
  ...overrides,
});

describe("keep_alive", () => {
  it("reads seconds, Go durations and negative values", () => {
    assert.equal(keepAliveSeconds(undefined), undefined);
    assert.equal(keepAliveSeconds(0), 0);
    assert.equal(keepAliveSeconds("0"), 0);
    assert.equal(keepAliveSeconds("0s"), 0);
    assert.equal(keepAliveSeconds(300), 300);
    assert.equal(keepAliveSeconds("5m"), 300);
    assert.equal(keepAliveSeconds("1h30m"), 5400);
    assert.equal(keepAliveSeconds("1.5s"), 1.5);
    assert.equal(keepAliveSeconds("250ms"), 0.25);
    assert.equal(keepAliveSeconds(-1), Infinity);
    assert.equal(keepAliveSeconds("-1m"), Infinity);
    for (const bad of ["soon", "5 minutes", "m", "", "1d"]) {
      assert.throws(() => keepAliveSeconds(bad), /keep_alive/, bad);
    }
  });
});

describe("parsing /api/chat", () => {
  it("maps options onto the core request with Ollama's defaults", async () => {
    const { request, stream, hideThinking, loadOnly } = await parseOllamaChat({
      model: "m",
      messages: [{ role: "user", content: "hi" }],
    });
    assert.equal(stream, true);
    assert.equal(hideThinking, false);
    assert.equal(loadOnly, false);
    assert.equal(request.sampling.temperature, 0.8);
    assert.equal(request.sampling.topP, 0.9);
    assert.equal(request.maxTokens, undefined);
    assert.equal(request.thinking, undefined);
    assert.deepEqual(request.responseFormat, { type: "text" });

    const set = await parseOllamaChat({
      model: "m",
      messages: [{ role: "user", content: "hi" }],
      stream: false,
      think: false,
      format: "json",
      options: { temperature: 0, top_p: 0.5, seed: 3, num_predict: 7, stop: "\n", top_k: 5, num_ctx: 99 },
    });
    assert.equal(set.stream, false);
    assert.equal(set.hideThinking, true);
    assert.equal(set.request.thinking, false);
    assert.deepEqual(set.request.responseFormat, { type: "json_object" });
    assert.deepEqual(
      { ...set.request.sampling },
      { temperature: 0, topP: 0.5, seed: 3, frequencyPenalty: 0, presencePenalty: 0 },
    );
    assert.equal(set.request.maxTokens, 7);
    assert.deepEqual(set.request.stop, ["\n"]);
    for (const unlimited of [0, -1, -2]) {
      const parsed = await parseOllamaChat({ model: "m", messages: [], options: { num_predict: unlimited } });
      assert.equal(parsed.request.maxTokens, undefined);
      assert.equal(parsed.loadOnly, true);
    }
    const level = await parseOllamaChat({ model: "m", messages: [], think: "low" });
    assert.equal(level.request.thinking, true);
    const schema = { type: "object", properties: { a: { type: "string" } } };
    const schemaFormat = await parseOllamaChat({ model: "m", messages: [], format: schema });
    assert.deepEqual(schemaFormat.request.responseFormat, { type: "json_schema", name: "response", schema });
  });

  it("pairs tool results with their calls by id, name or order, and takes arguments as objects", async () => {
    const { request } = await parseOllamaChat({
      model: "m",
      messages: [
        { role: "user", content: "weather and time?" },
        {
          role: "assistant",
          content: "",
          tool_calls: [
            { function: { name: "time", arguments: {} } },
            { function: { name: "weather", arguments: '{"city": "Paris"}' } },
          ],
        },
        { role: "tool", content: "sunny", tool_name: "weather" },
        { role: "tool", content: "noon" },
      ],
    });
    const assistant = request.messages[1]!;
    assert.equal(assistant.role, "assistant");
    const calls = assistant.role === "assistant" ? assistant.toolCalls! : [];
    assert.deepEqual(
      calls.map((call) => [call.id, call.name, call.arguments]),
      [
        ["call_1_0", "time", "{}"],
        ["call_1_1", "weather", '{"city": "Paris"}'],
      ],
    );
    assert.deepEqual(request.messages[2], { role: "tool", content: "sunny", toolCallId: "call_1_1" });
    assert.deepEqual(request.messages[3], { role: "tool", content: "noon", toolCallId: "call_1_0" });
  });

  it("refuses bad images, images outside user messages and arguments that are not objects", async () => {
    await assert.rejects(
      parseOllamaChat({ model: "m", messages: [{ role: "user", content: "x", images: ["aGVsbG8="] }] }),
      /messages\.0\.images\.0.*not base64 of a PNG/,
    );
    await assert.rejects(
      parseOllamaChat({ model: "m", messages: [{ role: "system", content: "x", images: ["aGVsbG8="] }] }),
      /Only user messages may carry images/,
    );
    await assert.rejects(
      parseOllamaChat({
        model: "m",
        messages: [{ role: "assistant", tool_calls: [{ function: { name: "f", arguments: "[1]" } }] }],
      }),
      /must be an object/,
    );
  });
});

describe("parsing /api/generate", () => {
  it("tells chat turns, raw and FIM completions and load requests apart", () => {
    const chat = parseOllamaGenerate({ model: "m", prompt: "hi", system: "be brief" });
    assert.equal(chat.kind, "chat");
    if (chat.kind === "chat") {
      assert.deepEqual(chat.request.messages, [
        { role: "system", content: "be brief" },
        { role: "user", content: "hi" },
      ]);
    }
    const raw = parseOllamaGenerate({ model: "m", prompt: "once", raw: true });
    assert.equal(raw.kind, "complete");
    if (raw.kind === "complete") assert.equal(raw.request.suffix, undefined);
    const fim = parseOllamaGenerate({ model: "m", prompt: "a", suffix: "b" });
    assert.equal(fim.kind, "complete");
    if (fim.kind === "complete") assert.equal(fim.request.suffix, "b");
    const load = parseOllamaGenerate({ model: "m", keep_alive: 0 });
    assert.deepEqual(load, { kind: "load", model: "m", stream: true, keepAlive: 0 });
    assert.throws(
      () => parseOllamaGenerate({ model: "m", prompt: "a", suffix: "b", format: "json" }),
      /suffix/,
    );
  });
});

describe("encoding replies", () => {
  it("streams thinking, content and a done chunk with durations in nanoseconds", async () => {
    const events: ChatEvent[] = [
      { type: "prompt-counted", promptTokens: 10 },
      { type: "reasoning-delta", text: "hmm" },
      { type: "text-delta", text: "Hi" },
      { type: "finish", finishReason: "length", usage },
    ];
    const lines = [];
    for await (const line of ndjsonLines(ollamaChunks(from(events), replyOptions()))) lines.push(line);
    assert.ok(lines.every((line) => line.endsWith("\n") && !line.slice(0, -1).includes("\n")));
    const chunks = lines.map((line) => JSON.parse(line));
    assert.deepEqual(chunks[0].message, { role: "assistant", content: "", thinking: "hmm" });
    assert.deepEqual(chunks[1].message, { role: "assistant", content: "Hi" });
    const last = chunks[2];
    assert.equal(last.done, true);
    assert.equal(last.done_reason, "length");
    assert.equal(last.prompt_eval_count, 10);
    assert.equal(last.eval_count, 3);
    // Started 5 ms before: millions of nanoseconds.
    assert.ok(last.total_duration >= 4e6 && last.total_duration < 1e9, String(last.total_duration));
    assert.ok(last.load_duration >= 2e6 && last.load_duration <= last.total_duration);
  });

  it("sends each tool call whole, arguments as an object, and ends as `stop`", async () => {
    const events: ChatEvent[] = [
      { type: "tool-call-start", index: 0, id: "call_a", name: "f" },
      { type: "tool-call-delta", index: 0, argumentsDelta: '{"x":' },
      { type: "tool-call-delta", index: 0, argumentsDelta: " 1}" },
      { type: "tool-call-start", index: 1, id: "call_b", name: "g" },
      { type: "tool-call-delta", index: 1, argumentsDelta: "not json" },
      { type: "finish", finishReason: "tool_calls", usage },
    ];
    const reply = await collectReply(ollamaChunks(from(events), replyOptions()), "chat");
    assert.deepEqual((reply.message as { tool_calls: unknown }).tool_calls, [
      { id: "call_a", function: { index: 0, name: "f", arguments: { x: 1 } } },
      { id: "call_b", function: { index: 1, name: "g", arguments: { arguments: "not json" } } },
    ]);
    assert.equal(reply.done_reason, "stop");
  });

  it("leaves hidden thinking out, and shapes generate replies with `response`", async () => {
    const events: ChatEvent[] = [
      { type: "reasoning-delta", text: "secret" },
      { type: "text-delta", text: "answer" },
      { type: "finish", finishReason: "stop", usage },
    ];
    const reply = await collectReply(
      ollamaChunks(from(events), replyOptions({ shape: "generate", hideThinking: true })),
      "generate",
    );
    assert.equal(reply.response, "answer");
    assert.equal(reply.thinking, undefined);
    assert.equal(reply.message, undefined);
  });

  it("ends a stream that fails midway with an error line", async () => {
    const failing = from(
      [{ type: "text-delta", text: "par" }],
      new QiusuoError("unavailable", "upstream_down", "gone"),
    );
    const lines = [];
    for await (const line of ndjsonLines(ollamaChunks(failing, replyOptions()))) lines.push(JSON.parse(line));
    assert.deepEqual(lines.at(-1), { error: "gone", code: "upstream_down" });
  });
});

describe("errors and names", () => {
  it("uses Ollama's statuses: 400 for bad values, 404 for unknown models", () => {
    assert.equal(toOllamaError(new QiusuoError("invalid_parameter", "invalid_value", "bad")).status, 400);
    const missing = toOllamaError(new ModelNotFoundError("x", ["a"]));
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.body, { error: missing.error.message, code: "model_not_found", param: "model" });
    const internal = toOllamaError(new Error("secret path /etc"));
    assert.equal(internal.status, 500);
    assert.doesNotMatch(internal.body.error, /secret/);
  });

  it("names capabilities from what the model is: thinking, vision, none for a reranker", () => {
    const model = { id: "m", created: 0, ownedBy: "qiusuo", state: "available" as const, aliases: [] };
    assert.deepEqual(showResponse(model).capabilities, ["completion", "tools"]);
    assert.deepEqual(showResponse({ ...model, reasoning: true, acceptsImages: true }).capabilities, [
      "completion",
      "tools",
      "thinking",
      "vision",
    ]);
    assert.deepEqual(showResponse({ ...model, reranker: true }).capabilities, []);
  });

  it("writes parameter counts as Ollama does and resolves `:latest`", () => {
    assert.equal(parameterSize(494_032_768), "494.03M");
    assert.equal(parameterSize(7_615_616_512), "7.6B");
    const known = new Set(["tiny", "qwen2.5:0.5b", "both", "both:latest"]);
    assert.equal(resolveModelName("tiny:latest", known), "tiny");
    assert.equal(resolveModelName("both:latest", known), "both:latest");
    assert.equal(resolveModelName("qwen2.5:0.5b", known), "qwen2.5:0.5b");
    assert.equal(resolveModelName("nope:latest", known), "nope:latest");
  });
});
