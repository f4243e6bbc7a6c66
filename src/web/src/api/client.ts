// The App API client: JSON requests with the CSRF header on writes, and the message streams.
import { readSseEvents } from "./sse.ts";
import type { CustomInstructions, Project, ProjectDetail, ProjectFile } from "./types.ts";
import type {
  AdminApiKey,
  AdminUser,
  DailyUsageRow,
  NewKeyLimits,
  UsageFilters,
  UsageSeries,
  AuditReportEntry,
  ApiKey,
  AppModel,
  AttachedFile,
  AttachedImage,
  Conversation,
  ConversationDetail,
  ConversationSettings,
  GenerationOptions,
  Message,
  Page,
  ReplayReport,
  SearchHit,
  Session,
  SharedConversation,
  ShareLink,
  Source,
  UpstreamPool,
  UsageSummaryRow,
  User,
} from "./types.ts";

/** An error answered by the server (DeepSeek's envelope) or a failed connection (status 0). */
export class ApiError extends Error {
  override readonly name = "ApiError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

let csrfToken: string | null = null;

/** The token from GET /api/session, /api/login or /api/setup, sent on every write. */
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/** The CSRF header alone, for a write sent without fetch (an upload by XMLHttpRequest). */
export function csrfHeader(): Record<string, string> {
  return csrfToken ? { "x-csrf-token": csrfToken } : {};
}

function headers(method: string): Record<string, string> {
  const result: Record<string, string> = { "content-type": "application/json" };
  if (method !== "GET" && csrfToken) result["x-csrf-token"] = csrfToken;
  return result;
}

export async function errorFrom(response: Response): Promise<ApiError> {
  const text = await response.text().catch(() => "");
  try {
    const body = JSON.parse(text) as { error?: { message?: string; code?: string } };
    if (body.error?.message)
      return new ApiError(response.status, body.error.code ?? "error", body.error.message);
  } catch {
    // Not JSON: a proxy's page, or the server is gone.
  }
  return new ApiError(response.status, "http_error", `${response.status} ${response.statusText}`.trim());
}

export async function send(
  method: string,
  path: string,
  body?: unknown,
  signal?: AbortSignal,
): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers: headers(method),
      credentials: "same-origin",
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      ...(signal ? { signal } : {}),
    });
  } catch (error) {
    if ((error as Error).name === "AbortError") throw error;
    throw new ApiError(0, "network_error", (error as Error).message);
  }
  if (!response.ok) throw await errorFrom(response);
  return response;
}

export async function json<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await send(method, path, body);
  return (await response.json()) as T;
}

/** Events of a message stream, as docs/api.md names them. */
export type MessageStreamEvent =
  | { type: "user"; message: Message }
  | { type: "assistant"; message: Message }
  | { type: "delta"; reasoning?: string; content?: string }
  | { type: "done"; message: Message }
  | { type: "error"; message: string }
  | { type: "tool-call" | "approval-needed"; id: string; name: string; arguments: string }
  | { type: "tool-result"; id: string; name: string; content: string; isError: boolean }
  | { type: "sources"; toolCallId: string; sources: Source[] };

const TOOL_EVENTS = new Set(["tool-call", "tool-result", "sources", "approval-needed"]);

export async function* messageStream(path: string, body: unknown, signal: AbortSignal) {
  const response = await send("POST", path, body, signal);
  if (!response.body) throw new ApiError(0, "network_error", "The server sent no stream.");
  for await (const { event, data } of readSseEvents(response.body)) {
    const payload = JSON.parse(data) as Record<string, unknown>;
    if (event === "delta" || TOOL_EVENTS.has(event)) yield { type: event, ...payload } as MessageStreamEvent;
    else if (event === "user" || event === "assistant" || event === "done")
      yield { type: event, message: payload as unknown as Message } as MessageStreamEvent;
    else if (event === "error") {
      const error = payload.error as { message?: string } | string | undefined;
      yield {
        type: "error",
        message: typeof error === "string" ? error : (error?.message ?? "The reply failed."),
      } as MessageStreamEvent;
    }
  }
}

function withoutEmpty(options: GenerationOptions): GenerationOptions {
  const result: GenerationOptions = {};
  if (options.model) result.model = options.model;
  if (options.thinking !== undefined) result.thinking = options.thinking;
  if (options.temperature !== undefined) result.temperature = options.temperature;
  return result;
}

