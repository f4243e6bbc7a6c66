// The open conversation, the list in the sidebar, and the reply being streamed.
import { batch, signal } from "@preact/signals";
import { api, ApiError, type MessageStreamEvent } from "../api/client.ts";
import { toolsApi } from "../api/tools.ts";
import type {
  AttachedFile,
  AttachedImage,
  Conversation,
  ConversationSettings,
  GenerationOptions,
  Message,
  ToolStep,
} from "../api/types.ts";
import { t } from "../i18n/i18n.ts";
import { deepThink, preferredModel } from "./prefs.ts";
import { navigate } from "./router.ts";
import { buildTree, defaultLeaf, newestLeaf } from "./tree.ts";

export interface OpenChat {
  conversation: Conversation;
  messages: Message[];
  leafId: string | null;
}

/** The reply being written: kept apart so each token re-renders one message, not the thread. */
export interface LiveReply {
  messageId: string;
  content: string;
  reasoning: string;
  reasoningStartedAt: number | null;
  reasoningEndedAt: number | null;
  /** The tool calls so far, in the order they happened, with their results once in. */
  steps: ToolStep[];
}

/** The tools a conversation uses, from its settings. */
export type ToolChoice = Required<Pick<ConversationSettings, "webSearch" | "collectionIds" | "mcpServerIds">>;

/** The last tools chosen, kept in this browser: a new chat starts with them, like DeepThink. */
export const lastToolChoice = signal<ToolChoice>(readToolChoice());
lastToolChoice.subscribe((choice) => localStorage.setItem("qiusuo.tools", JSON.stringify(choice)));

function readToolChoice(): ToolChoice {
  const none: ToolChoice = { webSearch: false, collectionIds: [], mcpServerIds: [] };
  try {
    const saved = JSON.parse(localStorage.getItem("qiusuo.tools") ?? "null") as Partial<ToolChoice> | null;
    const ids = (value: unknown) =>
      Array.isArray(value) ? value.filter((id): id is string => typeof id === "string") : [];
    return saved
      ? {
          webSearch: saved.webSearch === true,
          collectionIds: ids(saved.collectionIds),
          mcpServerIds: ids(saved.mcpServerIds),
        }
      : none;
  } catch {
    return none;
  }
}

/** The tools the next message uses: the open chat's, or the last choice for a new chat. */
export function currentTools(): ToolChoice {
  const settings = openChat.value?.conversation.settings;
  if (!settings) return lastToolChoice.value;
  return {
    webSearch: settings.webSearch === true,
    collectionIds: settings.collectionIds ?? [],
    mcpServerIds: settings.mcpServerIds ?? [],
  };
}

/** Changes the tools: remembered for new chats, and saved with the open chat. */
export async function setTools(changes: Partial<ToolChoice>): Promise<void> {
  const next = { ...currentTools(), ...changes };
  lastToolChoice.value = next;
  if (openChat.value) await updateSettings(next);
}

export const conversations = signal<Conversation[]>([]);
export const openChat = signal<OpenChat | null>(null);
export const chatLoading = signal(false);
export const live = signal<LiveReply | null>(null);
export const busy = signal(false);
export const notice = signal<string | null>(null);
/** The project a new chat (not yet sent) will be created in; null for none. */
export const draftProjectId = signal<string | null>(null);

let controller: AbortController | null = null;

export function describeError(error: unknown): string {
  if (error instanceof ApiError && error.status === 0) return t("errorNetwork");
  return t("errorGeneric", { message: (error as Error).message });
}

export async function loadConversations(): Promise<void> {
  try {
    const all: Conversation[] = [];
    let cursor: string | null | undefined = null;
    // The sidebar shows every chat; pages of 50 keep each answer small.
    do {
      const page = await api.conversations(cursor);
      all.push(...page.data);
      cursor = page.nextCursor;
    } while (cursor && all.length < 2000);
    conversations.value = all;
  } catch (error) {
    notice.value = describeError(error);
  }
}

export async function openConversation(id: string | null): Promise<void> {
  if (id === null) {
    if (!busy.value) openChat.value = null;
    return;
  }
  if (openChat.value?.conversation.id === id) return;
  draftProjectId.value = null;
  stop();
  chatLoading.value = true;
  try {
    const detail = await api.conversation(id);
    const tree = buildTree(detail.messages);
    const leafId =
      detail.conversation.currentLeafId && tree.byId.has(detail.conversation.currentLeafId)
        ? detail.conversation.currentLeafId
        : defaultLeaf(tree);
    openChat.value = { conversation: detail.conversation, messages: detail.messages, leafId };
  } catch (error) {
    openChat.value = null;
    notice.value = error instanceof ApiError && error.status === 404 ? t("notFound") : describeError(error);
  } finally {
    chatLoading.value = false;
  }
}

