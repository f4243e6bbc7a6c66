// One simulated client: its own seeded randomness, its app conversation, and `call`, which sends a
// request, classifies and records how it ended, and waits out a 429's Retry-After.
import type { ExchangeRequest } from "./exchange.js";
import type { Ledger } from "./ledger.js";
import { classify, type Check, type Verdict } from "./outcome.js";
import type { Tally } from "./tally.js";
import type { Sent, Target } from "./target.js";

/** The longest a client waits after a 429, whatever Retry-After says. */
const MAX_BACKOFF_MS = 2_000;

export class Client {
  /** The app conversation this client continues, and the message it continues from. */
  conversation: { id: string; parentId: string | null; turns: number } | undefined;
  requests = 0;
  private state: number;

  constructor(
    readonly index: number,
    seed: number,
    readonly target: Target,
    readonly tally: Tally,
    readonly ledger: Ledger,
    readonly timeoutMs: number,
  ) {
    this.state = (seed * 1_000_003 + index * 7919) >>> 0;
  }

  /** mulberry32: uniform in [0, 1), reproducible for a given seed and client. */
  random(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(this.state ^ (this.state >>> 15), this.state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)]!;
  }

  /** A short question that differs between requests, so prompts are not all one cached prefix. */
  question(): string {
    this.requests += 1;
    return `Question ${this.requests} from client ${this.index}: what is ${Math.floor(this.random() * 1000)}?`;
  }

  /** Sends, classifies and records one request; undefined once the run is over. */
  async call(
    kind: string,
    variant: string,
    request: Omit<ExchangeRequest, "timeoutMs">,
    check?: Check,
  ): Promise<{ sent: Sent; verdict: Verdict } | undefined> {
    const full = { ...request, timeoutMs: this.timeoutMs };
    const sent = await this.target.send(full);
    if (!sent) return undefined;
    const verdict = classify(sent, check);
    this.tally.record(kind, variant, full, sent, verdict);
    if (verdict.outcome === "rate-limited") {
      const seconds = Number(sent.headers["retry-after"]);
      const wait = Math.min(MAX_BACKOFF_MS, Number.isFinite(seconds) ? seconds * 1000 : 1000);
      await sleep(wait * (1 + this.random() / 2)); // a polite client: never sooner than asked
    }
    return { sent, verdict };
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
