import {
  DraftSequenceTokenPredictor,
  InputLookupTokenPredictor,
  TokenPredictor,
  type LlamaContextSequence,
  type SequenceEvaluateOptions,
  type Token,
} from "node-llama-cpp";
import type { ChatRequest } from "../../core/chat.js";

/** `--prompt-lookup`: "auto" looks up drafts in the prompt when no draft model is loaded. */
export const PROMPT_LOOKUP_SETTINGS = ["auto", "on", "off"] as const;
export type PromptLookupSetting = (typeof PROMPT_LOOKUP_SETTINGS)[number];

/** Which predictors draft the tokens of one generation; none means plain decoding. */
export interface SpeculationMode {
  draft: boolean;
  lookup: boolean;
}

/** Tokens the draft model drafts ahead, and the prompt lookup quotes. */
const MAX_DRAFT_TOKENS = 12;
/**
 * Drafted tokens a decode checks. node-llama-cpp 3.21.1 accepts at most the first drafted token
 * of each decode: in `_speculativeEvaluate`, each further one is compared with the last entry of
 * a `validatedTokens` array that nothing fills, so it is always counted refuted and erased. More
 * would only widen every decode for nothing; raise this when the library accepts a whole run.
 */
const CHECKED_PER_DECODE = 1;
/** Rounds in a row with no prediction accepted before drafting pauses... */
const MISSES_BEFORE_PAUSE = 3;
/** ...and the decode steps after which a paused predictor tries one token again. */
const PROBE_EVERY_STEPS = 16;

/**
 * Speculation off for a request where it could change the output: repetition penalties read the
 * tokens generated so far, which do not yet include the drafts a step checks; and a sampler at a
 * temperature draws a random number at each checked position, so the same seed (the API always
 * seeds one) would give another reply than without drafts. Greedy decoding, with grammars and
 * logprobs too (each checked position is sampled under its own grammar state and reports its own
 * probabilities), gives exactly the tokens it gives without speculation and keeps it.
 */
export function speculationFor(
  request: ChatRequest,
  available: { draft: boolean; lookup: PromptLookupSetting },
): SpeculationMode | undefined {
  const { sampling } = request;
  if (sampling.frequencyPenalty !== 0 || sampling.presencePenalty !== 0) return undefined;
  if (sampling.temperature > 0) return undefined;
  const lookup = available.lookup === "on" || (available.lookup === "auto" && !available.draft);
  return available.draft || lookup ? { draft: available.draft, lookup } : undefined;
}

/**
 * The token predictor of one sequence. node-llama-cpp fixes a sequence's predictor when the
 * sequence is made, so this one holds both kinds (a draft model's, prompt lookup) and is told per
 * generation which to use, or none. It offers the prompt lookup's drafts first (free to compute)
 * and the draft model's when the prompt has none.
 *
 * Each decode checks CHECKED_PER_DECODE drafted tokens. After a few rounds in a row with nothing
 * accepted drafting pauses, trying again every few steps: checking a rejected draft costs a wider
 * decode, so on text that the predictors cannot guess (random text, a draft model of another
 * style) speculation costs almost nothing.
 */
export class SpeculativePredictor extends TokenPredictor {
  private mode: SpeculationMode | undefined;
  private target: LlamaContextSequence | undefined;
  private budget = CHECKED_PER_DECODE;
  private misses = 0;
  private pausedSteps = 0;
  private seen = { validated: 0, refuted: 0 };

  constructor(
    private readonly draft: DraftSequenceTokenPredictor | undefined,
    private readonly lookup: InputLookupTokenPredictor = new InputLookupTokenPredictor({
      patternLength: { min: 2 },
      predictionLength: { max: MAX_DRAFT_TOKENS },
    }),
  ) {
    super();
  }

  /** A predictor for `draftSequence` of a draft model (sharing the target's vocabulary). */
  static withDraft(draftSequence: LlamaContextSequence | undefined): SpeculativePredictor {
    return new SpeculativePredictor(
      draftSequence &&
        new DraftSequenceTokenPredictor(draftSequence, {
          minTokens: CHECKED_PER_DECODE,
          maxTokens: MAX_DRAFT_TOKENS,
        }),
    );
  }