/** Starts a new chat, in `projectId` when given. */
export function newChat(projectId: string | null = null): void {
  stop();
  openChat.value = null;
  draftProjectId.value = projectId;
  navigate("/");
}

function generationOptions(): GenerationOptions {
  const settings = openChat.value?.conversation.settings ?? {};
  const options: GenerationOptions = { thinking: deepThink.value === "on" };
  const model = settings.model || preferredModel.value;
  if (model) options.model = model;
  if (typeof settings.temperature === "number") options.temperature = settings.temperature;
  return options;
}

function upsert(message: Message, replacing?: string): void {
  const chat = openChat.value;
  if (!chat) return;
  const messages = chat.messages.filter(
    (existing) => existing.id !== message.id && existing.id !== replacing,
  );
  messages.push(message);
  openChat.value = { ...chat, messages, leafId: message.id };
}

function touchConversation(conversation: Conversation): void {
  conversations.value = [
    conversation,
    ...conversations.value.filter((existing) => existing.id !== conversation.id),
  ];
}

/** Plays one message stream into the open chat. */
async function play(stream: AsyncGenerator<MessageStreamEvent>, pendingUserId: string | null): Promise<void> {
  let reply: Message | null = null;
  try {
    for await (const event of stream) {
      if (event.type === "user") upsert(event.message, pendingUserId ?? undefined);
      else if (event.type === "assistant") {
        reply = event.message;
        batch(() => {
          upsert(event.message);
          live.value = {
            messageId: event.message.id,
            content: event.message.content ?? "",
            reasoning: event.message.reasoning ?? "",
            reasoningStartedAt: null,
            reasoningEndedAt: null,
            steps: [],
          };
        });
      } else if (
        event.type === "tool-call" ||
        event.type === "tool-result" ||
        event.type === "sources" ||
        event.type === "approval-needed"
      ) {
        const current = live.value;
        if (current) live.value = { ...current, steps: withToolEvent(current.steps, event) };
      } else if (event.type === "delta") {
        const current = live.value;
        if (!current) continue;
        const now = performance.now();
        live.value = {
          ...current,
          reasoning: current.reasoning + (event.reasoning ?? ""),
          content: current.content + (event.content ?? ""),
          reasoningStartedAt: current.reasoningStartedAt ?? (event.reasoning ? now : null),
          reasoningEndedAt:
            current.reasoningEndedAt ?? (event.content && current.reasoningStartedAt !== null ? now : null),
        };
      } else if (event.type === "done") {
        reply = null;
        batch(() => {
          upsert(event.message);
          live.value = null;
        });
      } else if (event.type === "error") {
        notice.value = t("errorGeneric", { message: event.message });
      }
    }
  } catch (error) {
    if ((error as Error).name !== "AbortError") notice.value = describeError(error);
    if (pendingUserId && openChat.value?.messages.some((message) => message.id === pendingUserId)) {
      // The server never saved the message: drop the optimistic copy and restore the thread.
      const chat = openChat.value;
      const pending = chat.messages.find((message) => message.id === pendingUserId)!;
      openChat.value = {
        ...chat,
        messages: chat.messages.filter((message) => message.id !== pendingUserId),
        leafId: pending.parentId,
      };
    }
  } finally {
    // Stopped or failed mid-reply: the server keeps the partial reply as interrupted; show the same.
    const partial = live.value;
    if (reply && partial && partial.messageId === reply.id)
      upsert({
        ...reply,
        content: partial.content,
        reasoning: partial.reasoning || null,
        status: "interrupted",
      });
    batch(() => {
      live.value = null;
      busy.value = false;
    });
    controller = null;
    const chat = openChat.value;
    if (chat) {
      touchConversation({ ...chat.conversation, updatedAt: Date.now() });
      // The server titles new chats from the first message; pick the title up.
      if (chat.conversation.title === "New chat" || chat.conversation.title === "")
        void api.conversation(chat.conversation.id).then(
          (detail) => {
            if (openChat.value?.conversation.id === detail.conversation.id)
              openChat.value = { ...openChat.value, conversation: detail.conversation };
            touchConversation(detail.conversation);
          },
          () => undefined,
        );
    }
  }
}

/** The live reply's tool calls with one more tool event applied. */
function withToolEvent(
  steps: ToolStep[],
  event: Extract<MessageStreamEvent, { type: "tool-call" | "tool-result" | "sources" | "approval-needed" }>,
): ToolStep[] {
  if (event.type === "tool-call") {
    if (steps.some((step) => step.id === event.id)) return steps;
    return [...steps, { id: event.id, name: event.name, arguments: event.arguments }];
  }
  const id = event.type === "sources" ? event.toolCallId : event.id;
  return steps.map((step) => {
    if (step.id !== id) return step;
    if (event.type === "approval-needed") return { ...step, awaitingApproval: true };
    if (event.type === "tool-result")
      return { ...step, result: { content: event.content, isError: event.isError } };
    if (event.type !== "sources") return step;
    return { ...step, result: { content: "", isError: false, ...step.result, sources: event.sources } };
  });
}

