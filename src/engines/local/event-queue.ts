/**
 * A small push-to-pull queue: the driver pushes events as tokens arrive, the request's async
 * generator pulls them. Nothing is dropped; the consumer is always at most one step behind.
 *
 * The consumer is woken on a timer rather than at once. Waking it at once would run its work
 * (serialising and writing the HTTP chunk, about 0.3 ms a token) between a decode's end and the
 * start of the next one, where every microtask delays every stream; on a timer it runs while
 * llama.cpp computes the next step on its own thread. A token reaches the client about 1 ms later,
 * except the first (time to first token is what a client waits on) and the end or a failure, after
 * which no decode follows: those wake the consumer at once.
 */
export class EventQueue<Item> implements AsyncIterable<Item> {
  private readonly items: Item[] = [];
  private ended = false;
  private failure: { error: unknown } | undefined;
  private wake: (() => void) | undefined;
  private waking: NodeJS.Timeout | undefined;
  private delivered = false;

  push(item: Item): void {
    this.items.push(item);
    if (this.delivered) this.notifySoon();
    else this.notifyNow();
    this.delivered = true;
  }

  end(): void {
    this.ended = true;
    this.notifyNow();
  }

  fail(error: unknown): void {
    this.failure = { error };
    this.notifyNow();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Item> {
    for (;;) {
      while (this.items.length > 0) yield this.items.shift()!;
      if (this.failure) throw this.failure.error;
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private notifyNow(): void {
    clearTimeout(this.waking);
    this.waking = undefined;
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private notifySoon(): void {
    if (!this.wake || this.waking) return;
    this.waking = setTimeout(() => this.notifyNow(), 0);
  }
}
