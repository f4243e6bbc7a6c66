import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { postJson, startTestServer, type TestServer } from "./harness.js";

const messages = [{ role: "user", content: "Q" }];

/** Each case: the body, the status, the `param` the error must name, and a text the message must hold. */
const cases: Array<{ name: string; body: unknown; status: number; param?: string | null; says: RegExp }> = [
  {
    name: "malformed JSON",
    body: '{"model": "scripted", "messages": [',
    status: 400,
    param: null,
    says: /not valid JSON/,
  },
  { name: "an empty body", body: "", status: 400, param: null, says: /Missing required field/ },
  { name: "a JSON array body", body: "[1,2]", status: 400, param: null, says: /expected object/ },
  {
    name: "missing messages",
    body: { model: "scripted" },
    status: 400,
    param: "messages",
    says: /Missing required field `messages`/,
  },
  {
    name: "missing model",
    body: { messages },
    status: 400,
    param: "model",
    says: /Missing required field `model`/,
  },
  {
    name: "messages not an array",
    body: { model: "scripted", messages: "hi" },
    status: 400,
    param: "messages",
    says: /expected array, got string/,
  },
  {
    name: "content of the wrong type",
    body: { model: "scripted", messages: [{ role: "user", content: 5 }] },
    status: 400,
    param: "messages.0.content",
    says: /messages\.0\.content/,
  },
  {
    name: "an unknown role",
    body: { model: "scripted", messages: [{ role: "robot", content: "x" }] },
    status: 400,
    param: "messages.0.role",
    says: /role/,
  },
  {
    name: "temperature as a string",
    body: { model: "scripted", messages, temperature: "hot" },
    status: 400,
    param: "temperature",
    says: /expected number, got string/,
  },
  {
    name: "empty messages",
    body: { model: "scripted", messages: [] },
    status: 422,
    param: "messages",
    says: /at least 1/,
  },
  {
    name: "temperature above 2",
    body: { model: "scripted", messages, temperature: 2.5 },
    status: 422,
    param: "temperature",
    says: /between 0 and 2/,
  },
  {
    name: "top_p of 0",
    body: { model: "scripted", messages, top_p: 0 },
    status: 422,
    param: "top_p",
    says: /greater than 0/,
  },
  {
    name: "max_tokens of 0",
    body: { model: "scripted", messages, max_tokens: 0 },
    status: 422,
    param: "max_tokens",
    says: /at least 1/,
  },
  {
    name: "fractional max_tokens",
    body: { model: "scripted", messages, max_tokens: 1.5 },
    status: 400,
    param: "max_tokens",
    says: /expected integer, got float/,
  },
  {
    name: "frequency_penalty of -3",
    body: { model: "scripted", messages, frequency_penalty: -3 },
    status: 422,
    param: "frequency_penalty",
    says: /between -2 and 2/,
  },
  {
    name: "17 stop sequences",
    body: { model: "scripted", messages, stop: Array.from({ length: 17 }, (_, i) => `s${i}`) },
    status: 422,
    param: "stop",
    says: /at most 16/,
  },
  {
    name: "n of 2",
    body: { model: "scripted", messages, n: 2 },
    status: 422,
    param: "n",
    says: /`n` above 1/,
  },
  {
    name: "an unknown model",
    body: { model: "gpt-9", messages },
    status: 400,
    param: "model",
    says: /'gpt-9' does not exist.*scripted.*deepseek-chat/,
  },
  {
    name: "prompt plus max_tokens beyond the context",
    body: { model: "scripted", messages, max_tokens: 100000 },
    status: 400,
    param: "messages",
    says: /maximum context length is 512 tokens\. However, you requested 1000\d\d tokens \(\d+ in the messages, 100000 in the completion\)/,
  },
  {
    name: "a prompt longer than the context",
    body: { model: "scripted", messages: [{ role: "user", content: "x".repeat(600) }] },
    status: 400,
    param: "messages",
    says: /maximum context length is 512 tokens/,
  },
];

describe("bad input gets DeepSeek's error envelope, never a 500", () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  for (const testCase of cases) {
    it(`${testCase.name} -> ${testCase.status}`, async () => {
      const { status, json, text } = await postJson(`${server.url}/v1/chat/completions`, testCase.body);
      assert.equal(status, testCase.status, text);
      assert.deepEqual(Object.keys(json.error).sort(), ["code", "message", "param", "type"]);
      assert.equal(json.error.type, "invalid_request_error");
      assert.match(json.error.message, testCase.says);
      if (testCase.param !== undefined) assert.equal(json.error.param, testCase.param);
    });
  }

  it("accepts explicit null for every optional field", async () => {
    const { status, json } = await postJson(`${server.url}/chat/completions`, {
      model: "scripted",
      messages,
      max_tokens: null,
      temperature: null,
      top_p: null,
      seed: null,
      stop: null,
      stream: null,
      stream_options: null,
      frequency_penalty: null,
      presence_penalty: null,
      thinking: null,
      response_format: null,
      tools: null,
      logprobs: null,
    });
    assert.equal(status, 200);
    assert.equal(json.choices[0].message.content, "The answer is 42");
  });

  it("answers unknown routes with a 404 in the same envelope", async () => {
    const response = await fetch(`${server.url}/v1/nothing-here`);
    assert.equal(response.status, 404);
    assert.equal(((await response.json()) as { error: { code: string } }).error.code, "not_found");
  });

  it("survives a fuzz of mutated request bodies with 200, 400 or 422 only", async () => {
    const valid = JSON.stringify({
      model: "scripted",
      messages: [{ role: "user", content: "hi" }],
      max_tokens: 3,
      temperature: 0.5,
    });
    let seed = 42;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const alphabet = '{}[]":,0123456789-.eEtrufalsn \\\u00e9\u4e2d';
    for (let round = 0; round < 150; round++) {
      const characters = [...valid];
      const edits = 1 + Math.floor(random() * 4);
      for (let edit = 0; edit < edits; edit++) {
        const at = Math.floor(random() * characters.length);
        const pick = alphabet[Math.floor(random() * alphabet.length)]!;
        const kind = random();
        if (kind < 0.4) characters[at] = pick;
        else if (kind < 0.7) characters.splice(at, 1);
        else characters.splice(at, 0, pick);
      }
      const { status, text } = await postJson(`${server.url}/chat/completions`, characters.join(""));
      assert.ok([200, 400, 422].includes(status), `status ${status} for ${characters.join("")}: ${text}`);
    }
    const health = await fetch(`${server.url}/health`);
    assert.equal(health.status, 200);
  });
});
