/**
 * Reasoning effort as a budget of thinking tokens: once the reasoning has taken this many tokens
 * the engine closes it and the answer begins. The levels follow OpenAI's and DeepSeek's
 * `reasoning_effort` (and Ollama's `think`, the Responses API's `reasoning.effort`); the
 * highest levels set no limit. Anthropic's `thinking.budget_tokens` is a budget already.
 */
export const THINKING_BUDGETS: Readonly<Record<string, number>> = {
  minimal: 128,
  low: 512,
  medium: 2048,
  high: 8192,
};

/** The budget of an effort level; undefined (no limit) for the highest levels or none given. */
export function thinkingBudgetFor(effort: string | null | undefined): number | undefined {
  return effort ? THINKING_BUDGETS[effort] : undefined;
}

/** `{ thinkingBudget }` when there is one, else nothing: spread into a ChatRequest. */
export function withThinkingBudget(budget: number | undefined): { thinkingBudget?: number } {
  return budget === undefined ? {} : { thinkingBudget: budget };
}
