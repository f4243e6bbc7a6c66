/**
 * qiusuo's own export: `{format: "qiusuo", version: 1, exportedAt, conversations}`, each
 * conversation as the API shows it plus every message of every branch. Reading one back checks
 * it with zod and rebuilds the tree.
 */
import { z } from "zod";
import { conversationView, type ConversationView } from "../app/conversation-view.js";
import { textNestsDeeperThan } from "../validation.js";
import { ArchiveError } from "./archive-error.js";
import type { ImportedConversation, JsonObject } from "./imported-conversation.js";
import { checkDepth, quoted, shortened } from "./json-value.js";
import type { ImportBudget } from "./limits.js";
import { flattenTree } from "./message-tree.js";
import type { Pacer } from "./pacer.js";

const roles = ["system", "user", "assistant", "tool"] as const;
const statuses = ["complete", "streaming", "interrupted"] as const;

/** An array, passed through as it is: z.array copies it element by element, in one go. */
const anyArray = z.custom<unknown[]>((value) => Array.isArray(value), "Expected array");

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
  // Each message is checked on its own, so a long conversation shares the event loop.
  messages: anyArray,
});

const exportSchema = z.object({
  format: z.literal("qiusuo"),
  version: z.number(),
  conversations: anyArray,
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

/** The export's conversations, as they are in the file; each is read by `readQiusuoConversation`. */
export function qiusuoConversations(json: unknown): unknown[] {
  const document = exportSchema.safeParse(json);
  if (!document.success) throw invalid(document.error);
  if (document.data.version !== 1) {
    throw new ArchiveError(
      "import_invalid",
      `This is a qiusuo export of version ${document.data.version}; this server reads version 1.`,
    );
  }
  return document.data.conversations;
}

export async function readQiusuoConversation(
  entry: unknown,
  index: number,
  pacer: Pacer,
  budget: ImportBudget,
): Promise<ImportedConversation> {
  const parsed = conversationSchema.safeParse(entry);
  if (!parsed.success) throw invalid(parsed.error, `conversations.${index}`);
  const conversation = parsed.data;
  const where = `Conversation ${index + 1} (${quoted(conversation.title)})`;
  // Counted before the messages are checked one by one: a file past the limit costs no more.
  budget.addNodes(conversation.messages.length, where);
  const messages: Array<z.infer<typeof messageSchema>> = [];
  for (const [position, message] of conversation.messages.entries()) {
    const checked = messageSchema.safeParse(message);
    if (!checked.success) throw invalid(checked.error, `conversations.${index}.messages.${position}`);
    // Its settings, usage, provenance and tool calls are kept as they are.
    const at = `${where}, message ${position + 1}`;
    await checkDepth(message, budget.limits.jsonDepth, at, pacer);
    for (const call of checked.data.toolCalls ?? []) {
      if (textNestsDeeperThan(call.function.arguments, budget.limits.jsonDepth)) {
        throw new ArchiveError(
          "import_too_large",
          `${at}: tool-call arguments nest deeper than ${budget.limits.jsonDepth} levels.`,
        );
      }
    }
    messages.push(checked.data);
    if (pacer.due()) await pacer.pause();
  }
  const tree = await flattenTree(
    messages.map((message) => ({ id: message.id, parentId: message.parentId, value: message })),
    where,
    pacer,
  );
  const known = new Set(messages.map((message) => message.id));
  const dangling = messages.find((message) => message.parentId !== null && !known.has(message.parentId));
  if (dangling) {
    throw new ArchiveError(
      "import_invalid",
      `${where}: message ${quoted(dangling.id)} follows ${quoted(dangling.parentId ?? "")}, which is not in the file.`,
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
}

function invalid(error: z.ZodError, prefix?: string): ArchiveError {
  const issue = error.issues[0];
  const path = [prefix, ...(issue?.path ?? [])].filter((part) => part !== undefined).join(".");
  // zod's message can quote the value it got (a role of any length): cut it short.
  const message = shortened(issue?.message ?? "unreadable", 200);
  return new ArchiveError(
    "import_invalid",
    `Not a valid qiusuo export: ${path ? `\`${path}\`: ` : ""}${message}.`,
  );
}
