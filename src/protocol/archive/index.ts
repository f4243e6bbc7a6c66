/**
 * Reading an import: detects the format (a qiusuo export, ChatGPT's `conversations.json`, or
 * DeepSeek's) and turns it into neutral conversations for the store. Pure: no I/O, no store.
 * Whatever JSON it is given, it returns or throws an ArchiveError, nothing else.
 */
import { ArchiveError } from "./archive-error.js";
import { looksLikeChatgpt, readChatgptConversation } from "./chatgpt.js";
import { looksLikeDeepseek, readDeepseekConversation } from "./deepseek.js";
import {
  MAX_CONVERSATIONS,
  MAX_MESSAGES,
  type ImportedConversation,
  type ParsedImport,
} from "./imported-conversation.js";
import { checkDepth, isRecord, type JsonRecord } from "./json-value.js";
import { looksLikeQiusuo, readQiusuoExport } from "./qiusuo.js";

export { ArchiveError, type ArchiveErrorCode } from "./archive-error.js";
export * from "./imported-conversation.js";
export { writeQiusuoExport, type ExportableConversation, type QiusuoExport } from "./qiusuo.js";

const ACCEPTED =
  'a qiusuo export ({"format": "qiusuo", ...}), ChatGPT\'s conversations.json, ' +
  "or DeepSeek's conversations.json";

export function parseImport(json: unknown): ParsedImport {
  try {
    checkDepth(json);
    const parsed = read(json);
    const messages = parsed.conversations.reduce(
      (sum, conversation) => sum + conversation.messages.length,
      0,
    );
    if (messages > MAX_MESSAGES) {
      throw new ArchiveError(
        "import_too_large",
        `The file holds ${messages} messages; an import takes at most ${MAX_MESSAGES}. Split it and import the parts.`,
      );
    }
    return parsed;
  } catch (error) {
    if (error instanceof ArchiveError) throw error;
    throw new ArchiveError("import_invalid", "The file could not be read as a conversation export.", {
      cause: error,
    });
  }
}

function read(json: unknown): ParsedImport {
  if (looksLikeQiusuo(json)) return { format: "qiusuo", conversations: readQiusuoExport(json) };
  const list = Array.isArray(json) ? json : isRecord(json) && isRecord(json.mapping) ? [json] : undefined;
  if (list === undefined) {
    throw new ArchiveError(
      "import_format_unknown",
      `This is not a file qiusuo can import. Accepted: ${ACCEPTED}.`,
    );
  }
  if (list.length === 0) throw new ArchiveError("import_invalid", "The file holds no conversations.");
  if (list.length > MAX_CONVERSATIONS) {
    throw new ArchiveError(
      "import_too_large",
      `The file holds ${list.length} conversations; an import takes at most ${MAX_CONVERSATIONS}.`,
    );
  }
  const first = list[0];
  const format = !isRecord(first)
    ? undefined
    : looksLikeDeepseek(first)
      ? "deepseek"
      : looksLikeChatgpt(first)
        ? "chatgpt"
        : undefined;
  if (format === undefined) {
    throw new ArchiveError(
      "import_format_unknown",
      `This list is not one of the exports qiusuo can import. Accepted: ${ACCEPTED}.`,
    );
  }
  const reader = format === "deepseek" ? readDeepseekConversation : readChatgptConversation;
  let nodes = 0;
  const conversations: ImportedConversation[] = list.map((entry, index) => {
    const where = `Conversation ${index + 1}`;
    if (!isRecord(entry) || !isRecord(entry.mapping)) {
      throw new ArchiveError("import_invalid", `${where} is not a conversation with a "mapping".`);
    }
    nodes += Object.keys(entry.mapping).length;
    // Dropped nodes cost work too; a real export holds a few per message.
    if (nodes > MAX_MESSAGES * 4) {
      throw new ArchiveError(
        "import_too_large",
        `The file holds more messages than an import takes (${MAX_MESSAGES}).`,
      );
    }
    return reader(entry as JsonRecord, where);
  });
  return { format, conversations };
}
