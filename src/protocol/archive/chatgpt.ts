/**
 * Reads ChatGPT's `conversations.json` (Settings > Data controls > Export): an array of
 * `{title, create_time, update_time, mapping, current_node}`, where `mapping` holds the message
 * tree as `{id: {id, message, parent, children}}` and times are seconds since the epoch.
 *
 * Kept: user, assistant and visible system messages with text. `text` and `multimodal_text`
 * keep their string parts (images are dropped); `code` becomes a fenced block; `thoughts` become
 * the reasoning of the assistant message that follows. Dropped (their children move up to the
 * nearest kept ancestor): null and hidden nodes, tool output, browsing and other internal content.
 */
import type { ImportedConversation, ImportedMessage, ImportedRole } from "./imported-conversation.js";
import { isRecord, stringOf, timeOf, type JsonRecord } from "./json-value.js";
import type { ImportBudget } from "./limits.js";
import { flattenTree, type SourceNode } from "./message-tree.js";
import type { Pacer } from "./pacer.js";

const UNTITLED = "Untitled chat";

interface Extracted {
  message?: ImportedMessage;
  /** Reasoning a dropped `thoughts` node hands to the assistant message after it. */
  reasoning?: string;
}

/** Whether a conversation looks like ChatGPT's rather than DeepSeek's. */
export function looksLikeChatgpt(conversation: JsonRecord): boolean {
  return isRecord(conversation.mapping) && ("current_node" in conversation || "create_time" in conversation);
}

export async function readChatgptConversation(
  conversation: JsonRecord & { mapping: JsonRecord },
  where: string,
  pacer: Pacer,
  budget: ImportBudget,
): Promise<ImportedConversation> {
  const createdAt = timeOf(conversation.create_time) ?? 0;
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
    const { message, reasoning } = extract(id, node.message, createdAt);
    source.push({ id, parentId: stringOf(node.parent) ?? null, value: message, passOn: reasoning });
  }
  const tree = await flattenTree(source, where, pacer);
  const messages = tree.nodes.map(({ value, parentId, passedOn }) => {
    const parts = [value.role === "assistant" ? passedOn : undefined, value.reasoning ?? undefined];
    const reasoning = parts.filter((part): part is string => part !== undefined);
    return { ...value, parentId, reasoning: reasoning.length > 0 ? reasoning.join("\n\n") : null };
  });
  const currentNode = stringOf(conversation.current_node);
  return {
    title: stringOf(conversation.title)?.trim() || UNTITLED,
    currentLeafId: currentNode === undefined ? null : tree.keptAncestor(currentNode),
    createdAt,
    updatedAt: timeOf(conversation.update_time) ?? createdAt,
    messages,
  };
}

function extract(id: string, message: unknown, fallbackTime: number): Extracted {
  if (!isRecord(message)) return {};
  const role = roleOf(message);
  const metadata = isRecord(message.metadata) ? message.metadata : {};
  if (role === undefined || metadata.is_visually_hidden_from_conversation === true) return {};
  const content = isRecord(message.content) ? message.content : {};
  const { text, reasoning } = textOf(content);
  if (reasoning !== undefined) return { reasoning };
  if (text === undefined || text.trim() === "") return {};
  return {
    message: {
      id,
      parentId: null,
      role,
      content: text,
      reasoning: null,
      model: stringOf(metadata.model_slug) ?? null,
      createdAt: timeOf(message.create_time) ?? fallbackTime,
    },
  };
}

function roleOf(message: JsonRecord): ImportedRole | undefined {
  const role = isRecord(message.author) ? message.author.role : undefined;
  return role === "user" || role === "assistant" || role === "system" ? role : undefined;
}

function textOf(content: JsonRecord): { text?: string; reasoning?: string } {
  const parts = Array.isArray(content.parts) ? content.parts : [];
  switch (content.content_type) {
    case "text":
    case "multimodal_text":
      return { text: parts.filter((part): part is string => typeof part === "string").join("\n") };
    case "code": {
      const code = stringOf(content.text);
      if (code === undefined) return {};
      const language = stringOf(content.language);
      return { text: `\`\`\`${language && language !== "unknown" ? language : ""}\n${code}\n\`\`\`` };
    }
    case "thoughts": {
      const thoughts = Array.isArray(content.thoughts) ? content.thoughts : [];
      const text = thoughts
        .map((thought) =>
          isRecord(thought) ? (stringOf(thought.content) ?? stringOf(thought.summary)) : undefined,
        )
        .filter((part): part is string => part !== undefined && part.trim() !== "")
        .join("\n\n");
      return text === "" ? {} : { reasoning: text };
    }
    default:
      // reasoning_recap ("Thought for 12 seconds"), execution_output, tether_*, user_editable_context...
      return {};
  }
}
