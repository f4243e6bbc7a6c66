import type { FastifyInstance } from "fastify";
import type { AppApiContext } from "./app-api.js";

/** Web search for scripts and the app (issue 11). Placeholder, filled in by that work. */
export function registerWebSearchRoutes(_app: FastifyInstance, _context: AppApiContext): void {}
