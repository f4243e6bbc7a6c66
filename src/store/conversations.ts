/**
 * Conversations and their message trees, search over them, and export/import. Every method that
 * takes a user id acts only on that user's rows: another user's conversation or message answers
 * exactly as a missing one does (undefined or false), never with a different error.
 */
import { randomUUID } from "node:crypto";
import type { Insertable, Kysely, Selectable, Transaction } from "kysely";
import { SliceClock } from "../core/slice-clock.js";
import type { StoreDialect } from "./dialects.js";
import type { ConversationsTable, Database, MessagesTable } from "./schema.js";
import { indexText, queryTerms, snippet } from "./search-text.js";
import { StoreError } from "./store-error.js";

/** The title a conversation starts with; its first user message replaces it. */
export const DEFAULT_TITLE = "New chat";
const TITLE_LENGTH = 60;
/**
 * Rows per multi-row insert when importing: well under both engines' parameter limits, and a few
 * ms of SQLite's time each, as the import hands the event loop back between them.
 */
const IMPORT_BATCH = 200;

export interface ConversationSettings {
  /** The model replies use; the server's default when unset. */
  model?: string;
  /** Sent as the system message ahead of the conversation; none when unset. */
  systemPrompt?: string;
  /** Sampling temperature; the model's default when unset. */
  temperature?: number;
  /** 联网搜索: the turn offers `web_search` and `fetch_url`. Off when unset. */
  webSearch?: boolean;
  /** Knowledge collections the turn may search (`knowledge_search`); ids no longer the user's are skipped. */
  collectionIds?: string[];
  /** MCP servers whose tools the turn offers; ids no longer enabled are skipped. */
  mcpServerIds?: string[];
}

export interface Conversation {
  id: string;
  userId: string;
  title: string;
  settings: ConversationSettings;
  /** The last message of the branch shown; null before the first message. */
  currentLeafId: string | null;
  /** Milliseconds since the epoch, as the API sends them. */
  createdAt: number;
  /** When a message was last added or the conversation last changed, in ms. */
  updatedAt: number;
  /** The project it is in (ProjectRepository); null outside any. */
  projectId: string | null;
  /** When it was pinned on top of the list, in ms; null when not pinned. */
  pinnedAt: number | null;
}

export type MessageRole = "system" | "user" | "assistant" | "tool";
export type MessageStatus = "complete" | "streaming" | "interrupted";
export type JsonObject = { [key: string]: unknown };

