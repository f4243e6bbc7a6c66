/**
 * OpenAI-style chunks (or one non-stream body) from an upstream, turned into our `ChatEvent`s.
 * Upstreams differ in small ways, and each is absorbed here:
 * - reasoning comes as `reasoning_content` (DeepSeek, SGLang, llama-server, vLLM ≤0.10),
 *   `reasoning` (vLLM ≥0.11, Ollama, OpenRouter), or as `<think>…</think>` inside `content`
 *   (llama-server with --reasoning-format none, engines without a reasoning parser);
 * - usage comes on the finish chunk (DeepSeek, qiusuo), on a last chunk with no choices (OpenAI,
 *   vLLM, llama-server), on every chunk (vLLM's continuous usage), or not at all (estimated);
 * - cached prompt tokens are `prompt_tokens_details.cached_tokens`, `prompt_cache_hit_tokens`,
 *   or llama-server's `timings.cache_n`.
 * Pure: no HTTP here, so every shape is unit-tested without a server.
 */
import { newToolCallId } from "../../core/tool-call-parser.js";
import { ReasoningSplitter, type SplitPart } from "../../core/reasoning-splitter.js";
import type { ChatEvent, ChatRequest, FinishReason, TokenLogprob, Usage } from "../../core/chat.js";
import {
  errorFromBody,
  isErrorBody,
  malformedError,
  streamCutError,
  type Redactor,
  type UpstreamLabel,
} from "./upstream-error.js";

export interface StreamDecoderOptions {
  label: UpstreamLabel;
  redactor: Redactor;
  /** The model id we asked the upstream for; `servedBy.upstreamModel` unless it names another. */
  upstreamModel: string;
  /** `chat`: chunks carry `delta` (or `message`); `completion`: they carry `text`, never reasoning. */
  mode: "chat" | "completion";
  /** Where `<think>` splitting starts (see `replyStartsIn`). Default "undecided". */
  startsIn?: "undecided" | "reasoning" | "content";
  /** Characters of the prompt, to estimate its tokens when the upstream reports no usage. */
  promptChars: number;
  /** The request asked for JSON output, so a refusal inside a 200 reads as one. */
  jsonMode?: boolean;
}

/** Where the reply's text starts: a prefix completion continues the answer or its reasoning. */
export function replyStartsIn(request: ChatRequest): "undecided" | "reasoning" | "content" {
  const last = request.messages.at(-1);
  if (last?.role !== "assistant" || last.prefix !== true) return "undecided";
  if (last.content !== "") return "content";
  return last.reasoning !== undefined ? "reasoning" : "undecided";
}

interface ToolCallState {
  index: number;
  id: string | undefined;
  name: string | undefined;
  started: boolean;
  /** Arguments that came before the name did. */
  bufferedArguments: string;
}

type Kind = "reasoning" | "content";

export class StreamDecoder {
  private readonly splitter: ReasoningSplitter;
  private readonly pendingLogprobs: Record<Kind, TokenLogprob[]> = { reasoning: [], content: [] };
  private readonly toolCalls = new Map<string, ToolCallState>();
  private lastToolKey: string | undefined;
  private finishReason: FinishReason | undefined;
  private stopSequence: string | undefined;
  private usage: Record<string, unknown> | undefined;
  private timings: Record<string, unknown> | undefined;
  private reportedModel: string | undefined;
  private fingerprint: string | undefined;
  /** For estimates: text deltas (about one token each in a stream) and characters, per kind. */
  private readonly deltas: Record<Kind, number> = { reasoning: 0, content: 0 };
  private readonly chars: Record<Kind, number> = { reasoning: 0, content: 0 };

  constructor(private readonly options: StreamDecoderOptions) {
    this.splitter = new ReasoningSplitter({ startsIn: options.startsIn ?? "undecided" });
  }

  /** Whether a finish reason has come (the reply is complete once the body ends). */
  get finished(): boolean {
    return this.finishReason !== undefined;
  }

