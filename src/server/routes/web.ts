import type { FastifyInstance } from "fastify";

/**
 * The chat app: the Vite build under dist/web, served at `/` (placeholder until the app lands;
 * the web app work owns this file).
 */
export function registerWebRoutes(_app: FastifyInstance): void {}
