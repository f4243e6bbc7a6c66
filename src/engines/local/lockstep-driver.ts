import type { Token } from "node-llama-cpp";

type TokenIterator = AsyncGenerator<unknown, void, void | Token | Token[]>;

/**
 * What a generation reads before its first token, when the driver may read it in chunks: the
 * chunks go between the decode steps of the other generations, so they keep flowing.
 */
export interface PromptReader {
  tokens: readonly Token[];
  /** Reads `chunk` into the sequence, generating nothing. */
  read(chunk: Token[]): Promise<void>;
  /** Starts the generation on `rest`, what is left of `tokens` (never empty). */
  start(rest: Token[]): TokenIterator;
}

/** One generation being driven: its tokens (or prompt) and what to do with each token. */
export interface Stepper {
  /** Yields tokens, or `{token, probabilities}` when log-probabilities are asked for. */
  iterator?: TokenIterator;
  /** Instead of `iterator`: the prompt, which the driver reads in chunks while others decode. */
  prompt?: PromptReader;
  /** Called synchronously with each item; returns true when this phase of generation is done. */
  onToken(item: unknown): boolean;
  /** True once the client has gone or the request was cancelled. */
  cancelled(): boolean;
  /**
   * True when the next token is already computed (a draft the last decode confirmed), so taking
   * it costs no decode. Such tokens are taken within the same step.
   */
  ready?(): boolean;
}

export type StepEnd = "done" | "end-of-generation" | "cancelled";

interface Entry {
  stepper: Stepper;
  iterator: TokenIterator | undefined;
  /** Prompt tokens not read yet. */
  unread: Token[];
  /** Tokens generated so far (the steps it took part in while decoding). */
  tokens: number;
  resolve(end: StepEnd): void;
  reject(error: unknown): void;
}

/** Prompt chunks never get smaller than this (a batch this size costs little more than one token). */
const MIN_CHUNK_TOKENS = 16;
const MAX_CHUNK_TOKENS = 512;
/** A step that reads a chunk may take this many times a decode-only step: the largest token gap. */
const CHUNK_STEP_FACTOR = 2.5;
/** Weight of the newest measurement in the moving averages of step costs. */
const SMOOTHING = 0.3;
/**
 * A generation counts as flowing, and new prompts are read in chunks beside it, once it has
 * produced this many tokens. Requests that arrive a few milliseconds apart (a client's burst, an
 * agent's fan-out) find the first one only just started: their prompts are read whole, together,
 * in the next step, as llama-server does, instead of in slow small chunks for a stream nobody has
 * seen flow yet.
 */
const FLOWING_TOKENS = 4;
/** How long an idle driver's first step waits for requests still on their way to it. */
const ARRIVAL_WINDOW_MS = 20;

/**
 * Steps every active generation of a context together: each step asks all of them for their next
 * token at once, so node-llama-cpp packs their decodes into one llama.cpp batch. Loops that run
 * freely drift out of phase and barely batch (shared/spec/node-llama-cpp.md §1); in lockstep,
 * N streams decode in batches of N. A generation that is cancelled leaves at the next step.
 *
 * A new prompt is read in chunks while others decode (chunked prefill): each step reads one chunk
 * in the same batch as the others' tokens, sized from measured costs so that the step takes about
 * CHUNK_STEP_FACTOR decode-only steps. Read whole, a 2,000-token prompt would stop every running
 * stream for its whole prefill. A prompt with no stream flowing beside it (none has produced
 * FLOWING_TOKENS yet) is read whole, at once.
 *
 * With speculative decoding one decode may confirm several drafted tokens of a stream; that
 * stream takes them all in the same step, so the streams stay in phase (one decode each per
 * step) and a stream whose drafts are accepted is not held to one token per step by the others.
 */
export class LockstepDriver {
  private readonly active = new Set<Entry>();
  /** Requests on their way to the driver (rendering, tokenizing, taking a sequence). */
  private readonly arriving: () => number;
  private running = false;
  /** Moving averages: a step without prompt chunks, and a chunked step per chunk token (ms). */
  private decodeStepMs: number | undefined;
  private chunkTokenMs: number | undefined;

  constructor(options: { arriving?: () => number } = {}) {
    this.arriving = options.arriving ?? (() => 0);
  }

  get size(): number {
    return this.active.size;
  }

