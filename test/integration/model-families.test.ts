// Every popular model family speaks properly: scripted models that carry each family's real chat
// template and special tokens, and write its exact markup, come back through the APIs and the app
// with their reasoning, answer and tool calls split out; DeepThink switches the templates that
// take a thinking variable; reasoning effort is a thinking budget the engine enforces.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import { getLlama, type Llama, type LlamaModel } from "node-llama-cpp";
import OpenAI from "openai";
import type { ChatCompletionCreateParamsNonStreaming } from "openai/resources/chat/completions";
import type { ChatMessage } from "../../src/core/chat.js";
import { PromptRenderer } from "../../src/engines/local/prompt.js";
import { readVocabulary } from "../../src/engines/local/vocabulary.js";
import { ensureFamilyModels, FAMILY_FIXTURES, type FamilyFixtureName } from "../fixtures/family-models.js";
import { AppClient, postJson, startTestServer, type TestServer } from "./harness.js";

const PARAMETERS = { type: "object", properties: { city: { type: "string" } }, required: ["city"] };
const TOOLS: OpenAI.Chat.Completions.ChatCompletionTool[] = [
  {
    type: "function",
    function: { name: "get_weather", description: "The weather in a city", parameters: PARAMETERS },
  },
];
const CALLING: FamilyFixtureName[] = [
  "qwen3",
  "deepseek-r1",
  "deepseek-v3.1",
  "gpt-oss",
  "mistral",
  "llama3",
];
const model = (name: FamilyFixtureName) => `family-${name}`;
const question = (name: FamilyFixtureName) =>
  ({
    model: model(name),
    messages: [{ role: "user", content: "What is the weather in Paris?" }],
    tools: TOOLS,
    // DeepSeek's switch; V3.1's template opens the reasoning only when told.
    thinking: { type: "enabled" },
  }) as ChatCompletionCreateParamsNonStreaming;

