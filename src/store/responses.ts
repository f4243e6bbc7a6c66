/**
 * Stored replies of the Responses API (`/v1/responses` with `store: true`), so a later request can
 * continue one by `previous_response_id` and a client can read or delete it. Each row belongs to
 * one principal: an API key, or a user acting without one (local mode, the local user). Rows
 * expire after {@link RESPONSE_RETENTION_MS}; expired rows are never returned and are deleted
 * whenever a new response is saved.
 */
import type { ExpressionBuilder, Kysely } from "kysely";
import type { Database } from "./schema.js";

/** How long a stored response is kept: 30 days, as OpenAI keeps them. */
export const RESPONSE_RETENTION_MS = 30 * 24 * 60 * 60 * 1000;

/** Whose responses: the key's when the request presented one, else the user's keyless ones. */
export interface ResponseOwner {
  userId: string;
  apiKeyId: string | null;
}

export interface StoredResponse {
  id: string;
  /** The response object as the API returned it (JSON-serialisable). */
  response: unknown;
  /**
   * The conversation the response answered, as Responses input items: the items of the responses
   * it continues, then its own input. Its output items are in `response`.
   */
  inputItems: unknown[];
  createdAt: number;
  expiresAt: number;
}

export class ResponseRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Saves a response, and deletes every response (of anyone) that has expired. */
  async save(
    owner: ResponseOwner,
    record: { id: string; response: unknown; inputItems: unknown[] },
    now = Date.now(),
  ): Promise<void> {
    await this.db.deleteFrom("responses").where("expires_at", "<=", now).execute();
    await this.db
      .insertInto("responses")
      .values({
        id: record.id,
        user_id: owner.userId,
        api_key_id: owner.apiKeyId,
        response: JSON.stringify(record.response),
        input_items: JSON.stringify(record.inputItems),
        created_at: now,
        expires_at: now + RESPONSE_RETENTION_MS,
      })
      .execute();
  }

  /** The owner's unexpired response with this id; undefined for anyone else's, as for none. */
  async find(owner: ResponseOwner, id: string, now = Date.now()): Promise<StoredResponse | undefined> {
    const row = await this.db
      .selectFrom("responses")
      .select(["id", "response", "input_items", "created_at", "expires_at"])
      .where("id", "=", id)
      .where(ownedBy(owner))
      .where("expires_at", ">", now)
      .executeTakeFirst();
    if (!row) return undefined;
    return {
      id: row.id,
      response: JSON.parse(row.response) as unknown,
      inputItems: JSON.parse(row.input_items) as unknown[],
      createdAt: Number(row.created_at),
      expiresAt: Number(row.expires_at),
    };
  }

  /** Deletes the owner's response; false when the owner has no such (unexpired) response. */
  async delete(owner: ResponseOwner, id: string, now = Date.now()): Promise<boolean> {
    const result = await this.db
      .deleteFrom("responses")
      .where("id", "=", id)
      .where(ownedBy(owner))
      .where("expires_at", ">", now)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}

/** The rows of exactly this principal: a key's rows are not its user's keyless ones, nor the reverse. */
function ownedBy(owner: ResponseOwner) {
  return (where: ExpressionBuilder<Database, "responses">) =>
    where.and([
      where("user_id", "=", owner.userId),
      owner.apiKeyId === null ? where("api_key_id", "is", null) : where("api_key_id", "=", owner.apiKeyId),
    ]);
}