/**
 * Approves or denies the tool calls `message` stopped at; the answer is a new reply under it,
 * streamed like any other.
 */
export async function decideToolCall(message: Message, approve: boolean): Promise<void> {
  const chat = openChat.value;
  if (busy.value || !chat) return;
  busy.value = true;
  notice.value = null;
  controller = new AbortController();
  await play(
    toolsApi.decide(chat.conversation.id, message.id, approve, generationOptions(), controller.signal),
    null,
  );
}

/** Sends a user message under `parentId` (the thread's end, or an edited message's parent). */
export async function sendMessage(
  content: string,
  attachments: { files: AttachedFile[]; images?: AttachedImage[] },
  parentId: string | null | undefined = undefined,
): Promise<void> {
  const { files, images = [] } = attachments;
  if (busy.value) return;
  busy.value = true;
  notice.value = null;
  try {
    if (!openChat.value) {
      const settings = {
        ...(preferredModel.value ? { model: preferredModel.value } : {}),
        ...lastToolChoice.value,
      };
      const conversation = await api.createConversation(settings, draftProjectId.value);
      draftProjectId.value = null;
      openChat.value = { conversation, messages: [], leafId: null };
      touchConversation(conversation);
      navigate(`/c/${encodeURIComponent(conversation.id)}`);
    }
  } catch (error) {
    notice.value = describeError(error);
    busy.value = false;
    return;
  }
  const chat = openChat.value!;
  const parent = parentId === undefined ? chat.leafId : parentId;
  const pendingId = `pending-${Date.now()}`;
  upsert({
    id: pendingId,
    parentId: parent,
    role: "user",
    content,
    reasoning: null,
    model: null,
    usage: null,
    status: "complete",
    createdAt: Date.now(),
    ...(files.length > 0 || images.length > 0
      ? {
          settings: {
            ...(files.length > 0 ? { files } : {}),
            ...(images.length > 0 ? { images } : {}),
          },
        }
      : {}),
  });
  controller = new AbortController();
  const stream = api.sendMessage(
    chat.conversation.id,
    { parentId: parent, content, files, images, ...generationOptions() },
    controller.signal,
  );
  await play(stream, pendingId);
}

export async function regenerate(message: Message): Promise<void> {
  const chat = openChat.value;
  if (busy.value || !chat) return;
  busy.value = true;
  notice.value = null;
  controller = new AbortController();
  await play(api.regenerate(chat.conversation.id, message.id, generationOptions(), controller.signal), null);
}

/** Stops the reply being written (Esc or the stop button). */
export function stop(): void {
  controller?.abort();
}

/** Shows another branch: the newest leaf under `messageId`, here at once and on the server. */
export async function switchBranch(messageId: string): Promise<void> {
  const chat = openChat.value;
  if (!chat || busy.value) return;
  const leafId = newestLeaf(buildTree(chat.messages), messageId);
  openChat.value = { ...chat, leafId };
  try {
    const conversation = await api.setCurrent(chat.conversation.id, messageId);
    if (openChat.value?.conversation.id === conversation.id && conversation.currentLeafId)
      openChat.value = { ...openChat.value, conversation, leafId: conversation.currentLeafId };
  } catch (error) {
    notice.value = describeError(error);
  }
}

export async function renameConversation(id: string, title: string): Promise<void> {
  try {
    replaceConversation(await api.updateConversation(id, { title }));
  } catch (error) {
    notice.value = describeError(error);
  }
}

/** Puts a changed conversation (renamed, moved, pinned) into the list and the open chat. */
export function replaceConversation(conversation: Conversation): void {
  conversations.value = conversations.value.map((existing) =>
    existing.id === conversation.id ? conversation : existing,
  );
  if (openChat.value?.conversation.id === conversation.id)
    openChat.value = { ...openChat.value, conversation };
}

export async function updateSettings(changes: Conversation["settings"]): Promise<void> {
  const chat = openChat.value;
  if (!chat) return;
  try {
    const conversation = await api.updateConversation(chat.conversation.id, {
      settings: { ...chat.conversation.settings, ...changes },
    });
    if (openChat.value?.conversation.id === conversation.id)
      openChat.value = { ...openChat.value, conversation };
    touchConversation(conversation);
  } catch (error) {
    notice.value = describeError(error);
  }
}

export async function deleteConversation(id: string): Promise<void> {
  try {
    await api.deleteConversation(id);
    conversations.value = conversations.value.filter((existing) => existing.id !== id);
    if (openChat.value?.conversation.id === id) newChat();
  } catch (error) {
    notice.value = describeError(error);
  }
}
