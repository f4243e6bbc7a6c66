/**
 * A small push-to-pull queue: the driver pushes events as tokens arrive, the request's async
 * generator pulls them. Nothing is dropped; the consumer is always at most one step behind.
 *
 * The consumer is woken on a timer rather than at once. Waking it at once would run its work
 * (serialising and writing the HTTP chunk, about 0.3 ms a token) between a decode's end and the
 * start of the next one, where every microtask delays every stream; on a timer it runs while
 * llama.cpp computes the next step on its own thread. A token reaches the client about 1 ms later.
 */
export class EventQueue<Item> implements AsyncIterable<Item> {
  private readonly items: Item[] = [];
  private ended = false;
  private failure: { error: unknown } | undefined;
  private wake: (() => void) | undefined;
  private waking: NodeJS.Timeout | undefined;

  push(item: Item): void {
    this.items.push(item);
    this.notify();
  }

  end(): void {
    this.ended = true;
    this.notify();
  }

  fail(error: unknown): void {
    this.failure = { error };
    this.notify();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Item> {
    for (;;) {
      while (this.items.length > 0) yield this.items.shift()!;
      if (this.failure) throw this.failure.error;
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private notify(): void {
    if (!this.wake || this.waking) return;
    this.waking = setTimeout(() => {
      this.waking = undefined;
      const wake = this.wake;
      this.wake = undefined;
      wake?.();
    }, 0);
  }
}
