// The upstream client against real upstreams: llama.cpp's own llama-server (../shared/bin) and
// `qiusuo serve` worker processes on generated fixtures. No HTTP mocks: what passes here passes
// against the same servers in production.
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { ChatEvent, ChatRequest, CompletionRequest, TokenLogprob } from "../../src/core/chat.js";
import { UpstreamClient } from "../../src/engines/remote/upstream-client.js";
import { ensureFixtureModels, makeScriptedModel } from "../fixtures/models.js";
import { waitFor } from "./harness.js";
import { startLlamaServer, startQiusuoWorker, type UpstreamServer } from "./upstream-servers.js";
import { chatRequest as baseChatRequest } from "../support/chat-request.js";

const fixtures = ensureFixtureModels();
const never = () => new AbortController().signal;

function chatRequest(overrides: Partial<ChatRequest> = {}): ChatRequest {
  return baseChatRequest({
    model: "pool/scripted",
    messages: [{ role: "user", content: "What is the answer?" }],
    sampling: { temperature: 0, topP: 1, seed: 7, frequencyPenalty: 0, presencePenalty: 0 },
    maxTokens: 64,
    ...overrides,
  });
}

async function collect(events: AsyncIterable<ChatEvent>) {
  const all: ChatEvent[] = [];
  for await (const event of events) all.push(event);
  const join = (type: "text-delta" | "reasoning-delta") =>
    all
      .filter((event) => event.type === type)
      .map((event) => (event as { text: string }).text)
      .join("");
  const finish = all.at(-1);
  assert.equal(finish?.type, "finish", "a reply ends with a finish event");
  return {
    all,
    reasoning: join("reasoning-delta"),
    content: join("text-delta"),
    finish: finish as Extract<ChatEvent, { type: "finish" }>,
  };
}

/** A system prompt long enough (over 64 tokens) for a qiusuo worker to report a cache hit. */
const LONG_SYSTEM = Array.from({ length: 40 }, (_, index) => `Rule ${index}: answer briefly and well.`).join(
  " ",
);

