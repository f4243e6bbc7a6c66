import { randomUUID } from "node:crypto";
import type { ChatEvent, FinishReason, Usage } from "../../core/chat.js";
import { ModelUnavailableError } from "../../core/errors.js";
import { KEEP_ALIVE } from "../keep-alive.js";
import { toAnthropicError } from "./errors.js";

export type StopReason = "end_turn" | "max_tokens" | "stop_sequence" | "tool_use";

export type ContentBlock =
  /** Our reasoning is not signed; the signature is empty and ignored when sent back. */
  | { type: "thinking"; thinking: string; signature: string }
  | { type: "text"; text: string }
  | { type: "tool_use"; id: string; name: string; input: Record<string, unknown> };

export interface AnthropicUsage {
  /** Prompt tokens not read from the cache (Anthropic counts cache reads apart). */
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  output_tokens_details: { thinking_tokens: number };
}

export interface AnthropicMessage {
  id: string;
  type: "message";
  role: "assistant";
  model: string;
  content: ContentBlock[];
  stop_reason: StopReason | null;
  stop_sequence: string | null;
  usage: AnthropicUsage;
}

export type ContentDelta =
  | { type: "thinking_delta"; thinking: string }
  | { type: "text_delta"; text: string }
  | { type: "input_json_delta"; partial_json: string };

/** The events of Anthropic's stream, in the order the Messages API sends them. */
export type MessageStreamEvent =
  | { type: "message_start"; message: AnthropicMessage }
  | { type: "content_block_start"; index: number; content_block: ContentBlock }
  | { type: "content_block_delta"; index: number; delta: ContentDelta }
  | { type: "content_block_stop"; index: number }
  | {
      type: "message_delta";
      delta: { stop_reason: StopReason; stop_sequence: string | null };
      usage: AnthropicUsage;
    }
  | { type: "message_stop" };

export function toAnthropicUsage(usage: Usage): AnthropicUsage {
  return {
    input_tokens: usage.promptTokens - usage.promptCacheHitTokens,
    output_tokens: usage.completionTokens,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: usage.promptCacheHitTokens,
    output_tokens_details: { thinking_tokens: usage.reasoningTokens },
  };
}

function toStopReason(finishReason: FinishReason, stopSequence: string | undefined): StopReason {
  switch (finishReason) {
    case "length":
      return "max_tokens";
    case "tool_calls":
      return "tool_use";
    case "stop":
      return stopSequence === undefined ? "end_turn" : "stop_sequence";
  }
}

type OpenBlock =
  { kind: "thinking" | "text"; index: number } | { kind: "tool_use"; index: number; call: number };

/**
 * Turns core events into Anthropic's stream events: one content block per run of reasoning,
 * text or tool-call events, opened and closed around its deltas. Pure and synchronous, so the
 * streaming and the non-streaming reply are built from the very same events.
 */
export class MessageEventEncoder {
  private open: OpenBlock | undefined;
  private nextIndex = 0;
  /** Block index of each tool call, by the core's call index. */
  private readonly toolBlocks = new Map<number, number>();

  constructor(private readonly model: string) {}

  /**
   * `message_start`: the message with no content yet, and the prompt's size when the engine has
   * counted it (how much of it came from the cache is known only at the end: `message_delta`).
   */
  start(promptTokens = 0): MessageStreamEvent {
    return {
      type: "message_start",
      message: {
        id: `msg_${randomUUID().replaceAll("-", "")}`,
        type: "message",
        role: "assistant",
        model: this.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: toAnthropicUsage({
          promptTokens,
          promptCacheHitTokens: 0,
          completionTokens: 0,
          reasoningTokens: 0,
        }),
      },
    };
  }

  push(event: ChatEvent): MessageStreamEvent[] {
    switch (event.type) {
      case "prompt-counted":
        return [];
      case "reasoning-delta":
        if (event.text.length === 0) return [];
        return this.delta("thinking", { type: "thinking_delta", thinking: event.text });
      case "text-delta":
        if (event.text.length === 0) return [];
        return this.delta("text", { type: "text_delta", text: event.text });
      case "tool-call-start": {
        const out = this.close();
        const index = this.nextIndex++;
        this.toolBlocks.set(event.index, index);
        this.open = { kind: "tool_use", index, call: event.index };
        out.push({
          type: "content_block_start",
          index,
          content_block: { type: "tool_use", id: event.id, name: event.name, input: {} },
        });
        return out;
      }
      case "tool-call-delta": {
        const index = this.toolBlocks.get(event.index);
        if (index === undefined || event.argumentsDelta.length === 0) return [];
        return [
          {
            type: "content_block_delta",
            index,
            delta: { type: "input_json_delta", partial_json: event.argumentsDelta },
          },
        ];
      }
      case "finish": {
        const out = this.close();
        const stopSequence = event.finishReason === "stop" ? event.stopSequence : undefined;
        out.push(
          {
            type: "message_delta",
            delta: {
              stop_reason: toStopReason(event.finishReason, stopSequence),
              stop_sequence: stopSequence ?? null,
            },
            usage: toAnthropicUsage(event.usage),
          },
          { type: "message_stop" },
        );
        return out;
      }
    }
  }

