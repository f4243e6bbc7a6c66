import type { FastifyInstance } from "fastify";
import type { ModelInfo } from "../../core/engine.js";

export interface HealthSource {
  listModels(): ModelInfo[];
}

/**
 * `GET /health`: 200 while the default model can answer (loaded, or on disk and loaded by the next
 * request); 503 with the reason while it is downloading or loading, missing or failed. Every model
 * is listed with its state, and loaded ones with their context size and busy sequences.
 */
export function registerHealthRoutes(app: FastifyInstance, source: HealthSource): void {
  app.get("/health", async (_request, reply) => {
    const models = source.listModels().map((model) => ({
      id: model.id,
      state: model.state,
      ...(model.reason ? { reason: model.reason } : {}),
      ...(model.contextSize !== undefined ? { context_size: model.contextSize } : {}),
      ...(model.busySequences !== undefined ? { busy_sequences: model.busySequences } : {}),
    }));
    const main = models[0];
    if (main?.state === "ready" || main?.state === "available") return reply.send({ status: "ok", models });
    const reason =
      main?.reason ??
      "No model is configured. Start the server with --model PATH.gguf or run `qiusuo pull deepseek-r1:1.5b`.";
    return reply
      .code(503)
      .send({ status: main?.state === "loading" ? "loading" : "unavailable", reason, models });
  });
}
