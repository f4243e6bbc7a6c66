import cors from "@fastify/cors";
import Fastify, { LogController, type FastifyError, type FastifyInstance } from "fastify";
import type { Authenticator } from "../auth/authenticator.js";
import { SERVE_DEFAULTS } from "../config/config.js";
import type { Engine, ModelManager } from "../core/engine.js";
import { InvalidRequestError, QiusuoError } from "../core/errors.js";
import { toWireError } from "../protocol/errors.js";
import type { Store } from "../store/store.js";
import { ApiGate } from "./api-gate.js";
import { hostGuard, originMatcher } from "./host-guard.js";
import { clientErrorHandler, fromFastifyError, noRouteBody } from "./reply-helpers.js";
import type { Metrics } from "./metrics.js";
import { registerAnthropicRoutes } from "./routes/anthropic.js";
import { registerAppApi } from "./routes/app-api.js";
import { registerDeepSeekRoutes } from "./routes/deepseek.js";
import { registerHealthRoutes, type HealthSource, type PoolHealthView } from "./routes/health.js";
import { registerMetricsRoutes, type MetricsAccess } from "./routes/metrics.js";
import { registerOllamaRoutes } from "./routes/ollama.js";
import { registerRerankRoutes } from "./routes/rerank.js";
import { registerResponsesRoutes } from "./routes/responses.js";
import { registerWebRoutes } from "./routes/web.js";
import { KnowledgeService } from "../knowledge/knowledge-service.js";
import { McpHub } from "../tools/mcp/mcp-hub.js";
import type { WebSearchSetup } from "../tools/web/web-tools.js";

export interface AppOptions {
  engine: Engine;
  /** Users, keys, sessions, usage and conversations. */
  store: Store;
  /** The auth mode and its state (made by prepareAuth at start). */
  auth: Authenticator;
  /** Pulls, loads and unloads from the app's models page. */
  models?: ModelManager;
  /** This server's id among the instances sharing the store (it owns the replies it streams). */
  instanceId?: string;
  health: HealthSource;
  /** The upstream pools for the app's models page (`GET /api/upstreams`); default `health.pools`. */
  pools?: () => PoolHealthView[];
  /** Where `qiusuo audit` writes its reports (the data dir's audits/), for the app to show admins. */
  auditsDir?: string;
  /**
   * Knowledge collections. Default: a service over the store that embeds with `embeddingModel`
   * through `engine`, stopped when the app closes; a service given here is the caller's to close.
   */
  knowledge?: KnowledgeService;
  /** The model new collections are embedded with (`--embedding-model`); default the default model. */
  embeddingModel?: string;
  /**
   * The MCP servers' tools. Default: a hub over the store's registry, closed (its server
   * processes stopped) when the app closes; a hub given here is the caller's to close.
   */
  mcp?: McpHub;
  /** The app's web search (联网搜索): provider and fetch policy; off when absent. */
  webSearch?: WebSearchSetup;
  /** The series `GET /metrics` serves (made with createMetrics()); no /metrics route without it. */
  metrics?: Metrics;
  /** Who may read /metrics (see MetricsAccess). Default: `qiusuo serve`'s. */
  metricsAccess?: MetricsAccess;
  /** The address the server binds; loopback turns on the Host/Origin guard. */
  host: string;
  /** Web origins besides localhost's that may call the API from a browser (`--allow-origin`). */
  allowOrigins?: readonly string[];
  logLevel?: string;
  /** Seconds of silence before a waiting request gets a keep-alive. Default: `qiusuo serve`'s. */
  keepAliveSeconds?: number;
  /** Largest request body in bytes. */
  bodyLimit?: number;
  /**
   * Seconds a client has to send a whole request, head and body; it gets 408 after that. Only
   * the request counts: a reply (a long stream) takes as long as it needs. Default: `qiusuo serve`'s.
   */
  requestTimeoutSeconds?: number;
}