describe("upstream client against llama-server", () => {
  let plain: UpstreamServer;
  let separated: UpstreamServer;
  before(async () => {
    // One after the other: the machine is small and shared.
    plain = await startLlamaServer({ model: fixtures.scripted, alias: "scripted" });
    separated = await startLlamaServer({
      model: fixtures.scripted,
      alias: "scripted",
      extraArgs: ["--reasoning-format", "deepseek", "--jinja"],
    });
  });
  after(async () => {
    await plain?.stop();
    await separated?.stop();
  });

  it("lists the model with its trained context and passes the health probe", async () => {
    const upstream = new UpstreamClient({ pool: "llama", baseUrl: plain.url });
    assert.deepEqual(
      (await upstream.listModels(never())).map(({ id, ownedBy, contextLength }) => ({
        id,
        ownedBy,
        contextLength,
      })),
      [{ id: "scripted", ownedBy: "llamacpp", contextLength: 4096 }],
    );
    await upstream.probe(never());
    await new UpstreamClient({ pool: "llama", baseUrl: `${plain.url}/v1/` }).probe(never());
  });

  it("streams a chat with <think> in content turned into reasoning, and provenance on the finish", async () => {
    const upstream = new UpstreamClient({ pool: "llama", baseUrl: `${plain.url}/v1`, replica: "r0" });
    const reply = await collect(await upstream.chat("scripted", chatRequest(), never()));
    assert.equal(reply.reasoning, "let me think");
    assert.equal(reply.content, "The answer is 42");
    assert.equal(reply.finish.finishReason, "stop");
    assert.equal(reply.finish.usage.source, "upstream");
    assert.equal(reply.finish.usage.completionTokens, 5);
    assert.ok(reply.finish.usage.promptTokens > 0);
    assert.equal(reply.finish.usage.reasoningTokens, 3);
    assert.deepEqual(reply.finish.servedBy, {
      pool: "llama",
      replica: "r0",
      upstreamModel: "scripted",
      systemFingerprint: "b1-80fb11a",
    });
  });

  it("reads reasoning_content from llama-server --reasoning-format deepseek", async () => {
    const upstream = new UpstreamClient({ pool: "llama", baseUrl: separated.url });
    const reply = await collect(await upstream.chat("scripted", chatRequest(), never()));
    assert.equal(reply.reasoning.trim(), "let me think");
    assert.equal(reply.content, "The answer is 42");
  });

  it("reports cached prompt tokens on a repeated prompt (prompt_tokens_details.cached_tokens)", async () => {
    const upstream = new UpstreamClient({ pool: "llama", baseUrl: plain.url });
    const request = chatRequest({
      messages: [{ role: "user", content: "Tell me the same thing again, please." }],
    });
    const first = await collect(await upstream.chat("scripted", request, never()));
    const second = await collect(await upstream.chat("scripted", request, never()));
    assert.ok(second.finish.usage.promptCacheHitTokens > 0, JSON.stringify(second.finish.usage));
    assert.ok(second.finish.usage.promptCacheHitTokens <= second.finish.usage.promptTokens);
    assert.equal(first.content, second.content);
  });

  it("passes logprobs, stop, max_tokens and a JSON schema", async () => {
    const upstream = new UpstreamClient({ pool: "llama", baseUrl: plain.url });
    const withLogprobs = await collect(
      await upstream.chat("scripted", chatRequest({ logprobs: 2 }), never()),
    );
    const logprobs = withLogprobs.all.flatMap(
      (event) => (event as { logprobs?: TokenLogprob[] }).logprobs ?? [],
    );
    assert.equal(
      logprobs.map((entry) => entry.token).join(""),
      "<think> let me think</think>The answer is 42",
    );
    assert.ok(logprobs.every((entry) => entry.top.length === 2 && entry.bytes.length > 0));

    const stopped = await collect(
      await upstream.chat("scripted", chatRequest({ stop: ["answer"] }), never()),
    );
    assert.equal(stopped.content.trim(), "The");
    assert.equal(stopped.finish.finishReason, "stop");

    const cut = await collect(await upstream.chat("scripted", chatRequest({ maxTokens: 2 }), never()));
    assert.equal(cut.finish.finishReason, "length");
    assert.equal(cut.content, "");

    const json = await collect(
      await upstream.chat(
        "scripted",
        chatRequest({
          maxTokens: 16,
          responseFormat: { type: "json_schema", name: "empty", schema: { type: "object" } },
        }),
        never(),
      ),
    );
    // llama-server's grammar holds the scripted model to JSON: it opens an object instead of
    // thinking (it may then fill a key with its script until max_tokens, so no parse here).
    assert.equal(json.reasoning, "");
    assert.match(json.content, /^\{/);
  });

  // The scripted reply is five tokens, so this checks the client's side of an abort (no finish,
  // nothing left busy); the worker test below aborts a long generation in its middle.
  it("an abort right after the head ends the events without a finish, and the slot stays free", async () => {
    const upstream = new UpstreamClient({ pool: "llama", baseUrl: plain.url });
    const controller = new AbortController();
    const events = await upstream.chat("scripted", chatRequest(), controller.signal);
    controller.abort();
    const seen: ChatEvent[] = [];
    for await (const event of events) seen.push(event);
    assert.equal(
      seen.some((event) => event.type === "finish"),
      false,
    );
    await waitFor(async () => {
      const slots = (await (await fetch(`${plain.url}/slots`)).json()) as Array<{ is_processing: boolean }>;
      return slots.every((slot) => !slot.is_processing);
    }, "llama-server's slots are idle");
    // The replica still answers the next request.
    assert.equal(
      (await collect(await upstream.chat("scripted", chatRequest(), never()))).content,
      "The answer is 42",
    );
  });
});

describe("upstream client against a qiusuo worker", () => {
  let worker: UpstreamServer;
  let dir: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "qiusuo-upstream-"));
    const caller = path.join(dir, "caller.gguf");
    makeScriptedModel(caller, {
      script: ["<tool_call>", '\n{"name": "get_weather", "arguments": {"city": "Paris"}}', "\n</tool_call>"],
    });
    const coder = path.join(dir, "coder.gguf");
    makeScriptedModel(coder, { script: ["    return a + b"], fim: true });
    worker = await startQiusuoWorker({
      model: fixtures.scripted,
      // One sequence, so a repeated prompt finds its prefix in the sequence that read it.
      args: [
        "--model",
        caller,
        "--model",
        coder,
        "--model",
        fixtures.tiny,
        "--ctx-size",
        "2048",
        "--parallel",
        "1",
      ],
    });
  });
  after(async () => {
    await worker?.stop();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it("lists its models and streams reasoning_content as reasoning", async () => {
    const upstream = new UpstreamClient({ pool: "qiusuo", baseUrl: worker.url });
    const models = await upstream.listModels(never());
    assert.ok(models.some((model) => model.id === "scripted" && model.contextLength === 2048));
    await upstream.probe(never());
    const reply = await collect(await upstream.chat("scripted", chatRequest(), never()));
    assert.equal(reply.reasoning, "let me think");
    assert.equal(reply.content, "The answer is 42");
    assert.equal(reply.finish.usage.reasoningTokens, 3);
    assert.equal(reply.finish.servedBy?.upstreamModel, "scripted");
  });

  it("reports prompt_cache_hit_tokens on a repeated long prompt", async () => {
    const upstream = new UpstreamClient({ pool: "qiusuo", baseUrl: worker.url });
    const request = chatRequest({
      messages: [
        { role: "system", content: LONG_SYSTEM },
        { role: "user", content: "Again?" },
      ],
    });
    await collect(await upstream.chat("scripted", request, never()));
    const second = await collect(await upstream.chat("scripted", request, never()));
    assert.ok(second.finish.usage.promptCacheHitTokens >= 64, JSON.stringify(second.finish.usage));
    assert.equal(second.finish.usage.promptCacheHitTokens % 64, 0);
  });

  it("passes tools and tool_choice, and the tool result turn, through", async () => {
    const upstream = new UpstreamClient({ pool: "qiusuo", baseUrl: worker.url });
    const tools = [
      {
        name: "get_weather",
        description: "Current weather in a city",
        parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
        strict: false,
      },
    ];
    const request = chatRequest({
      model: "qiusuo/caller",
      messages: [{ role: "user", content: "Weather in Paris?" }],
      tools,
      toolChoice: { type: "auto" },
    });
    const first = await collect(await upstream.chat("caller", request, never()));
    const start = first.all.find((event) => event.type === "tool-call-start");
    assert.ok(start && start.type === "tool-call-start");
    assert.equal(start.name, "get_weather");
    const args = first.all
      .filter((event) => event.type === "tool-call-delta")
      .map((event) => (event as { argumentsDelta: string }).argumentsDelta)
      .join("");
    assert.deepEqual(JSON.parse(args), { city: "Paris" });
    assert.equal(first.finish.finishReason, "tool_calls");

    const second = await collect(
      await upstream.chat(
        "caller",
        chatRequest({
          ...request,
          messages: [
            ...request.messages,
            {
              role: "assistant",
              content: "",
              toolCalls: [{ id: start.id, name: "get_weather", arguments: args }],
            },
            { role: "tool", content: '{"celsius": 21}', toolCallId: start.id },
          ],
        }),
        never(),
      ),
    );
    assert.equal(second.finish.finishReason, "tool_calls");

    const none = await collect(
      await upstream.chat("caller", { ...request, toolChoice: { type: "none" } }, never()),
    );
    assert.equal(none.finish.finishReason, "stop");
    assert.equal(
      none.all.some((event) => event.type === "tool-call-start"),
      false,
    );
  });

  it("fills in the middle through /v1/completions with a suffix", async () => {
    const upstream = new UpstreamClient({ pool: "qiusuo", baseUrl: worker.url });
    const request: CompletionRequest = {
      model: "qiusuo/coder",
      prompt: "def add(a, b):\n",
      suffix: "\n\nprint(add(1, 2))\n",
      sampling: { temperature: 0, topP: 1, seed: 1, frequencyPenalty: 0, presencePenalty: 0 },
      maxTokens: 16,
      stop: [],
      logprobs: undefined,
    };
    const reply = await collect(await upstream.complete("coder", request, never()));
    assert.equal(reply.content, "    return a + b");
    assert.equal(reply.finish.finishReason, "stop");
    assert.equal(reply.finish.usage.source, "upstream");
  });

  it("embeds through /v1/embeddings, one vector per input in order", async () => {
    const upstream = new UpstreamClient({ pool: "qiusuo", baseUrl: worker.url });
    const result = await upstream.embed("tiny", ["first text", "second, longer text", "first text"], never());
    assert.equal(result.vectors.length, 3);
    assert.ok(result.vectors[0]!.length > 0);
    assert.deepEqual(result.vectors[0], result.vectors[2]);
    assert.notDeepEqual(result.vectors[0], result.vectors[1]);
    assert.ok(result.promptTokens > 0);
  });

  it("aborting mid-stream frees the worker's busy sequence at once", async () => {
    const upstream = new UpstreamClient({ pool: "qiusuo", baseUrl: worker.url });
    const busy = async () => {
      const health = (await (await fetch(`${worker.url}/health`)).json()) as {
        models: Array<{ id: string; busy_sequences?: number }>;
      };
      return health.models.find((model) => model.id === "tiny")?.busy_sequences ?? 0;
    };
    const controller = new AbortController();
    const events = await upstream.chat(
      "tiny",
      chatRequest({
        model: "qiusuo/tiny",
        maxTokens: 1900,
        sampling: { ...chatRequest().sampling, temperature: 1 },
      }),
      controller.signal,
    );
    const iterator = events[Symbol.asyncIterator]();
    for (let index = 0; index < 3; index++) assert.equal((await iterator.next()).done, false);
    assert.equal(await busy(), 1);
    controller.abort();
    const started = Date.now();
    await waitFor(async () => (await busy()) === 0, "the worker's sequence is free", 5_000);
    assert.ok(Date.now() - started < 5_000);
    assert.equal((await iterator.next()).done, true);
  });
});
