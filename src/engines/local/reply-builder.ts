import type { LlamaModel, Token } from "node-llama-cpp";
import type { ChatEvent, FinishReason, TokenLogprob } from "../../core/chat.js";
import { ReasoningSplitter, type SplitPart } from "../../core/reasoning-splitter.js";
import { StopMatcher } from "../../core/stop-matcher.js";
import { ToolCallParser, type ToolCallPart } from "../../core/tool-call-parser.js";
import { TokenTextDecoder } from "./token-text-decoder.js";

export interface ReplyOptions {
  stop: readonly string[];
  startsIn: "undecided" | "reasoning" | "content";
  maxTokens: number;
  /** Read `<tool_call>` blocks in the answer as tool calls. */
  parseToolCalls: boolean;
}

/** A boundary in the output where the engine may switch grammars. */
export type ReplyBoundary = "reasoning-ended" | "tool-call-opened";

/**
 * Turns one request's generated tokens into chat events: decodes text, applies stop sequences,
 * splits reasoning from the answer, finds tool calls, attaches log-probabilities and counts
 * tokens. Pure bookkeeping, called once per token.
 */
export class ReplyBuilder {
  private readonly splitter: ReasoningSplitter;
  private readonly stops: StopMatcher;
  private readonly decoder: TokenTextDecoder;
  private readonly tools: ToolCallParser | undefined;
  private readonly pendingLogprobs: Record<"reasoning" | "content", TokenLogprob[]> = {
    reasoning: [],
    content: [],
  };
  readonly generated: Token[] = [];
  reasoningTokens = 0;
  private cutByLength = false;

  constructor(
    model: LlamaModel,
    private readonly options: ReplyOptions,
  ) {
    this.splitter = new ReasoningSplitter({ startsIn: options.startsIn });
    this.stops = new StopMatcher(options.stop);
    this.decoder = new TokenTextDecoder(model);
    this.tools = options.parseToolCalls ? new ToolCallParser() : undefined;
  }

  /** The stop sequence that ended the reply, if one did. */
  get stopSequence(): string | undefined {
    return this.stops.matched;
  }

  get finishReason(): FinishReason {
    if (this.cutByLength) return "length";
    return (this.tools?.callCount ?? 0) > 0 ? "tool_calls" : "stop";
  }

  /** Adds a token; returns its events, whether generation should end, and any boundary crossed. */
  push(
    token: Token,
    logprob?: TokenLogprob,
  ): { events: ChatEvent[]; done: boolean; boundary?: ReplyBoundary } {
    this.generated.push(token);
    const wasReasoning = this.splitter.isReasoning;
    const wasInCall = this.tools?.inCall ?? false;
    const { text, stopped } = this.stops.push(this.decoder.push(token));
    const parts = this.splitter.push(text);
    // The tags count as reasoning: `<think>` opens it, `</think>` closes it.
    const isReasoningToken = wasReasoning || this.splitter.isReasoning;
    if (isReasoningToken) this.reasoningTokens++;
    if (logprob) this.pendingLogprobs[isReasoningToken ? "reasoning" : "content"].push(logprob);
    const events = this.toEvents(parts);
    let boundary: ReplyBoundary | undefined;
    if (wasReasoning && !this.splitter.isReasoning) boundary = "reasoning-ended";
    if (!wasInCall && this.tools?.inCall) boundary = "tool-call-opened";
    if (stopped) return { events, done: true };
    if (this.generated.length >= this.options.maxTokens) {
      this.cutByLength = true;
      return { events, done: true };
    }
    return { events, done: false, ...(boundary ? { boundary } : {}) };
  }

  /** The events still held back when generation ends. */
  finish(): ChatEvent[] {
    let text = "";
    if (!this.stops.hasStopped) text = this.stops.push(this.decoder.flush()).text + this.stops.flush();
    const events = [...this.toEvents(this.splitter.push(text)), ...this.toEvents(this.splitter.finish())];
    if (this.tools) events.push(...this.fromToolParts(this.tools.finish()));
    // Log-probabilities of tokens whose text was held back ride on a last, empty delta.
    for (const kind of ["reasoning", "content"] as const) {
      const logprobs = this.pendingLogprobs[kind].splice(0);
      if (logprobs.length > 0) {
        events.push({ type: kind === "reasoning" ? "reasoning-delta" : "text-delta", text: "", logprobs });
      }
    }
    return events;
  }

  private toEvents(parts: SplitPart[]): ChatEvent[] {
    const events: ChatEvent[] = [];
    for (const part of parts) {
      if (part.kind === "reasoning") {
        events.push(this.withLogprobs({ type: "reasoning-delta", text: part.text }, "reasoning"));
      } else if (this.tools) {
        events.push(...this.fromToolParts(this.tools.push(part.text)));
      } else {
        events.push(this.withLogprobs({ type: "text-delta", text: part.text }, "content"));
      }
    }
    return events;
  }

  private fromToolParts(parts: ToolCallPart[]): ChatEvent[] {
    return parts.map((part): ChatEvent => {
      if (part.kind === "text") return this.withLogprobs({ type: "text-delta", text: part.text }, "content");
      if (part.kind === "call-start")
        return { type: "tool-call-start", index: part.index, id: part.id, name: part.name };
      return { type: "tool-call-delta", index: part.index, argumentsDelta: part.argumentsDelta };
    });
  }

  private withLogprobs<Event extends ChatEvent & { text: string }>(
    event: Event,
    kind: "reasoning" | "content",
  ): Event {
    const logprobs = this.pendingLogprobs[kind].splice(0);
    return logprobs.length > 0 ? { ...event, logprobs } : event;
  }
}
