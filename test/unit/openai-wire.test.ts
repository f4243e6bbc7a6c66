import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ChatEvent, ChatRequest } from "../../src/core/chat.js";
import { QiusuoError } from "../../src/core/errors.js";
import { promptChars, toChatBody, toCompletionBody } from "../../src/engines/remote/openai-wire.js";
import { StreamDecoder, replyStartsIn, toLogprobs } from "../../src/engines/remote/openai-stream-decoder.js";
import { Redactor, retryAfterSeconds } from "../../src/engines/remote/upstream-error.js";
import { SseParser } from "../../src/engines/remote/upstream-http.js";
import { normaliseBaseUrl } from "../../src/engines/remote/upstream-client.js";
import { chatRequest as baseChatRequest } from "../support/chat-request.js";

const label = { pool: "gpu", replica: "http://10.0.0.5:8000/v1" };

function chatRequest(overrides: Partial<ChatRequest> = {}): ChatRequest {
  return baseChatRequest({
    model: "gpu/qwen",
    sampling: { temperature: 0.7, topP: 0.9, seed: 42, frequencyPenalty: 0.1, presencePenalty: -0.2 },
    maxTokens: undefined,
    ...overrides,
  });
}

function decoder(
  options: { startsIn?: "undecided" | "reasoning" | "content"; mode?: "chat" | "completion" } = {},
) {
  return new StreamDecoder({
    label,
    redactor: new Redactor("sk-secret-key"),
    upstreamModel: "qwen",
    mode: options.mode ?? "chat",
    promptChars: 40,
    ...(options.startsIn ? { startsIn: options.startsIn } : {}),
  });
}

/** Feeds chunks (a string is a content delta) and returns every event, the finish last. */
function decode(chunks: unknown[], options?: Parameters<typeof decoder>[0]): ChatEvent[] {
  const d = decoder(options);
  const events: ChatEvent[] = [];
  for (const chunk of chunks) {
    events.push(
      ...d.push(typeof chunk === "string" ? { choices: [{ index: 0, delta: { content: chunk } }] } : chunk),
    );
  }
  events.push(...d.end());
  return events;
}

const stop = { choices: [{ index: 0, delta: {}, finish_reason: "stop" }] };

function texts(events: ChatEvent[]) {
  const join = (type: "text-delta" | "reasoning-delta") =>
    events
      .filter((event) => event.type === type)
      .map((event) => (event as { text: string }).text)
      .join("");
  return { reasoning: join("reasoning-delta"), content: join("text-delta") };
}

function finish(events: ChatEvent[]) {
  const last = events.at(-1);
  assert.equal(last?.type, "finish");
  return last as Extract<ChatEvent, { type: "finish" }>;
}

