import cookie from "@fastify/cookie";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Registry } from "prom-client";
import type { Authenticator } from "../../auth/authenticator.js";
import { QiusuoError } from "../../core/errors.js";
import { SESSION_COOKIE } from "./app-api.js";

/**
 * Who may scrape `/metrics`. `admin`: in accounts mode only an admin, by API key (Prometheus's
 * `authorization` scrape setting sends it) or by app session; in local mode anyone who can reach
 * the loopback address. `public`: anyone, for a Prometheus that cannot hold a secret.
 */
export type MetricsAccess = "admin" | "public";

export interface MetricsRouteOptions {
  registry: Registry;
  auth: Authenticator;
  access: MetricsAccess;
}

/** `GET /metrics`: the app's series in Prometheus's text format. */
export function registerMetricsRoutes(app: FastifyInstance, options: MetricsRouteOptions): void {
  void app.register(async (scope) => {
    await scope.register(cookie);
    scope.get("/metrics", async (request, reply) => {
      if (options.access === "admin" && options.auth.mode === "accounts")
        await requireAdmin(request, options.auth);
      const body = await options.registry.metrics();
      return reply.header("content-type", options.registry.contentType).send(body);
    });
  });
}

/**
 * The series say which models run, how busy the server is and how many tokens everyone used:
 * the operator's business, not every key holder's.
 */
async function requireAdmin(request: FastifyRequest, auth: Authenticator): Promise<void> {
  const token = request.cookies[SESSION_COOKIE];
  const session = token === undefined ? undefined : await auth.sessionUser(token);
  const user = session?.user ?? (await auth.apiPrincipal(request.headers)).user;
  if (user.role !== "admin") {
    throw new QiusuoError(
      "permission",
      "admin_only",
      "Only an admin may read /metrics. Use an admin's API key, or start the server with --metrics public.",
    );
  }
}