  private delta(kind: "thinking" | "text", delta: ContentDelta): MessageStreamEvent[] {
    const out: MessageStreamEvent[] = [];
    if (this.open?.kind !== kind) {
      out.push(...this.close());
      const index = this.nextIndex++;
      this.open = { kind, index };
      const block: ContentBlock =
        kind === "thinking" ? { type: "thinking", thinking: "", signature: "" } : { type: "text", text: "" };
      out.push({ type: "content_block_start", index, content_block: block });
    }
    out.push({ type: "content_block_delta", index: this.open.index, delta });
    return out;
  }

  private close(): MessageStreamEvent[] {
    if (!this.open) return [];
    const { index } = this.open;
    this.open = undefined;
    return [{ type: "content_block_stop", index }];
  }
}

/**
 * Builds the message from stream events as a client does: deltas appended to their block, tool
 * input parsed from its JSON text when the block stops (left `{}` if the text does not parse,
 * as when `max_tokens` cut it short).
 */
export class MessageAccumulator {
  message: AnthropicMessage | undefined;
  private readonly toolJson = new Map<number, string>();

  apply(event: MessageStreamEvent): void {
    if (event.type === "message_start") {
      this.message = structuredClone(event.message);
      return;
    }
    const message = this.message;
    if (!message) return;
    switch (event.type) {
      case "content_block_start":
        message.content[event.index] = structuredClone(event.content_block);
        break;
      case "content_block_delta": {
        const target = message.content[event.index];
        if (event.delta.type === "text_delta" && target?.type === "text") target.text += event.delta.text;
        else if (event.delta.type === "thinking_delta" && target?.type === "thinking")
          target.thinking += event.delta.thinking;
        else if (event.delta.type === "input_json_delta")
          this.toolJson.set(event.index, (this.toolJson.get(event.index) ?? "") + event.delta.partial_json);
        break;
      }
      case "content_block_stop": {
        const target = message.content[event.index];
        const json = this.toolJson.get(event.index);
        if (target?.type === "tool_use" && json !== undefined) target.input = parseObject(json);
        break;
      }
      case "message_delta":
        message.stop_reason = event.delta.stop_reason;
        message.stop_sequence = event.delta.stop_sequence;
        message.usage = event.usage;
        break;
    }
  }
}

function parseObject(json: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(json);
    if (typeof value === "object" && value !== null && !Array.isArray(value))
      return value as Record<string, unknown>;
  } catch {
    // a cut-short or malformed argument text: see MessageAccumulator
  }
  return {};
}

/**
 * Collects the whole reply into one message body. `onKeepAlive` is called for each keep-alive
 * marker, so the server can send blank lines while the client waits.
 */
export async function collectMessage(
  model: string,
  events: AsyncIterable<ChatEvent | typeof KEEP_ALIVE>,
  onKeepAlive: () => void = () => {},
): Promise<AnthropicMessage> {
  const encoder = new MessageEventEncoder(model);
  const accumulator = new MessageAccumulator();
  accumulator.apply(encoder.start());
  let finished = false;
  for await (const event of events) {
    if (event === KEEP_ALIVE) {
      onKeepAlive();
      continue;
    }
    for (const streamEvent of encoder.push(event)) accumulator.apply(streamEvent);
    if (event.type === "finish") finished = true;
  }
  // Only an aborted request ends without a finish; its client is gone and reads no reply.
  if (!finished || !accumulator.message) {
    throw new ModelUnavailableError("request_aborted", "The request was cancelled.");
  }
  return accumulator.message;
}

/** One server-sent event as Anthropic writes them: a name, then the JSON payload. */
export function sseEvent(name: string, payload: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(payload)}\n\n`;
}

export const SSE_PING = sseEvent("ping", { type: "ping" });

/**
 * Encodes the reply as Anthropic's SSE stream: `message_start`, content blocks, `message_delta`,
 * `message_stop`, with `ping` while the request waits. An error after the stream began is sent
 * as an `error` event, since the status is already out.
 */
export async function* streamMessage(
  model: string,
  events: AsyncIterable<ChatEvent | typeof KEEP_ALIVE>,
): AsyncGenerator<string> {
  const encoder = new MessageEventEncoder(model);
  // message_start waits for the engine's first event, which counts the prompt before any queueing.
  let started = false;
  try {
    for await (const event of events) {
      if (!started) {
        started = true;
        const counted = event !== KEEP_ALIVE && event.type === "prompt-counted";
        yield sseEvent("message_start", encoder.start(counted ? event.promptTokens : 0));
      }
      if (event === KEEP_ALIVE) yield SSE_PING;
      else for (const streamEvent of encoder.push(event)) yield sseEvent(streamEvent.type, streamEvent);
    }
    if (!started) yield sseEvent("message_start", encoder.start());
  } catch (error) {
    yield sseEvent("error", toAnthropicError(error).body);
  }
}