/** Assembles the HTTP server: one plugin per protocol, a shared error table, the host guard. */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const requestTimeoutSeconds = options.requestTimeoutSeconds ?? SERVE_DEFAULTS.requestTimeoutSeconds;
  const requestTimeoutMs = Math.ceil(requestTimeoutSeconds * 1000);
  const app = Fastify({
    logger: { level: options.logLevel ?? "info" },
    // One line per request is noise for a local server; errors are logged where they happen.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimit ?? 32 * 1024 * 1024,
    // Keep-alive sockets would hold shutdown open; streams end on their own.
    forceCloseConnections: true,
    // Node's request timeout runs from a request's first byte until its last has arrived, so a
    // client dribbling its head or body is cut off while a reply may stream for as long as it
    // needs. Fastify turns it off by default; Node would check only every 30 s.
    requestTimeout: requestTimeoutMs,
    http: {
      requestTimeout: requestTimeoutMs,
      headersTimeout: requestTimeoutMs,
      connectionsCheckingInterval: Math.min(1000, Math.ceil(requestTimeoutMs / 4)),
    },
    clientErrorHandler: clientErrorHandler({ requestTimeoutSeconds }),
    // Fastify answers a path parameter over 100 characters itself, with a 414 in its own shape.
    // Node already bounds the request line (16 KiB of headers), so an id of any length that gets
    // this far reaches the route, which answers a too-long id like any unknown one: a 404.
    routerOptions: { maxParamLength: 16 * 1024 },
  });

  // Clients such as curl send JSON with other content types; every body is read as JSON.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "string" }, (_request, body, done) => {
    const text = String(body);
    if (text.trim().length === 0) {
      done(null, undefined);
      return;
    }
    try {
      done(null, JSON.parse(text));
    } catch (error) {
      done(
        new InvalidRequestError(
          "invalid_json",
          `The request body is not valid JSON: ${(error as Error).message}.`,
        ) as unknown as FastifyError,
        undefined,
      );
    }
  });

  const allowedOrigin = originMatcher(options.allowOrigins ?? []);
  app.addHook("onRequest", hostGuard(options.host, allowedOrigin));
  // Browser clients on an allowed origin (extensions, web apps on another host) get CORS headers
  // and preflight answers; without credentials, so they call with API keys and never with the
  // app's session cookie.
  if ((options.allowOrigins ?? []).length > 0) {
    await app.register(cors, {
      origin: (origin, callback) => callback(null, origin !== undefined && allowedOrigin(origin)),
      credentials: false,
      maxAge: 600,
    });
  }

  const gate = new ApiGate(options.auth, options.store);
  app.setErrorHandler(async (error: FastifyError | QiusuoError, request, reply) => {
    const wire = toWireError(fromFastifyError(error));
    if (wire.error.kind === "internal")
      request.log.error({ err: wire.error.cause ?? error }, "request failed");
    await gate.settleFailed(request, wire.error.code);
    return reply.code(wire.status).headers(wire.headers).send(wire.body);
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send(noRouteBody(request));
  });

  registerHealthRoutes(app, options.health);
  if (options.metrics) {
    registerMetricsRoutes(app, {
      registry: options.metrics.registry,
      auth: options.auth,
      access: options.metricsAccess ?? SERVE_DEFAULTS.metrics,
    });
  }
  const keepAliveMs = (options.keepAliveSeconds ?? SERVE_DEFAULTS.keepAliveSeconds) * 1000;
  registerDeepSeekRoutes(app, { engine: options.engine, gate, keepAliveMs });
  registerAnthropicRoutes(app, options.engine, gate, keepAliveMs);
  registerOllamaRoutes(app, { engine: options.engine, gate, keepAliveMs, models: options.models });
  registerResponsesRoutes(app, { engine: options.engine, gate, store: options.store, keepAliveMs });
  registerRerankRoutes(app, options.engine, gate);
  const mcp = options.mcp ?? new McpHub(options.store.mcpServers);
  if (!options.mcp) app.addHook("onClose", () => mcp.close());
  const knowledge =
    options.knowledge ??
    new KnowledgeService({
      repository: options.store.collections,
      engine: options.engine,
      embeddingModel: options.embeddingModel,
      instanceId: options.instanceId,
      liveInstances: options.instanceId === undefined ? undefined : () => options.store.instances.liveIds(),
    });
  if (!options.knowledge) {
    await knowledge.start();
    app.addHook("onClose", () => knowledge.close());
  }
  registerAppApi(app, {
    engine: options.engine,
    store: options.store,
    auth: options.auth,
    keepAliveMs,
    models: options.models,
    instanceId: options.instanceId,
    pools: options.pools ?? (options.health.pools ? () => options.health.pools?.() ?? [] : undefined),
    auditsDir: options.auditsDir,
    knowledge,
    mcp,
    webSearch: options.webSearch,
  });
  registerWebRoutes(app);
  return app;
}
