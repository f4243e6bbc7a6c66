import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { startTestServer, type TestServer } from "./harness.js";

/** The official `openai` npm client, used unchanged against qiusuo. */
describe("the openai npm client", () => {
  let server: TestServer;
  let client: OpenAI;
  before(async () => {
    server = await startTestServer();
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "sk-local", maxRetries: 0 });
  });
  after(() => server.close());

  it("gets a non-streaming completion with DeepSeek's reasoning_content", async () => {
    const completion = await client.chat.completions.create({
      model: "deepseek-reasoner",
      messages: [{ role: "user", content: "What is the answer?" }],
    });
    const message = completion.choices[0]!.message as (typeof completion.choices)[0]["message"] & {
      reasoning_content?: string;
    };
    assert.equal(message.content, "The answer is 42");
    assert.equal(message.reasoning_content, "let me think");
    assert.equal(completion.usage?.completion_tokens, 4);
  });

  it("streams, and the deltas add up", async () => {
    const stream = await client.chat.completions.create({
      model: "scripted",
      messages: [{ role: "user", content: "Q" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let content = "";
    let reasoning = "";
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta as
        { content?: string | null; reasoning_content?: string } | undefined;
      content += delta?.content ?? "";
      reasoning += delta?.reasoning_content ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
      usage = chunk.usage ?? usage;
    }
    assert.equal(content, "The answer is 42");
    assert.equal(reasoning, "let me think");
    assert.equal(finish, "stop");
    assert.equal(usage?.completion_tokens, 4);
  });

  it("lists models", async () => {
    const ids: string[] = [];
    for await (const model of client.models.list()) ids.push(model.id);
    assert.deepEqual(ids, ["scripted", "deepseek-chat", "deepseek-reasoner"]);
  });

  it("raises a typed error for an unknown model", async () => {
    await assert.rejects(
      client.chat.completions.create({ model: "nope", messages: [{ role: "user", content: "Q" }] }),
      (error: unknown) => {
        assert.ok(error instanceof OpenAI.BadRequestError);
        assert.match(error.message, /'nope' does not exist/);
        return true;
      },
    );
  });
});
