/**
 * Engine events as Ollama's replies: NDJSON chunks for streams, one object otherwise. Chat chunks
 * carry `message{role, content, thinking?, tool_calls?}`, generate chunks `response` and
 * `thinking`; the last has `done: true`, `done_reason` and the counts and durations (nanoseconds).
 */
import type { ChatEvent, FinishReason, TokenLogprob } from "../../core/chat.js";
import { ModelUnavailableError } from "../../core/errors.js";
import { KEEP_ALIVE } from "../keep-alive.js";
import { toOllamaError } from "./errors.js";

export type ReplyShape = "chat" | "generate";

/** When the request started and when the engine had it ready (model loaded, prompt read). */
export interface ReplyClock {
  /** `performance.now()` when the request arrived. */
  startedAt: number;
  /** `performance.now()` when the engine accepted the request. */
  readyAt: number;
}

export interface ReplyOptions {
  shape: ReplyShape;
  /** The model as the client named it. */
  model: string;
  clock: ReplyClock;
  /** `think: false`: reasoning the model writes anyway is not sent. */
  hideThinking: boolean;
}

interface OllamaToolCall {
  id: string;
  function: { index: number; name: string; arguments: Record<string, unknown> };
}

interface OllamaLogprob {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: Array<{ token: string; logprob: number; bytes: number[] }>;
}

/** One NDJSON chunk, or the whole reply when not streamed. */
export type OllamaChunk = Record<string, unknown> & { done: boolean };

interface Delta {
  content: string;
  thinking: string;
  toolCalls: OllamaToolCall[];
  logprobs?: OllamaLogprob[];
}

const NANOSECONDS_PER_MS = 1_000_000;
const nanoseconds = (ms: number) => Math.max(0, Math.round(ms * NANOSECONDS_PER_MS));

/** The chunks of a reply, in order; the last has `done: true`. */
export async function* ollamaChunks(
  events: AsyncIterable<ChatEvent | typeof KEEP_ALIVE>,
  options: ReplyOptions,
): AsyncGenerator<OllamaChunk | typeof KEEP_ALIVE> {
  const calls = new Map<number, { id: string; name: string; arguments: string }>();
  let firstTokenAt: number | undefined;
  const chunk = (delta: Delta): OllamaChunk => ({
    model: options.model,
    created_at: new Date().toISOString(),
    ...body(options.shape, delta),
    ...(delta.logprobs ? { logprobs: delta.logprobs } : {}),
    done: false,
  });
  const flushCalls = (): OllamaChunk | undefined => {
    if (calls.size === 0) return undefined;
    const toolCalls = [...calls.entries()].map(([index, call]) => toOllamaToolCall(index, call));
    calls.clear();
    return chunk({ content: "", thinking: "", toolCalls });
  };
  for await (const event of events) {
    if (event === KEEP_ALIVE) {
      yield KEEP_ALIVE;
      continue;
    }
    if (event.type !== "prompt-counted" && event.type !== "finish") firstTokenAt ??= performance.now();
    switch (event.type) {
      case "reasoning-delta":
        if (!options.hideThinking) {
          yield chunk({ content: "", thinking: event.text, toolCalls: [], ...logprobsOf(event.logprobs) });
        }
        break;
      case "text-delta":
        yield chunk({ content: event.text, thinking: "", toolCalls: [], ...logprobsOf(event.logprobs) });
        break;
      case "tool-call-start": {
        const done = flushCalls();
        if (done) yield done;
        calls.set(event.index, { id: event.id, name: event.name, arguments: "" });
        break;
      }
      case "tool-call-delta": {
        const call = calls.get(event.index);
        if (call) call.arguments += event.argumentsDelta;
        break;
      }
      case "finish": {
        const done = flushCalls();
        if (done) yield done;
        const endedAt = performance.now();
        const { startedAt, readyAt } = options.clock;
        const firstAt = firstTokenAt ?? endedAt;
        yield {
          model: options.model,
          created_at: new Date().toISOString(),
          ...body(options.shape, { content: "", thinking: "", toolCalls: [] }),
          done: true,
          done_reason: doneReason(event.finishReason),
          total_duration: nanoseconds(endedAt - startedAt),
          load_duration: nanoseconds(readyAt - startedAt),
          prompt_eval_count: event.usage.promptTokens,
          prompt_eval_duration: nanoseconds(firstAt - readyAt),
          eval_count: event.usage.completionTokens,
          eval_duration: nanoseconds(endedAt - firstAt),
        };
        return;
      }
      default:
        break;
    }
  }
  throw new ModelUnavailableError("request_aborted", "The request was cancelled.");
}

