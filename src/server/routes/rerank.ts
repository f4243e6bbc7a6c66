import type { FastifyInstance } from "fastify";
import { NO_USAGE } from "../../auth/request-meter.js";
import type { Engine } from "../../core/engine.js";
import { QiusuoError } from "../../core/errors.js";
import { parseRerank, rerankResponse } from "../../protocol/rerank.js";
import type { ApiGate } from "../api-gate.js";
import { apiBodyLimit } from "../limits.js";
import { disconnectSignal } from "../reply-helpers.js";

/**
 * Reranking at every path llama-server answers on (`/rerank`, `/reranking`, each also under
 * `/v1`), which covers vLLM's and Jina's too. Admitted and booked like embeddings.
 */
export function registerRerankRoutes(app: FastifyInstance, engine: Engine, gate: ApiGate): void {
  const bodyLimit = apiBodyLimit(app);
  for (const path of ["/rerank", "/reranking", "/v1/rerank", "/v1/reranking"]) {
    app.post(path, { bodyLimit }, async (request, reply) => {
      const { meter } = await gate.admit(request, reply);
      const parsed = parseRerank(request.body);
      if (!engine.rank) {
        throw new QiusuoError("unavailable", "not_supported", "This engine does not serve reranking.");
      }
      const { model } = parsed.request;
      const result = await engine.rank(parsed.request, disconnectSignal(reply));
      await meter.settle("ok", { ...NO_USAGE, promptTokens: result.promptTokens }, model);
      return rerankResponse(parsed, result);
    });
  }
}