describe("model families through the APIs", () => {
  let server: TestServer;
  let openai: OpenAI;
  before(async () => {
    const paths = ensureFamilyModels();
    const files = (Object.keys(paths) as FamilyFixtureName[]).map((name) => ({ file: paths[name] }));
    server = await startTestServer({ models: files, engine: { contextSize: 2048 } });
    openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "sk-local", maxRetries: 0 });
  });
  after(() => server.close());

  for (const name of CALLING) {
    const { expected } = FAMILY_FIXTURES[name];

    it(`${name}: reasoning, answer and tool call from /v1/chat/completions`, async () => {
      const completion = await openai.chat.completions.create(question(name));
      const choice = completion.choices[0]!;
      const message = choice.message as typeof choice.message & { reasoning_content?: string };
      assert.equal(message.reasoning_content ?? "", expected.reasoning);
      assert.equal((message.content ?? "").trim(), expected.content);
      assert.equal(choice.finish_reason, "tool_calls");
      assert.equal(message.tool_calls?.length, 1);
      const call = message.tool_calls![0]!;
      assert.equal(call.type === "function" && call.function.name, expected.call!.name);
      assert.deepEqual(
        call.type === "function" && JSON.parse(call.function.arguments),
        expected.call!.arguments,
      );
    });

    it(`${name}: the same, streamed, with the arguments in several deltas`, async () => {
      const stream = await openai.chat.completions.create({ ...question(name), stream: true });
      let reasoning = "";
      let content = "";
      let finish: string | null = null;
      const calls: Array<{ name: string; arguments: string; deltas: number }> = [];
      for await (const chunk of stream) {
        const choice = chunk.choices[0];
        if (!choice) continue;
        const delta = choice.delta as typeof choice.delta & { reasoning_content?: string };
        reasoning += delta.reasoning_content ?? "";
        content += delta.content ?? "";
        for (const call of delta.tool_calls ?? []) {
          calls[call.index] ??= { name: "", arguments: "", deltas: 0 };
          calls[call.index]!.name += call.function?.name ?? "";
          if (call.function?.arguments) {
            calls[call.index]!.arguments += call.function.arguments;
            calls[call.index]!.deltas++;
          }
        }
        finish = choice.finish_reason ?? finish;
      }
      assert.equal(reasoning, expected.reasoning);
      assert.equal(content.trim(), expected.content);
      assert.equal(finish, "tool_calls");
      assert.equal(calls.length, 1);
      assert.equal(calls[0]!.name, expected.call!.name);
      assert.deepEqual(JSON.parse(calls[0]!.arguments), expected.call!.arguments);
      assert.ok(calls[0]!.deltas >= 2, `${calls[0]!.deltas} argument deltas`);
    });
  }

  it("gpt-oss: a thinking block, a text block and a tool_use block from /v1/messages", async () => {
    const anthropic = new Anthropic({
      baseURL: `${server.url}/anthropic`,
      apiKey: "sk-local",
      maxRetries: 0,
    });
    const message = await anthropic.messages.create({
      model: model("gpt-oss"),
      max_tokens: 200,
      messages: [{ role: "user", content: "What is the weather in Paris?" }],
      tools: [{ name: "get_weather", input_schema: PARAMETERS as never }],
      thinking: { type: "enabled", budget_tokens: 1024 },
    });
    const { expected } = FAMILY_FIXTURES["gpt-oss"];
    assert.deepEqual(
      message.content.map((block) => block.type),
      ["thinking", "text", "tool_use"],
    );
    const [thinking, text, call] = message.content;
    assert.equal(thinking?.type === "thinking" && thinking.thinking, expected.reasoning);
    assert.equal(text?.type === "text" && text.text, expected.content);
    assert.equal(call?.type === "tool_use" && call.name, "get_weather");
    assert.deepEqual(call?.type === "tool_use" && call.input, expected.call!.arguments);
    assert.equal(message.stop_reason, "tool_use");
  });

  it("mistral: the app's chat turn shows [THINK] as reasoning and keeps markup out of the answer", async () => {
    const client = new AppClient(server.url);
    const conversation = (await client.request("POST", "/api/conversations", {})).json;
    const { status, events } = await client.send(conversation.id, {
      parentId: null,
      content: "Hello",
      model: model("mistral"),
      thinking: true,
    });
    assert.equal(status, 200);
    const done = events.find((event) => event.event === "done")!;
    assert.equal(done.data.status, "complete");
    assert.equal(done.data.reasoning, FAMILY_FIXTURES.mistral.expected.reasoning);
    // The app offers no tools here, so the call stays text; the reasoning markers never show.
    assert.ok(done.data.content.startsWith("Let me check."), done.data.content);
    assert.ok(!done.data.content.includes("[THINK]") && !done.data.content.includes("[/THINK]"));
  });

  it("reasoning_effort low closes a long reasoning at its budget, and the model answers after it", async () => {
    const completion = await openai.chat.completions.create({
      model: model("qwen3-long-thought"),
      messages: [{ role: "user", content: "Think hard." }],
      reasoning_effort: "low",
    });
    const message = completion.choices[0]!.message as OpenAI.Chat.Completions.ChatCompletionMessage & {
      reasoning_content?: string;
    };
    const steps = message.reasoning_content!.split(" ");
    // `<think>` is the first of the 512 reasoning tokens; the engine's `</think>` ends the block.
    assert.equal(steps.length, 511);
    assert.equal(steps.at(-1), "step510");
    assert.equal(message.content, "Done.");
    assert.equal(completion.usage!.completion_tokens_details!.reasoning_tokens, 512 + 2);
  });

  it("Anthropic budget_tokens is the same budget, streamed", async () => {
    const anthropic = new Anthropic({
      baseURL: `${server.url}/anthropic`,
      apiKey: "sk-local",
      maxRetries: 0,
    });
    const stream = anthropic.messages.stream({
      model: model("qwen3-long-thought"),
      max_tokens: 100,
      messages: [{ role: "user", content: "Think hard." }],
      thinking: { type: "enabled", budget_tokens: 5 },
    });
    const message = await stream.finalMessage();
    const [thinking, text] = message.content;
    assert.equal(thinking?.type === "thinking" && thinking.thinking, "step0 step1 step2 step3");
    assert.equal(text?.type === "text" && text.text, "Done.");
    assert.equal(message.stop_reason, "end_turn");
  });

  it("gpt-oss: a spent budget ends the analysis channel and opens final, where the model goes on", async () => {
    const anthropic = new Anthropic({
      baseURL: `${server.url}/anthropic`,
      apiKey: "sk-local",
      maxRetries: 0,
    });
    const message = await anthropic.messages.create({
      model: model("gpt-oss"),
      max_tokens: 100,
      messages: [{ role: "user", content: "What is the weather in Paris?" }],
      tools: [{ name: "get_weather", input_schema: PARAMETERS as never }],
      thinking: { type: "enabled", budget_tokens: 1 },
    });
    // The engine wrote `<|end|><|start|>assistant<|channel|>final<|message|>` after the first
    // reasoning token, so what the model wrote next is the answer, not the analysis.
    const text = message.content.filter((block) => block.type === "text").map((block) => block.text);
    assert.ok(text.join("").startsWith("The user asks about Paris."), text.join(""));
    const thinking = message.content.filter((block) => block.type === "thinking");
    assert.ok(thinking.every((block) => block.thinking === ""));
    assert.ok(message.content.some((block) => block.type === "tool_use" && block.name === "get_weather"));
  });

  it("Ollama's think level is the same budget", async () => {
    const { json } = await postJson(`${server.url}/api/chat`, {
      model: model("qwen3-long-thought"),
      messages: [{ role: "user", content: "Think hard." }],
      think: "low",
      stream: false,
    });
    assert.equal(json.message.thinking.split(" ").length, 511);
    assert.equal(json.message.content, "Done.");
  });

  it("without a budget the reasoning runs to the model's own end", async () => {
    const completion = await openai.chat.completions.create({
      model: model("qwen3-long-thought"),
      messages: [{ role: "user", content: "Think hard." }],
    });
    const message = completion.choices[0]!.message as { reasoning_content?: string; content: string | null };
    assert.equal(message.reasoning_content, FAMILY_FIXTURES["qwen3-long-thought"].expected.reasoning);
    assert.equal(message.content, "Done.");
  });
});

