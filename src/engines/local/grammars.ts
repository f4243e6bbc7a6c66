import type { ChatRequest } from "../../core/chat.js";

/** GBNF grammars for one request. */
export interface GrammarPlan {
  /** The whole answer (after any reasoning): JSON modes and forced tool calls. */
  answer?: string;
  /** Once the model opens `<tool_call>` of its own accord (tool_choice auto). */
  onToolCall?: string;
}

export function planGrammars(_request: ChatRequest): GrammarPlan {
  return {};
}
