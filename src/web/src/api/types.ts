// The App API's shapes, as docs/api.md ("App API (/api)") specifies them.

export type Mode = "local" | "accounts";

export interface User {
  id: string;
  name: string;
  role: "admin" | "user" | string;
}

export interface Session {
  mode: Mode;
  user: User | null;
  setupRequired: boolean;
  csrfToken: string | null;
}

export interface ConversationSettings {
  model?: string;
  systemPrompt?: string;
  temperature?: number;
  /** 联网搜索: the reply may search the web. */
  webSearch?: boolean;
  /** Knowledge collections the reply may search. */
  collectionIds?: string[];
  /** MCP servers whose tools the reply may call. */
  mcpServerIds?: string[];
}

export interface Conversation {
  id: string;
  title: string;
  settings: ConversationSettings;
  currentLeafId: string | null;
  /** Milliseconds since the epoch. */
  createdAt: number;
  updatedAt: number;
  /** The project it is in; null (or absent) outside any. */
  projectId?: string | null;
  /** When it was pinned, in ms; null (or absent) when not pinned. */
  pinnedAt?: number | null;
}

/** Usage as DeepSeek reports it, plus how long the model reasoned. */
export interface Usage {
  prompt_tokens?: number;
  prompt_cache_hit_tokens?: number;
  prompt_cache_miss_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
  completion_tokens_details?: { reasoning_tokens?: number };
  reasoningMs?: number;
}

export type MessageStatus = "complete" | "streaming" | "interrupted";

export interface Message {
  id: string;
  parentId: string | null;
  role: "user" | "assistant" | "system" | "tool";
  content: string;
  reasoning: string | null;
  toolCalls?: unknown;
  model: string | null;
  settings?: unknown;
  usage: Usage | null;
  provenance?: unknown;
  status: MessageStatus;
  createdAt: number;
}

export interface ConversationDetail {
  conversation: Conversation;
  messages: Message[];
}

export interface Page<T> {
  data: T[];
  nextCursor?: string | null;
}

export interface SearchHit {
  conversationId: string;
  title: string;
  messageId: string;
  snippet: string;
}

export interface ApiKey {
  id: string;
  name: string;
  prefix?: string;
  createdAt?: number;
  lastUsedAt?: number | null;
  revokedAt?: number | null;
  rpm?: number | null;
  tpm?: number | null;
  maxConcurrent?: number | null;
  quotaTokens?: number | null;
  quotaRequests?: number | null;
}

export type UsageSummaryRow = Record<string, string | number | null>;

export interface AppModel {
  id: string;
  aliases: string[];
  state: "available" | "loading" | "ready" | "missing" | "failed";
  /** Why the model is not ready, in words a user can act on. */
  reason?: string;
  file?: string | null;
  sizeBytes?: number | null;
  quantization?: string | null;
  contextLength?: number | null;
  architecture?: string | null;
  parameters?: number | null;
  reasoning?: boolean;
  /** A reranker (served at /v1/rerank): it scores documents and cannot chat. */
  reranker?: boolean;
  /** Tokens per sequence, once loaded. */
  contextSize?: number;
  /** Whether user messages may carry images; absent or false means text only. */
  acceptsImages?: boolean;
  /** The upstream pool that serves it (its id is `POOL/<upstream id>`); absent for local models. */
  pool?: string;
}

/** A report `qiusuo audit` wrote, as `GET /api/audits` lists it (open it at `/api/audits/NAME`). */
export interface AuditReportEntry {
  name: string;
  createdAt: string;
  a: string;
  b: string;
  sizeBytes: number;
}

/** One upstream pool on the models page (`GET /api/upstreams`, admins only). */
export interface UpstreamPool {
  name: string;
  /** down: no replica in service; degraded: some out of service, or no models; else ok. */
  state: "ok" | "degraded" | "down";
  healthyReplicas: number;
  totalReplicas: number;
  /** Requests waiting for a replica. */
  queued: number;
  /** How many models the pool serves. */
  models: number;
  /** Why it is down or degraded. */
  reason?: string;
  replicas: UpstreamReplica[];
}

export interface UpstreamReplica {
  /** The replica's URL without credentials, query or fragment. */
  url: string;
  /** healthy: in service; ejected: out after failures, probed until it answers; probing: on trial. */
  state: "healthy" | "ejected" | "probing";
  /** Requests it is answering now. */
  inFlight: number;
  lastError?: string;
}

export interface AttachedFile {
  name: string;
  text: string;
}

/** An image on a user message: a `data:image/...;base64,` URL and the file's name. */
export interface AttachedImage {
  url: string;
  name?: string;
}

/** Fields a message or regenerate request may set; empty ones are left out of the body. */
export interface GenerationOptions {
  model?: string;
  thinking?: boolean;
  temperature?: number;
}

/** What a reply was made with (its `provenance`), as far as it was recorded. */
export interface Provenance {
  model?: string;
  modelFile?: string;
  modelSha256?: string | null;
  templateSha256?: string | null;
  seed?: number;
  startedAt?: string;
  systemFingerprint?: string;
  runtime?: {
    nodeLlamaCpp?: string;
    llamaCpp?: string;
    buildType?: string;
    gpu?: string | false;
    threads?: number;
    parallel?: number;
  };
  pool?: string;
  upstreamModel?: string;
  servedBy?: { pool?: string; replica?: string; upstreamModel?: string; systemFingerprint?: string };
  /** Counts by kind of what was redacted before the request left the machine. */
  redactions?: Record<string, number>;
}

