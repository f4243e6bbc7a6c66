import type { ChatEvent, Usage } from "../../core/chat.js";
import { ModelUnavailableError } from "../../core/errors.js";
import { KEEP_ALIVE } from "../keep-alive.js";
import { SSE_KEEP_ALIVE } from "../sse.js";
import { toResponsesError } from "./errors.js";
import {
  newId,
  type FunctionCallItem,
  type ItemStatus,
  type MessageItem,
  type ReasoningItem,
} from "./items.js";
import type { ParsedResponseRequest, WireFormat, WireFunctionTool, WireToolChoice } from "./request.js";

export type OutputItem = MessageItem | FunctionCallItem | ReasoningItem;

export interface ResponseUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

/** The response object, field for field as OpenAI's (less `output_text`, which its SDK adds). */
export interface ResponseObject {
  id: string;
  object: "response";
  created_at: number;
  status: "in_progress" | "completed" | "incomplete" | "failed";
  completed_at: number | null;
  background: false;
  error: { code: string; message: string } | null;
  incomplete_details: { reason: "max_output_tokens" } | null;
  instructions: string | null;
  max_output_tokens: number | null;
  metadata: Record<string, string>;
  model: string;
  output: OutputItem[];
  parallel_tool_calls: boolean;
  previous_response_id: string | null;
  reasoning: { effort: string | null; summary: null };
  store: boolean;
  temperature: number;
  text: { format: WireFormat };
  tool_choice: WireToolChoice;
  tools: WireFunctionTool[];
  top_p: number;
  truncation: "disabled";
  usage: ResponseUsage | null;
  user: string | null;
}

/** A new response to `request`, in progress with no output yet. */
export function newResponse(request: ParsedResponseRequest): ResponseObject {
  return {
    id: newId("resp"),
    object: "response",
    created_at: Math.floor(Date.now() / 1000),
    status: "in_progress",
    completed_at: null,
    background: false,
    error: null,
    incomplete_details: null,
    instructions: request.instructions ?? null,
    max_output_tokens: request.maxOutputTokens ?? null,
    metadata: request.metadata,
    model: request.model,
    output: [],
    parallel_tool_calls: request.parallelToolCalls,
    previous_response_id: request.previousResponseId ?? null,
    reasoning: { effort: request.effort, summary: null },
    store: request.store,
    temperature: request.temperature,
    text: { format: request.format },
    tool_choice: request.toolChoice,
    tools: request.tools,
    top_p: request.topP,
    truncation: "disabled",
    usage: null,
    user: request.user ?? null,
  };
}

export function toResponseUsage(usage: Usage): ResponseUsage {
  return {
    input_tokens: usage.promptTokens,
    input_tokens_details: { cached_tokens: usage.promptCacheHitTokens },
    output_tokens: usage.completionTokens,
    output_tokens_details: { reasoning_tokens: usage.reasoningTokens },
    total_tokens: usage.promptTokens + usage.completionTokens,
  };
}

/** A streaming event: its `type`, the fields of that type, and its place in the stream. */
export type ResponseStreamEvent = { type: string; sequence_number: number } & Record<string, unknown>;

type OpenItem =
  | { kind: "reasoning"; index: number; item: ReasoningItem }
  | { kind: "message"; index: number; item: MessageItem }
  | { kind: "function_call"; index: number; item: FunctionCallItem };

/**
 * Turns core events into the Responses API's stream events, building the response as it goes:
 * one output item per run of reasoning, of text, and per tool call, each opened and closed
 * around its deltas. Pure and synchronous, so the streamed and the non-streamed response are the
 * very same object.
 */
export class ResponseEventEncoder {
  private sequence = 0;
  private open: OpenItem | undefined;
  /** The output index of each tool call, by the core's call index. */
  private readonly calls = new Map<number, number>();
  private ended = false;

  constructor(readonly response: ResponseObject) {}

  /** Whether the response reached its end (completed, incomplete or failed). */
  get finished(): boolean {
    return this.ended;
  }

  /** `response.created` and `response.in_progress`. */
  start(): ResponseStreamEvent[] {
    return [
      this.event("response.created", { response: this.snapshot() }),
      this.event("response.in_progress", { response: this.snapshot() }),
    ];
  }

