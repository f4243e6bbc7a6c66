// The API clients of the mix: DeepSeek/OpenAI chat completions (plain, streamed, aborted, with
// tools, in JSON modes, back to back), Anthropic messages and embeddings. Each checks the answer
// word for word against what the fixture models always say.
import { isDeepStrictEqual } from "node:util";
import type { Client } from "./client.js";
import { parseJson, sseEvents } from "./exchange.js";
import { badResponse, errorInStream, type Check, type Verdict } from "./outcome.js";
import {
  CHAT_ANSWER,
  JSON_ANSWER,
  JSON_SCHEMA,
  MODELS,
  TOOL_ARGUMENTS,
  WEATHER_TOOL,
} from "./soak-models.js";
import type { Sent } from "./target.js";

const CHAT_PATH = "/v1/chat/completions";
/** Back-to-back requests of one `burst`. */
const BURST_LENGTH = 5;

/** What a DeepSeek answer, plain or streamed, came to. */
interface ChatAnswer {
  content: string;
  toolName: string | undefined;
  toolArguments: string;
  finishReason: string | undefined;
}

/** Reads a DeepSeek answer into one shape; a Verdict when it is broken or carries an error. */
function readChat(sent: Sent, stream: boolean): ChatAnswer | Verdict {
  if (!stream) {
    const json = parseJson(sent.body);
    if (json?.error) return errorInStream(`200 with an error body: ${JSON.stringify(json.error)}`);
    const choice = json?.choices?.[0];
    if (!choice) return badResponse("no choices[0]");
    const call = choice.message?.tool_calls?.[0]?.function;
    return {
      content: choice.message?.content ?? "",
      toolName: call?.name,
      toolArguments: call?.arguments ?? "",
      finishReason: choice.finish_reason,
    };
  }
  if (!String(sent.headers["content-type"]).startsWith("text/event-stream")) {
    return badResponse(`stream answered as ${sent.headers["content-type"]}`);
  }
  const events = sseEvents(sent.body);
  const answer: ChatAnswer = { content: "", toolName: undefined, toolArguments: "", finishReason: undefined };
  for (const { data } of events) {
    if (data === "[DONE]") continue;
    const chunk = parseJson(data);
    if (chunk?.error) return errorInStream(JSON.stringify(chunk.error));
    const choice = chunk?.choices?.[0];
    if (!choice) return badResponse(`a chunk without choices: ${data.slice(0, 200)}`);
    answer.content += choice.delta?.content ?? "";
    for (const call of choice.delta?.tool_calls ?? []) {
      answer.toolName ??= call.function?.name;
      answer.toolArguments += call.function?.arguments ?? "";
    }
    answer.finishReason ??= choice.finish_reason ?? undefined;
  }
  if (events.at(-1)?.data !== "[DONE]") return badResponse("the stream did not end with [DONE]");
  return answer;
}

function expectText(stream: boolean, expected: (content: string) => boolean): Check {
  return (sent) => {
    const answer = readChat(sent, stream);
    if ("outcome" in answer) return answer;
    if (answer.finishReason !== "stop") return badResponse(`finish_reason ${answer.finishReason}`);
    if (!expected(answer.content)) return badResponse(`content ${JSON.stringify(answer.content)}`);
    return undefined;
  };
}

const expectAnswer = (stream: boolean) => expectText(stream, (content) => content === CHAT_ANSWER);

const expectJson = (stream: boolean) =>
  expectText(stream, (content) => isDeepStrictEqual(parseJson(content), JSON_ANSWER));

function expectToolCall(stream: boolean): Check {
  return (sent) => {
    const answer = readChat(sent, stream);
    if ("outcome" in answer) return answer;
    if (answer.finishReason !== "tool_calls") return badResponse(`finish_reason ${answer.finishReason}`);
    if (answer.toolName !== WEATHER_TOOL.function.name) return badResponse(`tool ${answer.toolName}`);
    if (!isDeepStrictEqual(parseJson(answer.toolArguments), TOOL_ARGUMENTS)) {
      return badResponse(`arguments ${answer.toolArguments}`);
    }
    return undefined;
  };
}

function chatBody(client: Client, stream: boolean, extra: Record<string, unknown> = {}) {
  return {
    model: MODELS.chat,
    messages: [{ role: "user", content: client.question() }],
    stream,
    ...(stream && client.random() < 0.5 ? { stream_options: { include_usage: true } } : {}),
    ...extra,
  };
}

export async function chat(client: Client): Promise<void> {
  const body = chatBody(client, false, client.random() < 0.3 ? { temperature: 0, seed: 7 } : {});
  await client.call("chat", "plain", { method: "POST", path: CHAT_PATH, body }, expectAnswer(false));
}

export async function chatStream(client: Client): Promise<void> {
  const body = chatBody(client, true);
  await client.call("chat-stream", "stream", { method: "POST", path: CHAT_PATH, body }, expectAnswer(true));
}