/** A tool call an assistant message made, in DeepSeek's wire shape. */
export interface ToolCallRecord {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

export interface Message {
  id: string;
  conversationId: string;
  /** The message this one follows; null for a first message. Siblings are branches. */
  parentId: string | null;
  role: MessageRole;
  content: string;
  reasoning: string | null;
  toolCalls: ToolCallRecord[] | null;
  /** The model that wrote an assistant message. */
  model: string | null;
  /** The request settings a reply was made with (thinking, temperature, ...). */
  settings: JsonObject | null;
  /** Token counts as DeepSeek reports them, plus `reasoningMs`. */
  usage: JsonObject | null;
  /** `{modelSha256, modelFile, template, seed}` of a local reply. */
  provenance: JsonObject | null;
  status: MessageStatus;
  /** ms since the epoch; a message is always later than its parent. */
  createdAt: number;
}

export interface NewConversation {
  /** Default `New chat`, which the first user message replaces. */
  title?: string;
  /** Default `{}`. */
  settings?: ConversationSettings;
}

export interface ConversationChanges {
  title?: string;
  /** Replaces the whole settings object. */
  settings?: ConversationSettings;
  /** Moves it into a project of the same user, or out of any (null). */
  projectId?: string | null;
  /** Pins it on top of the list, or unpins it. */
  pinned?: boolean;
}

/** Which conversations a list or search covers: all by default, or those of one project. */
export interface ConversationFilter {
  /** A project's id: only its conversations. */
  projectId?: string | undefined;
}

export interface NewMessage {
  /** Null for a first message; otherwise a message of the same conversation. */
  parentId: string | null;
  role: MessageRole;
  content: string;
  reasoning?: string | null;
  toolCalls?: ToolCallRecord[] | null;
  model?: string | null;
  settings?: JsonObject | null;
  usage?: JsonObject | null;
  provenance?: JsonObject | null;
  /** Default `complete`. */
  status?: MessageStatus;
  /** The instance writing a `streaming` message (see InstanceRepository). */
  streamOwner?: string | null;
}

export interface NewReply {
  model: string;
  /** The id of the server instance that writes it, so others know it is alive. */
  owner?: string;
  settings?: JsonObject | null;
  provenance?: JsonObject | null;
}

export interface ReplyProgress {
  /** The whole reply so far, not a delta, so a repeated or late save does no harm. */
  content: string;
  reasoning?: string | null;
}

export interface FinishedReply {
  status: "complete" | "interrupted";
  content: string;
  reasoning?: string | null;
  toolCalls?: ToolCallRecord[] | null;
  usage?: JsonObject | null;
}

export interface ConversationPage {
  data: Conversation[];
  /** Pass back as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

export interface SearchHit {
  conversationId: string;
  title: string;
  /** The message that matched; null when the title did. */
  messageId: string | null;
  /** About 80 characters of the original text around the first match. */
  snippet: string;
}

export interface ConversationExport extends Conversation {
  /** Every message of every branch, oldest first. */
  messages: Message[];
}

/** A conversation to import; `parseImport` (protocol/archive) produces this shape. */
export interface ConversationImport {
  title: string;
  settings?: ConversationSettings;
  /** The source id of the leaf shown; the newest message when null or unknown. */
  currentLeafId?: string | null;
  createdAt: number;
  updatedAt: number;
  /** Parents before children. Ids are the source's and only shape the tree; new ids replace them. */
  messages: MessageImport[];
}

/** A message to import: a new message with its source id (shaping the tree) and its time. */
export interface MessageImport extends NewMessage {
  id: string;
  /** The source id of the parent. `status` `streaming` is stored as `interrupted`. */
  parentId: string | null;
  createdAt: number;
}

type Executor = Kysely<Database> | Transaction<Database>;
type MessageRow = Omit<Selectable<MessagesTable>, "search_terms" | "stream_owner">;
const messageColumns = [
  "id",
  "conversation_id",
  "parent_id",
  "role",
  "content",
  "reasoning",
  "tool_calls",
  "model",
  "settings",
  "usage",
  "provenance",
  "status",
  "created_at",
] as const;
const conversationColumns = [
  "id",
  "user_id",
  "title",
  "settings",
  "current_leaf_id",
  "created_at",
  "updated_at",
  "project_id",
  "pinned_at",
] as const;

export class ConversationRepository {
  /** The last timestamp handed out, so rows written in one millisecond still order. */
  private lastTimestamp = 0;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: StoreDialect,
  ) {}

  async create(userId: string, conversation: NewConversation = {}): Promise<Conversation> {
    return this.insert(userId, conversation, null);
  }

  /** A new conversation in a project; undefined when the user has no such project. */
  async createInProject(
    userId: string,
    projectId: string,
    conversation: NewConversation = {},
  ): Promise<Conversation | undefined> {
    if (!(await this.ownsProject(this.db, userId, projectId))) return undefined;
    return this.insert(userId, conversation, projectId);
  }

  private async insert(
    userId: string,
    conversation: NewConversation,
    projectId: string | null,
  ): Promise<Conversation> {
    const now = this.now();
    const title = conversation.title ?? DEFAULT_TITLE;
    const row = {
      id: randomUUID(),
      user_id: userId,
      title,
      settings: JSON.stringify(conversation.settings ?? {}),
      current_leaf_id: null,
      search_terms: indexText(title),
      created_at: now,
      updated_at: now,
      project_id: projectId,
      pinned_at: null,
    };
    await this.db.insertInto("conversations").values(row).execute();
    return toConversation(row);
  }