  push(event: ChatEvent): ResponseStreamEvent[] {
    switch (event.type) {
      case "prompt-counted":
        return [];
      case "reasoning-delta": {
        if (event.text.length === 0) return [];
        const out = this.ensureOpen("reasoning");
        const open = this.open as Extract<OpenItem, { kind: "reasoning" }>;
        open.item.content[0]!.text += event.text;
        out.push(
          this.event("response.reasoning_text.delta", {
            item_id: open.item.id,
            output_index: open.index,
            content_index: 0,
            delta: event.text,
          }),
        );
        return out;
      }
      case "text-delta": {
        if (event.text.length === 0) return [];
        const out = this.ensureOpen("message");
        const open = this.open as Extract<OpenItem, { kind: "message" }>;
        const part = open.item.content[0] as { text: string };
        part.text += event.text;
        out.push(
          this.event("response.output_text.delta", {
            item_id: open.item.id,
            output_index: open.index,
            content_index: 0,
            delta: event.text,
            logprobs: [],
          }),
        );
        return out;
      }
      case "tool-call-start": {
        const out = this.close("completed");
        const item: FunctionCallItem = {
          type: "function_call",
          id: newId("fc"),
          call_id: event.id,
          name: event.name,
          arguments: "",
          status: "in_progress",
        };
        const index = this.response.output.push(item) - 1;
        this.calls.set(event.index, index);
        this.open = { kind: "function_call", index, item };
        out.push(this.event("response.output_item.added", { output_index: index, item: { ...item } }));
        return out;
      }
      case "tool-call-delta": {
        const index = this.calls.get(event.index);
        const item = index === undefined ? undefined : this.response.output[index];
        if (item?.type !== "function_call" || event.argumentsDelta.length === 0) return [];
        item.arguments += event.argumentsDelta;
        return [
          this.event("response.function_call_arguments.delta", {
            item_id: item.id,
            output_index: index,
            delta: event.argumentsDelta,
          }),
        ];
      }
      case "finish": {
        const cut = event.finishReason === "length";
        const out = this.close(cut ? "incomplete" : "completed");
        const response = this.response;
        response.status = cut ? "incomplete" : "completed";
        response.incomplete_details = cut ? { reason: "max_output_tokens" } : null;
        response.completed_at = cut ? null : Math.floor(Date.now() / 1000);
        response.usage = toResponseUsage(event.usage);
        this.ended = true;
        out.push(
          this.event(cut ? "response.incomplete" : "response.completed", { response: this.snapshot() }),
        );
        return out;
      }
    }
  }

  /**
   * Ends the response as failed: an `error` event with the error as the API would report it,
   * then `response.failed`. Internal errors say only that the server had one.
   */
  fail(thrown: unknown): ResponseStreamEvent[] {
    const wire = toResponsesError(thrown);
    const { message, param } = wire.body.error;
    const code = wire.error.kind === "internal" ? "server_error" : wire.body.error.code;
    const out = this.close("incomplete");
    this.response.status = "failed";
    this.response.error = { code, message };
    this.ended = true;
    out.push(
      this.event("error", { code, message, param }),
      this.event("response.failed", { response: this.snapshot() }),
    );
    return out;
  }

  /** Opens an item of `kind` unless one is open, closing any other first. */
  private ensureOpen(kind: "reasoning" | "message"): ResponseStreamEvent[] {
    if (this.open?.kind === kind) return [];
    const out = this.close("completed");
    const id = newId(kind === "reasoning" ? "rs" : "msg");
    const status: ItemStatus = "in_progress";
    if (kind === "reasoning") {
      const item: ReasoningItem = { type: "reasoning", id, summary: [], content: [], status };
      const index = this.response.output.push(item) - 1;
      out.push(
        this.event("response.output_item.added", { output_index: index, item: structuredClone(item) }),
      );
      const part = { type: "reasoning_text" as const, text: "" };
      item.content.push(part);
      out.push(this.partEvent("response.content_part.added", index, id, part));
      this.open = { kind, index, item };
    } else {
      const item: MessageItem = { type: "message", id, role: "assistant", status, content: [] };
      const index = this.response.output.push(item) - 1;
      out.push(
        this.event("response.output_item.added", { output_index: index, item: structuredClone(item) }),
      );
      const part = { type: "output_text" as const, text: "", annotations: [], logprobs: [] };
      item.content.push(part);
      out.push(this.partEvent("response.content_part.added", index, id, part));
      this.open = { kind, index, item };
    }
    return out;
  }