describe("toChatBody", () => {
  it("sends sampling, stop, max_tokens and always asks for streamed usage", () => {
    const body = toChatBody(chatRequest({ maxTokens: 64, stop: ["END"] }), "qwen");
    assert.deepEqual(
      { ...body, messages: undefined },
      {
        model: "qwen",
        messages: undefined,
        temperature: 0.7,
        top_p: 0.9,
        seed: 42,
        frequency_penalty: 0.1,
        presence_penalty: -0.2,
        max_tokens: 64,
        stop: ["END"],
        stream: true,
        stream_options: { include_usage: true },
      },
    );
    const plain = toChatBody(chatRequest(), "qwen");
    assert.equal("max_tokens" in plain, false);
    assert.equal("stop" in plain, false);
    assert.equal("tools" in plain, false);
    assert.equal("tool_choice" in plain, false);
    assert.equal("response_format" in plain, false);
    assert.equal("logprobs" in plain, false);
    assert.equal("chat_template_kwargs" in plain, false);
  });

  it("translates every kind of message; reasoning goes only with a prefix message", () => {
    const body = toChatBody(
      chatRequest({
        messages: [
          { role: "system", content: "Be brief." },
          {
            role: "user",
            content: "Look",
            images: [{ url: "data:image/png;base64,AAAA", detail: "low" }, { url: "https://x/y.png" }],
          },
          {
            role: "assistant",
            content: "",
            reasoning: "old thoughts",
            toolCalls: [{ id: "call_1", name: "get_weather", arguments: '{"city":"Paris"}' }],
          },
          { role: "tool", content: '{"celsius":21}', toolCallId: "call_1" },
          { role: "assistant", content: "It is", reasoning: "warm", prefix: true },
        ],
      }),
      "qwen",
    );
    assert.deepEqual(body.messages, [
      { role: "system", content: "Be brief." },
      {
        role: "user",
        content: [
          { type: "text", text: "Look" },
          { type: "image_url", image_url: { url: "data:image/png;base64,AAAA", detail: "low" } },
          { type: "image_url", image_url: { url: "https://x/y.png" } },
        ],
      },
      {
        role: "assistant",
        content: null,
        tool_calls: [
          {
            id: "call_1",
            type: "function",
            function: { name: "get_weather", arguments: '{"city":"Paris"}' },
          },
        ],
      },
      { role: "tool", tool_call_id: "call_1", content: '{"celsius":21}' },
      { role: "assistant", content: "It is", prefix: true, reasoning_content: "warm" },
    ]);
  });

  it("passes tools, tool_choice, response_format, logprobs and thinking", () => {
    const parameters = { type: "object", properties: { city: { type: "string" } } };
    const body = toChatBody(
      chatRequest({
        tools: [
          { name: "get_weather", description: "Weather", parameters, strict: true },
          { name: "noop", parameters: {}, strict: false },
        ],
        toolChoice: { type: "function", name: "get_weather" },
        responseFormat: { type: "json_schema", name: "answer", schema: { type: "object" } },
        logprobs: 3,
        thinking: false,
      }),
      "qwen",
    );
    assert.deepEqual(body.tools, [
      {
        type: "function",
        function: { name: "get_weather", description: "Weather", parameters, strict: true },
      },
      { type: "function", function: { name: "noop", parameters: {} } },
    ]);
    assert.deepEqual(body.tool_choice, { type: "function", function: { name: "get_weather" } });
    assert.deepEqual(body.response_format, {
      type: "json_schema",
      json_schema: { name: "answer", schema: { type: "object" }, strict: true },
    });
    assert.equal(body.logprobs, true);
    assert.equal(body.top_logprobs, 3);
    assert.deepEqual(body.chat_template_kwargs, { enable_thinking: false, thinking: false });
    assert.equal(
      toChatBody(chatRequest({ thinking: true }), "q", { thinkingKwargs: false }).chat_template_kwargs,
      undefined,
    );
    const auto = toChatBody(
      chatRequest({
        tools: [{ name: "f", parameters: {}, strict: false }],
        toolChoice: { type: "required" },
      }),
      "q",
    );
    assert.equal(auto.tool_choice, "required");
    assert.deepEqual(
      toChatBody(chatRequest({ responseFormat: { type: "json_object" }, logprobs: 0 }), "q").response_format,
      {
        type: "json_object",
      },
    );
    assert.equal(toChatBody(chatRequest({ logprobs: 0 }), "q").top_logprobs, undefined);
  });

  it("builds a FIM completion body with suffix and legacy logprobs", () => {
    const body = toCompletionBody(
      {
        model: "m",
        prompt: "def f(",
        suffix: "):\n  pass",
        sampling: { temperature: 0, topP: 1, seed: 1, frequencyPenalty: 0, presencePenalty: 0 },
        maxTokens: 16,
        stop: [],
        logprobs: 2,
      },
      "coder",
    );
    assert.equal(body.model, "coder");
    assert.equal(body.prompt, "def f(");
    assert.equal(body.suffix, "):\n  pass");
    assert.equal(body.logprobs, 2);
    assert.equal(body.max_tokens, 16);
    assert.deepEqual(body.stream_options, { include_usage: true });
  });
});

describe("StreamDecoder: reasoning", () => {
  it("reads reasoning_content, reasoning and thinking fields as reasoning", () => {
    for (const field of ["reasoning_content", "reasoning", "thinking"]) {
      const events = decode([
        { choices: [{ index: 0, delta: { role: "assistant", content: null, [field]: "Hmm" } }] },
        { choices: [{ index: 0, delta: { [field]: ", 42." } }] },
        "The answer is 42",
        stop,
      ]);
      assert.deepEqual(texts(events), { reasoning: "Hmm, 42.", content: "The answer is 42" }, field);
    }
  });

  it("splits <think> in content however the tags are cut across chunks", () => {
    const text = "<think> let me think</think>The answer is 42";
    for (let first = 1; first < text.length; first++) {
      for (let second = first + 1; second <= text.length; second += 2) {
        const chunks = [text.slice(0, first), text.slice(first, second), text.slice(second)].filter(Boolean);
        const events = decode([...chunks, stop]);
        assert.deepEqual(
          texts(events),
          { reasoning: "let me think", content: "The answer is 42" },
          JSON.stringify(chunks),
        );
      }
    }
  });

  it("leaves content alone that does not open with <think>", () => {
    assert.deepEqual(texts(decode(["Use <think> tags", " like this", stop])), {
      reasoning: "",
      content: "Use <think> tags like this",
    });
  });

  it("continues the answer of a prefix completion as content", () => {
    const request = chatRequest({
      messages: [
        { role: "user", content: "x" },
        { role: "assistant", content: "<think>", prefix: true },
      ],
    });
    assert.equal(replyStartsIn(request), "content");
    assert.deepEqual(
      texts(decode(["<think>not a thought", stop], { startsIn: "content" })).content,
      "<think>not a thought",
    );
    assert.equal(replyStartsIn(chatRequest()), "undecided");
  });
});

