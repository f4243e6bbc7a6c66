import assert from "node:assert/strict";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { makeScriptedModel } from "../fixtures/models.js";
import { type TestServer, postJson, postStream, readSse, startTestServer } from "./harness.js";

/** A code model: FIM tokens, and its middle is always this line. */
const MIDDLE = "    return a + b";

describe("/beta, balance, embeddings and log-probabilities", () => {
  let server: TestServer;
  let dir: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "qiusuo-beta-"));
    const coder = path.join(dir, "coder.gguf");
    makeScriptedModel(coder, { script: [MIDDLE], fim: true });
    server = await startTestServer({ models: ["scripted", { file: coder }, "tiny"] });
  });
  after(async () => {
    await server.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("fills in the middle with the model's FIM tokens, with echo and streaming", async () => {
    const body = { model: "coder", prompt: "def add(a, b):\n", suffix: "\n\nprint(add(1, 2))\n" };
    const { status, json } = await postJson(`${server.url}/beta/completions`, body);
    assert.equal(status, 200);
    assert.equal(json.object, "text_completion");
    assert.equal(json.choices[0].text, MIDDLE);
    assert.equal(json.choices[0].finish_reason, "stop");
    assert.equal(json.usage.completion_tokens, 1);
    const echoed = await postJson(`${server.url}/beta/completions`, { ...body, echo: true });
    assert.equal(echoed.json.choices[0].text, body.prompt + MIDDLE);
    const response = await postStream(`${server.url}/beta/completions`, { ...body, stream: true });
    const chunks = (await readSse(response)).filter(
      (chunk): chunk is Record<string, any> => chunk !== "[DONE]",
    );
    assert.equal(chunks.map((chunk) => chunk.choices[0].text).join(""), MIDDLE);
    assert.equal(chunks.at(-1)!.choices[0].finish_reason, "stop");
  });

  it("refuses FIM on a model without FIM tokens with a clear 400", async () => {
    const { status, json } = await postJson(`${server.url}/beta/completions`, {
      model: "tiny",
      prompt: "a",
      suffix: "b",
    });
    assert.equal(status, 400);
    assert.equal(json.error.code, "fim_not_supported");
    assert.match(json.error.message, /no fill-in-the-middle tokens/);
  });

  it("continues an assistant prefix (chat prefix completion) without splitting it", async () => {
    const plain = await postJson(`${server.url}/beta/chat/completions`, {
      model: "scripted",
      messages: [{ role: "user", content: "Q" }],
    });
    const prefixed = await postJson(`${server.url}/beta/chat/completions`, {
      model: "scripted",
      messages: [
        { role: "user", content: "Q" },
        { role: "assistant", content: "So:", prefix: true },
      ],
    });
    assert.equal(prefixed.status, 200);
    // The answer continues after "So:" (the scripted model then writes its script as the answer).
    assert.equal(prefixed.json.choices[0].message.content, "<think> let me think</think>The answer is 42");
    assert.equal(prefixed.json.choices[0].message.reasoning_content, undefined);
    assert.ok(prefixed.json.usage.prompt_tokens < plain.json.usage.prompt_tokens + 3 + 1);
    const misplaced = await postJson(`${server.url}/beta/chat/completions`, {
      model: "scripted",
      messages: [
        { role: "assistant", content: "x", prefix: true },
        { role: "user", content: "Q" },
      ],
    });
    assert.equal(misplaced.status, 422);
    assert.equal(misplaced.json.error.param, "messages.0.prefix");
  });

  it("answers /user/balance in DeepSeek's shape", async () => {
    for (const route of ["/user/balance", "/v1/user/balance"]) {
      const json = (await (await fetch(`${server.url}${route}`)).json()) as Record<string, any>;
      assert.equal(json.is_available, true);
      assert.equal(json.balance_infos[0].currency, "CNY");
      assert.match(json.balance_infos[0].total_balance, /^\d+\.\d\d$/);
    }
  });

  it("returns log-probabilities in DeepSeek's shape", async () => {
    const { json } = await postJson(`${server.url}/v1/chat/completions`, {
      model: "scripted",
      messages: [{ role: "user", content: "Q" }],
      temperature: 0,
      logprobs: true,
      top_logprobs: 2,
    });
    const { logprobs } = json.choices[0];
    const all = [...logprobs.reasoning_content, ...logprobs.content];
    assert.equal(all.length, 4, "one entry per generated token");
    assert.deepEqual(
      all.map((entry: any) => entry.token),
      ["<think>", " let me think", "</think>", "The answer is 42"],
    );
    for (const entry of all) {
      assert.ok(entry.logprob <= 0 && entry.logprob > -0.01, `a near-certain token: ${entry.logprob}`);
      assert.equal(entry.top_logprobs.length, 2);
      assert.equal(entry.top_logprobs[0].token, entry.token);
      assert.deepEqual(entry.bytes, [...Buffer.from(entry.token)]);
    }
    const refused = await postJson(`${server.url}/v1/chat/completions`, {
      model: "scripted",
      messages: [{ role: "user", content: "Q" }],
      logprobs: true,
      top_logprobs: 21,
    });
    assert.equal(refused.status, 422);
  });

  it("embeds text through the openai client", async () => {
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "sk-local", maxRetries: 0 });
    const result = await client.embeddings.create({ model: "tiny", input: ["hello", "world", "hello"] });
    assert.equal(result.data.length, 3);
    const [hello, world, again] = result.data.map((item) => item.embedding);
    assert.equal(hello!.length, 64, "the tiny model's embedding width");
    assert.deepEqual(hello, again);
    assert.notDeepEqual(hello, world);
    assert.ok(result.usage.prompt_tokens >= 10);
  });
});
