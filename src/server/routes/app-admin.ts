import type { FastifyInstance } from "fastify";
import {
  parseAdminNewKey,
  parseAdminUsageQuery,
  parseDailyUsageQuery,
  parseKeyListQuery,
  parseNewPassword,
  parseNewUser,
  parseUserChanges,
} from "../../protocol/app/admin.js";
import type { UsageFilter } from "../../store/usage.js";
import type { User } from "../../store/users.js";
import { filterOf, keyView } from "./app-account.js";
import { notFound, requireAdmin, type AppApiContext } from "./app-api.js";

/**
 * The admin panel's routes under /api/admin: users, everyone's API keys, and the usage ledger.
 * One hook refuses non-admins for the whole scope, so a route added here cannot forget to.
 */
export function registerAdminRoutes(app: FastifyInstance, context: AppApiContext): void {
  const { store } = context;
  void app.register(
    async (admin) => {
      admin.addHook("onRequest", async (request) => requireAdmin(context.user(request)));

      admin.get("/users", async () => {
        const [users, keys, usage, lastActive] = await Promise.all([
          store.users.list(),
          store.apiKeys.list(),
          store.usage.summary("user"),
          store.users.lastActive(),
        ]);
        const activeKeys = new Map<string, number>();
        for (const key of keys) activeKeys.set(key.userId, (activeKeys.get(key.userId) ?? 0) + 1);
        const usageOf = new Map(usage.map((row) => [row.group, row]));
        return {
          data: users.map((user) => ({
            ...userView(user),
            lastActiveAt: lastActive.get(user.id)?.getTime() ?? null,
            activeKeys: activeKeys.get(user.id) ?? 0,
            requests: usageOf.get(user.id)?.requests ?? 0,
            totalTokens: usageOf.get(user.id)?.totalTokens ?? 0,
          })),
        };
      });

      admin.post("/users", async (request, reply) => {
        const user = await store.users.create(parseNewUser(request.body));
        return reply.code(201).send({ user: userView(user) });
      });

      admin.patch<{ Params: { id: string } }>("/users/:id", async (request) => {
        const changes = parseUserChanges(request.body);
        const user = await store.users.update(request.params.id, changes);
        return { user: userView(user) };
      });

      admin.put<{ Params: { id: string } }>("/users/:id/password", async (request) => {
        const { password } = parseNewPassword(request.body);
        await store.users.setPassword(request.params.id, password);
        return { ok: true };
      });

      admin.get("/keys", async (request) => {
        const { userId } = parseKeyListQuery(request.query);
        const [keys, users] = await Promise.all([
          store.apiKeys.list({ includeRevoked: true, ...(userId === undefined ? {} : { userId }) }),
          store.users.list(),
        ]);
        const names = new Map(users.map((user) => [user.id, user.name]));
        return {
          data: keys.map((key) => ({
            ...keyView(key),
            userId: key.userId,
            userName: names.get(key.userId) ?? "",
          })),
        };
      });

      admin.post("/keys", async (request, reply) => {
        const { userId, ...limits } = parseAdminNewKey(request.body);
        const owner = await store.users.findById(userId);
        if (!owner) throw notFound("User", userId);
        const { key, plaintext } = await store.apiKeys.create({ userId, ...limits });
        return reply.code(201).send({ key: { ...keyView(key), userId, userName: owner.name }, plaintext });
      });

      admin.delete<{ Params: { id: string } }>("/keys/:id", async (request) => {
        const key = await store.apiKeys.findById(request.params.id);
        if (!key) throw notFound("API key", request.params.id);
        if (key.revokedAt === null) await store.apiKeys.revoke(key.id, { userId: key.userId });
        return { ok: true };
      });

      admin.get("/usage", async (request) => {
        const query = parseAdminUsageQuery(request.query);
        return { data: await store.usage.summary(query.groupBy, usageFilter(query)) };
      });

      admin.get("/usage/daily", async (request) => {
        const query = parseDailyUsageQuery(request.query);
        const series = query.series === "none" ? null : query.series;
        return { data: await store.usage.daily(series, usageFilter(query)) };
      });
    },
    { prefix: "/admin" },
  );
}

function userView(user: User) {
  return {
    id: user.id,
    name: user.name,
    role: user.role,
    disabled: user.disabled,
    hasPassword: user.hasPassword,
    createdAt: user.createdAt.getTime(),
  };
}

function usageFilter(query: {
  userId?: string | undefined;
  apiKeyId?: string | undefined;
  model?: string | undefined;
  since?: number | undefined;
  until?: number | undefined;
}): UsageFilter {
  return {
    ...filterOf(query),
    ...(query.userId === undefined ? {} : { userId: query.userId }),
    ...(query.apiKeyId === undefined ? {} : { apiKeyId: query.apiKeyId }),
    ...(query.model === undefined ? {} : { model: query.model }),
  };
}
