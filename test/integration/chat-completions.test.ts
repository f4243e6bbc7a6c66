import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type TestServer, postJson, postStream, readSse, startTestServer } from "./harness.js";

const user = (content: string) => [{ role: "user", content }];

describe("POST /chat/completions with the scripted model", () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ models: ["scripted", "tiny"] });
  });
  after(() => server.close());

  it("returns exactly the script, with the reasoning split out and exact usage", async () => {
    const { status, json } = await postJson(`${server.url}/chat/completions`, {
      model: "deepseek-reasoner",
      messages: user("What is the answer?"),
    });
    assert.equal(status, 200);
    assert.equal(json.object, "chat.completion");
    assert.equal(json.model, "deepseek-reasoner");
    const [choice] = json.choices;
    assert.deepEqual(choice.message, {
      role: "assistant",
      content: "The answer is 42",
      reasoning_content: "let me think",
    });
    assert.equal(choice.finish_reason, "stop");
    assert.equal(json.usage.completion_tokens, 4, "four script tokens, end-of-generation not counted");
    assert.equal(json.usage.completion_tokens_details.reasoning_tokens, 3);
    assert.ok(json.usage.prompt_tokens > 0);
    assert.equal(
      json.usage.prompt_cache_hit_tokens + json.usage.prompt_cache_miss_tokens,
      json.usage.prompt_tokens,
    );
    assert.equal(json.usage.total_tokens, json.usage.prompt_tokens + 4);
  });

  it("counts prompt tokens exactly: one more character of user text is one more byte token", async () => {
    const short = await postJson(`${server.url}/v1/chat/completions`, {
      model: "scripted",
      messages: user("ab"),
    });
    const long = await postJson(`${server.url}/v1/chat/completions`, {
      model: "scripted",
      messages: user("abc"),
    });
    assert.equal(long.json.usage.prompt_tokens - short.json.usage.prompt_tokens, 1);
  });

  it("serves the model by its file name and under /v1, with several turns and a system prompt", async () => {
    const { status, json } = await postJson(`${server.url}/v1/chat/completions`, {
      model: "scripted",
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "Hi" },
        { role: "assistant", content: "Hello", reasoning_content: "greet back" },
        { role: "user", content: "What is the answer?" },
      ],
    });
    assert.equal(status, 200);
    assert.equal(json.choices[0].message.content, "The answer is 42");
  });

  it("streams chunks that reassemble to the non-streaming answer", async () => {
    const response = await postStream(`${server.url}/v1/chat/completions`, {
      model: "scripted",
      messages: user("Q"),
      stream: true,
      stream_options: { include_usage: true },
    });
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /text\/event-stream/);
    const events = await readSse(response);
    assert.equal(events.at(-1), "[DONE]");
    const chunks = events.filter((event): event is Record<string, any> => event !== "[DONE]");
    assert.deepEqual(chunks[0]!.choices[0].delta, { role: "assistant", content: "" });
    assert.ok(
      chunks.every((chunk) => chunk.id === chunks[0]!.id && chunk.object === "chat.completion.chunk"),
    );
    const reasoning = chunks.map((chunk) => chunk.choices[0].delta.reasoning_content ?? "").join("");
    const content = chunks.map((chunk) => chunk.choices[0].delta.content ?? "").join("");
    assert.equal(reasoning, "let me think");
    assert.equal(content, "The answer is 42");
    const last = chunks.at(-1)!;
    assert.equal(last.choices[0].finish_reason, "stop");
    assert.equal(last.usage.completion_tokens, 4);
    assert.equal(last.usage.completion_tokens_details.reasoning_tokens, 3);
    assert.ok(
      chunks.slice(0, -1).every((chunk) => chunk.usage === null),
      "usage is null until the last chunk",
    );
  });

  it("ends at a stop sequence without returning it", async () => {
    const { json } = await postJson(`${server.url}/chat/completions`, {
      model: "scripted",
      messages: user("Q"),
      stop: ["is 42", "never"],
    });
    assert.equal(json.choices[0].message.content, "The answer ");
    assert.equal(json.choices[0].finish_reason, "stop");
    const single = await postJson(`${server.url}/chat/completions`, {
      model: "scripted",
      messages: user("Q"),
      stop: "me",
    });
    assert.equal(single.json.choices[0].message.reasoning_content, "let");
    assert.equal(single.json.choices[0].message.content, "");
  });

  it("stops streaming at a stop sequence too", async () => {
    const response = await postStream(`${server.url}/chat/completions`, {
      model: "scripted",
      messages: user("Q"),
      stop: ["answer"],
      stream: true,
    });
    const chunks = (await readSse(response)).filter(
      (event): event is Record<string, any> => event !== "[DONE]",
    );
    assert.equal(chunks.map((chunk) => chunk.choices[0].delta.content ?? "").join(""), "The ");
  });

  it("reports length when max_tokens is reached", async () => {
    const { json } = await postJson(`${server.url}/chat/completions`, {
      model: "scripted",
      messages: user("Q"),
      max_tokens: 2,
    });
    assert.equal(json.choices[0].finish_reason, "length");
    assert.equal(json.usage.completion_tokens, 2);
    assert.equal(json.choices[0].message.reasoning_content, "let me think");
    assert.equal(json.choices[0].message.content, "");
  });

  it("is reproducible with a seed on a random-weight model", async () => {
    const body = { model: "tiny", messages: user("seeded"), max_tokens: 24, temperature: 1, seed: 1234 };
    const first = await postJson(`${server.url}/chat/completions`, body);
    const second = await postJson(`${server.url}/chat/completions`, body);
    assert.equal(first.status, 200);
    assert.equal(
      first.json.usage.completion_tokens + first.json.usage.prompt_tokens,
      first.json.usage.total_tokens,
    );
    assert.equal(
      first.json.choices[0].message.content + (first.json.choices[0].message.reasoning_content ?? ""),
      second.json.choices[0].message.content + (second.json.choices[0].message.reasoning_content ?? ""),
    );
  });

  it("lists models with DeepSeek's aliases", async () => {
    for (const path of ["/models", "/v1/models"]) {
      const response = await fetch(`${server.url}${path}`);
      const json = (await response.json()) as { object: string; data: Array<{ id: string; object: string }> };
      assert.equal(json.object, "list");
      assert.deepEqual(
        json.data.map((model) => model.id),
        ["scripted", "tiny", "deepseek-chat", "deepseek-reasoner"],
      );
    }
  });

  it("answers /health with ok once the model is ready", async () => {
    const response = await fetch(`${server.url}/health`);
    assert.equal(response.status, 200);
    assert.equal(((await response.json()) as { status: string }).status, "ok");
  });
});