describe("DeepThink switches the templates' thinking variables", () => {
  let llama: Llama;
  const models: LlamaModel[] = [];
  before(async () => {
    llama = await getLlama({ gpu: false });
  });
  after(async () => {
    for (const loaded of models) await loaded.dispose();
    await llama.dispose();
  });

  async function renderer(name: FamilyFixtureName) {
    const loaded = await llama.loadModel({ modelPath: ensureFamilyModels()[name] });
    models.push(loaded);
    const prompts = new PromptRenderer(loaded, await readVocabulary(loaded));
    const messages: ChatMessage[] = [{ role: "user", content: "Hi" }];
    return async (thinking: boolean | undefined, thinkingBudget?: number) => {
      const prompt = await prompts.render({
        messages,
        tools: [],
        thinking,
        ...(thinkingBudget === undefined ? {} : { thinkingBudget }),
      });
      return { text: loaded.detokenize(prompt.tokens, true), startsIn: prompt.startsIn };
    };
  }

  it("Qwen3: enable_thinking=false closes an empty reasoning block, once", async () => {
    const render = await renderer("qwen3");
    const on = await render(true);
    const off = await render(false);
    assert.ok(on.text.endsWith("<|im_start|>assistant\n"), on.text);
    assert.ok(off.text.endsWith("<|im_start|>assistant\n<think>\n\n</think>\n\n"), off.text);
    assert.equal(off.text.split("<think>").length, 2, "the block is not written twice");
  });

  it("DeepSeek V3.1: thinking opens <think> when on and closes it when off", async () => {
    const render = await renderer("deepseek-v3.1");
    const on = await render(true);
    const off = await render(false);
    assert.ok(on.text.endsWith("<｜Assistant｜><think>"), on.text);
    assert.equal(on.startsIn, "reasoning");
    assert.ok(off.text.endsWith("<｜Assistant｜></think>"), off.text);
    assert.notEqual(off.startsIn, "reasoning");
  });

  it("gpt-oss: DeepThink off asks for the lowest reasoning effort, a budget for its level", async () => {
    const render = await renderer("gpt-oss");
    assert.ok((await render(false)).text.includes("Reasoning: low"));
    assert.ok((await render(true)).text.includes("Reasoning: medium"));
    // A thinking budget is told as the effort level it fits in (reasoning_effort high: 8,192).
    assert.ok((await render(true, 8192)).text.includes("Reasoning: high"));
    assert.ok((await render(true, 512)).text.includes("Reasoning: low"));
  });

  it("Mistral Small 3.1: the template's continued lines render", async () => {
    const render = await renderer("mistral");
    const text = (await render(undefined)).text;
    assert.ok(text.includes("[INST]Hi[/INST]"), text);
    assert.ok(text.includes("headquartered in Paris.Your knowledge base"), text);
  });
});
