import {
  DraftSequenceTokenPredictor,
  InputLookupTokenPredictor,
  type ControlledEvaluateInputItem,
  type LlamaContextSequence,
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

/** Tokens the draft model drafts ahead, and the prompt lookup quotes, at most. */
const MAX_DRAFT_TOKENS = 8;
/** Drafted tokens the first decode of a generation checks; then it adapts. */
const INITIAL_BUDGET = 4;
/** Rounds in a row with no drafted token accepted before drafting pauses... */
const MISSES_BEFORE_PAUSE = 3;
/**
 * ...and the decode steps after which a paused predictor tries one token again, doubled after
 * each probe that misses, up to the most. On a CPU a decode of 2 tokens costs about 2.7 of one,
 * so a probe every 16 steps cost an always-wrong draft model 12% (0.88x plain); with the doubling
 * its cost falls below 1% within a few hundred tokens.
 */
const PROBE_EVERY_STEPS = 16;
const MAX_PROBE_EVERY_STEPS = 512;

/**
 * Speculation only where it gives exactly the tokens plain decoding gives: greedy requests
 * (temperature 0) without penalties and without a grammar. A sampler at a temperature draws a
 * random number at each checked position, so the same seed (the API always seeds one) would give
 * another reply; penalties read the tokens generated so far, which do not include the drafts a
 * decode checks; and the check (controlledEvaluate) takes no grammar.
 */
export function speculationFor(
  request: ChatRequest,
  constrained: boolean,
  available: { draft: boolean; lookup: "on" | "off" },
): SpeculationMode | undefined {
  const { sampling } = request;
  if (sampling.temperature > 0 || constrained) return undefined;
  if (sampling.frequencyPenalty !== 0 || sampling.presencePenalty !== 0) return undefined;
  const lookup = available.lookup === "on";
  return available.draft || lookup ? { draft: available.draft, lookup } : undefined;
}

/** Acceptance of drafted tokens, for /health and the bench. */
export interface SpeculationStats {
  /** Drafted tokens the target model confirmed. */
  acceptedTokens: number;
  /** Drafted tokens it rejected. */
  rejectedTokens: number;
}

/**
 * The draft sources of one sequence: prompt lookup (node-llama-cpp's InputLookupTokenPredictor,
 * free to compute, tried first) and a draft model (its DraftSequenceTokenPredictor on a sequence
 * of the draft model's context).
 */
export class Drafter {
  private readonly lookup = new InputLookupTokenPredictor({
    patternLength: { min: 2 },
    predictionLength: { max: MAX_DRAFT_TOKENS },
  });
  private readonly draft: DraftSequenceTokenPredictor | undefined;
  private mode: SpeculationMode = { draft: false, lookup: false };

  constructor(draftSequence: LlamaContextSequence | undefined) {
    this.draft =
      draftSequence &&
      new DraftSequenceTokenPredictor(draftSequence, {
        // Wait for a whole draft (or for the draft model to be unsure, below 0.6): a draft model
        // runs beside the target, and what it has at the instant of asking is often one token.
        minTokens: MAX_DRAFT_TOKENS,
        maxTokens: MAX_DRAFT_TOKENS,
      });
  }

  /**
   * Checks that the draft model can draft for `target` (same vocabulary type, special tokens and
   * token texts: llama.cpp's own test), throwing its message when not.
   */
  async checkDraftFor(target: LlamaContextSequence): Promise<void> {
    await this.draft?.reset({ targetSequence: target, stateTokens: [], evaluateOptions: {} });
  }

  /** Starts drafting for `target`, which holds or will hold `state`; `prompt` is what lookup quotes. */
  async start(
    mode: SpeculationMode,
    target: LlamaContextSequence,
    state: Token[],
    prompt: readonly Token[],
  ): Promise<void> {
    this.mode = { draft: mode.draft && this.draft !== undefined, lookup: mode.lookup };
    if (this.mode.lookup) {
      this.lookup.updateInputTokens([...prompt]);
      this.lookup.reset({ stateTokens: state });
    }
    if (this.mode.draft) {
      await this.draft!.reset({
        targetSequence: target,
        stateTokens: state,
        evaluateOptions: { temperature: 0 },
      });
    }
  }

  /** Tokens that joined the state. */
  push(tokens: Token[]): void {
    if (this.mode.lookup) this.lookup.pushTokens(tokens);
    if (this.mode.draft) this.draft!.pushTokens(tokens);
  }

  async predict(): Promise<Token[]> {
    const quoted = this.mode.lookup ? this.lookup.predictTokens() : [];
    if (quoted.length > 0 || !this.mode.draft) return quoted;
    return [...(await this.draft!.predictTokens())];
  }

  /** Stops the draft model's background drafting. */
  stop(): void {
    if (this.mode.draft) this.draft!.stop();
  }

  dispose(): void {
    this.draft?.dispose();
    this.lookup.dispose();
  }
}

/** What a speculative generation yields: a token, with its probabilities when asked. */
export interface DraftedToken {
  token: Token;
  probabilities?: Map<Token, number>;
}

/**
 * Greedy decoding that checks drafted tokens in the decode of the token they follow: one decode
 * evaluates the pending token and the drafts, samples after each, and keeps the drafts up to the
 * first that differs from what the model chose, so a decode gives up to 1 + drafts tokens. The
 * rejected drafts' cells are erased before the next decode. The output is exactly plain greedy
 * decoding's.
 *
 * node-llama-cpp's own speculative evaluation (a sequence's `tokenPredictor`) is not used: 3.21.1
 * accepts at most one drafted token per decode (every later one is compared with an array that
 * nothing fills, so it is refuted), and a 2-token decode costs about 2.3 single ones on a CPU
 * (bench/speculative.ts), so it only ever lost there.
 *
 * The draft length adapts: it doubles while every draft is accepted, drops to the accepted run on
 * a miss, and after a few rounds with nothing accepted drafting pauses, trying one token every few
 * steps, so text the drafts cannot guess costs almost nothing.
 */
export class SpeculativeGeneration {
  /** Tokens of the last decode not yet yielded: the driver takes them in the same step. */
  private buffered = 0;
  private budget = INITIAL_BUDGET;
  private misses = 0;
  private pausedSteps = 0;
  private probeEvery = PROBE_EVERY_STEPS;

  constructor(
    private readonly sequence: LlamaContextSequence,
    private readonly drafter: Drafter,
    private readonly mode: SpeculationMode,
    /** What prompt lookup quotes from. */
    private readonly prompt: readonly Token[],
    private readonly stats: SpeculationStats,
    private readonly probabilities: boolean,
  ) {}

  /** Whether the next token is already decoded. */
  ready(): boolean {
    return this.buffered > 0;
  }

  async *tokens(input: Token[]): AsyncGenerator<DraftedToken, void, void> {
    const { sequence } = this;
    const generate = {
      generateNext: { token: true, probabilities: this.probabilities, options: { temperature: 0 } },
    };
    let pending = input;
    /**
     * Accepted drafts in the sequence from the last yielded token on. A consumer that stops there
     * evaluates that token next itself (a new phase), so they are erased when it stops.
     */
    let ahead = 0;
    await this.drafter.start(this.mode, sequence, [...sequence.contextTokens, ...input], this.prompt);
    try {
      for (;;) {
        const room = sequence.contextSize - sequence.nextTokenIndex - pending.length;
        const drafts = (await this.drafts()).slice(0, Math.max(0, room - 1));
        const items: ControlledEvaluateInputItem[] = pending.map((token, index) =>
          index === pending.length - 1 ? [token, generate] : token,
        );
        for (const token of drafts) items.push([token, generate]);
        const results = await sequence.controlledEvaluate(items);
        const produced: DraftedToken[] = [];
        for (let index = 0; index <= drafts.length; index++) {
          const next = results[pending.length - 1 + index]?.next;
          if (next?.token === undefined || next.token === null)
            throw new Error("Failed to sample the next token");
          produced.push({
            token: next.token,
            ...(next.probabilities ? { probabilities: next.probabilities } : {}),
          });
          if (index === drafts.length || drafts[index] !== next.token) break;
        }
        const accepted = produced.length - 1;
        this.account(accepted, drafts.length - accepted);
        if (drafts.length > accepted) {
          const end = sequence.nextTokenIndex;
          await sequence.eraseContextTokenRanges([{ start: end - (drafts.length - accepted), end }]);
        }
        // A paused draft model stays idle rather than draft in the background on cores the
        // target needs; it reads the pushed tokens when it is asked again.
        if (this.budget === 0) this.drafter.stop();
        this.drafter.push(produced.map(({ token }) => token));
        this.buffered = produced.length;
        for (const [index, item] of produced.entries()) {
          this.buffered--;
          ahead = accepted - index;
          if (sequence.model.isEogToken(item.token)) return;
          yield item;
        }
        ahead = 0;
        pending = [produced.at(-1)!.token];
      }
    } finally {
      this.buffered = 0;
      this.drafter.stop();
      if (ahead > 0) {
        const end = sequence.nextTokenIndex;
        await sequence.eraseContextTokenRanges([{ start: end - ahead, end }]);
      }
    }
  }

  private async drafts(): Promise<Token[]> {
    if (this.budget === 0) {
      if (++this.pausedSteps < this.probeEvery) return [];
      this.pausedSteps = 0;
      return (await this.drafter.predict()).slice(0, 1);
    }
    return (await this.drafter.predict()).slice(0, this.budget);
  }

  private account(accepted: number, rejected: number): void {
    this.stats.acceptedTokens += accepted;
    this.stats.rejectedTokens += rejected;
    if (accepted + rejected === 0) return;
    if (this.budget === 0) {
      // A probe while paused: a miss waits twice as long for the next; a hit resumes drafting.
      this.probeEvery =
        accepted > 0 ? PROBE_EVERY_STEPS : Math.min(MAX_PROBE_EVERY_STEPS, this.probeEvery * 2);
    }
    this.misses = accepted === 0 ? this.misses + 1 : 0;
    if (rejected === 0) this.budget = Math.min(MAX_DRAFT_TOKENS, Math.max(1, this.budget) * 2);
    else if (this.misses >= MISSES_BEFORE_PAUSE) this.budget = 0;
    else this.budget = Math.max(1, accepted);
  }
}