/** `POST /api/conversations/:id/messages/:messageId/replay`. */
export interface ReplayReport {
  messageId: string;
  model: string;
  identical: boolean;
  storedTokens: number;
  replayedTokens: number;
  generatedTokens: { stored: number | null; replayed: number };
  difference?: { tokenIndex: number; stored: string; replayed: string };
  notes: string[];
}

/** A share link as its owner lists it (`GET /api/shares`). */
export interface ShareLink {
  token: string;
  /** `/s/<token>` on this server. */
  path: string;
  conversationId: string;
  /** The last message the link shows. */
  messageId: string;
  title: string;
  showName: boolean;
  messageCount: number;
  createdAt: number;
}

/** A message on a shared page: no ids, model, usage or provenance. */
export interface SharedMessage {
  role: "user" | "assistant";
  content: string;
  reasoning: string | null;
  reasoningMs: number | null;
  files: Array<{ name: string }>;
  images: AttachedImage[];
}

/** What anyone with a link reads (`GET /api/shared/:token`). */
export interface SharedConversation {
  title: string;
  /** The sharer's name, when they chose to show it. */
  author: string | null;
  createdAt: number;
  messages: SharedMessage[];
}

// admin panel

/** A user as the admin panel lists them, with their activity and usage totals. */
export interface AdminUser {
  id: string;
  name: string;
  role: "admin" | "user";
  disabled: boolean;
  hasPassword: boolean;
  createdAt: number;
  /** Their latest session use or request; null when unknown. */
  lastActiveAt: number | null;
  activeKeys: number;
  requests: number;
  totalTokens: number;
}

/** Any user's key, as the admin panel lists it. */
export interface AdminApiKey extends ApiKey {
  userId: string;
  userName: string;
  usedTokens?: number;
  usedRequests?: number;
}

export type NewKeyLimits = Partial<
  Record<"rpm" | "tpm" | "maxConcurrent" | "quotaTokens" | "quotaRequests", number>
>;

export type UsageSeries = "none" | "user" | "key" | "model";

export interface UsageFilters {
  userId?: string;
  apiKeyId?: string;
  model?: string;
  since?: number;
}

/** One day of usage, for one series (null: requests without a key, or no split). */
export interface DailyUsageRow {
  day: string;
  series: string | null;
  requests: number;
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

// projects
export type {
  CustomInstructionsView as CustomInstructions,
  ProjectDetailView as ProjectDetail,
  ProjectFileView as ProjectFile,
  ProjectView as Project,
} from "../../../protocol/app/projects.ts";

// knowledge collections (docs/api.md, "Collections")
export interface Collection {
  id: string;
  name: string;
  description: string;
  fileCount: number;
  chunkCount: number;
  embeddingModel: string;
  createdAt: number;
  updatedAt: number;
}

export type CollectionFileStatus = "queued" | "indexing" | "ready" | "failed";

export interface CollectionFile {
  id: string;
  name: string;
  size: number;
  mimeType: string;
  status: CollectionFileStatus;
  error: { code: string; message: string } | null;
  chunkCount: number;
  /** Indexing progress while queued or indexing (chunks embedded of all); null otherwise. */
  progress: { done: number; total: number } | null;
  createdAt: number;
  updatedAt: number;
}

export interface CollectionDetail extends Collection {
  files: CollectionFile[];
}

export interface KnowledgeHit {
  collectionId: string;
  fileId: string;
  fileName: string;
  chunkId: string;
  text: string;
  score: number;
  page?: number;
  headingPath?: string[];
}

// tools in a turn: web search, sources, approvals (docs/api.md, "Tools in a turn")
/** A passage a reply may cite as `[citation:N]`: a web page (url) or a knowledge file (file). */
export interface Source {
  index: number;
  title: string;
  url?: string;
  file?: string;
  passage: string;
}

/** One tool call of a reply, as streamed and as its provenance keeps it (`provenance.turn.steps`). */
export interface ToolStep {
  id: string;
  name: string;
  arguments: string;
  result?: { content: string; isError: boolean; sources?: Source[] };
  awaitingApproval?: boolean;
  approval?: "approved" | "denied";
}

export interface WebSearchStatus {
  available: boolean;
  provider: string | null;
}

export interface McpServerSummary {
  id: string;
  name: string;
  description: string;
  tools: Array<{ name: string; description: string; askFirst: boolean }>;
}

// MCP servers (docs/api.md, "MCP servers")
/** A server as every user sees it: what it offers, never how it is reached. */
export interface McpServerSummary {
  id: string;
  name: string;
  description: string;
  tools: Array<{ name: string; description: string; askFirst: boolean }>;
}

export type McpTransport =
  | { type: "stdio"; command: string; args: string[]; env: Record<string, string>; cwd?: string | null }
  | { type: "http"; url: string; headers: Record<string, string> };

/** A server as an admin sees it; environment and header values come back masked. */
export interface AdminMcpServer extends McpServerSummary {
  transport: McpTransport;
  enabled: boolean;
  toolSettings: Record<string, { askFirst: boolean }>;
  toolsListedAt: number | null;
  createdAt: number;
  updatedAt: number;
}

/** What testing a server found. */
export type McpTestResult =
  { ok: true; server: AdminMcpServer } | { ok: false; error: string; server: AdminMcpServer };
