import type { FastifyInstance } from "fastify";

/**
 * The largest body the API routes (DeepSeek, Anthropic) accept: 8 MiB, some sixteen times the
 * text of a 128k-token prompt. Parsing it takes tens of milliseconds on the event loop; the app's
 * import route has its own, larger limit.
 */
export const API_BODY_LIMIT_BYTES = 8 * 1024 * 1024;

/** The API routes' body limit: 8 MiB, or the server's own limit when that is smaller. */
export function apiBodyLimit(app: FastifyInstance): number {
  return Math.min(app.initialConfig.bodyLimit ?? API_BODY_LIMIT_BYTES, API_BODY_LIMIT_BYTES);
}
