/**
 * qiusuo's own export: `{format: "qiusuo", version: 1, exportedAt, conversations}`, each
 * conversation as the API shows it plus every message of every branch. Reading one back checks
 * it with zod and rebuilds the tree.
 */
import { z } from "zod";
import { conversationView, type ConversationView } from "../app/conversation-view.js";
import { ArchiveError } from "./archive-error.js";
import {
  MAX_CONVERSATIONS,
  MAX_MESSAGES,
  type ImportedConversation,
  type JsonObject,
} from "./imported-conversation.js";
import { flattenTree } from "./message-tree.js";

const roles = ["system", "user", "assistant", "tool"] as const;
const statuses = ["complete", "streaming", "interrupted"] as const;

const toolCallSchema = z.object({
  id: z.string(),
  type: z.literal("function"),
  function: z.object({ name: z.string(), arguments: z.string() }),
});

const messageSchema = z.object({
  id: z.string().min(1),
  parentId: z.string().nullable(),
  role: z.enum(roles),
  content: z.string(),
  reasoning: z.string().nullish(),
  toolCalls: z.array(toolCallSchema).nullish(),
  model: z.string().nullish(),
  settings: z.record(z.unknown()).nullish(),
  usage: z.record(z.unknown()).nullish(),
  provenance: z.record(z.unknown()).nullish(),
  status: z.enum(statuses).optional(),
  createdAt: z.number().finite(),
});

const conversationSchema = z.object({
  id: z.string().optional(),
  title: z.string(),
  // Unknown settings are dropped, so an export from a later version still imports.
  settings: z
    .object({
      model: z.string().optional(),
      systemPrompt: z.string().optional(),
      temperature: z.number().optional(),
    })
    .optional(),
  currentLeafId: z.string().nullish(),
  createdAt: z.number().finite(),
  updatedAt: z.number().finite(),
  messages: z.array(messageSchema).max(MAX_MESSAGES),
});

const exportSchema = z.object({
  format: z.literal("qiusuo"),
  version: z.number(),
  conversations: z.array(z.unknown()),
});

/** What the writer needs of a conversation: the store's export has these fields and more. */
export interface ExportableConversation extends ConversationView {
  messages: ReadonlyArray<{
    id: string;
    parentId: string | null;
    role: (typeof roles)[number];
    content: string;
    reasoning: string | null;
    toolCalls: Array<z.infer<typeof toolCallSchema>> | null;
    model: string | null;
    settings: JsonObject | null;
    usage: JsonObject | null;
    provenance: JsonObject | null;
    status: (typeof statuses)[number];
    createdAt: number;
  }>;
}

export interface QiusuoExport {
  format: "qiusuo";
  version: 1;
  /** When the export was made, in ms. */
  exportedAt: number;
  conversations: Array<
    Omit<ExportableConversation, "messages"> & { messages: ExportableConversation["messages"][number][] }
  >;
}

/** The export document; only the listed fields are written (no user ids). */
export function writeQiusuoExport(
  conversations: readonly ExportableConversation[],
  exportedAt: number = Date.now(),
): QiusuoExport {
  return {
    format: "qiusuo",
    version: 1,
    exportedAt,
    conversations: conversations.map((conversation) => ({
      ...conversationView(conversation),
      messages: conversation.messages.map((message) => ({
        id: message.id,
        parentId: message.parentId,
        role: message.role,
        content: message.content,
        reasoning: message.reasoning,
        toolCalls: message.toolCalls,
        model: message.model,
        settings: message.settings,
        usage: message.usage,
        provenance: message.provenance,
        status: message.status,
        createdAt: message.createdAt,
      })),
    })),
  };
}

export function looksLikeQiusuo(json: unknown): boolean {
  return typeof json === "object" && json !== null && (json as { format?: unknown }).format === "qiusuo";
}

export function readQiusuoExport(json: unknown): ImportedConversation[] {
  const document = exportSchema.safeParse(json);
  if (!document.success) throw invalid(document.error);
  if (document.data.version !== 1) {
    throw new ArchiveError(
      "import_invalid",
      `This is a qiusuo export of version ${document.data.version}; this server reads version 1.`,
    );
  }
  if (document.data.conversations.length > MAX_CONVERSATIONS) {
    throw new ArchiveError("import_too_large", `An import holds at most ${MAX_CONVERSATIONS} conversations.`);
  }
  return document.data.conversations.map((entry, index) => {
    const parsed = conversationSchema.safeParse(entry);
    if (!parsed.success) throw invalid(parsed.error, `conversations.${index}`);
    const conversation = parsed.data;
    const tree = flattenTree(
      conversation.messages.map((message) => ({
        id: message.id,
        parentId: message.parentId,
        value: message,
      })),
      `Conversation ${index + 1} ("${conversation.title}")`,
    );
    const known = new Set(conversation.messages.map((message) => message.id));
    const dangling = conversation.messages.find(
      (message) => message.parentId !== null && !known.has(message.parentId),
    );
    if (dangling) {
      throw new ArchiveError(
        "import_invalid",
        `Conversation ${index + 1}: message "${dangling.id}" follows "${dangling.parentId}", which is not in the file.`,
      );
    }
    return {
      title: conversation.title,
      settings: conversation.settings ?? {},
      currentLeafId: conversation.currentLeafId ?? null,
      createdAt: conversation.createdAt,
      updatedAt: conversation.updatedAt,
      messages: tree.nodes.map(({ value }) => ({
        ...value,
        reasoning: value.reasoning ?? null,
        model: value.model ?? null,
      })),
    };
  });
}

function invalid(error: z.ZodError, prefix?: string): ArchiveError {
  const issue = error.issues[0];
  const path = [prefix, ...(issue?.path ?? [])].filter((part) => part !== undefined).join(".");
  return new ArchiveError(
    "import_invalid",
    `Not a valid qiusuo export: ${path ? `\`${path}\`: ` : ""}${issue?.message ?? "unreadable"}.`,
  );
}