  /** One parsed chunk (or a whole non-stream body); returns the events it completes. */
  push(chunk: unknown): ChatEvent[] {
    const record = asRecord(chunk);
    if (!record) throw malformedError(this.options.label, "a stream event that is not a JSON object");
    if (isErrorBody(record)) {
      const { label, redactor, jsonMode, upstreamModel } = this.options;
      throw errorFromBody(label, redactor, record, { jsonMode, upstreamModel });
    }
    if (typeof record.system_fingerprint === "string" && record.system_fingerprint !== "") {
      this.fingerprint = record.system_fingerprint;
    }
    if (typeof record.model === "string" && record.model !== "") this.reportedModel = record.model;
    const usage = asRecord(record.usage);
    if (usage) this.usage = usage;
    const timings = asRecord(record.timings);
    if (timings) this.timings = timings;
    if (!Array.isArray(record.choices)) return [];
    // We never ask for n > 1, so only the first choice matters.
    const choice = record.choices.map(asRecord).find((item) => item !== undefined && (item.index ?? 0) === 0);
    if (!choice) return [];
    const events: ChatEvent[] = [];
    const logprobs = toLogprobs(choice.logprobs);
    if (this.options.mode === "completion") {
      if (typeof choice.text === "string" && choice.text !== "") {
        this.count("content", choice.text);
        events.push(withLogprobs({ type: "text-delta", text: choice.text }, logprobs));
      } else if (logprobs.length > 0) {
        events.push({ type: "text-delta", text: "", logprobs });
      }
    } else {
      const delta = asRecord(choice.delta) ?? asRecord(choice.message) ?? {};
      this.readDelta(delta, logprobs, events);
    }
    if (typeof choice.finish_reason === "string" && choice.finish_reason !== "") {
      this.finishReason = mapFinishReason(choice.finish_reason);
      // vLLM names the stop string that matched (or a token id, which we cannot use).
      if (typeof choice.stop_reason === "string") this.stopSequence = choice.stop_reason;
    }
    return events;
  }

  /**
   * The events held back and the `finish`, once the body has ended. A body that ended without
   * a finish reason was cut (the upstream died or dropped us): that is an error, never a quietly
   * short reply.
   */
  end(): ChatEvent[] {
    if (this.finishReason === undefined) throw streamCutError(this.options.label);
    const events = this.toEvents(this.splitter.finish());
    for (const kind of ["reasoning", "content"] as const) {
      const logprobs = this.pendingLogprobs[kind].splice(0);
      if (logprobs.length > 0) {
        events.push({ type: kind === "reasoning" ? "reasoning-delta" : "text-delta", text: "", logprobs });
      }
    }
    for (const call of this.toolCalls.values()) {
      if (!call.started) throw malformedError(this.options.label, "a tool call without a function name");
    }
    // Some upstreams (Ollama among them) say "stop" after a tool call; clients expect tool_calls.
    const finishReason =
      this.finishReason === "stop" && this.toolCalls.size > 0 ? "tool_calls" : this.finishReason;
    const { label, upstreamModel } = this.options;
    events.push({
      type: "finish",
      finishReason,
      usage: this.finalUsage(),
      ...(this.stopSequence === undefined ? {} : { stopSequence: this.stopSequence }),
      servedBy: {
        pool: label.pool,
        replica: label.replica,
        upstreamModel: this.reportedModel ?? upstreamModel,
        ...(this.fingerprint === undefined ? {} : { systemFingerprint: this.fingerprint }),
      },
    });
    return events;
  }

