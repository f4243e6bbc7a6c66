/** Marks a moment when the source had nothing to say for a whole interval. */
export const KEEP_ALIVE = Symbol("keep-alive");

/**
 * Passes `source` through and adds a KEEP_ALIVE marker each time it stays silent for
 * `intervalMs`, so a request waiting in a queue (or on a long prompt) can keep its connection
 * alive: SSE comments for streams, blank lines before a JSON body, as DeepSeek does.
 */
export async function* withKeepAlive<Item>(
  source: AsyncIterable<Item>,
  intervalMs: number,
): AsyncGenerator<Item | typeof KEEP_ALIVE> {
  const iterator = source[Symbol.asyncIterator]();
  let pending = iterator.next();
  let finished = false;
  try {
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const silence = new Promise<typeof KEEP_ALIVE>((resolve) => {
        timer = setTimeout(() => resolve(KEEP_ALIVE), intervalMs);
      });
      const result = await Promise.race([pending, silence]);
      clearTimeout(timer);
      if (result === KEEP_ALIVE) {
        yield KEEP_ALIVE;
        continue;
      }
      if (result.done) {
        finished = true;
        return;
      }
      yield result.value;
      pending = iterator.next();
    }
  } finally {
    if (!finished) await iterator.return?.();
  }
}
