import type { FastifyInstance } from "fastify";
import { csrfToken } from "../../auth/authenticator.js";
import { QiusuoError } from "../../core/errors.js";
import { parseLogin, parseNewKey, parseSetup, parseUsageQuery } from "../../protocol/app/requests.js";
import { shownKeyFields, type ApiKey } from "../../store/api-keys.js";
import { StoreError } from "../../store/store-error.js";
import type { UsageFilter } from "../../store/usage.js";
import { notFound, SESSION_COOKIE, type AppApiContext } from "./app-api.js";

/** Session, login and setup; the user's API keys and usage (an admin's views are in app-admin.ts). */
export function registerAccountRoutes(app: FastifyInstance, context: AppApiContext): void {
  const { auth, store } = context;

  app.get("/session", async (request) => {
    const token = request.cookies[SESSION_COOKIE];
    const session = await auth.sessionUser(token);
    return {
      mode: auth.mode,
      user: session?.user ?? null,
      setupRequired: auth.setupToken !== undefined,
      csrfToken: auth.mode === "accounts" && session && token ? csrfToken(token) : null,
    };
  });

  app.post("/setup", async (request, reply) => {
    const { token, name, password } = parseSetup(request.body);
    let session;
    try {
      session = await auth.setup(token, name, password);
    } catch (error) {
      if (error instanceof StoreError && error.code === "user_exists") {
        throw new QiusuoError("invalid_parameter", "user_exists", error.message, { param: "name" });
      }
      throw error;
    }
    const csrf = context.startSession(reply, request, session.token, session.expiresAt);
    return { user: session.user, csrfToken: csrf };
  });

  app.post("/login", async (request, reply) => {
    if (auth.mode === "local") {
      throw new QiusuoError(
        "invalid_request",
        "local_mode",
        "This server runs in local mode: no login needed.",
      );
    }
    const { name, password } = parseLogin(request.body);
    const session = await auth.login(name, password, request.ip);
    const csrf = context.startSession(reply, request, session.token, session.expiresAt);
    return { user: session.user, csrfToken: csrf };
  });

  app.post("/logout", async (request, reply) => {
    const token = request.cookies[SESSION_COOKIE];
    if (token) await store.sessions.delete(token);
    void reply.clearCookie(SESSION_COOKIE, { path: "/" });
    return { ok: true };
  });

  app.get("/keys", async (request) => {
    const user = context.user(request);
    const keys = await store.apiKeys.list({ userId: user.id, includeRevoked: true });
    return { data: keys.map(keyView) };
  });

  app.post("/keys", async (request, reply) => {
    const user = context.user(request);
    const limits = parseNewKey(request.body);
    const { key, plaintext } = await store.apiKeys.create({ userId: user.id, ...limits });
    return reply.code(201).send({ key: keyView(key), plaintext });
  });

  app.delete<{ Params: { id: string } }>("/keys/:id", async (request) => {
    const user = context.user(request);
    const owned = await store.apiKeys.findById(request.params.id);
    if (!owned || owned.userId !== user.id) throw notFound("API key", request.params.id);
    if (owned.revokedAt === null) await store.apiKeys.revoke(owned.id, { userId: user.id });
    return { ok: true };
  });

  app.get("/usage", async (request) => {
    const user = context.user(request);
    const query = parseUsageQuery(request.query, ["day", "model", "key"]);
    const data = await store.usage.summary(query.groupBy as "day", { ...filterOf(query), userId: user.id });
    return { data };
  });
}

/** The ledger filter of a usage query's time range. */
export function filterOf(query: { since?: number | undefined; until?: number | undefined }): UsageFilter {
  return {
    ...(query.since === undefined ? {} : { since: new Date(query.since) }),
    ...(query.until === undefined ? {} : { until: new Date(query.until) }),
  };
}

/** A key as the app shows it: never its hash or plaintext. */
export function keyView(key: ApiKey) {
  return {
    ...shownKeyFields(key),
    revokedAt: key.revokedAt?.getTime() ?? null,
    createdAt: key.createdAt.getTime(),
  };
}
