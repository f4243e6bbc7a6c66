/**
 * What an engine reports as it works, for metrics. The engine calls these; server/ turns them
 * into Prometheus series. Kept as a plain interface so core and engines never import prom-client.
 */
export type GenerationOutcome = "stop" | "length" | "tool_calls" | "aborted" | "error";

export interface GenerationRecord {
  model: string;
  promptTokens: number;
  /** Prompt tokens whose KV state was reused (exact, not rounded to DeepSeek's 64-token units). */
  cacheHitTokens: number;
  completionTokens: number;
  reasoningTokens: number;
  outcome: GenerationOutcome;
}

export interface EngineObserver {
  /** Seconds from the request reaching the engine to its first generated token. */
  firstToken(model: string, seconds: number): void;
  /** Seconds between two generated tokens of one request. */
  interToken(model: string, seconds: number): void;
  finished(record: GenerationRecord): void;
}

export const silentObserver: EngineObserver = {
  firstToken: () => {},
  interToken: () => {},
  finished: () => {},
};
