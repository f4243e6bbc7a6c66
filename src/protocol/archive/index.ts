/**
 * Reading an import: detects the format (a qiusuo export, ChatGPT's `conversations.json`, or
 * DeepSeek's) and turns it into neutral conversations for the store. Pure: no I/O, no store.
 * Whatever JSON it is given, it returns or throws an ArchiveError, nothing else. The work is
 * linear in the file and done in slices, handing the event loop back between them.
 */
import { ArchiveError } from "./archive-error.js";
import { looksLikeChatgpt, readChatgptConversation } from "./chatgpt.js";
import { looksLikeDeepseek, readDeepseekConversation } from "./deepseek.js";
import type { ArchiveFormat, ImportedConversation, ParsedImport } from "./imported-conversation.js";
import { isRecord, type JsonRecord } from "./json-value.js";
import { IMPORT_LIMITS, ImportBudget, type ImportLimits } from "./limits.js";
import { Pacer } from "./pacer.js";
import { looksLikeQiusuo, qiusuoConversations, readQiusuoConversation } from "./qiusuo.js";

export { ArchiveError, type ArchiveErrorCode } from "./archive-error.js";
export * from "./imported-conversation.js";
export * from "./limits.js";
export { writeQiusuoExport, type ExportableConversation, type QiusuoExport } from "./qiusuo.js";

/** How long the import works before handing the event loop back, by default. */
const SLICE_MS = 20;

const ACCEPTED =
  'a qiusuo export ({"format": "qiusuo", ...}), ChatGPT\'s conversations.json, ' +
  "or DeepSeek's conversations.json";

export interface ParseImportOptions {
  /** How long to work before handing the event loop back for a turn, in ms. Default 20. */
  sliceMs?: number;
  /** Limits to use instead of the defaults ({@link IMPORT_LIMITS}). */
  limits?: Partial<ImportLimits>;
}

/** Reads a parsed JSON body; rejects with an ArchiveError, and only that, when it cannot. */
export async function parseImport(json: unknown, options: ParseImportOptions = {}): Promise<ParsedImport> {
  const pacer = new Pacer(options.sliceMs ?? SLICE_MS);
  try {
    // A limit left out, or given as undefined, keeps its default.
    const limits = { ...IMPORT_LIMITS };
    for (const [name, value] of Object.entries(options.limits ?? {})) {
      if (value !== undefined) limits[name as keyof ImportLimits] = value;
    }
    return await read(json, pacer, new ImportBudget(limits));
  } catch (error) {
    if (error instanceof ArchiveError) throw error;
    throw new ArchiveError("import_invalid", "The file could not be read as a conversation export.", {
      cause: error,
    });
  }
}

type Reader = (
  entry: unknown,
  index: number,
  pacer: Pacer,
  budget: ImportBudget,
) => Promise<ImportedConversation>;

async function read(json: unknown, pacer: Pacer, budget: ImportBudget): Promise<ParsedImport> {
  const { format, entries, reader } = detect(json);
  budget.checkConversations(entries.length);
  const conversations: ImportedConversation[] = [];
  for (const [index, entry] of entries.entries()) {
    const conversation = await reader(entry, index, pacer, budget);
    budget.addConversation(conversation);
    conversations.push(conversation);
  }
  return { format, conversations };
}

function detect(json: unknown): { format: ArchiveFormat; entries: unknown[]; reader: Reader } {
  if (looksLikeQiusuo(json)) {
    return { format: "qiusuo", entries: qiusuoConversations(json), reader: readQiusuoConversation };
  }
  const list = Array.isArray(json) ? json : isRecord(json) && isRecord(json.mapping) ? [json] : undefined;
  if (list === undefined) {
    throw new ArchiveError(
      "import_format_unknown",
      `This is not a file qiusuo can import. Accepted: ${ACCEPTED}.`,
    );
  }
  if (list.length === 0) throw new ArchiveError("import_invalid", "The file holds no conversations.");
  const first: unknown = list[0];
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
  return {
    format,
    entries: list,
    reader: treeReader(format === "deepseek" ? readDeepseekConversation : readChatgptConversation),
  };
}

/** ChatGPT's and DeepSeek's conversations: objects with a `mapping` of nodes. */
function treeReader(
  readConversation: (
    conversation: JsonRecord & { mapping: JsonRecord },
    where: string,
    pacer: Pacer,
    budget: ImportBudget,
  ) => Promise<ImportedConversation>,
): Reader {
  return async (entry, index, pacer, budget) => {
    const where = `Conversation ${index + 1}`;
    if (!isRecord(entry) || !isRecord(entry.mapping)) {
      throw new ArchiveError("import_invalid", `${where} is not a conversation with a "mapping".`);
    }
    return await readConversation(entry as JsonRecord & { mapping: JsonRecord }, where, pacer, budget);
  };
}
