/**
 * The tables as Kysely sees them. Timestamps are milliseconds since the epoch (bigint), JSON columns
 * are text holding JSON, and ids are text, so both dialects store and return the same values.
 */
import type { ColumnType, Generated } from "kysely";
import type { CollectionTables } from "./collections.js";
import type { McpServerTables } from "./mcp-servers.js";

/** A column written once at insert and never updated. */
type CreatedAt = ColumnType<number, number, never>;

export interface UsersTable {
  id: string;
  name: string;
  role: "admin" | "user";
  password_hash: string | null;
  /** When the user was disabled; null while active. */
  disabled_at: number | null;
  created_at: CreatedAt;
}

export interface SessionsTable {
  /** sha256 of the session token; the token itself lives only in the cookie. */
  id: string;
  user_id: string;
  created_at: CreatedAt;
  expires_at: number;
  last_seen_at: number;
}

export interface ApiKeysTable {
  id: string;
  user_id: string;
  name: string;
  /** sha256 of the plaintext key; the key itself is shown once and never stored. */
  key_hash: string;
  /** The start of the key, for lists (`sk-1a2b3c4d`). */
  prefix: string;
  /** Requests per minute; null is unlimited, as for every limit and quota below. */
  rpm: number | null;
  /** Tokens per minute. */
  tpm: number | null;
  max_concurrent: number | null;
  quota_tokens: number | null;
  quota_requests: number | null;
  used_tokens: Generated<number>;
  used_requests: Generated<number>;
  revoked_at: number | null;
  created_at: CreatedAt;
}

export interface UsageTable {
  id: string;
  user_id: string;
  /** Null for requests made without a key (local mode, the chat app's session). */
  api_key_id: string | null;
  model: string;
  prompt_tokens: number;
  prompt_cache_hit_tokens: number;
  prompt_cache_miss_tokens: number;
  completion_tokens: number;
  reasoning_tokens: number;
  latency_ms: number;
  /** `ok`, or the error code the request ended with. */
  status: string;
  /** `engine` (counted by our tokenizer), `upstream` (as it reported) or `estimated`. */
  usage_source: Generated<string>;
  /** The upstream pool that answered; null for local models. */
  upstream: string | null;
  created_at: CreatedAt;
}

export interface KeyRequestsTable {
  id: string;
  api_key_id: string;
  started_at: number;
  /** Null while the request runs. */
  finished_at: number | null;
  /** prompt + completion tokens, set when it finishes. */
  tokens: Generated<number>;
}

export interface ConversationsTable {
  id: string;
  user_id: string;
  title: string;
  /** JSON: `{model?, systemPrompt?, temperature?}`; default `{}`. */
  settings: Generated<string>;
  /** The last message of the branch shown; null before the first message. */
  current_leaf_id: string | null;
  /** The title's terms for search (search-text.ts); default empty. */
  search_terms: Generated<string>;
  /** The project it belongs to (projects.id); null outside any. */
  project_id: Generated<string | null>;
  /** When it was pinned on top of the list; null when not pinned. */
  pinned_at: Generated<number | null>;
  created_at: CreatedAt;
  updated_at: number;
}

export interface MessagesTable {
  id: string;
  conversation_id: string;
  /** The message this one answers or follows; siblings under one parent are branches. */
  parent_id: string | null;
  role: "system" | "user" | "assistant" | "tool";
  content: string;
  reasoning: string | null;
  tool_calls: string | null;
  model: string | null;
  settings: string | null;
  usage: string | null;
  provenance: string | null;
  status: "complete" | "streaming" | "interrupted";
  /** The content's terms for search (search-text.ts); empty while the message streams. */
  search_terms: Generated<string>;
  /** The instance writing a `streaming` reply (instances.id); null for other messages. */
  stream_owner: Generated<string | null>;
  created_at: CreatedAt;
}

/** Running servers, for telling a live streaming reply from one whose server died. */
export interface InstancesTable {
  id: string;
  hostname: string;
  pid: number;
  started_at: CreatedAt;
  last_seen_at: number;
}

/** A password login attempt, counted as a failure until it succeeds (login-attempts.ts). */
export interface LoginAttemptsTable {
  id: string;
  /** The client's address. */
  address: string;
  /** sha256 (base64url) of the name tried; null once that name logged in from the address. */
  name_hash: string | null;
  attempted_at: CreatedAt;
}

/** One row per client address with recent attempts: admissions lock it to count one at a time. */
export interface LoginAddressesTable {
  address: string;
  last_attempt_at: number;
}

/** A stored Responses API reply (responses.ts); rows expire at `expires_at`. */
export interface ResponsesTable {
  /** `resp_...`. */
  id: string;
  user_id: string;
  /** The key that created it; null for requests without one (local mode). */
  api_key_id: string | null;
  /** JSON: the response object as returned. */
  response: string;
  /** JSON: the input items it answered, those of the responses it continues included. */
  input_items: string;
  created_at: CreatedAt;
  expires_at: number;
}

/** A folder of conversations with its own instructions and files (projects.ts). */
export interface ProjectsTable {
  id: string;
  user_id: string;
  name: string;
  /** Added to the system prompt of every reply in the project; default empty. */
  instructions: Generated<string>;
  created_at: CreatedAt;
  updated_at: number;
}

/** A project's file: its extracted text, given to every reply in the project. */
export interface ProjectFilesTable {
  id: string;
  project_id: string;
  name: string;
  text: string;
  /** sha256 (hex) of the text, so a reply records which text it was given. */
  sha256: string;
  /** The text's size in UTF-8 bytes. */
  bytes: number;
  created_at: CreatedAt;
}

/** A user's custom instructions, first in the system prompt of every app reply while enabled. */
export interface UserInstructionsTable {
  user_id: string;
  /** What qiusuo should know about the user. */
  about_user: string;
  /** How qiusuo should answer. */
  response_style: string;
  /** 1 while applied, 0 when switched off (kept, not applied). */
  enabled: number;
  updated_at: number;
}

/** A share link's snapshot (shares.ts). */
export interface SharesTable {
  /** The link's secret (base64url, 192 random bits). */
  token: string;
  user_id: string;
  conversation_id: string;
  /** The message the snapshot ends at. */
  message_id: string;
  /** The conversation's title when shared. */
  title: string;
  /** The sharer's name as the page shows it; null when they chose not to show it. */
  author_name: string | null;
  /** JSON: the snapshot's messages (SharedMessage[]), oldest first. */
  messages: string;
  message_count: number;
  created_at: CreatedAt;
}

export interface Database extends CollectionTables, McpServerTables {
  users: UsersTable;
  sessions: SessionsTable;
  api_keys: ApiKeysTable;
  usage: UsageTable;
  key_requests: KeyRequestsTable;
  conversations: ConversationsTable;
  messages: MessagesTable;
  instances: InstancesTable;
  login_attempts: LoginAttemptsTable;
  login_addresses: LoginAddressesTable;
  responses: ResponsesTable;
  shares: SharesTable;
  projects: ProjectsTable;
  project_files: ProjectFilesTable;
  user_instructions: UserInstructionsTable;
}