describe("StreamDecoder: tool calls", () => {
  it("turns index-keyed deltas into starts and argument deltas, keeping upstream ids", () => {
    const events = decode([
      {
        choices: [
          {
            index: 0,
            delta: {
              tool_calls: [
                {
                  index: 0,
                  id: "call_a",
                  type: "function",
                  function: { name: "get_weather", arguments: "" },
                },
              ],
            },
          },
        ],
      },
      { choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] } }] },
      {
        choices: [
          {
            index: 0,
            delta: {
              tool_calls: [{ index: 1, id: "call_b", function: { name: "get_time", arguments: "{}" } }],
            },
          },
        ],
      },
      { choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] } }] },
      { choices: [{ index: 0, delta: {}, finish_reason: "tool_calls" }] },
    ]);
    assert.deepEqual(events.slice(0, -1), [
      { type: "tool-call-start", index: 0, id: "call_a", name: "get_weather" },
      { type: "tool-call-delta", index: 0, argumentsDelta: '{"city":' },
      { type: "tool-call-start", index: 1, id: "call_b", name: "get_time" },
      { type: "tool-call-delta", index: 1, argumentsDelta: "{}" },
      { type: "tool-call-delta", index: 0, argumentsDelta: '"Paris"}' },
    ]);
    assert.equal(finish(events).finishReason, "tool_calls");
  });

  it("generates an id when the upstream sends none, maps function_call, and says tool_calls after a 'stop'", () => {
    const events = decode([
      { choices: [{ index: 0, delta: { function_call: { name: "f", arguments: '{"a":1}' } } }] },
      { choices: [{ index: 0, delta: {}, finish_reason: "function_call" }] },
    ]);
    const start = events[0] as Extract<ChatEvent, { type: "tool-call-start" }>;
    assert.match(start.id, /^call_[A-Za-z0-9]{24}$/);
    assert.equal(finish(events).finishReason, "tool_calls");
    const stopped = decode([
      {
        choices: [
          { index: 0, delta: { tool_calls: [{ index: 0, function: { name: "f", arguments: { a: 1 } } }] } },
        ],
      },
      stop,
    ]);
    assert.deepEqual(stopped[1], { type: "tool-call-delta", index: 0, argumentsDelta: '{"a":1}' });
    assert.equal(finish(stopped).finishReason, "tool_calls");
  });

  it("reads a non-stream body's message the same way", () => {
    const events = decode([
      {
        model: "qwen-2025",
        system_fingerprint: "fp_1",
        choices: [
          {
            index: 0,
            message: {
              role: "assistant",
              content: "Sure",
              reasoning_content: "Plan",
              tool_calls: [{ id: "call_x", type: "function", function: { name: "f", arguments: "{}" } }],
            },
            finish_reason: "tool_calls",
          },
        ],
        usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
      },
    ]);
    assert.deepEqual(texts(events), { reasoning: "Plan", content: "Sure" });
    assert.deepEqual(finish(events).servedBy, {
      pool: "gpu",
      replica: label.replica,
      upstreamModel: "qwen-2025",
      systemFingerprint: "fp_1",
    });
  });
});