export const api = {
  session: () => json<Session>("GET", "/api/session"),
  setup: (token: string, name: string, password: string) =>
    json<{ user: User; csrfToken: string }>("POST", "/api/setup", { token, name, password }),
  login: (name: string, password: string) =>
    json<{ user: User; csrfToken: string }>("POST", "/api/login", { name, password }),
  logout: () => json<{ ok: true }>("POST", "/api/logout"),

  conversations: (cursor?: string | null) =>
    json<Page<Conversation>>(
      "GET",
      `/api/conversations?limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
    ),
  createConversation: (settings: ConversationSettings, projectId?: string | null) =>
    json<Conversation>("POST", "/api/conversations", { settings, ...(projectId ? { projectId } : {}) }),
  conversation: (id: string) =>
    json<ConversationDetail>("GET", `/api/conversations/${encodeURIComponent(id)}`),
  updateConversation: (id: string, changes: { title?: string; settings?: ConversationSettings }) =>
    json<Conversation>("PATCH", `/api/conversations/${encodeURIComponent(id)}`, changes),
  deleteConversation: (id: string) =>
    json<{ ok: true }>("DELETE", `/api/conversations/${encodeURIComponent(id)}`),
  setCurrent: (id: string, messageId: string) =>
    json<Conversation>("PUT", `/api/conversations/${encodeURIComponent(id)}/current`, { messageId }),
  sendMessage: (
    id: string,
    request: {
      parentId: string | null;
      content: string;
      files?: AttachedFile[];
      images?: AttachedImage[];
    } & GenerationOptions,
    signal: AbortSignal,
  ) =>
    messageStream(
      `/api/conversations/${encodeURIComponent(id)}/messages`,
      {
        parentId: request.parentId,
        content: request.content,
        ...(request.files?.length ? { files: request.files } : {}),
        ...(request.images?.length ? { images: request.images } : {}),
        ...withoutEmpty(request),
      },
      signal,
    ),
  replay: (id: string, messageId: string) =>
    json<ReplayReport>(
      "POST",
      `/api/conversations/${encodeURIComponent(id)}/messages/${encodeURIComponent(messageId)}/replay`,
    ),
  regenerate: (id: string, messageId: string, options: GenerationOptions, signal: AbortSignal) =>
    messageStream(
      `/api/conversations/${encodeURIComponent(id)}/messages/${encodeURIComponent(messageId)}/regenerate`,
      withoutEmpty(options),
      signal,
    ),
  search: (query: string) =>
    json<{ data: SearchHit[] }>("GET", `/api/search?q=${encodeURIComponent(query)}&limit=20`),

  keys: () => json<{ data: ApiKey[] }>("GET", "/api/keys"),
  createKey: (name: string) => json<{ key: ApiKey; plaintext: string }>("POST", "/api/keys", { name }),
  revokeKey: (id: string) => json<unknown>("DELETE", `/api/keys/${encodeURIComponent(id)}`),
  usage: (groupBy: "day" | "model" | "key") =>
    json<{ data: UsageSummaryRow[] }>("GET", `/api/usage?groupBy=${groupBy}`),

  models: () => json<{ data: AppModel[] }>("GET", "/api/models"),
  loadModel: (id: string) => json<{ model: AppModel }>("POST", `/api/models/${encodeURIComponent(id)}/load`),
  unloadModel: (id: string) =>
    json<{ model: AppModel }>("POST", `/api/models/${encodeURIComponent(id)}/unload`),
  deleteModel: (id: string) => json<{ ok: true }>("DELETE", `/api/models/${encodeURIComponent(id)}`),
  pullModel: (model: string, signal: AbortSignal) => pullStream(model, signal),
  upstreams: () => json<{ data: UpstreamPool[] }>("GET", "/api/upstreams"),
  audits: () => json<{ data: AuditReportEntry[] }>("GET", "/api/audits"),

  // share links
  createShare: (conversationId: string, options: { messageId?: string; showName?: boolean }) =>
    json<ShareLink>("POST", `/api/conversations/${encodeURIComponent(conversationId)}/shares`, options),
  conversationShares: (conversationId: string) =>
    json<{ data: ShareLink[] }>("GET", `/api/conversations/${encodeURIComponent(conversationId)}/shares`),
  revokeShare: (token: string) => json<{ ok: true }>("DELETE", `/api/shares/${encodeURIComponent(token)}`),
  revokeConversationShares: (conversationId: string) =>
    json<{ revoked: number }>("DELETE", `/api/conversations/${encodeURIComponent(conversationId)}/shares`),
  revokeAllShares: () => json<{ revoked: number }>("DELETE", "/api/shares"),
  shared: (token: string) => json<SharedConversation>("GET", `/api/shared/${encodeURIComponent(token)}`),
};

/** Events of a pull stream: progress (bytes so far), then the pulled model or an error. */
export type PullEvent =
  | { type: "progress"; downloadedBytes: number; totalBytes: number | null }
  | { type: "done"; model: AppModel }
  | { type: "error"; message: string };

async function* pullStream(model: string, signal: AbortSignal): AsyncGenerator<PullEvent> {
  const response = await send("POST", "/api/models/pull", { model }, signal);
  if (!response.body) throw new ApiError(0, "network_error", "The server sent no stream.");
  for await (const { event, data } of readSseEvents(response.body)) {
    const payload = JSON.parse(data) as Record<string, unknown>;
    if (event === "progress")
      yield {
        type: "progress",
        downloadedBytes: Number(payload.downloadedBytes ?? 0),
        totalBytes: typeof payload.totalBytes === "number" ? payload.totalBytes : null,
      };
    else if (event === "done") yield { type: "done", model: payload.model as AppModel };
    else if (event === "error") {
      const error = payload.error as { message?: string } | undefined;
      yield { type: "error", message: error?.message ?? "The pull failed." };
    }
  }
}

// admin panel

function usageQuery(filters: UsageFilters): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(filters))
    if (value !== undefined) query.set(name, String(value));
  return query.toString();
}

/** The admin panel's routes (/api/admin; admins only, 403 otherwise). */
export const adminApi = {
  users: () => json<{ data: AdminUser[] }>("GET", "/api/admin/users"),
  createUser: (user: { name: string; password: string; role: "admin" | "user" }) =>
    json<{ user: AdminUser }>("POST", "/api/admin/users", user),
  updateUser: (id: string, changes: { role?: "admin" | "user"; disabled?: boolean }) =>
    json<{ user: AdminUser }>("PATCH", `/api/admin/users/${encodeURIComponent(id)}`, changes),
  resetPassword: (id: string, password: string) =>
    json<{ ok: true }>("PUT", `/api/admin/users/${encodeURIComponent(id)}/password`, { password }),
  keys: () => json<{ data: AdminApiKey[] }>("GET", "/api/admin/keys"),
  createKey: (userId: string, name: string, limits: NewKeyLimits) =>
    json<{ key: AdminApiKey; plaintext: string }>("POST", "/api/admin/keys", { userId, name, ...limits }),
  revokeKey: (id: string) => json<{ ok: true }>("DELETE", `/api/admin/keys/${encodeURIComponent(id)}`),
  models: (filters: UsageFilters) =>
    json<{ data: UsageSummaryRow[] }>("GET", `/api/admin/usage?groupBy=model&${usageQuery(filters)}`),
  daily: (series: UsageSeries, filters: UsageFilters) =>
    json<{ data: DailyUsageRow[] }>("GET", `/api/admin/usage/daily?series=${series}&${usageQuery(filters)}`),
};

// projects

/** Projects, custom instructions, and moving and pinning chats (docs/api.md). */
export const projectApi = {
  list: () => json<{ data: Project[] }>("GET", "/api/projects"),
  get: (id: string) => json<ProjectDetail>("GET", `/api/projects/${encodeURIComponent(id)}`),
  create: (name: string) => json<ProjectDetail>("POST", "/api/projects", { name }),
  update: (id: string, changes: { name?: string; instructions?: string }) =>
    json<ProjectDetail>("PATCH", `/api/projects/${encodeURIComponent(id)}`, changes),
  remove: (id: string, chats: "keep" | "delete") =>
    json<{ ok: true }>("DELETE", `/api/projects/${encodeURIComponent(id)}?chats=${chats}`),
  addFiles: (id: string, files: AttachedFile[]) =>
    json<{ data: ProjectFile[] }>("POST", `/api/projects/${encodeURIComponent(id)}/files`, { files }),
  removeFile: (id: string, fileId: string) =>
    json<{ ok: true }>(
      "DELETE",
      `/api/projects/${encodeURIComponent(id)}/files/${encodeURIComponent(fileId)}`,
    ),
  /** Search, in one project's chats when `project` is given. */
  search: (query: string, project: string | null) =>
    json<{ data: SearchHit[] }>(
      "GET",
      `/api/search?q=${encodeURIComponent(query)}&limit=20${project ? `&project=${encodeURIComponent(project)}` : ""}`,
    ),
  /** Moves a chat into a project, or out of any (null). */
  move: (conversationId: string, projectId: string | null) =>
    json<Conversation>("PATCH", `/api/conversations/${encodeURIComponent(conversationId)}`, { projectId }),
  pin: (conversationId: string, pinned: boolean) =>
    json<Conversation>("PATCH", `/api/conversations/${encodeURIComponent(conversationId)}`, { pinned }),
  instructions: () => json<CustomInstructions>("GET", "/api/instructions"),
  setInstructions: (instructions: CustomInstructions) =>
    json<CustomInstructions>("PUT", "/api/instructions", instructions),
};
