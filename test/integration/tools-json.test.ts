import assert from "node:assert/strict";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { makeScriptedModel } from "../fixtures/models.js";
import { type TestServer, postJson, postStream, readSse, startTestServer } from "./harness.js";

const weatherTool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Current weather in a city",
    parameters: {
      type: "object",
      properties: { city: { type: "string", maxLength: 24 } },
      required: ["city"],
      additionalProperties: false,
    },
  },
} as const;

/** The scripted model calls get_weather for Paris, in the `<tool_call>` convention. */
const CALL_SCRIPT = [
  "<tool_call>",
  '\n{"name": "get_weather", "arguments": {"city": "Paris"}}',
  "\n</tool_call>",
];

describe("tool calls", () => {
  let server: TestServer;
  let dir: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "qiusuo-tools-"));
    const file = path.join(dir, "caller.gguf");
    makeScriptedModel(file, { script: CALL_SCRIPT });
    server = await startTestServer({ models: [{ file }, "tiny"], engine: { contextSize: 2048 } });
  });
  after(async () => {
    await server.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const ask = (extra: Record<string, unknown>) => ({
    model: "caller",
    messages: [{ role: "user", content: "Weather in Paris?" }],
    tools: [weatherTool],
    ...extra,
  });

  it("returns the model's exact call as OpenAI tool_calls with finish_reason tool_calls", async () => {
    const { status, json } = await postJson(`${server.url}/v1/chat/completions`, ask({}));
    assert.equal(status, 200);
    const [choice] = json.choices;
    assert.equal(choice.finish_reason, "tool_calls");
    assert.equal(choice.message.content, "");
    assert.equal(choice.message.tool_calls.length, 1);
    const [call] = choice.message.tool_calls;
    assert.match(call.id, /^call_[A-Za-z0-9]{24}$/);
    assert.equal(call.type, "function");
    assert.deepEqual(call.function, { name: "get_weather", arguments: '{"city": "Paris"}' });
    assert.equal(json.usage.completion_tokens, 3);
  });

  it("streams the call as incremental deltas", async () => {
    const response = await postStream(`${server.url}/v1/chat/completions`, ask({ stream: true }));
    const chunks = (await readSse(response)).filter(
      (chunk): chunk is Record<string, any> => chunk !== "[DONE]",
    );
    const deltas = chunks.flatMap((chunk) => chunk.choices[0].delta.tool_calls ?? []);
    assert.equal(deltas[0].index, 0);
    assert.equal(deltas[0].function.name, "get_weather");
    assert.match(deltas[0].id, /^call_/);
    assert.equal(deltas.map((delta: any) => delta.function.arguments ?? "").join(""), '{"city": "Paris"}');
    assert.equal(chunks.at(-1)!.choices[0].finish_reason, "tool_calls");
  });

  it("works with the openai client, including the tool result turn", async () => {
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "sk-local", maxRetries: 0 });
    const first = await client.chat.completions.create({
      model: "caller",
      messages: [{ role: "user", content: "Weather in Paris?" }],
      tools: [weatherTool as unknown as OpenAI.ChatCompletionTool],
    });
    const call = first.choices[0]!.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
    assert.equal(call.function.name, "get_weather");
    // The conversation goes on with the call and its result; the server accepts both.
    const second = await client.chat.completions.create({
      model: "caller",
      messages: [
        { role: "user", content: "Weather in Paris?" },
        first.choices[0]!.message,
        { role: "tool", tool_call_id: call.id, content: '{"celsius": 21}' },
      ],
      tools: [weatherTool as unknown as OpenAI.ChatCompletionTool],
    });
    assert.equal(second.choices[0]!.finish_reason, "tool_calls");
  });

  it("reaches the Anthropic SDK as a tool_use block, streaming and not", async () => {
    const client = new Anthropic({ baseURL: `${server.url}/anthropic`, apiKey: "sk-local", maxRetries: 0 });
    const request = {
      model: "caller",
      max_tokens: 200,
      messages: [{ role: "user" as const, content: "Weather in Paris?" }],
      tools: [
        {
          name: "get_weather",
          description: "Current weather in a city",
          input_schema: weatherTool.function.parameters as unknown as Anthropic.Tool.InputSchema,
        },
      ],
    };
    const message = await client.messages.create(request);
    assert.equal(message.stop_reason, "tool_use");
    const block = message.content.find((item) => item.type === "tool_use");
    assert.ok(block && block.type === "tool_use");
    assert.equal(block.name, "get_weather");
    assert.deepEqual(block.input, { city: "Paris" });
    const streamed = await client.messages.stream(request).finalMessage();
    const streamedBlock = streamed.content.find((item) => item.type === "tool_use");
    assert.ok(streamedBlock && streamedBlock.type === "tool_use");
    assert.deepEqual(streamedBlock.input, { city: "Paris" });
    assert.equal(streamed.stop_reason, "tool_use");
  });

  it("with tool_choice none, the same output is plain text", async () => {
    const { json } = await postJson(`${server.url}/v1/chat/completions`, ask({ tool_choice: "none" }));
    assert.equal(json.choices[0].finish_reason, "stop");
    assert.equal(json.choices[0].message.tool_calls, undefined);
    assert.equal(json.choices[0].message.content, CALL_SCRIPT.join(""));
  });

  it("a random-weight model forced to call a tool always produces a parseable, schema-valid call", async () => {
    const tools = [
      weatherTool,
      {
        type: "function",
        function: {
          name: "set_alarm",
          parameters: {
            type: "object",
            properties: {
              hour: { type: "integer", minimum: 0, maximum: 23 },
              label: { type: "string", maxLength: 12 },
              repeat: { enum: ["daily", "weekdays", "never"] },
            },
            required: ["hour", "repeat"],
            additionalProperties: false,
          },
        },
      },
    ];
    for (const [seed, choice] of [
      [1, "required"],
      [2, "required"],
      [3, { type: "function", function: { name: "set_alarm" } }],
      [4, { type: "function", function: { name: "set_alarm" } }],
    ] as const) {
      const { status, json } = await postJson(`${server.url}/v1/chat/completions`, {
        model: "tiny",
        messages: [{ role: "user", content: "do something" }],
        tools,
        tool_choice: choice,
        temperature: 1,
        seed,
      });
      assert.equal(status, 200);
      const [call] = json.choices[0].message.tool_calls;
      assert.equal(json.choices[0].finish_reason, "tool_calls");
      const args = JSON.parse(call.function.arguments);
      if (typeof choice !== "string") assert.equal(call.function.name, "set_alarm");
      if (call.function.name === "set_alarm") {
        assert.ok(Number.isInteger(args.hour) && args.hour >= 0 && args.hour <= 23, JSON.stringify(args));
        assert.ok(["daily", "weekdays", "never"].includes(args.repeat));
        assert.ok(
          args.label === undefined || (typeof args.label === "string" && [...args.label].length <= 12),
        );
        assert.deepEqual(
          Object.keys(args).filter((key) => !["hour", "label", "repeat"].includes(key)),
          [],
        );
      } else {
        assert.equal(call.function.name, "get_weather");
        assert.equal(typeof args.city, "string");
      }
    }
  });

  it("refuses what a grammar cannot enforce, and strict schemas that break DeepSeek's rules, with 422", async () => {
    const withParameters = (parameters: unknown, strict = false) => ({
      model: "tiny",
      messages: [{ role: "user", content: "x" }],
      tools: [{ type: "function", function: { name: "f", parameters, strict } }],
      tool_choice: "required",
    });
    const refused = await postJson(
      `${server.url}/v1/chat/completions`,
      withParameters({ type: "object", properties: { a: { not: { type: "string" } } } }),
    );
    assert.equal(refused.status, 422);
    assert.match(refused.json.error.message, /not/);
    assert.match(refused.json.error.param, /^tools\.0\.function\.parameters/);
    const loose = await postJson(
      `${server.url}/v1/chat/completions`,
      withParameters({ type: "object", properties: { a: { type: "string" } } }, true),
    );
    assert.equal(loose.status, 422);
    const badName = await postJson(`${server.url}/v1/chat/completions`, {
      model: "tiny",
      messages: [{ role: "user", content: "x" }],
      tools: [{ type: "function", function: { name: "has space" } }],
    });
    assert.equal(badName.status, 422);
    assert.equal(badName.json.error.param, "tools.0.function.name");
    const tooMany = await postJson(`${server.url}/v1/chat/completions`, {
      model: "tiny",
      messages: [{ role: "user", content: "x" }],
      tools: Array.from({ length: 129 }, (_, index) => ({
        type: "function",
        function: { name: `f${index}` },
      })),
    });
    assert.equal(tooMany.status, 422);
    assert.match(tooMany.json.error.message, /at most 128/);
  });
});

