/**
 * API keys: `sk-` and 32 random bytes in hex, shown once. Only the key's sha256 is stored (a key is
 * random, so a fast hash is safe and lets a request find its key by one indexed lookup).
 */
import { createHash, randomBytes, randomUUID } from "node:crypto";
import type { Kysely, Selectable } from "kysely";
import type { ApiKeysTable, Database } from "./schema.js";
import { StoreError } from "./store-error.js";

/** Limits and quotas of a key; null or absent means unlimited. */
export interface ApiKeyLimits {
  /** Requests per minute. */
  rpm?: number | null;
  /** Tokens (prompt + completion) per minute. */
  tpm?: number | null;
  maxConcurrent?: number | null;
  /** Tokens the key may use in all. */
  quotaTokens?: number | null;
  /** Requests the key may make in all. */
  quotaRequests?: number | null;
}

export interface ApiKey {
  id: string;
  userId: string;
  name: string;
  /** The key's first characters, for lists (`sk-1a2b3c4d`). */
  prefix: string;
  rpm: number | null;
  tpm: number | null;
  maxConcurrent: number | null;
  quotaTokens: number | null;
  quotaRequests: number | null;
  usedTokens: number;
  usedRequests: number;
  revokedAt: Date | null;
  createdAt: Date;
}

export interface NewApiKey extends ApiKeyLimits {
  userId: string;
  name: string;
}

const PREFIX_LENGTH = "sk-".length + 8;

export function hashApiKey(plaintext: string): string {
  return createHash("sha256").update(plaintext).digest("hex");
}

export class ApiKeyRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Creates a key; `plaintext` is returned here and nowhere else. */
  async create(key: NewApiKey): Promise<{ key: ApiKey; plaintext: string }> {
    const plaintext = `sk-${randomBytes(32).toString("hex")}`;
    const row = {
      id: randomUUID(),
      user_id: key.userId,
      name: key.name,
      key_hash: hashApiKey(plaintext),
      prefix: plaintext.slice(0, PREFIX_LENGTH),
      rpm: key.rpm ?? null,
      tpm: key.tpm ?? null,
      max_concurrent: key.maxConcurrent ?? null,
      quota_tokens: key.quotaTokens ?? null,
      quota_requests: key.quotaRequests ?? null,
      used_tokens: 0,
      used_requests: 0,
      revoked_at: null,
      created_at: Date.now(),
    };
    await this.db.insertInto("api_keys").values(row).execute();
    return { key: toApiKey(row), plaintext };
  }

  /** The key a request presents, revoked or not (the caller decides: 401 either way). */
  async findByPlaintext(plaintext: string): Promise<ApiKey | undefined> {
    const row = await this.db
      .selectFrom("api_keys")
      .selectAll()
      .where("key_hash", "=", hashApiKey(plaintext))
      .executeTakeFirst();
    return row && toApiKey(row);
  }

  async findById(id: string): Promise<ApiKey | undefined> {
    const row = await this.db.selectFrom("api_keys").selectAll().where("id", "=", id).executeTakeFirst();
    return row && toApiKey(row);
  }

  /** Keys oldest first; only `userId`'s when given (every user's for an admin). */
  async list(options: { userId?: string; includeRevoked?: boolean } = {}): Promise<ApiKey[]> {
    let query = this.db.selectFrom("api_keys").selectAll();
    if (options.userId !== undefined) query = query.where("user_id", "=", options.userId);
    if (!options.includeRevoked) query = query.where("revoked_at", "is", null);
    const rows = await query.orderBy("created_at").orderBy("id").execute();
    return rows.map(toApiKey);
  }

  /**
   * Revokes an active key by id or by name, only among `userId`'s keys when given. Returns the
   * revoked key, or undefined when no active key matches. A name shared by several active keys is
   * refused (`api_key_ambiguous`) rather than revoking more than was meant.
   */
  async revoke(idOrName: string, options: { userId?: string } = {}): Promise<ApiKey | undefined> {
    return this.db.transaction().execute(async (transaction) => {
      let query = transaction
        .selectFrom("api_keys")
        .selectAll()
        .where("revoked_at", "is", null)
        .where((eb) => eb.or([eb("id", "=", idOrName), eb("name", "=", idOrName)]));
      if (options.userId !== undefined) query = query.where("user_id", "=", options.userId);
      const rows = await query.execute();
      const byId = rows.find((row) => row.id === idOrName);
      if (!byId && rows.length > 1) {
        throw new StoreError(
          "api_key_ambiguous",
          `${rows.length} active keys are named "${idOrName}"; revoke one by its id.`,
        );
      }
      const row = byId ?? rows[0];
      if (!row) return undefined;
      const revokedAt = Date.now();
      await transaction
        .updateTable("api_keys")
        .set({ revoked_at: revokedAt })
        .where("id", "=", row.id)
        .execute();
      return toApiKey({ ...row, revoked_at: revokedAt });
    });
  }
}

/** What may be shown of a key anywhere (never its hash); callers add its times in their format. */
export function shownKeyFields(key: ApiKey) {
  return {
    id: key.id,
    name: key.name,
    prefix: key.prefix,
    rpm: key.rpm,
    tpm: key.tpm,
    maxConcurrent: key.maxConcurrent,
    quotaTokens: key.quotaTokens,
    quotaRequests: key.quotaRequests,
    usedTokens: key.usedTokens,
    usedRequests: key.usedRequests,
  };
}

function toApiKey(row: Selectable<ApiKeysTable>): ApiKey {
  return {
    id: row.id,
    userId: row.user_id,
    name: row.name,
    prefix: row.prefix,
    rpm: row.rpm,
    tpm: row.tpm,
    maxConcurrent: row.max_concurrent,
    quotaTokens: row.quota_tokens,
    quotaRequests: row.quota_requests,
    usedTokens: Number(row.used_tokens),
    usedRequests: Number(row.used_requests),
    revokedAt: row.revoked_at === null ? null : new Date(Number(row.revoked_at)),
    createdAt: new Date(Number(row.created_at)),
  };
}
