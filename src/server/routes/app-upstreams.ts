import type { FastifyInstance } from "fastify";
import { requireAdmin, type AppApiContext } from "./app-api.js";
import { poolState } from "./health.js";

/**
 * `GET /api/upstreams` (admins only): each upstream pool with its replicas, as the models page
 * shows them. Replica URLs are the display form (no credentials, query or fragment) and keys are
 * never part of a pool's health, so nothing here can leak one.
 */
export function registerUpstreamRoutes(app: FastifyInstance, context: AppApiContext): void {
  app.get("/upstreams", async (request) => {
    requireAdmin(context.user(request));
    const pools = context.pools?.() ?? [];
    return {
      data: pools.map((pool) => ({
        name: pool.name,
        state: poolState(pool),
        healthyReplicas: pool.healthy,
        totalReplicas: pool.total,
        queued: pool.queued,
        models: pool.models,
        ...(pool.reason ? { reason: pool.reason } : {}),
        replicas: pool.replicas.map((replica) => ({
          url: replica.url,
          state: replica.state,
          inFlight: replica.outstanding,
          ...(replica.lastError ? { lastError: replica.lastError } : {}),
        })),
      })),
    };
  });
}