  private readDelta(delta: Record<string, unknown>, logprobs: TokenLogprob[], events: ChatEvent[]): void {
    const reasoning = [delta.reasoning_content, delta.reasoning, delta.thinking].find(
      (value): value is string => typeof value === "string" && value !== "",
    );
    if (reasoning !== undefined) {
      this.count("reasoning", reasoning);
      events.push(withLogprobs({ type: "reasoning-delta", text: reasoning }, logprobs.splice(0)));
    }
    const content = contentText(delta.content);
    if (content !== "") {
      const wasReasoning = this.splitter.isReasoning;
      const parts = this.splitter.push(content);
      // The tags count as reasoning: `<think>` opens it, `</think>` closes it.
      const kind: Kind = wasReasoning || this.splitter.isReasoning ? "reasoning" : "content";
      this.deltas[kind]++;
      this.pendingLogprobs[kind].push(...logprobs.splice(0));
      const produced = this.toEvents(parts);
      // The reasoning just ended (`</think>`, which shows no text): its tokens' logprobs go out
      // before the answer's first text, so the logprobs stay in generation order.
      const closing = this.splitter.isReasoning ? [] : this.pendingLogprobs.reasoning.splice(0);
      if (closing.length > 0) {
        const answerAt = produced.findIndex((event) => event.type === "text-delta");
        const emptyDelta: ChatEvent = { type: "reasoning-delta", text: "", logprobs: closing };
        produced.splice(answerAt < 0 ? produced.length : answerAt, 0, emptyDelta);
      }
      events.push(...produced);
    } else if (logprobs.length > 0) {
      this.pendingLogprobs[this.splitter.isReasoning ? "reasoning" : "content"].push(...logprobs);
    }
    if (Array.isArray(delta.tool_calls)) {
      for (const call of delta.tool_calls) this.readToolCall(asRecord(call), events);
    }
    // The pre-tools `function_call` form (old OpenAI clients, some proxies): one call, index 0.
    const legacy = asRecord(delta.function_call);
    if (legacy) this.readToolCall({ index: 0, function: legacy }, events);
  }

  private readToolCall(call: Record<string, unknown> | undefined, events: ChatEvent[]): void {
    if (!call) return;
    const key =
      typeof call.index === "number"
        ? `index:${call.index}`
        : typeof call.id === "string" && call.id !== ""
          ? `id:${call.id}`
          : (this.lastToolKey ?? "index:0");
    let state = this.toolCalls.get(key);
    if (!state) {
      state = {
        index: this.toolCalls.size,
        id: undefined,
        name: undefined,
        started: false,
        bufferedArguments: "",
      };
      this.toolCalls.set(key, state);
    }
    this.lastToolKey = key;
    if (typeof call.id === "string" && call.id !== "" && state.id === undefined) state.id = call.id;
    const fn = asRecord(call.function) ?? {};
    if (typeof fn.name === "string" && fn.name !== "" && !state.started) {
      state.name = fn.name;
      state.started = true;
      state.id ??= newToolCallId();
      events.push({ type: "tool-call-start", index: state.index, id: state.id, name: state.name });
    }
    // Ollama's native shape has the arguments as an object; its /v1 and everyone else send text.
    const args =
      typeof fn.arguments === "string"
        ? fn.arguments
        : fn.arguments !== undefined && fn.arguments !== null
          ? JSON.stringify(fn.arguments)
          : "";
    if (!state.started) {
      state.bufferedArguments += args;
      return;
    }
    const delta = state.bufferedArguments + args;
    state.bufferedArguments = "";
    if (delta !== "") events.push({ type: "tool-call-delta", index: state.index, argumentsDelta: delta });
  }

  private toEvents(parts: SplitPart[]): ChatEvent[] {
    return parts.map((part) => {
      const kind = part.kind;
      if (kind === "reasoning") this.chars.reasoning += part.text.length;
      else this.chars.content += part.text.length;
      const logprobs = this.pendingLogprobs[kind].splice(0);
      const type = kind === "reasoning" ? "reasoning-delta" : "text-delta";
      return withLogprobs({ type, text: part.text }, logprobs);
    });
  }

  private count(kind: Kind, text: string): void {
    this.deltas[kind]++;
    this.chars[kind] += text.length;
  }

