// Every request's outcome and latency, per kind, and the first few failures in full: what was
// asked and what came back, so a failure names the request that caused it.
import type { ExchangeRequest } from "./exchange.js";
import { FAILURES, OUTCOMES, type Outcome, type Verdict } from "./outcome.js";
import type { Sent } from "./target.js";

const KEPT_FAILURES = 40;
const EXCERPT = 400;

export interface FailureSample {
  /** Seconds since the run began. */
  at: number;
  kind: string;
  variant: string;
  outcome: Outcome;
  status: number | null;
  detail: string;
  request: string;
  answer: string;
}

export interface KindTally {
  counts: Record<Outcome, number>;
  /** Milliseconds, of the requests that ended `ok`. */
  latencies: number[];
}

export class Tally {
  readonly kinds = new Map<string, KindTally>();
  readonly failures: FailureSample[] = [];
  failureCount = 0;

  constructor(private readonly startedAt: number) {}

  record(kind: string, variant: string, request: ExchangeRequest, sent: Sent, verdict: Verdict): void {
    const tally = this.kind(kind);
    tally.counts[verdict.outcome] += 1;
    if (verdict.outcome === "ok") tally.latencies.push(sent.ms);
    if (!FAILURES.has(verdict.outcome)) return;
    this.failureCount += 1;
    if (this.failures.length >= KEPT_FAILURES) return;
    this.failures.push({
      at: Math.round((performance.now() - this.startedAt) / 100) / 10,
      kind,
      variant,
      outcome: verdict.outcome,
      status: sent.status ?? null,
      detail: verdict.detail ?? "",
      request: `${request.method} ${request.path} ${excerpt(JSON.stringify(request.body ?? null))}`,
      answer: excerpt(sent.failure?.message ?? sent.body),
    });
  }

  kind(kind: string): KindTally {
    let tally = this.kinds.get(kind);
    if (!tally) {
      tally = {
        counts: Object.fromEntries(OUTCOMES.map((outcome) => [outcome, 0])) as KindTally["counts"],
        latencies: [],
      };
      this.kinds.set(kind, tally);
    }
    return tally;
  }
}

function excerpt(text: string): string {
  return text.length > EXCERPT ? `${text.slice(0, EXCERPT)}…` : text;
}

/** Nearest-rank percentile of `values` (unsorted); NaN when empty. */
export function percentile(values: readonly number[], fraction: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1))]!;
}
