/**
 * Admission of requests made with an API key: revocation, quotas, and rate and concurrency limits,
 * decided in one transaction that first locks the key's row, so the limits hold across every
 * instance sharing the database (PostgreSQL row lock; SQLite's write lock).
 */
import { randomUUID } from "node:crypto";
import type { Kysely } from "kysely";
import type { Database } from "./schema.js";

export type Refusal =
  | { reason: "invalid_key" | "revoked" | "user_disabled" }
  | { reason: "quota_tokens" | "quota_requests"; limit: number }
  | { reason: "rpm" | "tpm" | "concurrency"; limit: number; retryAfterSeconds: number };

export type Admission = { admitted: true; requestId: string } | ({ admitted: false } & Refusal);

const WINDOW_MS = 60_000;
/**
 * A request unfinished for this long is taken for one whose instance died (kill -9) and stops
 * counting against the concurrency limit.
 */
export const STALE_REQUEST_MS = 30 * 60_000;
/** Finished admissions older than this are deleted as new ones come in. */
const KEEP_MS = 60 * 60_000;

export class KeyAdmissionRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Admits a request for `apiKeyId` now, or says why not. */
  async admit(apiKeyId: string, now = Date.now()): Promise<Admission> {
    return this.db.transaction().execute(async (transaction) => {
      // A write first: it takes the row lock (PostgreSQL) or the write lock (SQLite, waiting out
      // busy_timeout) before anything is read, so concurrent admissions for a key are serialised.
      const locked = await transaction
        .updateTable("api_keys")
        .set((eb) => ({ used_requests: eb.ref("used_requests") }))
        .where("id", "=", apiKeyId)
        .executeTakeFirst();
      if (Number(locked.numUpdatedRows) === 0) return { admitted: false, reason: "invalid_key" };
      const key = await transaction
        .selectFrom("api_keys")
        .innerJoin("users", "users.id", "api_keys.user_id")
        .select([
          "api_keys.revoked_at",
          "api_keys.rpm",
          "api_keys.tpm",
          "api_keys.max_concurrent",
          "api_keys.quota_tokens",
          "api_keys.quota_requests",
          "api_keys.used_tokens",
          "api_keys.used_requests",
          "users.disabled_at",
        ])
        .where("api_keys.id", "=", apiKeyId)
        .executeTakeFirstOrThrow();
      if (key.revoked_at !== null) return { admitted: false, reason: "revoked" };
      if (key.disabled_at !== null) return { admitted: false, reason: "user_disabled" };

      await transaction
        .deleteFrom("key_requests")
        .where("api_key_id", "=", apiKeyId)
        .where("started_at", "<", now - KEEP_MS)
        .execute();
      const recent = await transaction
        .selectFrom("key_requests")
        .select(["started_at", "finished_at", "tokens"])
        .where("api_key_id", "=", apiKeyId)
        .where((eb) =>
          eb.or([
            eb("started_at", ">", now - WINDOW_MS),
            eb.and([eb("finished_at", "is", null), eb("started_at", ">", now - STALE_REQUEST_MS)]),
          ]),
        )
        .orderBy("started_at")
        .execute();
      const inFlight = recent.filter((row) => row.finished_at === null);
      const inWindow = recent.filter((row) => Number(row.started_at) > now - WINDOW_MS);

      if (key.quota_tokens !== null && Number(key.used_tokens) >= Number(key.quota_tokens)) {
        return { admitted: false, reason: "quota_tokens", limit: Number(key.quota_tokens) };
      }
      if (
        key.quota_requests !== null &&
        Number(key.used_requests) + inFlight.length >= Number(key.quota_requests)
      ) {
        return { admitted: false, reason: "quota_requests", limit: Number(key.quota_requests) };
      }
      // Seconds until the oldest request in the window leaves it.
      const windowRetry = () =>
        Math.max(1, Math.ceil((Number(inWindow[0]?.started_at ?? now) + WINDOW_MS - now) / 1000));
      if (key.rpm !== null && inWindow.length >= Number(key.rpm)) {
        return { admitted: false, reason: "rpm", limit: Number(key.rpm), retryAfterSeconds: windowRetry() };
      }
      const windowTokens = inWindow.reduce((sum, row) => sum + Number(row.tokens), 0);
      if (key.tpm !== null && windowTokens >= Number(key.tpm)) {
        return { admitted: false, reason: "tpm", limit: Number(key.tpm), retryAfterSeconds: windowRetry() };
      }
      if (key.max_concurrent !== null && inFlight.length >= Number(key.max_concurrent)) {
        return {
          admitted: false,
          reason: "concurrency",
          limit: Number(key.max_concurrent),
          retryAfterSeconds: 1,
        };
      }
      const requestId = randomUUID();
      await transaction
        .insertInto("key_requests")
        .values({ id: requestId, api_key_id: apiKeyId, started_at: now, finished_at: null, tokens: 0 })
        .execute();
      return { admitted: true, requestId };
    });
  }

  /** Marks an admitted request finished with the tokens it used (prompt + completion). */
  async finish(requestId: string, tokens: number, now = Date.now()): Promise<void> {
    await this.db
      .updateTable("key_requests")
      .set({ finished_at: now, tokens: Math.max(0, Math.round(tokens)) })
      .where("id", "=", requestId)
      .execute();
  }
}
