/**
 * Lets a long import share the event loop. Its loops call `due()` once per unit of work and,
 * when it answers true, `await pause()`, which hands the loop back for one turn: a 32 MB file
 * then costs the server a few short stalls instead of one long one.
 */

/** How often the clock is read: a unit of work is a node or a message, well under a µs to ~10 µs. */
const UNITS_PER_CLOCK_READ = 256;

export class Pacer {
  private units = 0;
  private sliceStart = performance.now();

  /** `sliceMs`: how long to work before handing the loop back; Infinity never does. */
  constructor(private readonly sliceMs: number) {}

  /** Counts one unit of work; true once the current slice has run its time. */
  due(): boolean {
    if (++this.units < UNITS_PER_CLOCK_READ) return false;
    this.units = 0;
    return performance.now() - this.sliceStart >= this.sliceMs;
  }

  /** Waits for the next turn of the event loop, then starts a new slice. */
  async pause(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.sliceStart = performance.now();
  }
}