  /**
   * The user's conversations (of one project, with `projectId`): pinned ones first (last pinned
   * first), then the rest newest `updatedAt` first, `limit` at a time.
   */
  async list(
    userId: string,
    options: { limit: number; cursor?: string | null } & ConversationFilter,
  ): Promise<ConversationPage> {
    const limit = Math.max(1, Math.floor(options.limit));
    const after = options.cursor ? decodeCursor(options.cursor) : undefined;
    const { projectId } = options;
    const mine = () =>
      this.db
        .selectFrom("conversations")
        .select(conversationColumns)
        .where("user_id", "=", userId)
        .$if(projectId !== undefined, (query) => query.where("project_id", "=", projectId!));
    // Two walks, each down an index: the pinned (few), then the rest newest first. A cursor among
    // the rest (pinnedAt -1) skips the first.
    const rows = [];
    if (!after || after.pinnedAt >= 0) {
      rows.push(
        ...(await mine()
          .where("pinned_at", "is not", null)
          .$if(after !== undefined, (query) =>
            query.where((eb) =>
              eb.or([
                eb("pinned_at", "<", after!.pinnedAt),
                eb.and([eb("pinned_at", "=", after!.pinnedAt), eb("id", "<", after!.id)]),
              ]),
            ),
          )
          .orderBy("pinned_at", "desc")
          .orderBy("id", "desc")
          .limit(limit + 1)
          .execute()),
      );
    }
    if (rows.length <= limit) {
      rows.push(
        ...(await mine()
          .where("pinned_at", "is", null)
          .$if(after !== undefined && after.pinnedAt < 0, (query) =>
            query.where((eb) =>
              eb.or([
                eb("updated_at", "<", after!.updatedAt),
                eb.and([eb("updated_at", "=", after!.updatedAt), eb("id", "<", after!.id)]),
              ]),
            ),
          )
          .orderBy("updated_at", "desc")
          .orderBy("id", "desc")
          .limit(limit + 1 - rows.length)
          .execute()),
      );
    }
    const data = rows.slice(0, limit).map(toConversation);
    const last = data.at(-1);
    return { data, nextCursor: rows.length > limit && last ? encodeCursor(last) : null };
  }

  async get(userId: string, id: string): Promise<Conversation | undefined> {
    const row = await this.ownConversation(this.db, userId, id);
    return row && toConversation(row);
  }

  /**
   * Renames, changes settings, moves between projects or pins. Moving and pinning leave
   * `updatedAt` as it is, so the list keeps its order. Undefined when the user has no such
   * conversation, or `projectId` names no project of theirs (nothing is changed then).
   */
  async update(userId: string, id: string, changes: ConversationChanges): Promise<Conversation | undefined> {
    const row = await this.ownConversation(this.db, userId, id);
    if (!row) return undefined;
    if (
      typeof changes.projectId === "string" &&
      !(await this.ownsProject(this.db, userId, changes.projectId))
    )
      return undefined;
    const title = changes.title ?? row.title;
    const settings = changes.settings === undefined ? row.settings : JSON.stringify(changes.settings);
    const edited = changes.title !== undefined || changes.settings !== undefined;
    const updated = {
      ...row,
      title,
      settings,
      updated_at: edited ? this.now() : row.updated_at,
      project_id: changes.projectId === undefined ? row.project_id : changes.projectId,
      pinned_at:
        changes.pinned === undefined ? row.pinned_at : changes.pinned ? (row.pinned_at ?? this.now()) : null,
    };
    await this.db
      .updateTable("conversations")
      .set({
        title,
        settings,
        search_terms: indexText(title),
        updated_at: updated.updated_at,
        project_id: updated.project_id,
        pinned_at: updated.pinned_at,
      })
      .where("id", "=", id)
      .where("user_id", "=", userId)
      .execute();
    return toConversation(updated);
  }

