import { partialSuffixLength } from "./reasoning-splitter.js";

/**
 * Finds stop sequences in streamed text. Text that might be the start of a stop sequence is held
 * back until it is known not to be, so the stop text itself never reaches the client.
 */
export class StopMatcher {
  private held = "";
  private stopped = false;
  /** The stop sequence that ended generation, once one has. */
  matched: string | undefined;

  constructor(private readonly stops: readonly string[]) {}

  get hasStopped(): boolean {
    return this.stopped;
  }

  /** Returns the text that is safe to emit; after a match, the text before it and `stopped`. */
  push(text: string): { text: string; stopped: boolean } {
    if (this.stopped) return { text: "", stopped: true };
    if (this.stops.length === 0) return { text, stopped: false };
    this.held += text;
    let first = -1;
    for (const stop of this.stops) {
      const index = this.held.indexOf(stop);
      if (index >= 0 && (first < 0 || index < first)) {
        first = index;
        this.matched = stop;
      }
    }
    if (first >= 0) {
      const out = this.held.slice(0, first);
      this.held = "";
      this.stopped = true;
      return { text: out, stopped: true };
    }
    const keep = Math.max(0, ...this.stops.map((stop) => partialSuffixLength(this.held, stop)));
    const out = this.held.slice(0, this.held.length - keep);
    this.held = this.held.slice(out.length);
    return { text: out, stopped: false };
  }

  /** The held-back text, once generation ends without a match. */
  flush(): string {
    const out = this.held;
    this.held = "";
    return out;
  }
}
