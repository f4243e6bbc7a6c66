import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { EngineStats } from "../core/engine.js";
import type { EngineObserver, GenerationRecord } from "../core/observer.js";
import type { PoolHealthView } from "./routes/health.js";

/** What /metrics reads at scrape time. */
export interface MetricsSource {
  stats(): EngineStats;
  /** llama.cpp's own memory, when the engine has a runtime up. */
  memoryUsage?(): Promise<{ cpuRam: number; gpuVram: number } | undefined>;
}

export interface Metrics {
  /** This app's registry (never prom-client's global one, so several apps can live in one process). */
  registry: Registry;
  /** Hand this to the engine; it turns generation events into series. */
  observer: EngineObserver;
  /** Where the gauges are read from at scrape time; call once the engine exists. */
  watch(source: MetricsSource): void;
  /** Where the upstream pools' gauges are read from at scrape time (none without it). */
  watchPools(read: () => PoolHealthView[]): void;
}

/** 5 ms to 60 s: a cached short prompt on a GPU up to a long prompt on a busy CPU. */
const TIME_TO_FIRST_TOKEN_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60];
/** 1 ms to 2 s: a small model on a GPU up to a large one on a loaded CPU. */
const INTER_TOKEN_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2];

/**
 * The Prometheus series of one app. Counters and histograms are fed by the engine's observer;
 * gauges are read from the engine when scraped. Process metrics (resident memory, CPU, event loop)
 * are prom-client's defaults, under their standard names.
 */
export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  let source: MetricsSource | undefined;

  const perModel = (name: string, help: string) =>
    new Counter({ name, help, labelNames: ["model"] as const, registers: [registry] });
  const requests = new Counter({
    name: "qiusuo_requests_total",
    help: "Chat requests that reached a model, by how they ended (stop, length, aborted, error).",
    labelNames: ["model", "outcome"] as const,
    registers: [registry],
  });
  const promptTokens = perModel("qiusuo_prompt_tokens_total", "Prompt tokens of finished requests.");
  const cacheHitTokens = perModel(
    "qiusuo_prompt_cache_hit_tokens_total",
    "Prompt tokens whose KV cache was reused (exact, not rounded to 64).",
  );
  const completionTokens = perModel(
    "qiusuo_completion_tokens_total",
    "Generated tokens, reasoning included.",
  );
  const reasoningTokens = perModel("qiusuo_reasoning_tokens_total", "Generated tokens of reasoning.");
  const timeToFirstToken = new Histogram({
    name: "qiusuo_time_to_first_token_seconds",
    help: "Seconds from a request reaching its model to its first generated token (queue wait included).",
    labelNames: ["model"] as const,
    buckets: TIME_TO_FIRST_TOKEN_BUCKETS,
    registers: [registry],
  });
  const interToken = new Histogram({
    name: "qiusuo_inter_token_latency_seconds",
    help: "Seconds between two generated tokens of one request.",
    labelNames: ["model"] as const,
    buckets: INTER_TOKEN_BUCKETS,
    registers: [registry],
  });

  const gauge = (name: string, help: string, read: (stats: EngineStats) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        if (source) this.set(read(source.stats()));
      },
    });
  gauge("qiusuo_queued_requests", "Requests waiting for a free sequence.", (stats) => stats.queuedRequests);
  gauge(
    "qiusuo_requests_waiting_for_model",
    "Requests waiting for their model to load, or for room to load it.",
    (stats) => stats.waitingForModel,
  );
  gauge("qiusuo_busy_sequences", "Sequences generating now.", (stats) => stats.busySequences);
  gauge("qiusuo_loaded_models", "Models in memory now.", (stats) => stats.loadedModels);
  new Gauge({
    name: "qiusuo_llama_memory_bytes",
    help: "Memory llama.cpp holds for weights, KV caches and buffers, by device (cpu, gpu).",
    labelNames: ["device"] as const,
    registers: [registry],
    async collect() {
      const usage = await source?.memoryUsage?.();
      if (!usage) return;
      this.set({ device: "cpu" }, usage.cpuRam);
      this.set({ device: "gpu" }, usage.gpuVram);
    },
  });

  let pools: (() => PoolHealthView[]) | undefined;
  const poolGauge = (name: string, help: string, read: (pool: PoolHealthView) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ["pool"] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const pool of pools?.() ?? []) this.set({ pool: pool.name }, read(pool));
      },
    });
  poolGauge("qiusuo_upstream_replicas", "Replicas configured per upstream pool.", (pool) => pool.total);
  poolGauge(
    "qiusuo_upstream_healthy_replicas",
    "Replicas of each upstream pool in service (0 while none has answered).",
    (pool) => pool.healthy,
  );
  poolGauge(
    "qiusuo_upstream_in_flight_requests",
    "Requests each upstream pool's replicas are serving now.",
    (pool) => pool.replicas.reduce((sum, replica) => sum + replica.outstanding, 0),
  );
  poolGauge(
    "qiusuo_upstream_queued_requests",
    "Requests waiting for a replica of each upstream pool.",
    (pool) => pool.queued,
  );

  const observer: EngineObserver = {
    firstToken: (model, seconds) => timeToFirstToken.observe({ model }, seconds),
    interToken: (model, seconds) => interToken.observe({ model }, seconds),
    finished: (record: GenerationRecord) => {
      const model = record.model;
      requests.inc({ model, outcome: record.outcome });
      promptTokens.inc({ model }, record.promptTokens);
      cacheHitTokens.inc({ model }, record.cacheHitTokens);
      completionTokens.inc({ model }, record.completionTokens);
      reasoningTokens.inc({ model }, record.reasoningTokens);
    },
  };

  return {
    registry,
    observer,
    watch(next) {
      source = next;
    },
    watchPools(read) {
      pools = read;
    },
  };
}