  /** Deletes the conversation and all its messages; false when the user has no such conversation. */
  async delete(userId: string, id: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom("conversations")
      .where("id", "=", id)
      .where("user_id", "=", userId)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /**
   * Whose message `messageId` is and in which conversation, for commands run by the operator
   * (`qiusuo replay`), who may name any message; undefined when there is none.
   */
  async locateMessage(messageId: string): Promise<{ userId: string; conversationId: string } | undefined> {
    const row = await this.db
      .selectFrom("messages")
      .innerJoin("conversations", "conversations.id", "messages.conversation_id")
      .select(["conversations.user_id as userId", "messages.conversation_id as conversationId"])
      .where("messages.id", "=", messageId)
      .executeTakeFirst();
    return row && { userId: row.userId, conversationId: row.conversationId };
  }

  /** Every message of every branch, oldest first; undefined when the user has no such conversation. */
  async messages(userId: string, conversationId: string): Promise<Message[] | undefined> {
    if (!(await this.ownConversation(this.db, userId, conversationId))) return undefined;
    const rows = await this.db
      .selectFrom("messages")
      .select(messageColumns)
      .where("conversation_id", "=", conversationId)
      .orderBy("created_at")
      .orderBy("id")
      .execute();
    return rows.map(toMessage);
  }

  /**
   * Adds a message under `parentId` and makes it the current leaf; a user message also titles a
   * conversation still called `New chat`. Undefined when the user has no such conversation; throws
   * `StoreError("message_parent_invalid")` when the parent is not a message of this conversation.
   */
  async addMessage(
    userId: string,
    conversationId: string,
    message: NewMessage,
  ): Promise<Message | undefined> {
    return this.db.transaction().execute(async (transaction) => {
      const conversation = await this.ownConversation(transaction, userId, conversationId);
      if (!conversation) return undefined;
      let createdAt = this.now();
      if (message.parentId !== null) {
        const parent = await transaction
          .selectFrom("messages")
          .select("created_at")
          .where("id", "=", message.parentId)
          .where("conversation_id", "=", conversationId)
          .executeTakeFirst();
        if (!parent) {
          throw new StoreError(
            "message_parent_invalid",
            `Message "${message.parentId}" is not a message of this conversation.`,
          );
        }
        createdAt = Math.max(createdAt, Number(parent.created_at) + 1);
      }
      const status = message.status ?? "complete";
      const row = messageRow(randomUUID(), conversationId, message.parentId, message, status, createdAt);
      await transaction
        .insertInto("messages")
        .values({
          ...row,
          search_terms: status === "streaming" ? "" : indexText(row.content),
          stream_owner: status === "streaming" ? (message.streamOwner ?? null) : null,
        })
        .execute();
      const title =
        conversation.title === DEFAULT_TITLE && message.role === "user"
          ? titleFrom(message.content)
          : undefined;
      await transaction
        .updateTable("conversations")
        .set({
          current_leaf_id: row.id,
          updated_at: createdAt,
          ...(title === undefined ? {} : { title, search_terms: indexText(title) }),
        })
        .where("id", "=", conversationId)
        .execute();
      return toMessage(row);
    });
  }

  /** Starts a reply: an assistant message with status `streaming` and no text yet. */
  startReply(
    userId: string,
    conversationId: string,
    parentId: string | null,
    reply: NewReply,
  ): Promise<Message | undefined> {
    return this.addMessage(userId, conversationId, {
      parentId,
      role: "assistant",
      content: "",
      model: reply.model,
      settings: reply.settings ?? null,
      provenance: reply.provenance ?? null,
      status: "streaming",
      ...(reply.owner === undefined ? {} : { streamOwner: reply.owner }),
    });
  }

  /**
   * Saves a streaming reply's whole text so far (the route calls it every few hundred ms). Writing
   * the full text rather than a delta makes it idempotent. Only a reply still `streaming` is
   * written; false otherwise. The search index catches up when the reply finishes.
   */
  async saveReplyProgress(messageId: string, progress: ReplyProgress): Promise<boolean> {
    const result = await this.db
      .updateTable("messages")
      .set({ content: progress.content, reasoning: progress.reasoning ?? null })
      .where("id", "=", messageId)
      .where("status", "=", "streaming")
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /**
   * Writes a reply's final text and status. A reply already marked `interrupted` (by
   * `markInterrupted` on another instance sharing the database) can still be finished; a
   * `complete` one cannot. Undefined when there is no such unfinished reply.
   */
  async finishReply(messageId: string, reply: FinishedReply): Promise<Message | undefined> {
    const result = await this.db
      .updateTable("messages")
      .set({
        status: reply.status,
        content: reply.content,
        reasoning: reply.reasoning ?? null,
        tool_calls: jsonOrNull(reply.toolCalls),
        usage: jsonOrNull(reply.usage),
        search_terms: indexText(reply.content),
      })
      .where("id", "=", messageId)
      .where("status", "!=", "complete")
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) === 0) return undefined;
    const row = await this.db
      .selectFrom("messages")
      .select(messageColumns)
      .where("id", "=", messageId)
      .executeTakeFirst();
    return row && toMessage(row);
  }