  /** Drives `stepper` until it is done, ends, or is cancelled; resolves once its iterator is closed. */
  run(stepper: Stepper): Promise<StepEnd> {
    return new Promise<StepEnd>((resolve, reject) => {
      this.active.add({
        stepper,
        iterator: stepper.iterator,
        unread: stepper.prompt ? [...stepper.prompt.tokens] : [],
        tokens: 0,
        resolve,
        reject,
      });
      if (!this.running) {
        this.running = true;
        this.startWhenArrived();
      }
    });
  }

  /**
   * Starts the loop on the next turn, or once the requests still on their way have joined (at most
   * ARRIVAL_WINDOW_MS): requests sent together then read their prompts in one batch. Without the
   * wait, the first one's prompt read starts at once and holds the context, so the others' first
   * steps (taking their sequence's cells needs the context too) come one prompt read later each,
   * and then are read in small chunks beside the first one's decoding: 4 simultaneous requests
   * reached the engine 0.2 ms apart on empty sequences and 2-70 ms apart on used ones.
   */
  private startWhenArrived(): void {
    const deadline = performance.now() + ARRIVAL_WINDOW_MS;
    const poll = () => {
      if (this.arriving() > 0 && performance.now() < deadline) setTimeout(poll, 1);
      else void this.loop();
    };
    setImmediate(poll);
  }

  private async loop(): Promise<void> {
    try {
      while (this.active.size > 0) {
        const entries = [...this.active];
        // Generations flowing now; a prompt beside none of them is read whole.
        const flowing = entries.filter(
          (entry) => entry.iterator !== undefined && entry.tokens >= FLOWING_TOKENS,
        ).length;
        const chunk = this.chunkTokens();
        let chunked = 0;
        let startsWhole = false;
        const started = performance.now();
        await Promise.all(
          entries.map((entry) => {
            const reading = flowing > 0 && entry.iterator === undefined && entry.unread.length > chunk;
            if (reading) chunked += chunk;
            else startsWhole ||= entry.iterator === undefined;
            return this.step(entry, reading ? chunk : undefined);
          }),
        );
        // A step that read a prompt whole measures neither a decode step nor a chunk.
        if (!startsWhole) this.measure(performance.now() - started, chunked);
      }
    } finally {
      this.running = false;
    }
  }

  /** One step of `entry`: a chunk of its prompt when `chunk` is set, else its next token(s). */
  private async step(entry: Entry, chunk: number | undefined): Promise<void> {
    const { stepper } = entry;
    try {
      if (stepper.cancelled()) return await this.retire(entry, "cancelled");
      if (chunk !== undefined) return await stepper.prompt!.read(entry.unread.splice(0, chunk));
      entry.iterator ??= stepper.prompt!.start(entry.unread.splice(0));
      do {
        const result = await entry.iterator.next();
        if (result.done) return await this.retire(entry, "end-of-generation", false);
        entry.tokens++;
        if (stepper.onToken(result.value)) return await this.retire(entry, "done");
        if (stepper.cancelled()) return await this.retire(entry, "cancelled");
      } while (stepper.ready?.());
    } catch (error) {
      this.active.delete(entry);
      entry.reject(error);
    }
  }

  private async retire(entry: Entry, end: StepEnd, close = true): Promise<void> {
    this.active.delete(entry);
    // Closing the iterator ends node-llama-cpp's evaluation, so the sequence is free to reuse.
    if (close) await entry.iterator?.return();
    entry.resolve(end);
  }

  /** The chunk that makes a step about CHUNK_STEP_FACTOR decode steps long (64 until measured). */
  private chunkTokens(): number {
    if (this.decodeStepMs === undefined || this.chunkTokenMs === undefined) return 64;
    const tokens = Math.floor((CHUNK_STEP_FACTOR * this.decodeStepMs) / this.chunkTokenMs);
    return Math.min(MAX_CHUNK_TOKENS, Math.max(MIN_CHUNK_TOKENS, tokens));
  }

  private measure(stepMs: number, chunkTokens: number): void {
    const average = (old: number | undefined, value: number) =>
      old === undefined ? value : old + SMOOTHING * (value - old);
    if (chunkTokens > 0) this.chunkTokenMs = average(this.chunkTokenMs, stepMs / chunkTokens);
    else this.decodeStepMs = average(this.decodeStepMs, stepMs);
  }
}