  /** Chooses the predictors of the next generation; `prompt` is what prompt lookup quotes from. */
  use(mode: SpeculationMode | undefined, prompt: readonly Token[]): void {
    this.mode = mode && { draft: mode.draft && this.draft !== undefined, lookup: mode.lookup };
    if (this.mode?.lookup) this.lookup.updateInputTokens([...prompt]);
  }

  /**
   * Checks that the draft model can draft for `target` (same vocabulary type, special tokens and
   * token texts: llama.cpp's own test), throwing its message when not.
   */
  async checkDraftFor(target: LlamaContextSequence): Promise<void> {
    await this.draft?.reset({ targetSequence: target, stateTokens: [], evaluateOptions: {} });
  }

  async reset(params: {
    targetSequence: LlamaContextSequence;
    stateTokens: Token[];
    evaluateOptions: Readonly<SequenceEvaluateOptions>;
  }): Promise<void> {
    this.target = params.targetSequence;
    const { validated, refuted } = params.targetSequence.tokenPredictions;
    this.seen = { validated, refuted };
    this.budget = CHECKED_PER_DECODE;
    this.misses = 0;
    this.pausedSteps = 0;
    if (this.mode?.lookup) this.lookup.reset(params);
    if (this.mode?.draft) await this.draft!.reset(params);
  }

  pushTokens(tokens: Token[]): void {
    if (this.mode?.lookup) this.lookup.pushTokens(tokens);
    if (!this.mode?.draft) return;
    // A paused draft model stays idle rather than draft in the background what will not be used;
    // it reads the pushed tokens when drafting resumes.
    if (this.budget === 0) this.draft!.stop();
    this.draft!.pushTokens(tokens);
  }

  predictTokens(): Token[] | Promise<Token[]> {
    if (!this.mode || !this.target) return [];
    const budget = this.nextBudget(this.target);
    if (budget === 0) return [];
    const quoted = this.mode.lookup ? this.lookup.predictTokens() : [];
    if (quoted.length > 0 || !this.mode.draft) return quoted.slice(0, budget);
    const drafted = this.draft!.predictTokens();
    return drafted instanceof Promise
      ? drafted.then((tokens) => tokens.slice(0, budget))
      : drafted.slice(0, budget);
  }

  /** The draft length for this step, from what the target accepted of the last one. */
  private nextBudget(target: LlamaContextSequence): number {
    const { validated, refuted } = target.tokenPredictions;
    const accepted = validated - this.seen.validated;
    const rejected = refuted - this.seen.refuted;
    this.seen = { validated, refuted };
    if (accepted + rejected > 0) {
      this.misses = accepted === 0 ? this.misses + 1 : 0;
      this.budget = this.misses >= MISSES_BEFORE_PAUSE ? 0 : CHECKED_PER_DECODE;
    }
    if (this.budget > 0) return this.budget;
    if (++this.pausedSteps < PROBE_EVERY_STEPS) return 0;
    this.pausedSteps = 0;
    return 1;
  }

  override stop(untilPredictionsExhausted?: boolean): void {
    if (this.mode?.draft) this.draft!.stop(untilPredictionsExhausted);
  }

  override dispose(): void {
    this.draft?.dispose();
    this.lookup.dispose();
  }
}

/** Acceptance of drafted tokens over a model's sequences, for /health and the bench. */
export interface SpeculationStats {
  /** Drafted tokens the target model confirmed. */
  acceptedTokens: number;
  /** Drafted tokens it rejected. */
  rejectedTokens: number;
}

/** Sums the draft statistics node-llama-cpp keeps per sequence. */
export function speculationStats(sequences: readonly LlamaContextSequence[]): SpeculationStats {
  let acceptedTokens = 0;
  let rejectedTokens = 0;
  for (const sequence of sequences) {
    acceptedTokens += sequence.tokenPredictions.validated;
    rejectedTokens += sequence.tokenPredictions.refuted;
  }
  return { acceptedTokens, rejectedTokens };
}
