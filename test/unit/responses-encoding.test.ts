// The Responses API's pure parts: how core events become stream events (a failure mid-stream
// included, which the real engine cannot be made to produce on demand), and how input items
// become the core conversation.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ChatEvent } from "../../src/core/chat.js";
import { QiusuoError } from "../../src/core/errors.js";
import { itemsToMessages, type Item } from "../../src/protocol/responses/items.js";
import { parseResponseRequest } from "../../src/protocol/responses/request.js";
import {
  newResponse,
  ResponseEventEncoder,
  streamResponse,
  type ResponseStreamEvent,
} from "../../src/protocol/responses/response.js";

const usage = { promptTokens: 10, promptCacheHitTokens: 0, completionTokens: 2, reasoningTokens: 0 };

async function encoderFor(body: Record<string, unknown> = {}) {
  return new ResponseEventEncoder(
    newResponse(await parseResponseRequest({ model: "m", input: "hi", ...body })),
  );
}

function parseSse(chunks: string[]): ResponseStreamEvent[] {
  return chunks
    .join("")
    .split("\n\n")
    .filter((block) => block.startsWith("event: "))
    .map((block) => JSON.parse(block.split("\n")[1]!.slice("data: ".length)) as ResponseStreamEvent);
}

describe("Responses stream encoding", () => {
  it("closes the open item and ends with error and response.failed when the engine fails", async () => {
    const encoder = await encoderFor();
    async function* failing(): AsyncGenerator<ChatEvent> {
      yield { type: "text-delta", text: "Hel" };
      throw new Error("engine crashed: secret detail");
    }
    const chunks: string[] = [];
    for await (const chunk of streamResponse(encoder, failing(), async () => {})) chunks.push(chunk);
    const events = parseSse(chunks);
    assert.deepEqual(
      events.map((event) => event.type),
      [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "error",
        "response.failed",
      ],
    );
    assert.deepEqual(
      events.map((event) => event.sequence_number),
      events.map((_, index) => index),
    );
    const error = events.at(-2)!;
    assert.equal(error.code, "server_error");
    assert.doesNotMatch(String(error.message), /secret/, "internals never reach the client");
    const failed = events.at(-1)!.response as ReturnType<typeof newResponse>;
    assert.equal(failed.status, "failed");
    assert.deepEqual(failed.error, { code: "server_error", message: error.message });
    assert.equal(failed.output[0]?.status, "incomplete");
    assert.ok(!chunks.join("").includes("[DONE]"));
  });

  it("reports a typed error by its own code", async () => {
    const encoder = await encoderFor();
    encoder.start();
    const events = encoder.fail(new QiusuoError("unavailable", "model_loading", "The model is loading."));
    assert.deepEqual(events[0], {
      type: "error",
      sequence_number: 2,
      code: "model_loading",
      message: "The model is loading.",
      param: null,
    });
  });

  it("stores the response before its last event goes out", async () => {
    const encoder = await encoderFor();
    const order: string[] = [];
    async function* events(): AsyncGenerator<ChatEvent> {
      yield { type: "text-delta", text: "Hi" };
      yield { type: "finish", finishReason: "stop", usage };
    }
    for await (const chunk of streamResponse(encoder, events(), async (response) => {
      order.push(`saved ${response.status}`);
    })) {
      order.push(chunk.split("\n")[0]!);
    }
    assert.deepEqual(order.slice(-5), [
      "saved completed",
      "event: response.output_text.done",
      "event: response.content_part.done",
      "event: response.output_item.done",
      "event: response.completed",
    ]);
  });

  it("gives each tool call its own item and streams its arguments", async () => {
    const encoder = await encoderFor();
    encoder.start();
    const events = [
      { type: "tool-call-start", index: 0, id: "call_a", name: "f" },
      { type: "tool-call-delta", index: 0, argumentsDelta: '{"x":' },
      { type: "tool-call-delta", index: 0, argumentsDelta: "1}" },
      { type: "tool-call-start", index: 1, id: "call_b", name: "g" },
      { type: "finish", finishReason: "tool_calls", usage },
    ] satisfies ChatEvent[];
    const out = events.flatMap((event) => encoder.push(event));
    const done = out.filter((event) => event.type === "response.function_call_arguments.done");
    assert.deepEqual(
      done.map((event) => [event.output_index, event.name, event.arguments]),
      [
        [0, "f", '{"x":1}'],
        [1, "g", ""],
      ],
    );
    assert.deepEqual(
      encoder.response.output.map((item) => item.type === "function_call" && item.call_id),
      ["call_a", "call_b"],
    );
    assert.equal(encoder.response.status, "completed");
  });
});

describe("Responses input items as a conversation", () => {
  it("makes one assistant turn of reasoning, text and calls, and tool messages of outputs", () => {
    const items: Item[] = [
      {
        type: "message",
        id: "m1",
        role: "developer",
        status: "completed",
        content: [{ type: "input_text", text: "Be brief." }],
      },
      {
        type: "message",
        id: "m2",
        role: "user",
        status: "completed",
        content: [{ type: "input_text", text: "Weather?" }],
      },
      {
        type: "reasoning",
        id: "r1",
        summary: [{ type: "summary_text", text: "short" }],
        content: [],
        status: "completed",
      },
      {
        type: "message",
        id: "m3",
        role: "assistant",
        status: "completed",
        content: [{ type: "output_text", text: "Checking.", annotations: [] }],
      },
      {
        type: "function_call",
        id: "f1",
        call_id: "call_1",
        name: "get_weather",
        arguments: "{}",
        status: "completed",
      },
      { type: "function_call_output", id: "o1", call_id: "call_1", output: "sunny", status: "completed" },
    ];
    assert.deepEqual(itemsToMessages(items), [
      { role: "system", content: "Be brief." },
      { role: "user", content: "Weather?" },
      {
        role: "assistant",
        content: "Checking.",
        reasoning: "short",
        toolCalls: [{ id: "call_1", name: "get_weather", arguments: "{}" }],
      },
      { role: "tool", toolCallId: "call_1", content: "sunny" },
    ]);
  });
});
