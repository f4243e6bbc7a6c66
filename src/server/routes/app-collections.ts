import type { FastifyInstance } from "fastify";
import type { AppApiContext } from "./app-api.js";

/** Knowledge collections: create, upload files, index, search (issue 11). Placeholder, filled in by that work. */
export function registerCollectionRoutes(_app: FastifyInstance, _context: AppApiContext): void {}
