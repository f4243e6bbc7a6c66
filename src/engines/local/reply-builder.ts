import type { LlamaModel, Token } from "node-llama-cpp";
import type { ChatEvent, FinishReason } from "../../core/chat.js";
import { ReasoningSplitter, type SplitPart } from "../../core/reasoning-splitter.js";
import { StopMatcher } from "../../core/stop-matcher.js";
import { TokenTextDecoder } from "./token-text-decoder.js";

/**
 * Turns one request's generated tokens into chat events: decodes text, applies stop sequences,
 * splits reasoning from the answer and counts tokens. Pure bookkeeping, called once per token.
 */
export class ReplyBuilder {
  private readonly splitter: ReasoningSplitter;
  private readonly stops: StopMatcher;
  private readonly decoder: TokenTextDecoder;
  readonly generated: Token[] = [];
  reasoningTokens = 0;
  finishReason: FinishReason = "stop";

  constructor(
    model: LlamaModel,
    stop: readonly string[],
    startsInReasoning: boolean,
    private readonly maxTokens: number,
  ) {
    this.splitter = new ReasoningSplitter({ startsInReasoning });
    this.stops = new StopMatcher(stop);
    this.decoder = new TokenTextDecoder(model);
  }

  /** Adds a token; returns its events and whether generation should end here. */
  push(token: Token): { events: ChatEvent[]; done: boolean } {
    this.generated.push(token);
    const wasReasoning = this.splitter.isReasoning;
    const { text, stopped } = this.stops.push(this.decoder.push(token));
    const events = toEvents(this.splitter.push(text));
    if (wasReasoning || this.splitter.isReasoning) this.reasoningTokens++;
    if (stopped) return { events, done: true };
    if (this.generated.length >= this.maxTokens) {
      this.finishReason = "length";
      return { events, done: true };
    }
    return { events, done: false };
  }

  /** The events still held back when generation ends. */
  finish(): ChatEvent[] {
    let text = "";
    if (!this.stops.hasStopped) text = this.stops.push(this.decoder.flush()).text + this.stops.flush();
    return [...toEvents(this.splitter.push(text)), ...toEvents(this.splitter.finish())];
  }
}

function toEvents(parts: SplitPart[]): ChatEvent[] {
  return parts.map((part) => ({
    type: part.kind === "reasoning" ? "reasoning-delta" : "text-delta",
    text: part.text,
  }));
}
