import type { LlamaContext, LlamaContextSequence, Token } from "node-llama-cpp";
import { ModelUnavailableError, QiusuoError } from "../../core/errors.js";

/**
 * Hands out the sequences of one context, one request at a time each. A request waits in FIFO
 * order when all are busy, and gets the free sequence that already holds the longest prefix of its
 * prompt, so a follow-up turn reuses the KV cache of the turn before.
 */
export class SequencePool {
  private readonly free: LlamaContextSequence[] = [];
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
  }

  get queued(): number {
    return this.waiters.length;
  }

  /** Throws 429 with Retry-After when a new request would have to wait in a full queue. */
  assertRoom(): void {
    if (this.free.length === 0 && this.waiters.length >= this.maxQueue) {
      throw new QiusuoError(
        "rate_limit",
        "queue_full",
        `The server is busy: every sequence is generating and ${this.waiters.length} requests are waiting. Retry shortly.`,
        { retryAfterSeconds: 2 },
      );
    }
  }

  acquire(tokens: readonly Token[], signal: AbortSignal): Promise<LlamaContextSequence> {
    if (this.free.length > 0) return Promise.resolve(this.takeBest(tokens));
    this.assertRoom();
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

  release(sequence: LlamaContextSequence): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve(sequence);
    else this.free.push(sequence);
  }

  async dispose(): Promise<void> {
    for (const waiter of this.waiters.splice(0)) {
      waiter.reject(new ModelUnavailableError("model_unloaded", "The model was unloaded."));
    }
    for (const sequence of this.free.splice(0)) sequence.dispose();
  }

  private takeBest(tokens: readonly Token[]): LlamaContextSequence {
    let bestIndex = 0;
    let bestShared = -1;
    this.free.forEach((sequence, index) => {
      const shared = sequence.compareContextTokens(tokens as Token[]).firstDifferentIndex;
      if (shared > bestShared) {
        bestShared = shared;
        bestIndex = index;
      }
    });
    const [sequence] = this.free.splice(bestIndex, 1);
    return sequence!;
  }
}
