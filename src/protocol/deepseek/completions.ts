import { randomInt, randomUUID } from "node:crypto";
import { z } from "zod";
import type { ChatEvent, CompletionRequest, FinishReason, TokenLogprob } from "../../core/chat.js";
import { ModelUnavailableError } from "../../core/errors.js";
import { replicaFingerprint } from "../../core/fingerprint.js";
import { KEEP_ALIVE } from "../keep-alive.js";
import { SSE_DONE, SSE_KEEP_ALIVE, sseData } from "../sse.js";
import { toWireError } from "../errors.js";
import { optional, parseWith, range } from "../validation.js";
import { toWireUsage } from "./chat-response.js";

/** `POST /beta/completions`: DeepSeek's FIM endpoint (also a plain completion without `suffix`). */
export const completionSchema = z.object({
  model: z.string().min(1, "must not be empty"),
  prompt: z.string(),
  suffix: optional(z.string()),
  echo: optional(z.boolean()),
  logprobs: optional(z.number().int().min(0, range(0, 20)).max(20, range(0, 20))),
  max_tokens: optional(z.number().int().min(1, "must be at least 1")),
  stop: optional(z.union([z.string(), z.array(z.string()).max(16, "must hold at most 16 sequences")])),
  stream: optional(z.boolean()),
  stream_options: optional(z.object({ include_usage: optional(z.boolean()) }).passthrough()),
  temperature: optional(z.number().min(0, range(0, 2)).max(2, range(0, 2))),
  top_p: optional(
    z.number().gt(0, "must be greater than 0 and at most 1").max(1, "must be greater than 0 and at most 1"),
  ),
  frequency_penalty: optional(z.number().min(-2, range(-2, 2)).max(2, range(-2, 2))),
  presence_penalty: optional(z.number().min(-2, range(-2, 2)).max(2, range(-2, 2))),
  seed: optional(z.number().int()),
});

export interface ParsedCompletion {
  request: CompletionRequest;
  echo: boolean;
  stream: boolean;
  includeUsage: boolean;
}

export function parseCompletion(body: unknown): ParsedCompletion {
  const parsed = parseWith(completionSchema, body);
  const stop = parsed.stop === undefined ? [] : typeof parsed.stop === "string" ? [parsed.stop] : parsed.stop;
  return {
    request: {
      model: parsed.model,
      prompt: parsed.prompt,
      suffix: parsed.suffix,
      sampling: {
        temperature: parsed.temperature ?? 1,
        topP: parsed.top_p ?? 1,
        seed: parsed.seed ?? randomInt(0, 2 ** 31 - 1),
        frequencyPenalty: parsed.frequency_penalty ?? 0,
        presencePenalty: parsed.presence_penalty ?? 0,
      },
      maxTokens: parsed.max_tokens,
      stop: stop.filter((sequence) => sequence.length > 0),
      logprobs: parsed.logprobs,
    },
    echo: parsed.echo ?? false,
    stream: parsed.stream ?? false,
    includeUsage: parsed.stream_options?.include_usage ?? false,
  };
}

/** OpenAI's legacy completion log-probabilities: parallel arrays, offsets into the text. */
function toLegacyLogprobs(items: readonly TokenLogprob[], startOffset: number) {
  let offset = startOffset;
  const text_offset: number[] = [];
  for (const item of items) {
    text_offset.push(offset);
    offset += item.token.length;
  }
  return {
    tokens: items.map((item) => item.token),
    token_logprobs: items.map((item) => item.logprob),
    top_logprobs: items.map((item) => Object.fromEntries(item.top.map((top) => [top.token, top.logprob]))),
    text_offset,
  };
}

export async function collectCompletion(
  model: string,
  prompt: string,
  echo: boolean,
  events: AsyncIterable<ChatEvent | typeof KEEP_ALIVE>,
  onKeepAlive: () => void = () => {},
  systemFingerprint?: string,
) {
  let text = echo ? prompt : "";
  const logprobs: TokenLogprob[] = [];
  let wantsLogprobs = false;
  let finish: Extract<ChatEvent, { type: "finish" }> | undefined;
  for await (const event of events) {
    if (event === KEEP_ALIVE) onKeepAlive();
    else if (event.type === "text-delta" || event.type === "reasoning-delta") {
      text += event.text;
      if (event.logprobs) logprobs.push(...event.logprobs);
      wantsLogprobs ||= event.logprobs !== undefined;
    } else if (event.type === "finish") finish = event;
  }
  if (!finish) throw new ModelUnavailableError("request_aborted", "The request was cancelled.");
  return {
    id: randomUUID(),
    object: "text_completion" as const,
    created: Math.floor(Date.now() / 1000),
    model,
    ...fingerprintField(finish.servedBy ? replicaFingerprint(finish.servedBy) : systemFingerprint),
    choices: [
      {
        index: 0,
        text,
        logprobs: wantsLogprobs ? toLegacyLogprobs(logprobs, echo ? prompt.length : 0) : null,
        finish_reason: finish.finishReason,
      },
    ],
    usage: toWireUsage(finish.usage),
  };
}

export async function* streamCompletion(
  model: string,
  prompt: string,
  echo: boolean,
  events: AsyncIterable<ChatEvent | typeof KEEP_ALIVE>,
  includeUsage: boolean,
  systemFingerprint?: string,
): AsyncGenerator<string> {
  // As for chat completions: an upstream's replica is known only at the finish.
  let fingerprint = systemFingerprint;
  const base = {
    id: randomUUID(),
    object: "text_completion" as const,
    created: Math.floor(Date.now() / 1000),
    model,
  };
  let offset = echo ? prompt.length : 0;
  const chunk = (
    text: string,
    finishReason: FinishReason | null,
    logprobs: unknown = null,
    usage?: unknown,
  ) =>
    sseData({
      ...base,
      ...fingerprintField(fingerprint),
      choices: [{ index: 0, text, logprobs, finish_reason: finishReason }],
      ...(usage ? { usage } : includeUsage ? { usage: null } : {}),
    });
  if (echo && prompt) yield chunk(prompt, null);
  try {
    for await (const event of events) {
      if (event === KEEP_ALIVE) yield SSE_KEEP_ALIVE;
      else if (event.type === "text-delta" || event.type === "reasoning-delta") {
        const logprobs = event.logprobs ? toLegacyLogprobs(event.logprobs, offset) : null;
        offset += event.text.length;
        yield chunk(event.text, null, logprobs);
      } else if (event.type === "finish") {
        if (event.servedBy) fingerprint = replicaFingerprint(event.servedBy);
        yield chunk("", event.finishReason, null, toWireUsage(event.usage));
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