/** A client that goes away: after the first streamed chunk, or at a random moment (maybe still queued). */
export async function chatAbort(client: Client): Promise<void> {
  const afterChunk = client.random() < 0.5;
  const body = chatBody(client, true);
  await client.call(
    "chat-abort",
    afterChunk ? "after-first-chunk" : "after-timer",
    {
      method: "POST",
      path: CHAT_PATH,
      body,
      ...(afterChunk
        ? { abortWhen: (text: string) => text.includes("\n\n") }
        : { abortAfterMs: Math.floor(client.random() * 60) }),
    },
    expectAnswer(true),
  );
}

export async function tools(client: Client): Promise<void> {
  const stream = client.random() < 0.5;
  const choice = client.pick(["auto", "required", "named"] as const);
  const toolChoice =
    choice === "named" ? { type: "function", function: { name: WEATHER_TOOL.function.name } } : choice;
  const body = {
    model: MODELS.tools,
    messages: [{ role: "user", content: `${client.question()} And the weather in Paris?` }],
    tools: [WEATHER_TOOL],
    tool_choice: toolChoice,
    stream,
  };
  const variant = `${choice}${stream ? "/stream" : ""}`;
  await client.call("tools", variant, { method: "POST", path: CHAT_PATH, body }, expectToolCall(stream));
}

export async function jsonObject(client: Client): Promise<void> {
  const stream = client.random() < 0.5;
  const body = {
    model: MODELS.json,
    messages: [{ role: "user", content: `${client.question()} Answer in JSON.` }],
    response_format: { type: "json_object" },
    stream,
  };
  const variant = stream ? "stream" : "plain";
  await client.call("json-object", variant, { method: "POST", path: CHAT_PATH, body }, expectJson(stream));
}

export async function jsonSchema(client: Client): Promise<void> {
  const stream = client.random() < 0.5;
  const body = {
    model: MODELS.json,
    messages: [{ role: "user", content: `${client.question()} The weather as JSON.` }],
    response_format: {
      type: "json_schema",
      json_schema: { name: "weather", schema: JSON_SCHEMA, strict: client.random() < 0.5 },
    },
    stream,
  };
  const variant = stream ? "stream" : "plain";
  await client.call("json-schema", variant, { method: "POST", path: CHAT_PATH, body }, expectJson(stream));
}

function expectAnthropic(stream: boolean): Check {
  return (sent) => {
    if (!stream) {
      const json = parseJson(sent.body);
      if (json?.type === "error")
        return errorInStream(`200 with an error body: ${JSON.stringify(json.error)}`);
      const text = (json?.content ?? []).find((block: any) => block.type === "text")?.text;
      if (text !== CHAT_ANSWER) return badResponse(`text ${JSON.stringify(text)}`);
      if (json.stop_reason !== "end_turn") return badResponse(`stop_reason ${json.stop_reason}`);
      return undefined;
    }
    const events = sseEvents(sent.body);
    const error = events.find((event) => event.event === "error");
    if (error) return errorInStream(error.data);
    const text = events
      .filter((event) => event.event === "content_block_delta")
      .map((event) => parseJson(event.data)?.delta)
      .filter((delta) => delta?.type === "text_delta")
      .map((delta) => delta.text as string)
      .join("");
    if (!events.some((event) => event.event === "message_stop")) return badResponse("no message_stop");
    if (text !== CHAT_ANSWER) return badResponse(`text ${JSON.stringify(text)}`);
    return undefined;
  };
}

export async function anthropic(client: Client): Promise<void> {
  const stream = client.random() < 0.5;
  const body = {
    model: MODELS.chat,
    max_tokens: 64,
    system: "You are a soak test.",
    messages: [{ role: "user", content: client.question() }],
    stream,
  };
  await client.call(
    "anthropic",
    stream ? "stream" : "plain",
    { method: "POST", path: "/anthropic/v1/messages", body },
    expectAnthropic(stream),
  );
}

export async function embeddings(client: Client): Promise<void> {
  const input = Array.from({ length: 1 + Math.floor(client.random() * 4) }, () => client.question());
  const check: Check = (sent) => {
    const data = parseJson(sent.body)?.data;
    if (!Array.isArray(data) || data.length !== input.length) return badResponse("wrong number of vectors");
    const valid = data.every(
      (item: any) =>
        Array.isArray(item.embedding) && item.embedding.length > 0 && item.embedding.every(Number.isFinite),
    );
    return valid ? undefined : badResponse("a vector is empty or not numbers");
  };
  const body = { model: MODELS.embeddings, input };
  await client.call("embeddings", "plain", { method: "POST", path: "/v1/embeddings", body }, check);
}

/** Requests back to back with no pause, until one is refused. */
export async function burst(client: Client): Promise<void> {
  for (let sent = 0; sent < BURST_LENGTH; sent += 1) {
    const stream = client.random() < 0.5;
    const body = chatBody(client, stream);
    const result = await client.call(
      "burst",
      stream ? "stream" : "plain",
      { method: "POST", path: CHAT_PATH, body },
      expectAnswer(stream),
    );
    if (result?.verdict.outcome !== "ok") return;
  }
}
