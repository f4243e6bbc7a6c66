import type { FastifyInstance } from "fastify";
import type { AppApiContext } from "./app-api.js";

/** MCP servers (admins register them) and their tools (issue 11). Placeholder, filled in by that work. */
export function registerMcpRoutes(_app: FastifyInstance, _context: AppApiContext): void {}
