/**
 * Share links: a read-only snapshot of one branch of a conversation, up to a chosen message, at an
 * unguessable token. The snapshot is copied when the link is made, so later messages, edits and
 * regenerations never show; deleting the conversation (or its owner) deletes its links. A revoked
 * link's row is deleted, so a revoked token and one never handed out look exactly alike.
 */
import { randomBytes } from "node:crypto";
import { sql, type Kysely, type Selectable } from "kysely";
import type { Database, SharesTable } from "./schema.js";

/** Random bytes in a token: 192 bits, 32 base64url characters. */
const TOKEN_BYTES = 24;
/** What every token looks like; anything else is not looked up at all. */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{32}$/;

/** One message as a shared page shows it: no ids, model, usage or provenance. */
export interface SharedMessage {
  role: "user" | "assistant";
  content: string;
  reasoning: string | null;
  /** How long the model reasoned, for "Thought for N s"; null when unknown. */
  reasoningMs: number | null;
  /** Names of the files attached to a user message (their text is not shared). */
  files: Array<{ name: string }>;
  /** Inline images attached to a user message. */
  images: Array<{ url: string; name?: string }>;
}

export interface Share {
  /** The link's secret: `/s/<token>`. Kept as is, so the owner can copy the link again. */
  token: string;
  userId: string;
  conversationId: string;
  /** The message the snapshot ends at. */
  messageId: string;
  /** The conversation's title when shared. */
  title: string;
  /** The sharer's name, shown on the page; null when they chose not to show it. */
  authorName: string | null;
  messageCount: number;
  /** ms since the epoch. */
  createdAt: number;
}

export interface SharedConversation extends Share {
  /** The branch from its first message down to `messageId`, oldest first. */
  messages: SharedMessage[];
}

export interface NewShare {
  conversationId: string;
  messageId: string;
  title: string;
  authorName: string | null;
  messages: readonly SharedMessage[];
}

const listColumns = [
  "token",
  "user_id",
  "conversation_id",
  "message_id",
  "title",
  "author_name",
  "message_count",
  "created_at",
] as const;

export class ShareRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Makes a link to the snapshot. Undefined when the user has no such conversation (checked in
   * the same statement as the insert, so a conversation deleted meanwhile gets no link).
   */
  async create(userId: string, share: NewShare, now = Date.now()): Promise<Share | undefined> {
    const row = {
      token: randomBytes(TOKEN_BYTES).toString("base64url"),
      user_id: userId,
      conversation_id: share.conversationId,
      message_id: share.messageId,
      title: share.title,
      author_name: share.authorName,
      messages: JSON.stringify(share.messages),
      message_count: share.messages.length,
      created_at: now,
    };
    const result = await this.db
      .insertInto("shares")
      .columns([
        "token",
        "user_id",
        "conversation_id",
        "message_id",
        "title",
        "author_name",
        "messages",
        "message_count",
        "created_at",
      ])
      .expression((eb) =>
        eb
          .selectFrom("conversations")
          .select([
            eb.val(row.token).as("token"),
            eb.val(row.user_id).as("user_id"),
            eb.val(row.conversation_id).as("conversation_id"),
            eb.val(row.message_id).as("message_id"),
            eb.val(row.title).as("title"),
            eb.val(row.author_name).as("author_name"),
            eb.val(row.messages).as("messages"),
            // Numbers as bigint: PostgreSQL would take an untyped parameter here for text.
            sql<number>`cast(${row.message_count} as bigint)`.as("message_count"),
            sql<number>`cast(${row.created_at} as bigint)`.as("created_at"),
          ])
          .where("id", "=", share.conversationId)
          .where("user_id", "=", userId),
      )
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) > 0 ? toShare(row) : undefined;
  }

  /** The shared snapshot behind a token, for anyone who has it; undefined for any other string. */
  async find(token: string): Promise<SharedConversation | undefined> {
    if (!TOKEN_SHAPE.test(token)) return undefined;
    const row = await this.db
      .selectFrom("shares")
      .select([...listColumns, "messages"])
      .where("token", "=", token)
      .executeTakeFirst();
    return row && { ...toShare(row), messages: JSON.parse(row.messages) as SharedMessage[] };
  }

  /** The user's links, newest first; only those of one conversation when `conversationId` is given. */
  async list(userId: string, conversationId?: string): Promise<Share[]> {
    let query = this.db
      .selectFrom("shares")
      .select(listColumns)
      .where("user_id", "=", userId)
      .orderBy("created_at", "desc")
      .orderBy("token");
    if (conversationId !== undefined) query = query.where("conversation_id", "=", conversationId);
    return (await query.execute()).map(toShare);
  }

  /** Revokes one of the user's links; false when the user has no link with this token. */
  async revoke(userId: string, token: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom("shares")
      .where("token", "=", token)
      .where("user_id", "=", userId)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /** Revokes all the user's links, or those of one conversation; returns how many. */
  async revokeAll(userId: string, conversationId?: string): Promise<number> {
    let query = this.db.deleteFrom("shares").where("user_id", "=", userId);
    if (conversationId !== undefined) query = query.where("conversation_id", "=", conversationId);
    const result = await query.executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

function toShare(row: Omit<Selectable<SharesTable>, "messages">): Share {
  return {
    token: row.token,
    userId: row.user_id,
    conversationId: row.conversation_id,
    messageId: row.message_id,
    title: row.title,
    authorName: row.author_name,
    messageCount: Number(row.message_count),
    createdAt: Number(row.created_at),
  };
}
