// OpenAI's Responses API (/v1/responses) on the real server and engine, driven by the official
// `openai` client: text, reasoning, a function-tool loop continued by previous_response_id and by
// full input, JSON schema output, incomplete responses, storage per principal, bad input, and a
// client that leaves mid-stream. The store's repository runs on SQLite and, when
// QIUSUO_TEST_DATABASE_URL is set, PostgreSQL.
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { RESPONSE_RETENTION_MS } from "../../src/store/responses.js";
import { openStore, type Store } from "../../src/store/store.js";
import { makeScriptedModel } from "../fixtures/models.js";
import { postJson, postStream, readUntil, startTestServer, waitFor, type TestServer } from "./harness.js";
import { testEngines } from "./store-engines.js";

/** The caller model calls get_weather for Paris, in the `<tool_call>` convention. */
const CALL_SCRIPT = [
  "<tool_call>",
  '\n{"name": "get_weather", "arguments": {"city": "Paris"}}',
  "\n</tool_call>",
];

/** `store`, which OpenAI's responses carry and its SDK's type leaves out. */
const storeFlag = (response: OpenAI.Responses.Response) => (response as unknown as { store: boolean }).store;

const weatherTool = {
  type: "function" as const,
  name: "get_weather",
  description: "Current weather in a city",
  parameters: {
    type: "object",
    properties: { city: { type: "string", maxLength: 24 } },
    required: ["city"],
    additionalProperties: false,
  },
  strict: true,
};