  /**
   * Replaces a reply's provenance: its model file's digest, known only once the file has been
   * hashed, which a reply does not wait for. Whether the reply was found.
   */
  async recordProvenance(messageId: string, provenance: JsonObject): Promise<boolean> {
    const result = await this.db
      .updateTable("messages")
      .set({ provenance: jsonOrNull(provenance) })
      .where("id", "=", messageId)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /**
   * Marks replies still `streaming` as `interrupted`: run at startup and now and then, after a
   * crash or kill left rows mid-stream. Replies written by one of `liveOwners` (instances still
   * running) are left alone. Returns how many it marked.
   */
  async markInterrupted(options: { liveOwners?: readonly string[] } = {}): Promise<number> {
    const live = options.liveOwners ?? [];
    let query = this.db.selectFrom("messages").select(["id", "content"]).where("status", "=", "streaming");
    if (live.length > 0) {
      query = query.where((eb) =>
        eb.or([eb("stream_owner", "is", null), eb("stream_owner", "not in", live)]),
      );
    }
    const rows = await query.execute();
    let marked = 0;
    for (const row of rows) {
      const result = await this.db
        .updateTable("messages")
        .set({ status: "interrupted", search_terms: indexText(row.content) })
        .where("id", "=", row.id)
        .where("status", "=", "streaming")
        .executeTakeFirst();
      marked += Number(result.numUpdatedRows);
    }
    return marked;
  }

  /**
   * Shows the branch through `messageId`: the current leaf becomes the newest leaf under it (the
   * latest child, repeatedly). Undefined when the message is not in the user's conversation.
   */
  async setCurrent(
    userId: string,
    conversationId: string,
    messageId: string,
  ): Promise<Conversation | undefined> {
    const conversation = await this.ownConversation(this.db, userId, conversationId);
    if (!conversation) return undefined;
    const rows = await this.db
      .selectFrom("messages")
      .select(["id", "parent_id", "created_at"])
      .where("conversation_id", "=", conversationId)
      .execute();
    if (!rows.some((row) => row.id === messageId)) return undefined;
    const latestChild = new Map<string, { id: string; createdAt: number }>();
    for (const row of rows) {
      if (row.parent_id === null) continue;
      const createdAt = Number(row.created_at);
      const known = latestChild.get(row.parent_id);
      if (!known || createdAt > known.createdAt || (createdAt === known.createdAt && row.id > known.id)) {
        latestChild.set(row.parent_id, { id: row.id, createdAt });
      }
    }
    let leaf = messageId;
    for (let step = 0; step < rows.length; step++) {
      const child = latestChild.get(leaf);
      if (!child) break;
      leaf = child.id;
    }
    await this.db
      .updateTable("conversations")
      .set({ current_leaf_id: leaf })
      .where("id", "=", conversationId)
      .execute();
    return toConversation({ ...conversation, current_leaf_id: leaf });
  }

  /**
   * The user's conversations whose title, or messages whose content, hold every term of `query`
   * (search-text.ts: Chinese is found inside sentences, English by whole words, any case). Title
   * matches first (newest conversation first), then messages (newest first), at most `limit`.
   * The database matches, orders and limits (the dialect's match is exact), so only the page of
   * hits comes back.
   */
  async search(
    userId: string,
    query: string,
    options: { limit: number } & ConversationFilter,
  ): Promise<SearchHit[]> {
    const terms = queryTerms(query);
    const limit = Math.max(1, Math.floor(options.limit));
    if (terms.length === 0) return [];
    const { projectId } = options;
    const titles = await this.db
      .selectFrom("conversations")
      .select(["id", "title"])
      .where("user_id", "=", userId)
      .$if(projectId !== undefined, (where) => where.where("project_id", "=", projectId!))
      .where(this.dialect.matchesSearchTerms("conversations", terms))
      .orderBy("updated_at", "desc")
      .orderBy("id", "desc")
      .limit(limit)
      .execute();
    const hits: SearchHit[] = titles.map((row) => ({
      conversationId: row.id,
      title: row.title,
      messageId: null,
      snippet: row.title,
    }));
    if (hits.length === limit) return hits;
    // Written as a cross join so that SQLite, which keeps the order of one, walks messages newest
    // first and stops at the limit (dialects.ts); PostgreSQL plans it as the inner join it is.
    const messages = await this.db
      .selectFrom("messages")
      .crossJoin("conversations")
      .whereRef("conversations.id", "=", "messages.conversation_id")
      .select([
        "messages.id as message_id",
        "messages.content",
        "conversations.id as conversation_id",
        "conversations.title",
      ])
      .where("conversations.user_id", "=", userId)
      .$if(projectId !== undefined, (where) => where.where("conversations.project_id", "=", projectId!))
      .where(this.dialect.matchesSearchTerms("messages", terms))
      .orderBy("messages.created_at", "desc")
      .orderBy("messages.id", "desc")
      .limit(limit - hits.length)
      .execute();
    for (const row of messages) {
      hits.push({
        conversationId: row.conversation_id,
        title: row.title,
        messageId: row.message_id,
        snippet: snippet(row.content, query),
      });
    }
    return hits;
  }

  /** Every conversation of the user, oldest first, each with all its messages. */
  async exportAll(userId: string): Promise<ConversationExport[]> {
    const conversations = await this.db
      .selectFrom("conversations")
      .select(conversationColumns)
      .where("user_id", "=", userId)
      .orderBy("created_at")
      .orderBy("id")
      .execute();
    const messages = await this.db
      .selectFrom("messages")
      .innerJoin("conversations", "conversations.id", "messages.conversation_id")
      .select(messageColumns.map((column) => `messages.${column}` as const))
      .where("conversations.user_id", "=", userId)
      .orderBy("messages.created_at")
      .orderBy("messages.id")
      .execute();
    const byConversation = new Map<string, Message[]>();
    for (const row of messages) {
      const list = byConversation.get(row.conversation_id) ?? [];
      list.push(toMessage(row));
      byConversation.set(row.conversation_id, list);
    }
    return conversations.map((row) => ({
      ...toConversation(row),
      messages: byConversation.get(row.id) ?? [],
    }));
  }

  /**
   * Adds the conversations to the user's, in one transaction: new ids, the same tree, titles,
   * roles and timestamps (a message earlier than its parent is moved to just after it). Throws
   * `StoreError("message_parent_invalid")`, importing nothing, when a parent is not an earlier
   * message of the same conversation. Returns how many conversations it added.
   *
   * 100,000 messages cost a few seconds, so the work hands the event loop back every few ms. The
   * rows are made first, outside the transaction; the transaction then only writes them, and
   * yields between its inserts while it holds its connection (SQLite's only one: other queries
   * wait for the import to commit or roll back, and none runs inside it).
   */
  async importConversations(userId: string, conversations: readonly ConversationImport[]): Promise<number> {
    const clock = new SliceClock();
    const imports: ImportRows[] = [];
    for (const conversation of conversations) imports.push(await importRows(userId, conversation, clock));
    await this.db.transaction().execute(async (transaction) => {
      for (const { conversation, messages } of imports) {
        await clock.maybeYield();
        await transaction.insertInto("conversations").values(conversation).execute();
        for (let start = 0; start < messages.length; start += IMPORT_BATCH) {
          await clock.maybeYield();
          await transaction
            .insertInto("messages")
            .values(messages.slice(start, start + IMPORT_BATCH))
            .execute();
        }
      }
    });
    return conversations.length;
  }

  private async ownsProject(executor: Executor, userId: string, projectId: string): Promise<boolean> {
    const project = await executor
      .selectFrom("projects")
      .select("id")
      .where("id", "=", projectId)
      .where("user_id", "=", userId)
      .executeTakeFirst();
    return project !== undefined;
  }

  private ownConversation(
    executor: Executor,
    userId: string,
    id: string,
  ): Promise<Omit<Selectable<ConversationsTable>, "search_terms"> | undefined> {
    return executor
      .selectFrom("conversations")
      .select(conversationColumns)
      .where("id", "=", id)
      .where("user_id", "=", userId)
      .executeTakeFirst();
  }

  /** Now in ms, but always later than the last value this repository handed out. */
  private now(): number {
    this.lastTimestamp = Math.max(Date.now(), this.lastTimestamp + 1);
    return this.lastTimestamp;
  }
}

/** The rows one imported conversation adds. */
interface ImportRows {
  conversation: Insertable<ConversationsTable>;
  messages: Array<MessageRow & { search_terms: string }>;
}

/** Makes an imported conversation's rows (see importConversations), yielding to `clock`. */
async function importRows(
  userId: string,
  conversation: ConversationImport,
  clock: SliceClock,
): Promise<ImportRows> {
  const conversationId = randomUUID();
  const newIds = new Map<string, { id: string; createdAt: number }>();
  const rows: Array<MessageRow & { search_terms: string }> = [];
  for (const message of conversation.messages) {
    await clock.maybeYield();
    const parent = message.parentId === null ? undefined : newIds.get(message.parentId);
    if (message.parentId !== null && !parent) {
      throw new StoreError(
        "message_parent_invalid",
        `Imported message "${message.id}" follows "${message.parentId}", which does not come before it.`,
      );
    }
    const createdAt = Math.max(
      finiteOr(message.createdAt, conversation.createdAt),
      (parent?.createdAt ?? -1) + 1,
    );
    const id = randomUUID();
    newIds.set(message.id, { id, createdAt });
    const status = message.status === "streaming" ? "interrupted" : (message.status ?? "complete");
    rows.push({
      ...messageRow(id, conversationId, parent?.id ?? null, message, status, createdAt),
      search_terms: indexText(message.content),
    });
  }
  const newest = rows.reduce<(typeof rows)[number] | undefined>(
    (best, row) => (!best || row.created_at >= best.created_at ? row : best),
    undefined,
  );
  const leaf =
    (conversation.currentLeafId && newIds.get(conversation.currentLeafId)?.id) ?? newest?.id ?? null;
  const createdAt = finiteOr(conversation.createdAt, Date.now());
  return {
    conversation: {
      id: conversationId,
      user_id: userId,
      title: conversation.title,
      settings: JSON.stringify(conversation.settings ?? {}),
      current_leaf_id: leaf,
      search_terms: indexText(conversation.title),
      created_at: createdAt,
      updated_at: Math.max(finiteOr(conversation.updatedAt, createdAt), newest?.created_at ?? 0),
      project_id: null,
      pinned_at: null,
    },
    messages: rows,
  };
}

/** The first line of the content, trimmed to 60 characters; undefined when it is blank. */
/** The stored row of a message, its JSON fields serialised. */
function messageRow(
  id: string,
  conversationId: string,
  parentId: string | null,
  message: NewMessage,
  status: MessageStatus,
  createdAt: number,
): MessageRow {
  return {
    id,
    conversation_id: conversationId,
    parent_id: parentId,
    role: message.role,
    content: message.content,
    reasoning: message.reasoning ?? null,
    tool_calls: jsonOrNull(message.toolCalls),
    model: message.model ?? null,
    settings: jsonOrNull(message.settings),
    usage: jsonOrNull(message.usage),
    provenance: jsonOrNull(message.provenance),
    status,
    created_at: createdAt,
  };
}

export function titleFrom(content: string): string | undefined {
  const line = content.trim().split("\n", 1)[0]?.trim() ?? "";
  if (line === "") return undefined;
  return Array.from(line).slice(0, TITLE_LENGTH).join("").trim();
}

/** `[updatedAt, id, pinnedAt]`; a cursor without the third (from before pins) is unpinned. */
function encodeCursor(conversation: Conversation): string {
  return Buffer.from(
    JSON.stringify([conversation.updatedAt, conversation.id, conversation.pinnedAt ?? -1]),
  ).toString("base64url");
}

function decodeCursor(cursor: string): { updatedAt: number; id: string; pinnedAt: number } {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    const pinnedAt = Array.isArray(value) ? (value[2] ?? -1) : undefined;
    if (
      Array.isArray(value) &&
      Number.isSafeInteger(value[0]) &&
      typeof value[1] === "string" &&
      Number.isSafeInteger(pinnedAt)
    ) {
      return { updatedAt: value[0] as number, id: value[1], pinnedAt: pinnedAt as number };
    }
  } catch {
    // Not base64url JSON: reported below.
  }
  throw new StoreError("cursor_invalid", "The cursor is not one this list handed out.");
}

