/** Work done between two turns of the event loop, in ms. */
export const SLICE_MS = 8;

/**
 * Lets long synchronous work (validating, walking or tokenizing a large request) give the event
 * loop a turn every few milliseconds, so other requests and /health keep being answered.
 */
export class SliceClock {
  private sliceStart = performance.now();

  /** Yields to the event loop once a slice's worth of work has run since the last yield. */
  async maybeYield(): Promise<void> {
    if (performance.now() - this.sliceStart < SLICE_MS) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.sliceStart = performance.now();
  }
}
