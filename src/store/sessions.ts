/**
 * Login sessions. The token (32 random bytes) lives only in the browser's cookie; the table keeps
 * its sha256, so a copy of the database cannot be used to log in.
 */
import { createHash, randomBytes } from "node:crypto";
import type { Kysely } from "kysely";
import type { Database } from "./schema.js";
import type { Role } from "./users.js";

export interface SessionUser {
  id: string;
  name: string;
  role: Role;
}

export interface Session {
  /** The cookie value; hand it to the browser and forget it. */
  token: string;
  user: SessionUser;
  expiresAt: Date;
}

/** A session lasts this long after its last use. */
export const SESSION_LIFETIME_MS = 30 * 24 * 60 * 60 * 1000;
/** Sliding expiry is written at most this often, not on every request. */
const TOUCH_INTERVAL_MS = 60 * 1000;

export function hashSessionToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

export class SessionRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async create(user: SessionUser, now = Date.now()): Promise<Session> {
    const token = randomBytes(32).toString("base64url");
    const expiresAt = now + SESSION_LIFETIME_MS;
    await this.db
      .insertInto("sessions")
      .values({
        id: hashSessionToken(token),
        user_id: user.id,
        created_at: now,
        expires_at: expiresAt,
        last_seen_at: now,
      })
      .execute();
    return { token, user, expiresAt: new Date(expiresAt) };
  }

  /**
   * The session's user while the session is unexpired and the user active; undefined otherwise.
   * Using a session extends it.
   */
  async find(token: string, now = Date.now()): Promise<Session | undefined> {
    const id = hashSessionToken(token);
    const row = await this.db
      .selectFrom("sessions")
      .innerJoin("users", "users.id", "sessions.user_id")
      .select([
        "sessions.expires_at",
        "sessions.last_seen_at",
        "users.id as user_id",
        "users.name",
        "users.role",
        "users.disabled_at",
      ])
      .where("sessions.id", "=", id)
      .executeTakeFirst();
    if (!row || Number(row.expires_at) <= now || row.disabled_at !== null) return undefined;
    let expiresAt = Number(row.expires_at);
    if (now - Number(row.last_seen_at) >= TOUCH_INTERVAL_MS) {
      expiresAt = now + SESSION_LIFETIME_MS;
      await this.db
        .updateTable("sessions")
        .set({ last_seen_at: now, expires_at: expiresAt })
        .where("id", "=", id)
        .execute();
    }
    return {
      token,
      user: { id: row.user_id, name: row.name, role: row.role },
      expiresAt: new Date(expiresAt),
    };
  }

  async delete(token: string): Promise<void> {
    await this.db.deleteFrom("sessions").where("id", "=", hashSessionToken(token)).execute();
  }

  /** Removes expired sessions; returns how many. */
  async prune(now = Date.now()): Promise<number> {
    const result = await this.db.deleteFrom("sessions").where("expires_at", "<=", now).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
