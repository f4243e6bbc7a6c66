/**
 * Books one API request when it ends: a usage-ledger row (with the user, key, model, tokens,
 * latency and how it ended) and the end of its key admission. Settling twice is harmless; the
 * first settlement counts.
 */
import type { ChatEvent, Usage } from "../core/chat.js";
import type { Store } from "../store/store.js";
import type { Principal } from "./authenticator.js";

export const NO_USAGE: Usage = {
  promptTokens: 0,
  promptCacheHitTokens: 0,
  completionTokens: 0,
  reasoningTokens: 0,
};

export class RequestMeter {
  private settled = false;
  private model = "";
  private readonly startedAt = performance.now();

  constructor(
    private readonly store: Store,
    private readonly principal: Principal,
    private readonly admissionId: string | undefined,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Passes the events through, and settles with the finish event's usage when they end. */
  async *watch(model: string, events: AsyncIterable<ChatEvent>): AsyncIterable<ChatEvent> {
    this.model = model;
    let usage: Usage | undefined;
    let status = "client_closed";
    try {
      for await (const event of events) {
        if (event.type === "finish") usage = event.usage;
        yield event;
      }
      status = "ok";
    } catch (error) {
      status = errorCode(error);
      throw error;
    } finally {
      await this.settle(status, usage ?? NO_USAGE);
    }
  }

  /** For requests whose usage is known without events (embeddings), or that failed before. */
  async settle(status: string, usage: Usage = NO_USAGE, model = this.model): Promise<void> {
    if (this.settled) return;
    this.settled = true;
    const tokens = usage.promptTokens + usage.completionTokens;
    // The reply has gone out; a lost ledger row must not fail it, so failures are only logged.
    await this.store.usage
      .record({
        userId: this.principal.user.id,
        apiKeyId: this.principal.apiKey?.id ?? null,
        model: model || "(none)",
        promptTokens: usage.promptTokens,
        promptCacheHitTokens: usage.promptCacheHitTokens,
        promptCacheMissTokens: usage.promptTokens - usage.promptCacheHitTokens,
        completionTokens: usage.completionTokens,
        reasoningTokens: usage.reasoningTokens,
        latencyMs: performance.now() - this.startedAt,
        status,
      })
      .catch(this.onError);
    if (this.admissionId !== undefined) {
      await this.store.keyAdmissions.finish(this.admissionId, tokens).catch(this.onError);
    }
  }
}

function errorCode(error: unknown): string {
  if (typeof error === "object" && error !== null && "code" in error && typeof error.code === "string") {
    return error.code;
  }
  return "internal_error";
}