describe("JSON output", () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ models: ["tiny"], engine: { contextSize: 2048 } });
  });
  after(() => server.close());

  it("json_object from a random-weight model always parses as an object", async () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const { json } = await postJson(`${server.url}/v1/chat/completions`, {
        model: "tiny",
        messages: [{ role: "user", content: "Reply in json" }],
        response_format: { type: "json_object" },
        temperature: 1,
        seed,
      });
      const content = json.choices[0].message.content as string;
      assert.ok(content.trim().length > 0, "never blank");
      const parsed = JSON.parse(content);
      assert.equal(typeof parsed, "object");
      assert.ok(parsed !== null && !Array.isArray(parsed));
    }
  });

  it("json_schema from a random-weight model always matches the schema", async () => {
    const schema = {
      type: "object",
      properties: {
        name: { type: "string", maxLength: 16 },
        age: { type: "integer", minimum: 0, maximum: 130 },
        email: { type: "string", format: "email" },
        tags: { type: "array", items: { enum: ["a", "b", "c"] }, maxItems: 3 },
      },
      required: ["name", "age", "email", "tags"],
      additionalProperties: false,
    };
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const { json } = await postJson(`${server.url}/v1/chat/completions`, {
        model: "tiny",
        messages: [{ role: "user", content: "A person" }],
        response_format: { type: "json_schema", json_schema: { name: "person", schema } },
        temperature: 1,
        seed,
      });
      const content = json.choices[0].message.content as string;
      assert.ok(!content.includes("\uFFFD"), `well-formed text: ${content}`);
      const value = JSON.parse(content);
      assert.deepEqual(Object.keys(value), ["name", "age", "email", "tags"]);
      assert.ok([...value.name].length <= 16);
      assert.ok(Number.isInteger(value.age) && value.age >= 0 && value.age <= 130);
      assert.match(value.email, /^[^@\s]+@[^@\s]+\.[^@\s]+$/);
      assert.ok(Array.isArray(value.tags) && value.tags.length <= 3);
      assert.ok(value.tags.every((tag: string) => ["a", "b", "c"].includes(tag)));
    }
  });

  it("works through the openai client's json_schema response format", async () => {
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "sk-local", maxRetries: 0 });
    const completion = await client.chat.completions.create({
      model: "tiny",
      messages: [{ role: "user", content: "A colour" }],
      seed: 7,
      response_format: {
        type: "json_schema",
        json_schema: {
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
    const value = JSON.parse(completion.choices[0]!.message.content!);
    assert.ok(["red", "green"].includes(value.name));
    assert.match(value.hex, /^#[0-9a-f]{6}$/);
    await assert.rejects(
      client.chat.completions.create({
        model: "tiny",
        messages: [{ role: "user", content: "x" }],
        response_format: { type: "json_schema", json_schema: { name: "n", schema: { not: {} } } },
      }),
      (error: unknown) => error instanceof OpenAI.UnprocessableEntityError,
    );
  });

  it("refuses a schema keyword the grammar cannot enforce with 422 naming it", async () => {
    const { status, json } = await postJson(`${server.url}/v1/chat/completions`, {
      model: "tiny",
      messages: [{ role: "user", content: "x" }],
      response_format: {
        type: "json_schema",
        json_schema: {
          name: "n",
          schema: { type: "object", properties: { x: { type: "number", multipleOf: 0.5 } } },
        },
      },
    });
    assert.equal(status, 422);
    assert.match(json.error.message, /multipleOf/);
    assert.match(json.error.param, /^response_format\.json_schema\.schema/);
  });
});
