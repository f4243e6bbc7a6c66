import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { postJson, startTestServer, type TestServer } from "./harness.js";

/**
 * JSON nested 100,000 levels deep parses (V8's JSON.parse does not recurse) but overflowed the
 * stack wherever it was walked again (JSON.stringify of a tool input, the prompt's tool calls):
 * a 500. Each body here must be a 400 naming the field instead, and the limit must still let a
 * value 64 levels deep through.
 */
const LEVELS = 100_000;

/** `{"a":{"a":…1…}}` nested `levels` deep, as text (JSON.stringify itself would overflow). */
const deepObject = (levels: number) => `${'{"a":'.repeat(levels)}1${"}".repeat(levels)}`;
const deepArray = (levels: number) => `${"[".repeat(levels)}${"]".repeat(levels)}`;

const question = { role: "user", content: "Q" };

/** A DeepSeek body whose assistant turn called a tool with `argumentsText`. */
function deepSeekToolCall(argumentsText: string) {
  return {
    model: "scripted",
    max_tokens: 2,
    messages: [
      question,
      {
        role: "assistant",
        content: "",
        tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: argumentsText } }],
      },
      { role: "tool", tool_call_id: "c1", content: "r" },
    ],
  };
}

/** An Anthropic body (as text) whose assistant turn called a tool with `inputText`. */
function anthropicToolUse(inputText: string, withMaxTokens = true) {
  return (
    `{"model":"scripted",${withMaxTokens ? '"max_tokens":2,' : ""}"messages":[` +
    `{"role":"user","content":"Q"},` +
    `{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":${inputText}}]},` +
    `{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"r"}]}]}`
  );
}

const deepSeekCases: Array<{ name: string; body: unknown; param: string | RegExp }> = [
  {
    name: "tool-call arguments",
    body: deepSeekToolCall(deepObject(LEVELS)),
    param: "messages.1.tool_calls.0.function.arguments",
  },
  {
    name: "tool-call arguments that are not even valid JSON",
    body: deepSeekToolCall("[".repeat(LEVELS)),
    param: "messages.1.tool_calls.0.function.arguments",
  },
  {
    name: "a tool's parameters",
    body:
      `{"model":"scripted","max_tokens":2,"messages":[{"role":"user","content":"Q"}],` +
      `"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","x":${deepArray(LEVELS)}}}}]}`,
    param: "tools.0.function.parameters",
  },
  {
    name: "a response format's schema",
    body:
      `{"model":"scripted","max_tokens":2,"messages":[{"role":"user","content":"Q"}],` +
      `"response_format":{"type":"json_schema","json_schema":{"name":"f","schema":{"x":${deepArray(LEVELS)}}}}}`,
    param: "response_format.json_schema.schema",
  },
  {
    name: "an unknown field",
    body: `{"model":"scripted","max_tokens":2,"messages":[{"role":"user","content":"Q"}],"extra":${deepArray(LEVELS)}}`,
    param: /^extra(\.0)+$/,
  },
  {
    name: "an extra key of stream_options",
    body:
      `{"model":"scripted","max_tokens":2,"messages":[{"role":"user","content":"Q"}],` +
      `"stream_options":{"x":${deepObject(LEVELS)}}}`,
    param: /^stream_options\.x(\.a)+$/,
  },
];

const anthropicCases: Array<{ path: string; name: string; body: string; names: string }> = [
  {
    path: "/anthropic/v1/messages",
    name: "a tool_use input",
    body: anthropicToolUse(deepObject(LEVELS)),
    names: "messages.1.content.0.input",
  },
  {
    path: "/anthropic/v1/messages/count_tokens",
    name: "a tool_use input",
    body: anthropicToolUse(deepObject(LEVELS), false),
    names: "messages.1.content.0.input",
  },
  {
    path: "/anthropic/v1/messages",
    name: "a tool's input_schema",
    body:
      `{"model":"scripted","max_tokens":2,"messages":[{"role":"user","content":"Q"}],` +
      `"tools":[{"name":"f","input_schema":{"type":"object","x":${deepArray(LEVELS)}}}]}`,
    names: "tools.0.input_schema",
  },
  {
    path: "/anthropic/v1/messages",
    name: "output_config's schema",
    body:
      `{"model":"scripted","max_tokens":2,"messages":[{"role":"user","content":"Q"}],` +
      `"output_config":{"format":{"type":"json_schema","schema":{"x":${deepArray(LEVELS)}}}}}`,
    names: "output_config.format.schema",
  },
  {
    path: "/anthropic/v1/messages",
    name: "an extra key of metadata",
    body:
      `{"model":"scripted","max_tokens":2,"messages":[{"role":"user","content":"Q"}],` +
      `"metadata":{"x":${deepObject(LEVELS)}}}`,
    names: "metadata.x.a",
  },
];

describe("deeply nested JSON is a 400 naming the field, never a stack overflow", () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  for (const testCase of deepSeekCases) {
    it(`DeepSeek: ${testCase.name} nested ${LEVELS} levels`, async () => {
      const { status, json, text } = await postJson(`${server.url}/v1/chat/completions`, testCase.body);
      assert.equal(status, 400, text.slice(0, 300));
      assert.equal(json.error.type, "invalid_request_error");
      assert.equal(json.error.code, "too_deep");
      if (typeof testCase.param === "string") assert.equal(json.error.param, testCase.param);
      else assert.match(json.error.param, testCase.param);
      assert.match(json.error.message, /deeper than \d+ levels/);
    });
  }

  for (const testCase of anthropicCases) {
    it(`Anthropic ${testCase.path}: ${testCase.name} nested ${LEVELS} levels`, async () => {
      const { status, json, text } = await postJson(`${server.url}${testCase.path}`, testCase.body);
      assert.equal(status, 400, text.slice(0, 300));
      assert.equal(json.type, "error");
      assert.equal(json.error.type, "invalid_request_error");
      assert.ok(json.error.message.includes(`\`${testCase.names}`), json.error.message);
      assert.match(json.error.message, /deeper than \d+ levels/);
    });
  }

  it("the app API: a deep unknown field in a new conversation", async () => {
    const { status, json, text } = await postJson(
      `${server.url}/api/conversations`,
      `{"title":"t","extra":${deepArray(LEVELS)}}`,
    );
    assert.equal(status, 400, text.slice(0, 300));
    assert.equal(json.error.code, "too_deep");
    assert.match(json.error.param, /^extra(\.0)+$/);
  });

  it("lets values 64 levels deep through, and refuses 65", async () => {
    const ok = await postJson(`${server.url}/v1/chat/completions`, deepSeekToolCall(deepObject(64)));
    assert.equal(ok.status, 200, ok.text.slice(0, 300));
    const tooDeep = await postJson(`${server.url}/v1/chat/completions`, deepSeekToolCall(deepObject(65)));
    assert.equal(tooDeep.status, 400, tooDeep.text.slice(0, 300));

    const okInput = await postJson(`${server.url}/anthropic/v1/messages`, anthropicToolUse(deepObject(64)));
    assert.equal(okInput.status, 200, okInput.text.slice(0, 300));
    const deepInput = await postJson(`${server.url}/anthropic/v1/messages`, anthropicToolUse(deepObject(65)));
    assert.equal(deepInput.status, 400, deepInput.text.slice(0, 300));
  });
});
