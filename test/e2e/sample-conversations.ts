// Conversations imported through `POST /api/import` (qiusuo's export format, docs/api.md) so that
// tests, screenshots and the web bench open chats with real content: a reasoning reply with code
// and math, and a 1,000-message chat.
import { AppClient } from "../integration/harness.js";

interface SampleMessage {
  id: string;
  parentId: string | null;
  role: "user" | "assistant";
  content: string;
  reasoning?: string | null;
  model?: string | null;
  usage?: Record<string, number> | null;
  status?: "complete" | "interrupted";
  createdAt: number;
}

interface SampleConversation {
  title: string;
  createdAt: number;
  updatedAt: number;
  currentLeafId: string;
  messages: SampleMessage[];
}

const RICH_ANSWER = [
  "Binary search halves the range each step, so it needs at most $\\lceil \\log_2 n \\rceil$ comparisons:",
  "",
  "$$T(n) = T\\left(\\frac{n}{2}\\right) + O(1) = O(\\log n)$$",
  "",
  "```ts",
  "export function binarySearch(items: readonly number[], target: number): number | null {",
  "  let low = 0;",
  "  let high = items.length - 1;",
  "  while (low <= high) {",
  "    const middle = (low + high) >>> 1;",
  "    if (items[middle] === target) return middle;",
  "    if (items[middle]! < target) low = middle + 1;",
  "    else high = middle - 1;",
  "  }",
  "  return null;",
  "}",
  "```",
  "",
  "| n | comparisons |",
  "| --- | --- |",
  "| 1,000 | 10 |",
  "| 1,000,000 | 20 |",
].join("\n");

/** A short chat: a question, then a reasoning reply with math, code and a table. */
export function richConversation(now = Date.now()): SampleConversation {
  return {
    title: "Binary search in TypeScript",
    createdAt: now - 60_000,
    updatedAt: now - 60_000,
    currentLeafId: "rich-2",
    messages: [
      {
        id: "rich-1",
        parentId: null,
        role: "user",
        content: "How many steps does binary search take? Show me a TypeScript version.",
        createdAt: now - 60_000,
      },
      {
        id: "rich-2",
        parentId: "rich-1",
        role: "assistant",
        reasoning:
          "The range halves every comparison, so after k steps n/2^k elements remain. Stop when one is left: k = log2 n. Write it iteratively to avoid recursion.",
        content: RICH_ANSWER,
        model: "deepseek-r1:1.5b",
        usage: {
          prompt_tokens: 24,
          prompt_cache_hit_tokens: 0,
          prompt_cache_miss_tokens: 24,
          completion_tokens: 212,
          total_tokens: 236,
          reasoningMs: 2400,
        },
        createdAt: now - 59_000,
      },
    ],
  };
}

/** A chat of `count` messages on one branch, alternating user and assistant, with some markdown. */
export function longConversation(count = 1000, now = Date.now()): SampleConversation {
  const messages: SampleMessage[] = [];
  for (let index = 0; index < count; index++) {
    const user = index % 2 === 0;
    messages.push({
      id: `long-${index}`,
      parentId: index === 0 ? null : `long-${index - 1}`,
      role: user ? "user" : "assistant",
      content: user
        ? `Question ${index / 2 + 1}: what comes after ${index}?`
        : `After **${index - 1}** comes \`${index}\`.\n\n- it is ${index % 4 === 1 ? "odd" : "even"}\n- its square is ${index * index}\n\nSee $n^2 = ${index * index}$ for details.`,
      model: user ? null : "deepseek-chat",
      createdAt: now - (count - index) * 1000,
    });
  }
  return {
    title: `A chat of ${count} messages`,
    createdAt: now - count * 1000,
    updatedAt: now - 1000,
    currentLeafId: `long-${count - 1}`,
    messages,
  };
}

/**
 * Imports the conversations for `client` (local mode, or a logged-in accounts client) and returns
 * their new ids by title.
 */
export async function importConversations(
  client: AppClient,
  conversations: SampleConversation[],
): Promise<Map<string, string>> {
  const imported = await client.request("POST", "/api/import", {
    format: "qiusuo",
    version: 1,
    exportedAt: Date.now(),
    conversations: conversations.map((conversation) => ({ ...conversation, settings: {} })),
  });
  if (imported.status !== 200) throw new Error(`import failed: ${imported.status} ${imported.text}`);
  const list = await client.request("GET", "/api/conversations?limit=100");
  const ids = new Map<string, string>();
  for (const conversation of list.json.data as Array<{ id: string; title: string }>)
    if (!ids.has(conversation.title)) ids.set(conversation.title, conversation.id);
  return ids;
}
