import type { Token } from "node-llama-cpp";

/** One generation being driven: the sequence's token iterator and what to do with each token. */
export interface Stepper {
  /** Yields tokens, or `{token, probabilities}` when log-probabilities are asked for. */
  iterator: AsyncGenerator<unknown, void, void | Token | Token[]>;
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
  resolve(end: StepEnd): void;
  reject(error: unknown): void;
}

/**
 * Steps every active generation of a context together: each step asks all of them for their next
 * token at once, so node-llama-cpp packs their decodes into one llama.cpp batch. Loops that run
 * freely drift out of phase and barely batch (shared/spec/node-llama-cpp.md §1); in lockstep,
 * N streams decode in batches of N. A generation that is cancelled leaves at the next step.
 *
 * With speculative decoding one decode may confirm several drafted tokens of a stream; that
 * stream takes them all in the same step, so the streams stay in phase (one decode each per
 * step) and a stream whose drafts are accepted is not held to one token per step by the others.
 */
export class LockstepDriver {
  private readonly active = new Set<Entry>();
  private running = false;

  get size(): number {
    return this.active.size;
  }

  /** Drives `stepper` until it is done, ends, or is cancelled; resolves once its iterator is closed. */
  run(stepper: Stepper): Promise<StepEnd> {
    return new Promise<StepEnd>((resolve, reject) => {
      this.active.add({ stepper, resolve, reject });
      if (!this.running) {
        this.running = true;
        // Start on the next turn, so requests that arrive together share their first step.
        setImmediate(() => void this.loop());
      }
    });
  }

  private async loop(): Promise<void> {
    try {
      while (this.active.size > 0) {
        await Promise.all([...this.active].map((entry) => this.step(entry)));
      }
    } finally {
      this.running = false;
    }
  }

  private async step(entry: Entry): Promise<void> {
    const { stepper } = entry;
    try {
      if (stepper.cancelled()) return await this.retire(entry, "cancelled");
      do {
        const result = await stepper.iterator.next();
        if (result.done) return await this.retire(entry, "end-of-generation", false);
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
    if (close) await entry.stepper.iterator.return();
    entry.resolve(end);
  }
}
