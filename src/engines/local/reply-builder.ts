import type { LlamaModel, Token } from "node-llama-cpp";
import type { ChatEvent, FinishReason, TokenLogprob } from "../../core/chat.js";
import type { ModelFamily } from "../../core/families/model-family.js";
import type { OutputParser, OutputPart } from "../../core/families/output-parser.js";
import { StopMatcher } from "../../core/stop-matcher.js";
import { familyOf } from "./model-family.js";
import { TokenTextDecoder } from "./token-text-decoder.js";

export interface ReplyOptions {
  stop: readonly string[];
  startsIn: "undecided" | "reasoning" | "content";
  maxTokens: number;
  /** Read tool calls in the answer, in the model family's syntax (and `<tool_call>`). */
  parseToolCalls: boolean;
  /** The most tokens the reasoning may take before the engine closes it; undefined for no limit. */
  thinkingBudget?: number;
}

/**
 * A boundary in the output where the engine changes course: switches grammars at the end of the
 * reasoning or the opening of a `<tool_call>`, or closes reasoning whose budget is spent.
 */
export type ReplyBoundary = "reasoning-ended" | "tool-call-opened" | "thinking-budget-spent";

/**
 * Turns one request's generated tokens into chat events: decodes text, applies stop sequences,
 * reads reasoning and tool calls the way the model's family writes them, attaches
 * log-probabilities and counts tokens. Pure bookkeeping, called once per token.
 */
export class ReplyBuilder {
  private readonly parser: OutputParser;
  private readonly family: ModelFamily;
  private readonly markerTokens: ReadonlyMap<Token, string>;
  private readonly stops: StopMatcher;
  private readonly decoder: TokenTextDecoder;
  private readonly pendingLogprobs: Record<"reasoning" | "content", TokenLogprob[]> = {
    reasoning: [],
    content: [],
  };
  readonly generated: Token[] = [];
  reasoningTokens = 0;
  private cutByLength = false;
  private budgetSpent = false;

  constructor(
    private readonly model: LlamaModel,
    private readonly options: ReplyOptions,
  ) {
    ({ family: this.family, markerTokens: this.markerTokens } = familyOf(model));
    this.parser = this.family.createParser({
      startsIn: options.startsIn,
      parseToolCalls: options.parseToolCalls,
    });
    this.stops = new StopMatcher(options.stop);
    this.decoder = new TokenTextDecoder(model);
  }

  /** The stop sequence that ended the reply, if one did. */
  get stopSequence(): string | undefined {
    return this.stops.matched;
  }

  get finishReason(): FinishReason {
    if (this.cutByLength) return "length";
    return this.parser.callCount > 0 ? "tool_calls" : "stop";
  }

  /** Adds a token; returns its events, whether generation should end, and any boundary crossed. */
  push(
    token: Token,
    logprob?: TokenLogprob,
  ): { events: ChatEvent[]; done: boolean; boundary?: ReplyBoundary } {
    this.generated.push(token);
    const wasReasoning = this.parser.isReasoning;
    const wasInCall = this.parser.inHermesCall;
    // A family marker is read as its text even where the vocabulary makes it a control token.
    const marker = this.markerTokens.get(token);
    const decoded = marker !== undefined ? this.decoder.flush() + marker : this.decoder.push(token);
    const { text, stopped } = this.stops.push(decoded);
    const parts = this.parser.push(text);
    // The markers count as reasoning: the one that opens it and the one that closes it.
    const isReasoningToken = wasReasoning || this.parser.isReasoning;
    if (isReasoningToken) this.reasoningTokens++;
    if (logprob) this.pendingLogprobs[isReasoningToken ? "reasoning" : "content"].push(logprob);
    const events = this.toEvents(parts);
    let boundary: ReplyBoundary | undefined;
    if (wasReasoning && !this.parser.isReasoning) boundary = "reasoning-ended";
    if (!wasInCall && this.parser.inHermesCall) boundary = "tool-call-opened";
    const budget = this.options.thinkingBudget;
    if (
      budget !== undefined &&
      !this.budgetSpent &&
      this.parser.isReasoning &&
      this.reasoningTokens >= budget
    ) {
      this.budgetSpent = true;
      boundary = "thinking-budget-spent";
    }
    if (stopped) return { events, done: true };
    if (this.generated.length >= this.options.maxTokens) {
      this.cutByLength = true;
      return { events, done: true };
    }
    return { events, done: false, ...(boundary ? { boundary } : {}) };
  }

  /**
   * Ends reasoning whose budget is spent: the tokens of the family's closing marker, for the
   * engine to evaluate after the last token, and their events. The model then writes the answer.
   */
  closeReasoning(): { tokens: Token[]; events: ChatEvent[]; done: boolean } {
    const tokens = this.model.tokenize(this.family.closeReasoning, true);
    const events: ChatEvent[] = [];
    let done = false;
    for (const token of tokens) {
      const step = this.push(token);
      events.push(...step.events);
      done ||= step.done;
    }
    return { tokens, events, done };
  }

  /** The events still held back when generation ends. */
  finish(): ChatEvent[] {
    let text = "";
    if (!this.stops.hasStopped) text = this.stops.push(this.decoder.flush()).text + this.stops.flush();
    const events = [...this.toEvents(this.parser.push(text)), ...this.toEvents(this.parser.finish())];
    // Log-probabilities of tokens whose text was held back ride on a last, empty delta.
    for (const kind of ["reasoning", "content"] as const) {
      const logprobs = this.pendingLogprobs[kind].splice(0);
      if (logprobs.length > 0) {
        events.push({ type: kind === "reasoning" ? "reasoning-delta" : "text-delta", text: "", logprobs });
      }
    }
    return events;
  }

  private toEvents(parts: OutputPart[]): ChatEvent[] {
    return parts.map((part): ChatEvent => {
      if (part.kind === "reasoning") {
        return this.withLogprobs({ type: "reasoning-delta", text: part.text }, "reasoning");
      }
      if (part.kind === "content")
        return this.withLogprobs({ type: "text-delta", text: part.text }, "content");
      if (part.kind === "call-start") {
        return { type: "tool-call-start", index: part.index, id: part.id, name: part.name };
      }
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
