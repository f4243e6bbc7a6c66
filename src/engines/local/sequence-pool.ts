import type { LlamaContext, LlamaContextSequence, Token } from "node-llama-cpp";
import { ModelUnavailableError, QiusuoError } from "../../core/errors.js";

/** A saving sequence is waited for when it shares this many more prompt tokens than any free one. */
const WORTH_WAITING_TOKENS = 64;

/** A place in the pool (a free sequence or a place in the queue), held until `acquire` uses it. */
export interface Reservation {
  held: boolean;
}

/**
 * Hands out the sequences of one context, one request at a time each. A request waits in FIFO
 * order when all are busy, and gets the free sequence that already holds the longest prefix of its
 * prompt, so a follow-up turn reuses the KV cache of the turn before.
 *
 * A request reserves its place synchronously while it can still be refused with a clean 429,
 * before its response starts; a burst can then never overfill the queue between that check and
 * the moment the request's stream starts to wait.
 */
export class SequencePool {
  /** Every sequence of the context, busy or free. */
  readonly all: readonly LlamaContextSequence[];
  private readonly free: LlamaContextSequence[] = [];
  /** Reservations not yet used by `acquire` (nor cancelled). */
  private reserved = 0;
  /** Free sequences lent out to save their state to disk, and when each comes back. */
  private readonly saving = new Map<LlamaContextSequence, Promise<void>>();
  private readonly waiters: Array<{
    tokens: readonly Token[];
    resolve: (sequence: LlamaContextSequence) => void;
    reject: (error: unknown) => void;
  }> = [];

  constructor(
    context: LlamaContext,
    count: number,
    /** Requests that may wait for a sequence; one more is refused with 429. */
    private readonly maxQueue: number,
  ) {
    for (let index = 0; index < count; index++) this.free.push(context.getSequence());
    this.all = [...this.free];
  }

  get queued(): number {
    return this.waiters.length;
  }

  /**
   * Takes a place for a request, or throws 429 with Retry-After when every sequence and every
   * place in the queue is taken. The place is given back if `signal` aborts before `acquire`.
   */
  reserve(signal: AbortSignal): Reservation {
    if (this.reserved + this.waiters.length >= this.free.length + this.maxQueue) {
      throw new QiusuoError(
        "rate_limit",
        "queue_full",
        `The server is busy: every sequence is generating and ${this.waiters.length + this.reserved} requests are waiting. Retry shortly.`,
        { retryAfterSeconds: 2 },
      );
    }
    this.reserved++;
    const reservation: Reservation = { held: true };
    signal.addEventListener("abort", () => this.unreserve(reservation), { once: true });
    return reservation;
  }

  /**
   * A sequence for a reserved request: at once when one is free, else in FIFO order. A sequence
   * being saved to disk that holds a longer prefix of the prompt than any free one is waited for
   * (a save takes milliseconds; reading the prefix again takes far longer).
   */
  async acquire(
    reservation: Reservation,
    tokens: readonly Token[],
    signal: AbortSignal,
  ): Promise<LlamaContextSequence> {
    for (let saved = this.betterWhileSaving(tokens); saved; saved = this.betterWhileSaving(tokens)) {
      if (!reservation.held) break;
      await saved;
    }
    if (!reservation.held) {
      throw new ModelUnavailableError("request_aborted", "The request was cancelled while queued.");
    }
    this.unreserve(reservation);
    if (this.free.length > 0) return this.takeBest(tokens);
    return new Promise((resolve, reject) => {
      const waiter = { tokens, resolve, reject };
      this.waiters.push(waiter);
      signal.addEventListener(
        "abort",
        () => {
          const index = this.waiters.indexOf(waiter);
          if (index >= 0) this.waiters.splice(index, 1);
          reject(new ModelUnavailableError("request_aborted", "The request was cancelled while queued."));
        },
        { once: true },
      );
    });
  }

  private unreserve(reservation: Reservation): void {
    if (!reservation.held) return;
    reservation.held = false;
    this.reserved--;
  }

  release(sequence: LlamaContextSequence): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve(sequence);
    else this.free.push(sequence);
  }

  /** Whether `sequence` is free (not generating, not being saved). */
  isFree(sequence: LlamaContextSequence): boolean {
    return this.free.includes(sequence);
  }

  /**
   * Lends a free sequence to `save` while no request waits for one, and takes it back when the
   * save ends. Returns false (and saves nothing) when the sequence is in use or requests wait.
   */
  lendForSave(
    sequence: LlamaContextSequence,
    save: (sequence: LlamaContextSequence) => Promise<void>,
  ): boolean {
    const index = this.free.indexOf(sequence);
    if (index < 0 || this.waiters.length > 0) return false;
    this.free.splice(index, 1);
    const done = save(sequence)
      .catch(() => {}) // the cache is an optimisation; a failed save loses nothing else
      .finally(() => {
        this.saving.delete(sequence);
        this.release(sequence);
      });
    this.saving.set(sequence, done);
    return true;
  }

  /** Saves still running, for shutdown. */
  savesRunning(): Promise<void> {
    return Promise.all(this.saving.values()).then(() => undefined);
  }

  /** Free sequences, for a final save at shutdown. */
  freeSequences(): readonly LlamaContextSequence[] {
    return this.free;
  }

  async dispose(): Promise<void> {
    await this.savesRunning();
    for (const waiter of this.waiters.splice(0)) {
      waiter.reject(new ModelUnavailableError("model_unloaded", "The model was unloaded."));
    }
    for (const sequence of this.free.splice(0)) sequence.dispose();
  }

  /** The save to wait for when a sequence being saved shares more of `tokens` than any free one. */
  private betterWhileSaving(tokens: readonly Token[]): Promise<void> | undefined {
    if (this.saving.size === 0 || tokens.length === 0) return undefined;
    let freeBest = 0;
    for (const sequence of this.free) {
      freeBest = Math.max(freeBest, sequence.compareContextTokens(tokens as Token[]).firstDifferentIndex);
    }
    let best: { shared: number; done: Promise<void> } | undefined;
    for (const [sequence, done] of this.saving) {
      const shared = sequence.compareContextTokens(tokens as Token[]).firstDifferentIndex;
      if (shared > (best?.shared ?? freeBest + WORTH_WAITING_TOKENS)) best = { shared, done };
    }
    return best?.done;
  }

  private takeBest(tokens: readonly Token[]): LlamaContextSequence {
    let bestIndex = 0;
    let bestShared = -1;
    let bestHeld = Infinity;
    this.free.forEach((sequence, index) => {
      const shared = sequence.compareContextTokens(tokens as Token[]).firstDifferentIndex;
      // Between equal matches, the sequence holding least gives up least of another's state.
      const held = sequence.nextTokenIndex;
      if (shared > bestShared || (shared === bestShared && held < bestHeld)) {
        bestShared = shared;
        bestHeld = held;
        bestIndex = index;
      }
    });
    const [sequence] = this.free.splice(bestIndex, 1);
    return sequence!;
  }
}
