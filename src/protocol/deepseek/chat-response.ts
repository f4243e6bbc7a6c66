import { randomUUID } from "node:crypto";
import type { ChatEvent, FinishReason, TokenLogprob, Usage } from "../../core/chat.js";
import { ModelUnavailableError } from "../../core/errors.js";
import { replicaFingerprint } from "../../core/fingerprint.js";
import { ReplyParts, wireToolCall } from "../../core/reply-parts.js";
import { toWireError } from "../errors.js";
import { KEEP_ALIVE } from "../keep-alive.js";
import { SSE_DONE, SSE_KEEP_ALIVE, sseData } from "../sse.js";

export interface WireUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_cache_hit_tokens: number;
  prompt_cache_miss_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
  completion_tokens_details: { reasoning_tokens: number };
}

export function toWireUsage(usage: Usage): WireUsage {
  return {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.promptTokens + usage.completionTokens,
    prompt_cache_hit_tokens: usage.promptCacheHitTokens,
    prompt_cache_miss_tokens: usage.promptTokens - usage.promptCacheHitTokens,
    prompt_tokens_details: { cached_tokens: usage.promptCacheHitTokens },
    completion_tokens_details: { reasoning_tokens: usage.reasoningTokens },
  };
}

interface CompletionIdentity {
  id: string;
  created: number;
  model: string;
}

function identity(model: string): CompletionIdentity {
  return { id: randomUUID(), created: Math.floor(Date.now() / 1000), model };
}

export interface WireLogprob {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: Array<{ token: string; logprob: number; bytes: number[] }>;
}

function toWireLogprobs(logprobs: readonly TokenLogprob[]): WireLogprob[] {
  return logprobs.map((item) => ({
    token: item.token,
    logprob: item.logprob,
    bytes: item.bytes,
    top_logprobs: item.top,
  }));
}

/**
 * Collects the whole reply into one `chat.completion` body. `onKeepAlive` is called for each
 * keep-alive marker, so the server can send blank lines while the client waits.
 * `systemFingerprint` is the reply's as it starts (see core/fingerprint.ts); an upstream reply's
 * is replaced by its replica's once the finish says which replica answered.
 */
export async function collectChatCompletion(
  model: string,
  events: AsyncIterable<ChatEvent | typeof KEEP_ALIVE>,
  onKeepAlive: () => void = () => {},
  systemFingerprint?: string,
) {
  const parts = new ReplyParts();
  const contentLogprobs: TokenLogprob[] = [];
  const reasoningLogprobs: TokenLogprob[] = [];
  let wantsLogprobs = false;
  for await (const event of events) {
    if (event === KEEP_ALIVE) {
      onKeepAlive();
      continue;
    }
    parts.add(event);
    if (event.type !== "text-delta" && event.type !== "reasoning-delta") continue;
    if (event.logprobs)
      (event.type === "text-delta" ? contentLogprobs : reasoningLogprobs).push(...event.logprobs);
    wantsLogprobs ||= event.logprobs !== undefined;
  }
  const { content, reasoning, toolCalls, finish } = parts;
  // Only an aborted request ends without a finish; its client is gone and reads no reply.
  if (!finish) throw new ModelUnavailableError("request_aborted", "The request was cancelled.");
  return {
    ...identity(model),
    object: "chat.completion" as const,
    ...fingerprintField(finish.servedBy ? replicaFingerprint(finish.servedBy) : systemFingerprint),
    choices: [
      {
        index: 0,
        message: {
          role: "assistant" as const,
          content,
          ...(reasoning.length > 0 ? { reasoning_content: reasoning } : {}),
          ...(toolCalls.length > 0 ? { tool_calls: toolCalls.map(wireToolCall) } : {}),
        },
        logprobs: wantsLogprobs
          ? {
              content: toWireLogprobs(contentLogprobs),
              ...(reasoningLogprobs.length > 0
                ? { reasoning_content: toWireLogprobs(reasoningLogprobs) }
                : {}),
            }
          : null,
        finish_reason: finish.finishReason,
      },
    ],
    usage: toWireUsage(finish.usage),
  };
}

/**
 * Encodes the reply as SSE chunks in DeepSeek's order: a first chunk with the role, reasoning
 * deltas, content deltas, a final chunk with `finish_reason` and usage, then `[DONE]`.
 * An error after the stream began is sent as an `error` event, since the status is already out.
 */
export async function* streamChatCompletion(
  model: string,
  events: AsyncIterable<ChatEvent | typeof KEEP_ALIVE>,
  includeUsage: boolean,
  systemFingerprint?: string,
): AsyncGenerator<string> {
  const base = { ...identity(model), object: "chat.completion.chunk" as const };
  // Every chunk carries it, as OpenAI's do. An upstream's replica is known only at the finish:
  // the chunks before it carry the pool's fingerprint, the final chunk the replica's.
  let fingerprint = systemFingerprint;
  const chunk = (
    delta: Record<string, unknown>,
    finishReason: FinishReason | null = null,
    usage?: WireUsage,
    logprobs: Record<string, WireLogprob[]> | null = null,
  ) =>
    sseData({
      ...base,
      ...fingerprintField(fingerprint),
      choices: [{ index: 0, delta, logprobs, finish_reason: finishReason }],
      ...(usage ? { usage } : includeUsage ? { usage: null } : {}),
    });

  yield chunk({ role: "assistant", content: "" });
  try {
    for await (const event of events) {
      if (event === KEEP_ALIVE) {
        yield SSE_KEEP_ALIVE;
        continue;
      }
      switch (event.type) {
        case "reasoning-delta":
          yield chunk(
            { content: null, reasoning_content: event.text },
            null,
            undefined,
            event.logprobs ? { content: [], reasoning_content: toWireLogprobs(event.logprobs) } : null,
          );
          break;
        case "text-delta":
          yield chunk(
            { content: event.text },
            null,
            undefined,
            event.logprobs ? { content: toWireLogprobs(event.logprobs) } : null,
          );
          break;
        case "tool-call-start":
          yield chunk({
            tool_calls: [
              {
                index: event.index,
                id: event.id,
                type: "function",
                function: { name: event.name, arguments: "" },
              },
            ],
          });
          break;
        case "tool-call-delta":
          yield chunk({
            tool_calls: [{ index: event.index, function: { arguments: event.argumentsDelta } }],
          });
          break;
        case "finish":
          if (event.servedBy) fingerprint = replicaFingerprint(event.servedBy);
          yield chunk({ content: "" }, event.finishReason, toWireUsage(event.usage));
          break;
        case "prompt-counted":
          break; // the usage on the final chunk says it all
      }
    }
  } catch (error) {
    yield sseData(toWireError(error).body);
  }
  yield SSE_DONE;
}

function fingerprintField(fingerprint: string | undefined) {
  return fingerprint === undefined ? {} : { system_fingerprint: fingerprint };
}