describe("POST /v1/responses", () => {
  let server: TestServer;
  let client: OpenAI;
  let dir: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "qiusuo-responses-"));
    const caller = path.join(dir, "caller.gguf");
    const plain = path.join(dir, "plain.gguf");
    const opensThink = path.join(dir, "opens-think.gguf");
    makeScriptedModel(caller, { script: CALL_SCRIPT });
    makeScriptedModel(plain, { script: ["Hello", " there", " friend"] });
    // A template that opens <think> itself, as newer DeepSeek-R1 distills do.
    makeScriptedModel(opensThink, {
      script: [" I reason", "</think>", "Done"],
      scriptTokenType: "user-defined",
      extraSpecialTokens: ["<think>"],
      chatTemplate:
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n<think>\\n' }}{% endif %}",
    });
    server = await startTestServer({
      models: ["scripted", { file: caller }, { file: plain }, { file: opensThink }, "tiny"],
      engine: { contextSize: 4096 },
    });
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "sk-local", maxRetries: 0 });
  });
  after(async () => {
    await server.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("answers a string input with a message, output_text and exact usage", async () => {
    const response = await client.responses.create({ model: "plain", input: "Say hello" });
    assert.match(response.id, /^resp_[0-9a-f]{48}$/);
    assert.equal(response.object, "response");
    assert.equal(response.status, "completed");
    assert.equal(response.model, "plain");
    assert.equal(response.output_text, "Hello there friend");
    assert.equal(response.output.length, 1);
    const [message] = response.output;
    assert.ok(message?.type === "message");
    assert.match(message.id, /^msg_/);
    assert.equal(message.role, "assistant");
    assert.equal(message.status, "completed");
    assert.deepEqual(message.content, [
      { type: "output_text", text: "Hello there friend", annotations: [], logprobs: [] },
    ]);
    assert.equal(response.usage?.output_tokens, 3);
    assert.ok(response.usage!.input_tokens > 0);
    assert.equal(response.usage?.total_tokens, response.usage!.input_tokens + 3);
    assert.equal(response.usage?.output_tokens_details.reasoning_tokens, 0);
    const cached = response.usage!.input_tokens_details.cached_tokens;
    assert.ok(Number.isInteger(cached) && cached >= 0 && cached <= response.usage!.input_tokens);
    assert.equal(storeFlag(response), true);
    assert.equal(response.error, null);
    assert.equal(response.incomplete_details, null);
    assert.equal(response.previous_response_id, null);
  });

  it("puts instructions first and reads message items with text parts", async () => {
    const bare = await client.responses.create({ model: "plain", input: "Say hello", store: false });
    const instructed = await client.responses.create({
      model: "plain",
      instructions: "You are terse.",
      input: [
        {
          role: "user",
          content: [
            { type: "input_text", text: "Say" },
            { type: "input_text", text: "hello" },
          ],
        },
      ],
      store: false,
    });
    assert.equal(instructed.instructions, "You are terse.");
    assert.equal(instructed.output_text, "Hello there friend");
    // The system message and the two parts are in the prompt: it is longer than the bare one.
    assert.ok(instructed.usage!.input_tokens > bare.usage!.input_tokens + 3);
  });

  it("streams the exact event sequence, numbered, and the final response equals the text", async () => {
    const stream = client.responses.stream({ model: "plain", input: "Say hello" });
    const types: string[] = [];
    const sequence: number[] = [];
    let text = "";
    for await (const event of stream) {
      types.push(event.type);
      sequence.push(event.sequence_number);
      if (event.type === "response.output_text.delta") text += event.delta;
    }
    assert.deepEqual(types, [
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.content_part.added",
      "response.output_text.delta",
      "response.output_text.delta",
      "response.output_text.delta",
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.completed",
    ]);
    assert.deepEqual(
      sequence,
      types.map((_, index) => index),
    );
    const final = await stream.finalResponse();
    assert.equal(text, "Hello there friend");
    assert.equal(final.output_text, text);
    assert.equal(final.status, "completed");
    assert.equal(final.usage?.output_tokens, 3);
    // The stored response is the streamed one.
    const stored = await client.responses.retrieve(final.id);
    assert.deepEqual(
      stored.output.map((item) => item.id),
      final.output.map((item) => item.id),
    );
    assert.equal(stored.output_text, final.output_text);
    assert.deepEqual(stored.usage, final.usage);
  });

  it("sends no [DONE] and names each event", async () => {
    const response = await postStream(`${server.url}/v1/responses`, {
      model: "plain",
      input: "hi",
      stream: true,
    });
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type")!, /text\/event-stream/);
    const text = await response.text();
    assert.ok(!text.includes("[DONE]"));
    const blocks = text.split("\n\n").filter((block) => block.length > 0);
    for (const block of blocks) {
      const [eventLine, dataLine] = block.split("\n");
      const data = JSON.parse(dataLine!.slice("data: ".length));
      assert.equal(eventLine, `event: ${data.type}`);
    }
  });

  it("returns the reasoning of a thinking model as a reasoning item, streamed and not", async () => {
    const response = await client.responses.create({
      model: "scripted",
      input: "What is the answer?",
      reasoning: { effort: "high" },
      store: false,
    });
    assert.equal(response.output.length, 2);
    const [reasoning, message] = response.output;
    assert.ok(reasoning?.type === "reasoning");
    assert.match(reasoning.id, /^rs_/);
    assert.deepEqual(reasoning.summary, []);
    assert.deepEqual(reasoning.content, [{ type: "reasoning_text", text: "let me think" }]);
    assert.ok(message?.type === "message");
    assert.equal(response.output_text, "The answer is 42");
    assert.ok(response.usage!.output_tokens_details.reasoning_tokens > 0);
    assert.deepEqual(response.reasoning, { effort: "high", summary: null });

    const stream = client.responses.stream({ model: "scripted", input: "What is the answer?", store: false });
    let reasoningText = "";
    const types: string[] = [];
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === "response.reasoning_text.delta") reasoningText += event.delta;
    }
    assert.equal(reasoningText.trim(), "let me think");
    assert.ok(types.indexOf("response.reasoning_text.done") < types.indexOf("response.output_text.delta"));
    const final = await stream.finalResponse();
    assert.deepEqual(final.output[0], {
      ...reasoning,
      id: final.output[0]!.id,
      content: [{ type: "reasoning_text", text: reasoningText }],
    });
  });

  it("turns thinking off with reasoning effort none, on with any other", async () => {
    const ask = (effort?: "none" | "low") =>
      client.responses.create({
        model: "opens-think",
        input: "Q",
        ...(effort ? { reasoning: { effort } } : {}),
        store: false,
      });
    const [unset, low, none] = [await ask(), await ask("low"), await ask("none")];
    assert.deepEqual(
      low.output.map((item) => item.type),
      ["reasoning", "message"],
    );
    assert.equal(low.output_text, "Done");
    assert.equal(low.usage!.input_tokens, unset.usage!.input_tokens);
    // "\n\n</think>\n\n" closes an empty reasoning block in the prompt; the model's text is the answer.
    assert.equal(none.usage!.input_tokens - low.usage!.input_tokens, 5);
    assert.deepEqual(
      none.output.map((item) => item.type),
      ["message"],
    );
  });

  it("runs a function-tool loop, continued by previous_response_id and by full input alike", async () => {
    const first = await client.responses.create({
      model: "caller",
      input: "Weather in Paris?",
      tools: [weatherTool],
    });
    assert.equal(first.status, "completed");
    assert.equal(first.output.length, 1);
    const call = first.output[0]!;
    assert.ok(call.type === "function_call");
    assert.match(call.id!, /^fc_/);
    assert.match(call.call_id, /^call_/);
    assert.equal(call.name, "get_weather");
    assert.equal(call.arguments, '{"city": "Paris"}');
    assert.equal(call.status, "completed");
    assert.deepEqual(first.tools, [{ ...weatherTool }]);
    assert.equal(first.tool_choice, "auto");

    const result = {
      type: "function_call_output" as const,
      call_id: call.call_id,
      output: '{"celsius": 21}',
    };
    const chained = await client.responses.create({
      model: "caller",
      previous_response_id: first.id,
      input: [result],
      tools: [weatherTool],
    });
    assert.equal(chained.previous_response_id, first.id);
    const full = await client.responses.create({
      model: "caller",
      input: [{ role: "user", content: "Weather in Paris?" }, call, result],
      tools: [weatherTool],
      store: false,
    });
    // The same conversation either way: the stored input and output were put before the new input.
    assert.equal(chained.usage!.input_tokens, full.usage!.input_tokens);
    const alone = await client.responses.create({
      model: "caller",
      input: [result],
      tools: [weatherTool],
      store: false,
    });
    assert.ok(alone.usage!.input_tokens < chained.usage!.input_tokens);

    const items = [];
    for await (const item of client.responses.inputItems.list(chained.id, { order: "asc" })) items.push(item);
    assert.deepEqual(
      items.map((item) => item.type),
      ["message", "function_call", "function_call_output"],
    );
    assert.equal(items[1]!.id, call.id);
    // Newest first by default, a page at a time.
    const page = async (query: string) =>
      (await (await fetch(`${server.url}/v1/responses/${chained.id}/input_items?${query}`)).json()) as {
        data: Array<{ id: string }>;
        last_id: string;
        has_more: boolean;
      };
    const newest = await page("limit=2");
    assert.deepEqual(
      newest.data.map((item) => item.id),
      [items[2]!.id, items[1]!.id],
    );
    assert.equal(newest.has_more, true);
    const rest = await page(`limit=2&after=${newest.last_id}`);
    assert.deepEqual(
      rest.data.map((item) => item.id),
      [items[0]!.id],
    );
    assert.equal(rest.has_more, false);
  });

  it("streams a function call's arguments as deltas", async () => {
    const stream = client.responses.stream({
      model: "caller",
      input: "Weather in Paris?",
      tools: [weatherTool],
      tool_choice: { type: "function", name: "get_weather" },
      store: false,
    });
    const types: string[] = [];
    let args = "";
    let done: { name: string; arguments: string } | undefined;
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === "response.function_call_arguments.delta") args += event.delta;
      if (event.type === "response.function_call_arguments.done") done = event;
    }
    assert.deepEqual(types.slice(2, 3), ["response.output_item.added"]);
    assert.ok(types.includes("response.function_call_arguments.delta"));
    assert.deepEqual(types.slice(-3), [
      "response.function_call_arguments.done",
      "response.output_item.done",
      "response.completed",
    ]);
    assert.equal(args, '{"city": "Paris"}');
    assert.equal(done?.name, "get_weather");
    assert.equal(done?.arguments, args);
  });

  it("gives JSON that matches a json_schema text format", async () => {
    const response = await client.responses.create({
      model: "tiny",
      input: "A colour",
      store: false,
      text: {
        format: {
          type: "json_schema",
          name: "colour",
          strict: true,
          schema: {
            type: "object",
            properties: {
              name: { enum: ["red", "green"] },
              hex: { type: "string", pattern: "^#[0-9a-f]{6}$" },
            },
            required: ["name", "hex"],
            additionalProperties: false,
          },
        },
      },
    });
    const value = JSON.parse(response.output_text);
    assert.deepEqual(Object.keys(value), ["name", "hex"]);
    assert.ok(["red", "green"].includes(value.name));
    assert.match(value.hex, /^#[0-9a-f]{6}$/);
    assert.equal(response.text?.format?.type, "json_schema");
  });

  it("is incomplete with reason max_output_tokens when cut short", async () => {
    const response = await client.responses.create({ model: "plain", input: "hi", max_output_tokens: 2 });
    assert.equal(response.status, "incomplete");
    assert.deepEqual(response.incomplete_details, { reason: "max_output_tokens" });
    assert.equal(response.output_text, "Hello there");
    assert.equal(response.output[0]!.type === "message" && response.output[0]!.status, "incomplete");
    assert.equal(response.max_output_tokens, 2);

    const stream = client.responses.stream({
      model: "plain",
      input: "hi",
      max_output_tokens: 2,
      store: false,
    });
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    assert.equal(types.at(-1), "response.incomplete");
    assert.equal((await stream.finalResponse()).status, "incomplete");
  });

  it("stores responses for retrieval and deletion, and not with store: false", async () => {
    const stored = await client.responses.create({ model: "plain", input: "hi", metadata: { run: "1" } });
    const retrieved = await client.responses.retrieve(stored.id);
    assert.equal(retrieved.id, stored.id);
    assert.deepEqual(retrieved.metadata, { run: "1" });
    assert.equal(retrieved.output_text, "Hello there friend");

    const unstored = await client.responses.create({ model: "plain", input: "hi", store: false });
    assert.equal(storeFlag(unstored), false);
    await assert.rejects(client.responses.retrieve(unstored.id), OpenAI.NotFoundError);
    const chained = await postJson(`${server.url}/v1/responses`, {
      model: "plain",
      input: "again",
      previous_response_id: unstored.id,
    });
    assert.equal(chained.status, 404);
    assert.equal(chained.json.error.code, "response_not_found");
    assert.equal(chained.json.error.param, "previous_response_id");

    const deleted = await fetch(`${server.url}/v1/responses/${stored.id}`, { method: "DELETE" });
    assert.equal(deleted.status, 200);
    assert.deepEqual(await deleted.json(), { id: stored.id, object: "response", deleted: true });
    await assert.rejects(client.responses.retrieve(stored.id), OpenAI.NotFoundError);
    const again = await fetch(`${server.url}/responses/${stored.id}`, { method: "DELETE" });
    assert.equal(again.status, 404);
  });

  it("refuses to store a chain of more than 8 MiB of input items", async () => {
    const first = await client.responses.create({ model: "plain", input: "hi" });
    // As if earlier turns had brought 9 MiB of input (more than the model here could read).
    const text = "x".repeat(9 * 1024 * 1024);
    const big = [
      {
        type: "message",
        id: "msg_big",
        role: "user",
        status: "completed",
        content: [{ type: "input_text", text }],
      },
    ];
    await server.store.db
      .updateTable("responses")
      .set({ input_items: JSON.stringify(big) })
      .where("id", "=", first.id)
      .execute();
    const refused = await postJson(`${server.url}/v1/responses`, {
      model: "plain",
      input: "more",
      previous_response_id: first.id,
    });
    assert.equal(refused.status, 400);
    assert.equal(refused.json.error.code, "conversation_too_large");
    assert.equal(refused.json.error.param, "input");
  });

  it("answers bad input with a 400 or 404 JSON error naming the field, never a 500", async () => {
    const cases: Array<[unknown, number, string, string | null]> = [
      [{ input: "hi" }, 400, "missing_field", "model"],
      [{ model: "plain" }, 400, "missing_field", "input"],
      [{ model: "plain", input: 5 }, 400, "invalid_type", "input"],
      [{ model: "nope", input: "hi" }, 400, "model_not_found", "model"],
      [
        { model: "plain", input: "hi", previous_response_id: "resp_unknown" },
        404,
        "response_not_found",
        "previous_response_id",
      ],
      [
        { model: "plain", input: "hi", tools: [{ type: "web_search" }] },
        400,
        "unsupported_tool",
        "tools.0.type",
      ],
      [
        { model: "plain", input: "hi", tools: [{ type: "function", name: "bad name" }] },
        400,
        "invalid_value",
        "tools.0.name",
      ],
      [
        { model: "plain", input: "hi", tool_choice: { type: "file_search" } },
        400,
        "unsupported_value",
        "tool_choice.type",
      ],
      [{ model: "plain", input: "hi", tool_choice: "required" }, 400, "invalid_value", "tool_choice"],
      [
        { model: "plain", input: [{ type: "function_call_output", output: "x" }] },
        400,
        "missing_field",
        "input.0.call_id",
      ],
      [{ model: "plain", input: [{ role: "robot", content: "x" }] }, 400, "invalid_value", "input.0.role"],
      [{ model: "plain", input: [{ type: "computer_call" }] }, 400, "unsupported_item", "input.0.type"],
      [
        { model: "plain", input: [{ role: "user", content: [{ type: "input_file", file_id: "f" }] }] },
        400,
        "unsupported_content",
        "input.0.content.0.type",
      ],
      [
        {
          model: "plain",
          input: [{ role: "user", content: [{ type: "input_image", image_url: "ftp://x" }] }],
        },
        400,
        "invalid_image_url",
        "input.0.content.0.image_url",
      ],
      [
        {
          model: "plain",
          input: [{ type: "function_call", call_id: "c", name: "f", arguments: "[".repeat(70) }],
        },
        400,
        "too_deep",
        "input.0.arguments",
      ],
      [{ model: "plain", input: "hi", background: true }, 400, "unsupported_parameter", "background"],
      [
        { model: "plain", input: "hi", tools: [weatherTool], text: { format: { type: "json_object" } } },
        400,
        "unsupported_value",
        "text.format.type",
      ],
      [
        { model: "plain", input: "hi", tools: [{ ...weatherTool, parameters: { type: "object" } }] },
        400,
        "invalid_schema",
        "tools.0.parameters.additionalProperties",
      ],
      [{ model: "plain", input: "hello ".repeat(5000) }, 400, "context_length_exceeded", "input"],
      [{ model: "plain", input: "hi", temperature: 3 }, 400, "invalid_value", "temperature"],
      [
        { model: "plain", input: "hi", text: { format: { type: "json_schema", name: "x" } } },
        400,
        "missing_field",
        "text.format.schema",
      ],
    ];
    for (const [body, status, code, param] of cases) {
      const { status: got, json, text } = await postJson(`${server.url}/v1/responses`, body);
      assert.equal(got, status, `${JSON.stringify(body)} -> ${text}`);
      assert.equal(json.error.code, code, text);
      assert.equal(json.error.param, param, text);
      assert.doesNotMatch(json.error.message, /\.function\.|response_format/, "named as this API names it");
    }
    const badJson = await postJson(`${server.url}/v1/responses`, "{nope");
    assert.equal(badJson.status, 400);
    assert.equal(badJson.json.error.code, "invalid_json");
    const page = await fetch(`${server.url}/v1/responses/resp_x/input_items`);
    assert.equal(page.status, 404);
    await assert.rejects(client.responses.create({ model: "plain", input: [] }), OpenAI.BadRequestError);
  });

  it("frees the request when the client leaves mid-stream, and books it", async () => {
    const controller = new AbortController();
    const before = server.engine.stats();
    const response = await postStream(
      `${server.url}/v1/responses`,
      {
        model: "tiny",
        input: "hold the only sequence",
        max_output_tokens: 3500,
        temperature: 0,
        stream: true,
        store: false,
      },
      controller.signal,
    );
    const reader = response.body!.getReader();
    await readUntil(reader, (text) => text.includes("response.output_text.delta"));
    assert.equal(server.engine.stats().busySequences, 1);
    controller.abort();
    await waitFor(() => server.engine.stats().busySequences === 0, "the sequence is free", 2000);
    const stats = server.engine.stats();
    assert.equal(stats.abortedRequests, before.abortedRequests + 1);
    assert.ok(stats.generatedTokens - before.generatedTokens < 3500);
    await waitFor(async () => {
      const rows = await server.store.db
        .selectFrom("usage")
        .select("status")
        .where("model", "=", "tiny")
        .where("status", "=", "client_closed")
        .execute();
      return rows.length === 1;
    }, "the ledger books the request as client_closed");
  });
});

