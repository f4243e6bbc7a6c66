/**
 * Reads DeepSeek's export (chat.deepseek.com > Settings > Data > Export: a zip holding
 * `conversations.json`). DeepSeek publishes no schema; this follows the files users have shared
 * and the open-source tools that read them (see the test fixture): an array of
 * `{id, title, inserted_at, updated_at, mapping}`, where `mapping` is
 * `{id: {id, parent, children, message}}` under a `root` node with a null message, and a
 * message is `{model, inserted_at, files, fragments: [{type, content}]}` with ISO 8601 times.
 * Fragment types: REQUEST (the user's text), RESPONSE (the answer), THINK (reasoning), SEARCH
 * (web results, dropped). Messages from DeepSeek's web API (`role`, `content`,
 * `thinking_content`) are read too. The export names no current branch; the importer shows the
 * newest message's.
 */
import type { ImportedConversation, ImportedMessage } from "./imported-conversation.js";
import { isRecord, stringOf, timeOf, type JsonRecord } from "./json-value.js";
import type { ImportBudget } from "./limits.js";
import { flattenTree, type SourceNode } from "./message-tree.js";
import type { Pacer } from "./pacer.js";

const UNTITLED = "Untitled chat";

/** How many nodes to look at for fragments: a message node comes within the first few. */
const NODES_TO_SNIFF = 100;

/** Whether a conversation looks like DeepSeek's: `inserted_at`, or messages made of fragments. */
export function looksLikeDeepseek(conversation: JsonRecord): boolean {
  const mapping = conversation.mapping;
  if (!isRecord(mapping)) return false;
  if ("inserted_at" in conversation) return true;
  let looked = 0;
  for (const key in mapping) {
    const node = mapping[key];
    if (isRecord(node) && isRecord(node.message) && Array.isArray(node.message.fragments)) return true;
    if (++looked >= NODES_TO_SNIFF) return false;
  }
  return false;
}

export async function readDeepseekConversation(
  conversation: JsonRecord & { mapping: JsonRecord },
  where: string,
  pacer: Pacer,
  budget: ImportBudget,
): Promise<ImportedConversation> {
  const createdAt = timeOf(conversation.inserted_at) ?? 0;
  const { mapping } = conversation;
  // One listing of the keys, counted before any node is read.
  const keys = Object.keys(mapping);
  budget.addNodes(keys.length, where);
  const source: Array<SourceNode<ImportedMessage>> = [];
  for (const key of keys) {
    const node = mapping[key];
    if (pacer.due()) await pacer.pause();
    if (!isRecord(node)) continue;
    const id = stringOf(node.id) ?? key;
    const parent = node.parent;
    source.push({
      id,
      parentId: typeof parent === "string" || typeof parent === "number" ? String(parent) : null,
      value: isRecord(node.message) ? messageOf(id, node.message, createdAt) : undefined,
    });
  }
  const tree = await flattenTree(source, where, pacer);
  const messages = tree.nodes.map(({ value, parentId }) => ({ ...value, parentId }));
  const newest = messages.reduce((latest, message) => Math.max(latest, message.createdAt), createdAt);
  return {
    title: stringOf(conversation.title)?.trim() || UNTITLED,
    currentLeafId: null,
    createdAt,
    updatedAt: timeOf(conversation.updated_at) ?? newest,
    messages,
  };
}

function messageOf(id: string, message: JsonRecord, fallbackTime: number): ImportedMessage | undefined {
  const request: string[] = [];
  const response: string[] = [];
  const think: string[] = [];
  const fragments = Array.isArray(message.fragments) ? message.fragments : [];
  for (const fragment of fragments) {
    if (!isRecord(fragment)) continue;
    const content = stringOf(fragment.content);
    if (content === undefined) continue;
    const type = stringOf(fragment.type)?.toUpperCase();
    if (type === "REQUEST") request.push(content);
    else if (type === "RESPONSE") response.push(content);
    else if (type === "THINK") think.push(content);
  }
  if (fragments.length === 0) {
    // The web API's shape: {role: "USER" | "ASSISTANT", content, thinking_content}.
    const content = stringOf(message.content) ?? "";
    if (stringOf(message.role)?.toUpperCase() === "USER") request.push(content);
    else response.push(content);
    const thinking = stringOf(message.thinking_content);
    if (thinking) think.push(thinking);
  }
  const isUser = request.length > 0;
  const content = (isUser ? request : response).join("\n\n");
  const reasoning = isUser ? "" : think.join("\n\n");
  if (content.trim() === "" && reasoning.trim() === "") return undefined;
  return {
    id,
    parentId: null,
    role: isUser ? "user" : "assistant",
    content,
    reasoning: reasoning === "" ? null : reasoning,
    model: isUser ? null : (stringOf(message.model) ?? null),
    createdAt: timeOf(message.inserted_at) ?? fallbackTime,
  };
}
