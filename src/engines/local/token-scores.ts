import type { ControlledEvaluateInputItem, LlamaContextSequence, Token } from "node-llama-cpp";

/**
 * The natural log of a probability too small for a float32 softmax to hold (below its smallest
 * subnormal), used when a token is missing from the distribution: finite, so sums stay numbers.
 */
const UNDERFLOW_LOGPROB = -104;

/**
 * Evaluates `context` then `continuation` on `sequence` and returns the summed log-probability of
 * each continuation token given everything before it. `context` must not be empty: its last token's
 * output is the first continuation token's distribution. The probabilities are the model's plain
 * softmax (temperature 0 leaves the whole vocabulary, unlike a truncating sampler chain).
 */
export async function scoreTokens(
  sequence: LlamaContextSequence,
  context: readonly Token[],
  continuation: readonly Token[],
): Promise<number> {
  if (context.length === 0) throw new Error("scoring needs at least one context token");
  const tokens = [...context, ...continuation];
  const firstScored = context.length - 1;
  const input: ControlledEvaluateInputItem[] = tokens.map((token, index) =>
    index >= firstScored && index < tokens.length - 1
      ? [token, { generateNext: { probabilities: true, options: { temperature: 0 } } }]
      : token,
  );
  const output = await sequence.controlledEvaluate(input);
  let sum = 0;
  for (let index = firstScored; index < tokens.length - 1; index++) {
    const probability = output[index]?.next.probabilities?.get(tokens[index + 1]!) ?? 0;
    sum += probability > 0 ? Math.max(Math.log(probability), UNDERFLOW_LOGPROB) : UNDERFLOW_LOGPROB;
  }
  return sum;
}