describe("a queued Responses request", () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({
      models: ["tiny"],
      engine: { parallel: 1, contextSize: 4096 },
      app: { keepAliveSeconds: 0.05 },
    });
  });
  after(() => server.close());

  it("gets `: keep-alive` comments while it waits, and blank lines before a JSON body", async () => {
    const holder = new AbortController();
    const holding = await postStream(
      `${server.url}/v1/responses`,
      {
        model: "tiny",
        input: "hold the only sequence",
        max_output_tokens: 3500,
        temperature: 0,
        stream: true,
        store: false,
      },
      holder.signal,
    );
    await waitFor(() => server.engine.stats().busySequences === 1, "the first request holds the sequence");
    const ask = { model: "tiny", input: "queued", max_output_tokens: 3, temperature: 0, store: false };
    const streamed = postStream(`${server.url}/v1/responses`, { ...ask, stream: true }).then((response) =>
      response.text(),
    );
    const plain = postStream(`${server.url}/v1/responses`, ask).then((response) => response.text());
    await waitFor(() => server.engine.stats().queuedRequests === 2, "both requests wait");
    await sleep(200); // several keep-alive intervals while queued
    holder.abort();
    await holding.body?.cancel().catch(() => undefined);

    const streamText = await streamed;
    assert.match(
      streamText,
      /^event: response\.created\n.*event: response\.in_progress\n.*?\n\n(: keep-alive\n\n)+event: /s,
    );
    assert.match(streamText, /event: response\.(completed|incomplete)\n[^\n]+\n\n$/);
    const text = await plain;
    assert.match(text, /^\n+\{/, "blank lines before the JSON body");
    assert.equal(JSON.parse(text).usage.output_tokens, 3);
  });
});