describe("StreamDecoder: finish, usage, logprobs", () => {
  it("maps finish reasons", () => {
    for (const [wire, ours] of [
      ["stop", "stop"],
      ["length", "length"],
      ["content_filter", "stop"],
      ["eos", "stop"],
    ] as const) {
      assert.equal(
        finish(decode(["x", { choices: [{ index: 0, delta: {}, finish_reason: wire }] }])).finishReason,
        ours,
      );
    }
    const vllmStop = decode([
      "x",
      { choices: [{ index: 0, delta: {}, finish_reason: "stop", stop_reason: "END" }] },
    ]);
    assert.equal(finish(vllmStop).stopSequence, "END");
  });

  it("normalises OpenAI/vLLM/llama-server cached_tokens and DeepSeek prompt_cache_hit_tokens", () => {
    const openai = decode([
      "x",
      stop,
      {
        choices: [],
        usage: {
          prompt_tokens: 100,
          completion_tokens: 7,
          prompt_tokens_details: { cached_tokens: 64 },
          completion_tokens_details: { reasoning_tokens: 3 },
        },
      },
    ]);
    assert.deepEqual(finish(openai).usage, {
      promptTokens: 100,
      promptCacheHitTokens: 64,
      completionTokens: 7,
      reasoningTokens: 3,
      source: "upstream",
    });
    const deepseek = decode([
      "x",
      {
        choices: [{ index: 0, delta: {}, finish_reason: "stop" }],
        usage: {
          prompt_tokens: 200,
          completion_tokens: 9,
          prompt_cache_hit_tokens: 128,
          prompt_cache_miss_tokens: 72,
        },
      },
    ]);
    assert.deepEqual(finish(deepseek).usage, {
      promptTokens: 200,
      promptCacheHitTokens: 128,
      completionTokens: 9,
      reasoningTokens: 0,
      source: "upstream",
    });
    const timings = decode([
      "x",
      stop,
      { choices: [], usage: { prompt_tokens: 30, completion_tokens: 1 }, timings: { cache_n: 19 } },
    ]);
    assert.equal(finish(timings).usage.promptCacheHitTokens, 19);
  });

  it("counts reasoning split out of content when the upstream reports no reasoning tokens", () => {
    const events = decode([
      "<think>",
      " a",
      " b",
      "</think>",
      "Answer",
      stop,
      { choices: [], usage: { prompt_tokens: 20, completion_tokens: 5 } },
    ]);
    assert.equal(finish(events).usage.reasoningTokens, 4);
  });

  it("estimates usage when the upstream sends none, and says so", () => {
    const events = decode(["Hello", " world", stop]);
    assert.deepEqual(finish(events).usage, {
      promptTokens: 10,
      promptCacheHitTokens: 0,
      completionTokens: 3,
      reasoningTokens: 0,
      source: "estimated",
    });
    assert.equal(
      promptChars(
        chatRequest({
          messages: [
            { role: "system", content: "abcd" },
            { role: "user", content: "efgh" },
          ],
        }),
      ),
      8,
    );
  });

  it("turns chat and legacy logprobs into TokenLogprobs, tag tokens counted as reasoning", () => {
    const lp = (token: string) => ({
      content: [
        {
          token,
          logprob: -0.5,
          bytes: [...Buffer.from(token)],
          top_logprobs: [
            { token, logprob: -0.5, bytes: [...Buffer.from(token)] },
            { token: "z", logprob: -3 },
          ],
        },
      ],
    });
    const events = decode([
      { choices: [{ index: 0, delta: { content: "<think>" }, logprobs: lp("<think>") }] },
      { choices: [{ index: 0, delta: { content: "hm" }, logprobs: lp("hm") }] },
      { choices: [{ index: 0, delta: { content: "</think>" }, logprobs: lp("</think>") }] },
      { choices: [{ index: 0, delta: { content: "Yes" }, logprobs: lp("Yes") }] },
      stop,
    ]);
    const reasoningTokens = events
      .filter((e) => e.type === "reasoning-delta")
      .flatMap((e) => (e as { logprobs?: unknown[] }).logprobs ?? []);
    const contentTokens = events
      .filter((e) => e.type === "text-delta")
      .flatMap((e) => (e as { logprobs?: Array<{ token: string }> }).logprobs ?? []);
    assert.deepEqual(
      reasoningTokens.map((entry) => (entry as { token: string }).token),
      ["<think>", "hm", "</think>"],
    );
    assert.deepEqual(
      contentTokens.map((entry) => entry.token),
      ["Yes"],
    );
    assert.deepEqual(toLogprobs(lp("é")), [
      {
        token: "é",
        logprob: -0.5,
        bytes: [195, 169],
        top: [
          { token: "é", logprob: -0.5, bytes: [195, 169] },
          { token: "z", logprob: -3, bytes: [122] },
        ],
      },
    ]);
    assert.deepEqual(toLogprobs({ tokens: ["a"], token_logprobs: [-1], top_logprobs: [{ a: -1, b: -2 }] }), [
      {
        token: "a",
        logprob: -1,
        bytes: [97],
        top: [
          { token: "a", logprob: -1, bytes: [97] },
          { token: "b", logprob: -2, bytes: [98] },
        ],
      },
    ]);
  });

  it("reads completion chunks as text deltas", () => {
    const events = decode(
      [
        { choices: [{ index: 0, text: "def" }] },
        { choices: [{ index: 0, text: " f", finish_reason: "length" }] },
      ],
      { mode: "completion" },
    );
    assert.deepEqual(texts(events), { reasoning: "", content: "def f" });
    assert.equal(finish(events).finishReason, "length");
  });
});