function toConversation(row: Omit<Selectable<ConversationsTable>, "search_terms">): Conversation {
  return {
    id: row.id,
    userId: row.user_id,
    title: row.title,
    settings: parseJson<ConversationSettings>(row.settings) ?? {},
    currentLeafId: row.current_leaf_id,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    projectId: row.project_id,
    pinnedAt: row.pinned_at === null ? null : Number(row.pinned_at),
  };
}

function toMessage(row: MessageRow): Message {
  return {
    id: row.id,
    conversationId: row.conversation_id,
    parentId: row.parent_id,
    role: row.role,
    content: row.content,
    reasoning: row.reasoning,
    toolCalls: parseJson<ToolCallRecord[]>(row.tool_calls),
    model: row.model,
    settings: parseJson<JsonObject>(row.settings),
    usage: parseJson<JsonObject>(row.usage),
    provenance: parseJson<JsonObject>(row.provenance),
    status: row.status,
    createdAt: Number(row.created_at),
  };
}

function jsonOrNull(value: unknown): string | null {
  return value === undefined || value === null ? null : JSON.stringify(value);
}

/** The column's JSON; null for null (columns hold only JSON this repository wrote). */
function parseJson<T>(text: string | null): T | null {
  return text === null ? null : (JSON.parse(text) as T);
}

function finiteOr(value: number, fallback: number): number {
  return Number.isFinite(value) ? Math.round(value) : fallback;
}
