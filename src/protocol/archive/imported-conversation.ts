/**
 * The neutral shape every archive reader produces and the store's `importConversations` takes:
 * a conversation with its message tree, ids as the source had them (they only shape the tree).
 */

export type ImportedRole = "system" | "user" | "assistant" | "tool";
export type JsonObject = { [key: string]: unknown };

export interface ImportedToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

export interface ImportedMessage {
  /** The source's id, unique within the conversation. */
  id: string;
  /** The source id of the message this one follows; null for a first message. */
  parentId: string | null;
  role: ImportedRole;
  content: string;
  reasoning: string | null;
  toolCalls?: ImportedToolCall[] | null;
  model: string | null;
  settings?: JsonObject | null;
  usage?: JsonObject | null;
  provenance?: JsonObject | null;
  /** Default `complete`. */
  status?: "complete" | "streaming" | "interrupted";
  /** ms since the epoch. */
  createdAt: number;
}

export interface ImportedConversation {
  title: string;
  settings?: { model?: string; systemPrompt?: string; temperature?: number };
  /** The source id of the leaf shown; null lets the importer pick the newest message. */
  currentLeafId: string | null;
  createdAt: number;
  updatedAt: number;
  /** Parents before children. */
  messages: ImportedMessage[];
}

export type ArchiveFormat = "qiusuo" | "chatgpt" | "deepseek";

export interface ParsedImport {
  format: ArchiveFormat;
  conversations: ImportedConversation[];
}
