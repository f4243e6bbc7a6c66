/**
 * Password login attempts per client address, so the login throttle (auth/login-throttle.ts) holds
 * across every instance sharing the database, as key limits do. An attempt is written when it is
 * admitted and counts as a failure until it succeeds, so a burst of concurrent guesses cannot all
 * pass the check before the first of them is recorded; admissions from one address lock that
 * address's row first, so they are counted one after another on any instance.
 */
import { createHash, randomUUID } from "node:crypto";
import type { Kysely } from "kysely";
import type { Database } from "./schema.js";

export interface LoginLimits {
  /** Attempts for one name from one address within the window before that name is held there. */
  perName: number;
  /** Attempts for any names from one address within the window before the address is held. */
  perAddress: number;
  windowMs: number;
}

export type LoginAdmission =
  { admitted: true; attemptId: string } | { admitted: false; retryAfterSeconds: number };

export class LoginAttemptRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Admits an attempt to log in as `name` from `address` now, recorded as a failure until
   * `succeeded`; or, past a limit, says how long until the attempt that holds it back leaves
   * the window.
   */
  async admit(name: string, address: string, limits: LoginLimits, now = Date.now()): Promise<LoginAdmission> {
    await this.prune(now - 2 * limits.windowMs);
    const nameHash = hashName(name);
    return this.db.transaction().execute(async (transaction) => {
      // A write first: it takes the address's row lock (PostgreSQL) or the write lock (SQLite)
      // before anything is counted, as key admissions do.
      await transaction
        .insertInto("login_addresses")
        .values({ address, last_attempt_at: now })
        .onConflict((conflict) => conflict.column("address").doUpdateSet({ last_attempt_at: now }))
        .execute();
      // The `limit`-th newest attempt in the window holds the address (or name) back until it
      // leaves the window; without one, fewer than `limit` attempts are in it.
      const holding = async (limit: number, byName: boolean) => {
        let query = transaction
          .selectFrom("login_attempts")
          .select("attempted_at")
          .where("address", "=", address)
          .where("attempted_at", ">", now - limits.windowMs);
        if (byName) query = query.where("name_hash", "=", nameHash);
        const row = await query
          .orderBy("attempted_at", "desc")
          .limit(1)
          .offset(limit - 1)
          .executeTakeFirst();
        return row === undefined ? 0 : Number(row.attempted_at) + limits.windowMs - now;
      };
      const wait = Math.max(await holding(limits.perName, true), await holding(limits.perAddress, false));
      if (wait > 0) return { admitted: false, retryAfterSeconds: Math.ceil(wait / 1000) };
      const attemptId = randomUUID();
      await transaction
        .insertInto("login_attempts")
        .values({ id: attemptId, address, name_hash: nameHash, attempted_at: now })
        .execute();
      return { admitted: true, attemptId };
    });
  }

  /**
   * The attempt logged in: it no longer counts, and the name's failures at that address stop
   * holding the name back (they still count for the address, so logging in to one account does
   * not clear guesses at others).
   */
  async succeeded(
    attemptId: string,
    name: string,
    address: string,
    limits: Pick<LoginLimits, "windowMs">,
    now = Date.now(),
  ): Promise<void> {
    await this.db.deleteFrom("login_attempts").where("id", "=", attemptId).execute();
    // Only rows in the window: older ones are prune's, so the two never wait on each other.
    await this.db
      .updateTable("login_attempts")
      .set({ name_hash: null })
      .where("address", "=", address)
      .where("name_hash", "=", hashName(name))
      .where("attempted_at", ">", now - limits.windowMs)
      .execute();
  }

  /**
   * Deletes what is older than `before`: two windows back, so never a row that an admission or a
   * success still reads or updates. Each statement commits on its own, outside any admission's
   * transaction, so a prune and an admission never wait on each other in a cycle.
   */
  private async prune(before: number): Promise<void> {
    await this.db.deleteFrom("login_attempts").where("attempted_at", "<", before).execute();
    await this.db.deleteFrom("login_addresses").where("last_attempt_at", "<", before).execute();
  }
}

/** Names are stored hashed: people type passwords into the name field. */
function hashName(name: string): string {
  return createHash("sha256").update(name).digest("base64url");
}