/** One NDJSON line. */
export const ndjsonLine = (value: unknown) => `${JSON.stringify(value)}\n`;

/** The stream as NDJSON lines; an error after the first line is sent as an `{"error"}` line. */
export async function* ndjsonLines(
  chunks: AsyncIterable<OllamaChunk | typeof KEEP_ALIVE>,
): AsyncGenerator<string> {
  try {
    for await (const chunk of chunks) {
      // NDJSON has no comments, and a blank line is a parse error to Ollama's clients.
      if (chunk !== KEEP_ALIVE) yield ndjsonLine(chunk);
    }
  } catch (error) {
    yield ndjsonLine(toOllamaError(error).body);
  }
}

/** The whole reply as one object (`stream: false`): the chunks' texts joined, the last one's totals. */
export async function collectReply(
  chunks: AsyncIterable<OllamaChunk | typeof KEEP_ALIVE>,
  shape: ReplyShape,
  onKeepAlive: () => void = () => {},
): Promise<OllamaChunk> {
  const joined: Delta = { content: "", thinking: "", toolCalls: [] };
  for await (const chunk of chunks) {
    if (chunk === KEEP_ALIVE) {
      onKeepAlive();
      continue;
    }
    if (chunk.done) {
      return { ...chunk, ...body(shape, joined), ...(joined.logprobs ? { logprobs: joined.logprobs } : {}) };
    }
    const delta = deltaOf(shape, chunk);
    joined.content += delta.content;
    joined.thinking += delta.thinking;
    joined.toolCalls.push(...delta.toolCalls);
    if (chunk.logprobs)
      joined.logprobs = [...(joined.logprobs ?? []), ...(chunk.logprobs as OllamaLogprob[])];
  }
  throw new ModelUnavailableError("request_aborted", "The request was cancelled.");
}

function body(shape: ReplyShape, delta: Delta): Record<string, unknown> {
  if (shape === "generate") {
    return { response: delta.content, ...(delta.thinking ? { thinking: delta.thinking } : {}) };
  }
  return {
    message: {
      role: "assistant",
      content: delta.content,
      ...(delta.thinking ? { thinking: delta.thinking } : {}),
      ...(delta.toolCalls.length > 0 ? { tool_calls: delta.toolCalls } : {}),
    },
  };
}

function deltaOf(shape: ReplyShape, chunk: OllamaChunk): Delta {
  const source = (shape === "generate" ? chunk : chunk.message) as {
    content?: string;
    response?: string;
    thinking?: string;
    tool_calls?: OllamaToolCall[];
  };
  return {
    content: (shape === "generate" ? source.response : source.content) ?? "",
    thinking: source.thinking ?? "",
    toolCalls: source.tool_calls ?? [],
  };
}

/**
 * A call's arguments as the object Ollama sends. Arguments that are not a JSON object (a model
 * that wrote broken JSON) are kept whole under `arguments` rather than lost.
 */
function toOllamaToolCall(
  index: number,
  call: { id: string; name: string; arguments: string },
): OllamaToolCall {
  let parsed: unknown;
  try {
    parsed = JSON.parse(call.arguments === "" ? "{}" : call.arguments);
  } catch {
    parsed = undefined;
  }
  const argumentsObject =
    typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : { arguments: call.arguments };
  return { id: call.id, function: { index, name: call.name, arguments: argumentsObject } };
}

function logprobsOf(items: readonly TokenLogprob[] | undefined): { logprobs?: OllamaLogprob[] } {
  if (!items) return {};
  return {
    logprobs: items.map((item) => ({
      token: item.token,
      logprob: item.logprob,
      bytes: item.bytes,
      top_logprobs: item.top.map((top) => ({ token: top.token, logprob: top.logprob, bytes: top.bytes })),
    })),
  };
}

/** Ollama reports a reply that ended in tool calls as `stop`. */
function doneReason(reason: FinishReason): string {
  return reason === "length" ? "length" : "stop";
}
