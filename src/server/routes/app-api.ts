import cookie from "@fastify/cookie";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { csrfToken, csrfTokenMatches, type Authenticator } from "../../auth/authenticator.js";
import type { Engine, ModelManager } from "../../core/engine.js";
import type { KnowledgeService } from "../../knowledge/knowledge-service.js";
import { QiusuoError } from "../../core/errors.js";
import type { SessionUser } from "../../store/sessions.js";
import type { Store } from "../../store/store.js";
import { noRouteBody } from "../reply-helpers.js";
import { registerAccountRoutes } from "./app-account.js";
import { registerAdminRoutes } from "./app-admin.js";
import { registerAuditRoutes } from "./app-audits.js";
import { registerChatRoutes } from "./app-chat.js";
import { registerCollectionRoutes } from "./app-collections.js";
import { registerConversationRoutes } from "./app-conversations.js";
import { registerMcpRoutes } from "./app-mcp.js";
import { registerModelRoutes } from "./app-models.js";
import { registerProjectRoutes } from "./app-projects.js";
import { registerReplayRoutes } from "./app-replay.js";
import { registerShareRoutes } from "./app-shares.js";
import { registerUpstreamRoutes } from "./app-upstreams.js";
import { registerWebSearchRoutes } from "./app-web-search.js";
import type { WebSearchSetup } from "../../tools/web/web-tools.js";
import type { McpHub } from "../../tools/mcp/mcp-hub.js";
import type { PoolHealthView } from "./health.js";

export const SESSION_COOKIE = "qiusuo_session";

export interface AppApiOptions {
  engine: Engine;
  store: Store;
  auth: Authenticator;
  keepAliveMs: number;
  /** Pulls, loads and unloads from the models page; absent when the engine cannot. */
  models?: ModelManager | undefined;
  /** This server's instance id, recorded on the replies it streams. */
  instanceId?: string | undefined;
  /** The upstream pools' health, for the models page (admins only); none when absent. */
  pools?: (() => PoolHealthView[]) | undefined;
  /** Where `qiusuo audit` writes its reports, listed and served to admins; none when absent. */
  auditsDir?: string | undefined;
  /** Knowledge collections (app-collections.ts) and the turn's knowledge_search; none when absent. */
  knowledge?: KnowledgeService | undefined;
  /** The MCP servers' tools (admins register the servers); none when absent. */
  mcp?: McpHub | undefined;
  /** The app's web search (联网搜索); off when absent or without a provider. */
  webSearch?: WebSearchSetup | undefined;
}

export interface AppApiContext extends AppApiOptions {
  /** The user a request acts for; throws 401 when there is none (only on public routes). */
  user(request: FastifyRequest): SessionUser;
  /** Starts a session in the browser: the cookie, and the CSRF token the app sends back. */
  startSession(reply: FastifyReply, request: FastifyRequest, token: string, expiresAt: Date): string;
}

/** Routes anyone may call: what mode this is, how to log in, and a shared conversation's page. */
const PUBLIC_ROUTES = new Set([
  "GET /api/session",
  "POST /api/login",
  "POST /api/setup",
  "POST /api/logout",
  "GET /api/shared/:token",
]);
const WRITE_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);
/** Routes a script may also call with `Authorization: Bearer <API key>`. */
const BEARER_ROUTES = /^\/api\/(collections(\/|$)|web-search$)/;

/**
 * The chat app's JSON API under /api (docs/api.md). Every route acts for one user: the local
 * user in local mode, the session's user in accounts mode. Cookie-authenticated writes must echo
 * the session's CSRF token in `X-CSRF-Token`.
 */
export function registerAppApi(app: FastifyInstance, options: AppApiOptions): void {
  void app.register(
    async (scope) => {
      await scope.register(cookie);
      const users = new WeakMap<FastifyRequest, SessionUser>();
      const context: AppApiContext = {
        ...options,
        user(request) {
          const user = users.get(request);
          if (!user) throw notLoggedIn();
          return user;
        },
        startSession(reply, request, token, expiresAt) {
          void reply.setCookie(SESSION_COOKIE, token, {
            path: "/",
            httpOnly: true,
            sameSite: "lax",
            secure: request.protocol === "https",
            expires: expiresAt,
          });
          return csrfToken(token);
        },
      };

      scope.addHook("onRequest", async (request) => {
        const route = `${request.method} ${request.routeOptions.url ?? ""}`;
        // Scripts call the collections routes with an API key, as they call /v1. A bearer
        // request carries no cookie, so a page on another site cannot forge one: no CSRF token.
        if (
          request.headers.authorization !== undefined &&
          BEARER_ROUTES.test(request.routeOptions.url ?? "")
        ) {
          users.set(request, (await options.auth.apiPrincipal(request.headers)).user);
          return;
        }
        const token = request.cookies[SESSION_COOKIE];
        const session = await options.auth.sessionUser(token);
        if (session) users.set(request, session.user);
        if (PUBLIC_ROUTES.has(route)) return;
        if (!session) throw notLoggedIn();
        if (options.auth.mode === "accounts" && WRITE_METHODS.has(request.method)) {
          const presented = request.headers["x-csrf-token"];
          if (!csrfTokenMatches(token ?? "", Array.isArray(presented) ? presented[0] : presented)) {
            throw new QiusuoError(
              "permission",
              "csrf_failed",
              "This request lacks the page's CSRF token (X-CSRF-Token); reload the page and try again.",
            );
          }
        }
      });

      registerModelRoutes(scope, context);
      registerUpstreamRoutes(scope, context);
      registerAuditRoutes(scope, context);
      registerAccountRoutes(scope, context);
      registerAdminRoutes(scope, context);
      registerConversationRoutes(scope, context);
      registerChatRoutes(scope, context);
      registerProjectRoutes(scope, context);
      registerReplayRoutes(scope, context);
      registerShareRoutes(scope, context);
      registerCollectionRoutes(scope, context);
      registerMcpRoutes(scope, context);
      registerWebSearchRoutes(scope, context);
      scope.setNotFoundHandler((request, reply) => {
        void reply.code(404).send(noRouteBody(request));
      });
    },
    { prefix: "/api" },
  );
}

function notLoggedIn(): QiusuoError {
  return new QiusuoError("authentication", "not_logged_in", "Log in first (POST /api/login).");
}

/** 404 for ids that are missing or another user's: the two must look the same. */
export function notFound(what: string, id: string): QiusuoError {
  return new QiusuoError("not_found", `${what.toLowerCase()}_not_found`, `${what} '${id}' does not exist.`);
}

/** Admin-only routes. */
export function requireAdmin(user: SessionUser): void {
  if (user.role !== "admin") {
    throw new QiusuoError("permission", "admin_only", "Only an admin may do this.");
  }
}
