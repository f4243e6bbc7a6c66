import type { FastifyInstance } from "fastify";
import type { Registry } from "prom-client";

/** `GET /metrics`: the app's series in Prometheus's text format. */
export function registerMetricsRoutes(app: FastifyInstance, registry: Registry): void {
  app.get("/metrics", async (_request, reply) => {
    const body = await registry.metrics();
    return reply.header("content-type", registry.contentType).send(body);
  });
}
