// How one request ended, from the client's side. Only the failures fail the run; a 429 with
// Retry-After, a client's own abort and a request cut by the planned kill are expected.
import type { Sent } from "./target.js";

export const OUTCOMES = [
  "ok",
  "aborted",
  "rate-limited",
  "killed",
  "server-error",
  "error-in-stream",
  "client-error",
  "bad-response",
  "connection-error",
  "timeout",
] as const;

export type Outcome = (typeof OUTCOMES)[number];

/** What a run must never see. */
export const FAILURES: ReadonlySet<Outcome> = new Set([
  "server-error",
  "error-in-stream",
  "client-error",
  "bad-response",
  "connection-error",
  "timeout",
]);

export interface Verdict {
  outcome: Outcome;
  /** Why, for a failure: what was wrong with the answer. */
  detail?: string;
}

/** Looks at a 2xx answer's body: undefined when it is what the kind expects. */
export type Check = (sent: Sent) => Verdict | undefined;

export function classify(sent: Sent, check?: Check): Verdict {
  if (sent.failure?.reason === "aborted") return { outcome: "aborted" };
  if (sent.failure) {
    if (sent.acrossKill) return { outcome: "killed" };
    const outcome = sent.failure.reason === "timeout" ? "timeout" : "connection-error";
    return { outcome, detail: sent.failure.message };
  }
  const status = sent.status ?? 0;
  if (status >= 500) return { outcome: "server-error", detail: `HTTP ${status}` };
  if (status === 429) {
    return sent.headers["retry-after"] === undefined
      ? { outcome: "client-error", detail: "429 without Retry-After" }
      : { outcome: "rate-limited" };
  }
  if (status >= 400 || status < 200) return { outcome: "client-error", detail: `HTTP ${status}` };
  return check?.(sent) ?? { outcome: "ok" };
}

export function badResponse(detail: string): Verdict {
  return { outcome: "bad-response", detail };
}

export function errorInStream(detail: string): Verdict {
  return { outcome: "error-in-stream", detail };
}