  /** Closes the open item with `status`: its `.done` events, then `response.output_item.done`. */
  private close(status: ItemStatus): ResponseStreamEvent[] {
    const open = this.open;
    if (!open) return [];
    this.open = undefined;
    const { index, item } = open;
    item.status = status;
    const at = { item_id: item.id, output_index: index };
    const out: ResponseStreamEvent[] = [];
    if (open.kind === "function_call") {
      out.push(
        this.event("response.function_call_arguments.done", {
          ...at,
          name: open.item.name,
          arguments: open.item.arguments,
        }),
      );
    } else {
      // The encoder's own parts: one reasoning_text or output_text part per item.
      const part = open.item.content[0] as { type: string; text: string };
      const { text } = part;
      out.push(
        open.kind === "reasoning"
          ? this.event("response.reasoning_text.done", { ...at, content_index: 0, text })
          : this.event("response.output_text.done", { ...at, content_index: 0, text, logprobs: [] }),
        this.partEvent("response.content_part.done", index, item.id, part),
      );
    }
    out.push(this.event("response.output_item.done", { output_index: index, item: structuredClone(item) }));
    return out;
  }

  private partEvent(type: string, index: number, itemId: string, part: object): ResponseStreamEvent {
    return this.event(type, {
      item_id: itemId,
      output_index: index,
      content_index: 0,
      part: structuredClone(part),
    });
  }

  private event(type: string, fields: Record<string, unknown>): ResponseStreamEvent {
    return { type, sequence_number: this.sequence++, ...fields };
  }

  private snapshot(): ResponseObject {
    return structuredClone(this.response);
  }
}

/**
 * Collects the whole response. `onKeepAlive` is called for each keep-alive marker, so the server
 * can send blank lines while the client waits. Errors are thrown, for the route to answer.
 */
export async function collectResponse(
  encoder: ResponseEventEncoder,
  events: AsyncIterable<ChatEvent | typeof KEEP_ALIVE>,
  onKeepAlive: () => void = () => {},
): Promise<ResponseObject> {
  encoder.start();
  for await (const event of events) {
    if (event === KEEP_ALIVE) onKeepAlive();
    else encoder.push(event);
  }
  // Only an aborted request ends without a finish; its client is gone and reads no reply.
  if (!encoder.finished) throw new ModelUnavailableError("request_aborted", "The request was cancelled.");
  return encoder.response;
}

/** One server-sent event as OpenAI writes them: the type as the event name, then the JSON. */
export function sseEvent(event: ResponseStreamEvent): string {
  return `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}

/**
 * Encodes the response as the Responses API's SSE stream (no `[DONE]`), with `: keep-alive`
 * comments while the request waits. `beforeEnd` runs with the finished response before its
 * last event goes out (so a client that sees `response.completed` can retrieve it at once). An
 * error after the stream began ends it with `error` and `response.failed`.
 */
export async function* streamResponse(
  encoder: ResponseEventEncoder,
  events: AsyncIterable<ChatEvent | typeof KEEP_ALIVE>,
  beforeEnd: (response: ResponseObject) => Promise<void>,
): AsyncGenerator<string> {
  for (const event of encoder.start()) yield sseEvent(event);
  try {
    for await (const event of events) {
      if (event === KEEP_ALIVE) {
        yield SSE_KEEP_ALIVE;
        continue;
      }
      const out = encoder.push(event);
      if (encoder.finished) await beforeEnd(encoder.response);
      for (const streamEvent of out) yield sseEvent(streamEvent);
    }
  } catch (error) {
    if (!encoder.finished) for (const streamEvent of encoder.fail(error)) yield sseEvent(streamEvent);
  }
}