describe("StreamDecoder: broken streams", () => {
  it("throws a 502 when the stream ends without a finish reason", () => {
    const d = decoder();
    d.push({ choices: [{ index: 0, delta: { content: "The answer" } }] });
    assert.throws(
      () => d.end(),
      (error: unknown) =>
        error instanceof QiusuoError &&
        error.kind === "bad_gateway" &&
        error.isRetryable &&
        /closed the stream before the reply ended/.test(error.message) &&
        error.message.includes("'gpu'"),
    );
  });

  it("reads an error inside a 200 as the error it names, without the key", () => {
    const d = decoder();
    assert.throws(
      () =>
        d.push({
          error: {
            code: 503,
            message: "Loading model; Authorization: Bearer sk-secret-key",
            type: "unavailable_error",
          },
        }),
      (error: unknown) =>
        error instanceof QiusuoError &&
        error.kind === "unavailable" &&
        !error.message.includes("sk-secret-key") &&
        error.message.includes("Loading model"),
    );
    assert.throws(
      () => decoder().push({ error: { message: "context length exceeded", code: 400 } }),
      (error: unknown) =>
        error instanceof QiusuoError && error.code === "context_length_exceeded" && !error.isRetryable,
    );
    assert.throws(
      () => decoder().push({ error: "boom" }),
      (error: unknown) => error instanceof QiusuoError && error.kind === "bad_gateway",
    );
    assert.throws(
      () => decoder().push([1, 2]),
      (error: unknown) => error instanceof QiusuoError && error.code === "upstream_bad_response",
    );
  });
});

describe("SseParser", () => {
  it("joins data lines, skips comments and other fields, and accepts any line ending", () => {
    const parser = new SseParser(1000, () => new Error("too large"));
    const stream = ': keep-alive\n\nevent: x\ndata: {"a":\ndata: 1}\n\ndata:[DONE]\r\n\r\ndata: last';
    const events: string[] = [];
    for (const char of stream) events.push(...parser.push(char));
    events.push(...parser.end());
    assert.deepEqual(events, ['{"a":\n1}', "[DONE]", "last"]);
    const cr = new SseParser(1000, () => new Error("too large"));
    // A "\r" at the end of what came so far may be half of "\r\n", so it waits for the next byte.
    assert.deepEqual(
      [...cr.push("data: a\r\rdata: b\r"), ...cr.push("\r"), ...cr.push("data: c\r")],
      ["a", "b"],
    );
    assert.deepEqual(cr.end(), ["c"]);
  });

  it("refuses an event over its cap, even one whose line never ends", () => {
    const parser = new SseParser(10, () => new Error("too large"));
    assert.throws(() => parser.push("data: 0123456789abc"), /too large/);
    const split = new SseParser(10, () => new Error("too large"));
    assert.throws(() => {
      split.push("data: 01234\n");
      split.push("data: 56789\n");
    }, /too large/);
  });
});

describe("helpers", () => {
  it("normalises base URLs with and without /v1 and refuses credentials", () => {
    for (const url of ["http://h:1", "http://h:1/", "http://h:1/v1", "http://h:1/v1/"]) {
      assert.deepEqual(normaliseBaseUrl(url), { apiUrl: "http://h:1/v1", rootUrl: "http://h:1" });
    }
    assert.deepEqual(normaliseBaseUrl("https://openrouter.ai/api/v1"), {
      apiUrl: "https://openrouter.ai/api/v1",
      rootUrl: "https://openrouter.ai/api",
    });
    assert.throws(
      () => normaliseBaseUrl("http://user:hunter22@h:1"),
      (error: unknown) => error instanceof QiusuoError && !error.message.includes("hunter22"),
    );
    assert.throws(() => normaliseBaseUrl("file:///etc/passwd"), QiusuoError);
  });

  it("redacts the key and any bearer token, and bounds quotes", () => {
    const redactor = new Redactor("sk-abc123");
    assert.equal(
      redactor.redact("key sk-abc123 and Bearer other-token!"),
      "key [redacted] and Bearer [redacted]",
    );
    assert.equal(redactor.quote("x".repeat(600)).length, 501);
  });

  it("reads Retry-After as seconds or a date", () => {
    assert.equal(retryAfterSeconds("7"), 7);
    assert.equal(retryAfterSeconds(null), undefined);
    assert.equal(retryAfterSeconds(new Date(10_000 + 5_000).toUTCString(), 10_000), 5);
    assert.equal(retryAfterSeconds("soon"), undefined);
  });
});
