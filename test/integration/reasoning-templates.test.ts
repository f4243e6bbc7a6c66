import assert from "node:assert/strict";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { makeScriptedModel } from "../fixtures/models.js";
import { postJson, startTestServer, type TestServer } from "./harness.js";

/**
 * Newer DeepSeek-R1 distill templates end the prompt with `<think>\n`, so the model's output
 * starts inside the reasoning and only closes it. This fixture does the same, with `<think>` and
 * `</think>` as single vocabulary tokens like the real GGUFs.
 */
const OPENS_THINK_TEMPLATE =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n<think>\\n' }}{% endif %}";

describe("reasoning with a template that opens <think> itself", () => {
  let server: TestServer;
  let dir: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "qiusuo-think-"));
    const file = path.join(dir, "opens-think.gguf");
    makeScriptedModel(file, {
      script: [" I reason", "</think>", "Done"],
      scriptTokenType: "user-defined",
      extraSpecialTokens: ["<think>"],
      chatTemplate: OPENS_THINK_TEMPLATE,
    });
    // Gemma-style templates refuse a system message with raise_exception.
    const strict = path.join(dir, "strict-template.gguf");
    makeScriptedModel(strict, {
      script: ["ok"],
      chatTemplate:
        "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}" +
        "{% for message in messages %}{{ message['content'] }}{% endfor %}",
    });
    server = await startTestServer({ models: [{ file }, { file: strict }] });
  });
  after(async () => {
    await server.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("splits reasoning that began in the prompt", async () => {
    const { json } = await postJson(`${server.url}/v1/chat/completions`, {
      model: "deepseek-reasoner",
      messages: [{ role: "user", content: "Q" }],
    });
    assert.deepEqual(json.choices[0].message, {
      role: "assistant",
      content: "Done",
      reasoning_content: "I reason",
    });
    assert.equal(json.usage.completion_tokens, 3);
    assert.equal(json.usage.completion_tokens_details.reasoning_tokens, 2);
  });

  it("with thinking disabled, closes an empty reasoning block in the prompt", async () => {
    const body = { messages: [{ role: "user", content: "Q" }], max_tokens: 1 };
    const thinking = await postJson(`${server.url}/v1/chat/completions`, {
      ...body,
      model: "deepseek-reasoner",
    });
    const direct = await postJson(`${server.url}/v1/chat/completions`, { ...body, model: "deepseek-chat" });
    const explicit = await postJson(`${server.url}/v1/chat/completions`, {
      ...body,
      model: "deepseek-reasoner",
      thinking: { type: "disabled" },
    });
    // "\n\n</think>\n\n": two newlines, the tag token, two newlines.
    assert.equal(direct.json.usage.prompt_tokens - thinking.json.usage.prompt_tokens, 5);
    assert.equal(explicit.json.usage.prompt_tokens, direct.json.usage.prompt_tokens);
    // Outside the reasoning, the model's text is the answer.
    assert.equal(direct.json.choices[0].message.content, "I reason");
    assert.equal(direct.json.choices[0].message.reasoning_content, undefined);
  });

  it("answers 400, not 500, when the template refuses the conversation", async () => {
    const refused = await postJson(`${server.url}/v1/chat/completions`, {
      model: "strict-template",
      messages: [
        { role: "system", content: "S" },
        { role: "user", content: "Q" },
      ],
    });
    assert.equal(refused.status, 400);
    assert.equal(refused.json.error.code, "chat_template_error");
    assert.match(refused.json.error.message, /System role not supported/);
    const accepted = await postJson(`${server.url}/v1/chat/completions`, {
      model: "strict-template",
      messages: [{ role: "user", content: "Q" }],
    });
    assert.equal(accepted.json.choices[0].message.content, "ok");
  });
});