  private finalUsage(): Usage {
    const reported = this.usage;
    const prompt = numberOr(reported?.prompt_tokens, undefined);
    const completion = numberOr(reported?.completion_tokens, undefined);
    const estimatedReasoning = Math.max(this.deltas.reasoning, Math.ceil(this.chars.reasoning / 4));
    if (prompt !== undefined && completion !== undefined) {
      const promptDetails = asRecord(reported?.prompt_tokens_details);
      const completionDetails = asRecord(reported?.completion_tokens_details);
      const cached =
        numberOr(promptDetails?.cached_tokens, undefined) ??
        numberOr(reported?.prompt_cache_hit_tokens, undefined) ??
        numberOr(this.timings?.cache_n, 0)!;
      const reasoning =
        numberOr(completionDetails?.reasoning_tokens, undefined) ??
        numberOr(reported?.reasoning_tokens, undefined) ??
        // Reasoning split out of `content` here is not counted upstream; one delta is about a token.
        Math.min(completion, estimatedReasoning);
      return {
        promptTokens: prompt,
        promptCacheHitTokens: Math.min(cached, prompt),
        completionTokens: completion,
        reasoningTokens: reasoning,
        source: "upstream",
      };
    }
    // No usage at all (an upstream that ignores stream_options): about four characters a token,
    // or one token a delta when deltas are shorter; the ledger records it as an estimate.
    const content = Math.max(this.deltas.content, Math.ceil(this.chars.content / 4));
    return {
      promptTokens: Math.ceil(this.options.promptChars / 4),
      promptCacheHitTokens: 0,
      completionTokens: content + estimatedReasoning + this.toolCalls.size,
      reasoningTokens: estimatedReasoning,
      source: "estimated",
    };
  }
}

export function mapFinishReason(reason: string): FinishReason {
  switch (reason) {
    case "length":
      return "length";
    case "tool_calls":
    case "function_call":
      return "tool_calls";
    default:
      // "stop", "eos", "content_filter" (the reply ended, shorter than wanted), and anything new.
      return "stop";
  }
}

/** OpenAI chat logprobs (`{content:[…]}`) or the legacy completions form (`tokens`, `token_logprobs`). */
export function toLogprobs(value: unknown): TokenLogprob[] {
  const record = asRecord(value);
  if (!record) return [];
  if (Array.isArray(record.content)) {
    const out: TokenLogprob[] = [];
    for (const item of record.content) {
      const entry = toEntry(item);
      if (!entry) continue;
      const top = Array.isArray(asRecord(item)?.top_logprobs)
        ? (asRecord(item)!.top_logprobs as unknown[])
        : [];
      out.push({ ...entry, top: top.map(toEntry).filter((alt) => alt !== undefined) });
    }
    return out;
  }
  if (Array.isArray(record.tokens) && Array.isArray(record.token_logprobs)) {
    const tops = Array.isArray(record.top_logprobs) ? record.top_logprobs : [];
    const logprobs: unknown[] = record.token_logprobs;
    return record.tokens.flatMap((token, index): TokenLogprob[] => {
      const logprob = logprobs[index];
      if (typeof token !== "string" || typeof logprob !== "number") return [];
      const alternatives = asRecord(tops[index]) ?? {};
      return [
        {
          token,
          logprob,
          bytes: utf8Bytes(token),
          top: Object.entries(alternatives)
            .filter((entry): entry is [string, number] => typeof entry[1] === "number")
            .map(([alternative, value]) => ({
              token: alternative,
              logprob: value,
              bytes: utf8Bytes(alternative),
            })),
        },
      ];
    });
  }
  return [];
}

function toEntry(item: unknown): { token: string; logprob: number; bytes: number[] } | undefined {
  const record = asRecord(item);
  if (!record || typeof record.token !== "string" || typeof record.logprob !== "number") return undefined;
  const bytes =
    Array.isArray(record.bytes) && record.bytes.every((byte) => typeof byte === "number")
      ? (record.bytes as number[])
      : utf8Bytes(record.token);
  return { token: record.token, logprob: record.logprob, bytes };
}

function utf8Bytes(text: string): number[] {
  return [...Buffer.from(text, "utf8")];
}

/** `content` as text: a string, or OpenAI content parts (some proxies send those back). */
function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content
    .map((part) => {
      const record = asRecord(part);
      return record && typeof record.text === "string" ? record.text : "";
    })
    .join("");
}

function withLogprobs<Event extends Extract<ChatEvent, { text: string }>>(
  event: Event,
  logprobs: TokenLogprob[],
): Event {
  return logprobs.length > 0 ? { ...event, logprobs } : event;
}

function numberOr<Fallback extends number | undefined>(
  value: unknown,
  fallback: Fallback,
): number | Fallback {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : fallback;
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}