describe("stored responses per API key (accounts mode)", () => {
  let server: TestServer;
  let store: Store;
  let dir: string;
  const keys: Record<"alice" | "aliceOther" | "bob", string> = { alice: "", aliceOther: "", bob: "" };
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "qiusuo-responses-accounts-"));
    store = await openStore({ dataDir: dir });
    const alice = await store.users.create({ name: "alice", role: "admin", password: "correct horse" });
    const bob = await store.users.create({ name: "bob", role: "user", password: "battery staple" });
    keys.alice = (await store.apiKeys.create({ userId: alice.id, name: "laptop" })).plaintext;
    keys.aliceOther = (await store.apiKeys.create({ userId: alice.id, name: "ci" })).plaintext;
    keys.bob = (await store.apiKeys.create({ userId: bob.id, name: "bob" })).plaintext;
    server = await startTestServer({ store, accounts: true });
  });
  after(async () => {
    await server.close();
    await store.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const clientOf = (key: string) => new OpenAI({ baseURL: `${server.url}/v1`, apiKey: key, maxRetries: 0 });

  it("needs a key, meters the request on it, and hides its responses from every other key", async () => {
    const anonymous = await postJson(`${server.url}/v1/responses`, { model: "scripted", input: "hi" });
    assert.equal(anonymous.status, 401);

    const alice = clientOf(keys.alice);
    const response = await alice.responses.create({ model: "scripted", input: "hi" });
    assert.equal((await alice.responses.retrieve(response.id)).id, response.id);
    const key = await store.apiKeys.findByPlaintext(keys.alice);
    assert.equal(key?.usedRequests, 1);
    assert.equal(key?.usedTokens, response.usage!.total_tokens);

    for (const other of [keys.bob, keys.aliceOther]) {
      const client = clientOf(other);
      await assert.rejects(client.responses.retrieve(response.id), OpenAI.NotFoundError);
      await assert.rejects(client.responses.delete(response.id), OpenAI.NotFoundError);
      await assert.rejects(
        client.responses.create({ model: "scripted", input: "more", previous_response_id: response.id }),
        OpenAI.NotFoundError,
      );
    }
    // Still there for its owner.
    assert.equal((await alice.responses.retrieve(response.id)).id, response.id);
  });
});

