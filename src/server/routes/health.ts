import type { FastifyInstance } from "fastify";
import type { ModelInfo } from "../../core/engine.js";

/** What /health shows of an upstream pool (see RemoteEngine.health). */
export interface PoolHealthView {
  name: string;
  healthy: number;
  total: number;
  queued: number;
  models: number;
  reason?: string;
  replicas: Array<{ url: string; state: string; outstanding: number; lastError?: string }>;
}

/** A pool is down with no replica in service, degraded with some out or no models, else ok. */
export function poolState(pool: PoolHealthView): "ok" | "degraded" | "down" {
  return pool.healthy === 0 ? "down" : pool.healthy < pool.total || pool.models === 0 ? "degraded" : "ok";
}

/** A model's draft model and the share of drafted tokens it accepted (null before any draft). */
function speculationView(speculation: NonNullable<ModelInfo["speculation"]>) {
  const { draftModel, acceptedTokens, rejectedTokens } = speculation;
  const drafted = acceptedTokens + rejectedTokens;
  return {
    draft_model: draftModel ?? null,
    accepted_tokens: acceptedTokens,
    rejected_tokens: rejectedTokens,
    acceptance_rate: drafted > 0 ? Math.round((acceptedTokens / drafted) * 1000) / 1000 : null,
  };
}

export interface HealthSource {
  listModels(): ModelInfo[];
  /** Upstream pools, when there are any. */
  pools?(): PoolHealthView[];
}

/**
 * `GET /health`: 200 while the default model can answer (loaded, or on disk and loaded by the next
 * request); 503 with the reason while it is downloading or loading, missing or failed. Every model
 * is listed with its state, and loaded ones with their context size per sequence, busy sequences,
 * KV-cache types and flash attention (true, false, or "auto" where llama.cpp decides); every
 * upstream pool with its replicas, and `degraded` naming the pools that have a replica out of
 * service (or no models), so a monitor sees a failing upstream while the server still answers.
 */
export function registerHealthRoutes(app: FastifyInstance, source: HealthSource): void {
  app.get("/health", async (_request, reply) => {
    const models = source.listModels().map((model) => ({
      id: model.id,
      state: model.state,
      ...(model.pool ? { pool: model.pool } : {}),
      ...(model.reason ? { reason: model.reason } : {}),
      ...(model.contextSize !== undefined ? { context_size: model.contextSize } : {}),
      ...(model.cacheTypeK !== undefined
        ? { cache_type_k: model.cacheTypeK, cache_type_v: model.cacheTypeV }
        : {}),
      ...(model.flashAttention !== undefined ? { flash_attention: model.flashAttention } : {}),
      ...(model.busySequences !== undefined ? { busy_sequences: model.busySequences } : {}),
      ...(model.speculation ? { speculation: speculationView(model.speculation) } : {}),
    }));
    const pools = (source.pools?.() ?? []).map((pool) => ({
      name: pool.name,
      state: poolState(pool),
      healthy_replicas: pool.healthy,
      replicas_total: pool.total,
      queued: pool.queued,
      models: pool.models,
      ...(pool.reason ? { reason: pool.reason } : {}),
      replicas: pool.replicas.map((replica) => ({
        url: replica.url,
        state: replica.state,
        outstanding: replica.outstanding,
        ...(replica.lastError ? { last_error: replica.lastError } : {}),
      })),
    }));
    const degraded = pools.filter((pool) => pool.state !== "ok").map((pool) => pool.name);
    const extra = pools.length > 0 ? { pools, ...(degraded.length > 0 ? { degraded } : {}) } : {};
    const main = models[0];
    if (main?.state === "ready" || main?.state === "available")
      return reply.send({ status: "ok", models, ...extra });
    const reason =
      main?.reason ??
      (pools.length > 0
        ? `No upstream model can answer: ${pools.map((pool) => `${pool.name}: ${pool.reason ?? pool.state}`).join("; ")}`
        : "No model is configured. Start the server with --model PATH.gguf or run `qiusuo pull deepseek-r1:1.5b`.");
    return reply
      .code(503)
      .send({ status: main?.state === "loading" ? "loading" : "unavailable", reason, models, ...extra });
  });
}