const engines = testEngines("responses store");
after(async () => {
  for (const engine of engines) await engine.cleanup();
});

for (const engine of engines) {
  describe(`the response repository (${engine.name})`, () => {
    it("keeps responses per principal, expires them, and purges expired rows on write", async () => {
      const store = await openStore(await engine.fresh());
      try {
        const user = await store.users.create({ name: "ada" });
        const other = await store.users.create({ name: "bo" });
        const { key } = await store.apiKeys.create({ userId: user.id, name: "k" });
        const keyless = { userId: user.id, apiKeyId: null };
        const keyed = { userId: user.id, apiKeyId: key.id };
        const now = 1_000_000_000_000;
        const response = { id: "resp_1", object: "response", output: [{ type: "message", text: "世界" }] };
        await store.responses.save(keyless, { id: "resp_1", response, inputItems: [{ n: 1 }] }, now);
        await store.responses.save(keyed, { id: "resp_2", response: { id: "resp_2" }, inputItems: [] }, now);

        const found = await store.responses.find(keyless, "resp_1", now + 1);
        assert.deepEqual(found, {
          id: "resp_1",
          response,
          inputItems: [{ n: 1 }],
          createdAt: now,
          expiresAt: now + RESPONSE_RETENTION_MS,
        });
        assert.equal(await store.responses.find(keyed, "resp_1", now), undefined);
        assert.equal(
          await store.responses.find({ userId: other.id, apiKeyId: null }, "resp_1", now),
          undefined,
        );
        assert.equal(await store.responses.find(keyless, "resp_2", now), undefined);
        assert.ok(await store.responses.find(keyed, "resp_2", now));

        assert.equal(
          await store.responses.delete({ userId: other.id, apiKeyId: null }, "resp_1", now),
          false,
        );
        assert.equal(await store.responses.delete(keyed, "resp_2", now), true);
        assert.equal(await store.responses.find(keyed, "resp_2", now), undefined);

        const expired = now + RESPONSE_RETENTION_MS;
        assert.equal(
          await store.responses.find(keyless, "resp_1", expired),
          undefined,
          "never returned once expired",
        );
        assert.equal(await store.responses.delete(keyless, "resp_1", expired), false);
        await store.responses.save(keyless, { id: "resp_3", response: {}, inputItems: [] }, expired);
        const rows = await store.db.selectFrom("responses").select("id").execute();
        assert.deepEqual(
          rows.map((row) => row.id),
          ["resp_3"],
          "the expired row was purged by the write",
        );
      } finally {
        await store.close();
      }
    });
  });
}
