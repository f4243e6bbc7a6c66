// What the server acknowledged to the app clients (conversations it created, user messages it
// echoed as `event: user`, replies it finished with `event: done`, imports it counted), and the
// check after the run that all of it is still in the store, across the kill -9 and the restart.
import http from "node:http";
import { exchange, parseJson } from "./exchange.js";

export interface AcknowledgedMessage {
  conversationId: string;
  messageId: string;
  role: "user" | "assistant";
  content: string;
}

export class Ledger {
  readonly conversations = new Set<string>();
  readonly messages: AcknowledgedMessage[] = [];
  /** Imports answered 200, by their (unique) conversation titles. */
  readonly imports: Array<{ title: string; messages: number }> = [];
}

export interface LedgerCheck {
  conversations: { acknowledged: number; lost: number };
  messages: { acknowledged: number; lost: number };
  imports: { acknowledged: number; lost: number };
  /** Replies still `streaming` once nothing is generating: cut off, but never marked interrupted. */
  stuckStreaming: number;
  /** The first few lost or stuck items, for the report. */
  examples: string[];
}

interface StoredMessage {
  id: string;
  role: string;
  content: string;
  status: string;
}

const TIMEOUT_MS = 30_000;
const SETTLE_TRIES = 10;

export async function verifyLedger(url: string, ledger: Ledger): Promise<LedgerCheck> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  try {
    const get = async (path: string) => {
      const answer = await exchange(agent, url, { method: "GET", path, timeoutMs: TIMEOUT_MS });
      if (answer.status !== 200) {
        throw new Error(`GET ${path} answered ${answer.status ?? answer.failure?.message}: ${answer.body}`);
      }
      return parseJson(answer.body);
    };
    const titles = await listConversations(get);
    const messagesOf = async (id: string): Promise<StoredMessage[]> =>
      (await get(`/api/conversations/${id}`)).messages as StoredMessage[];
    const stored = new Map<string, StoredMessage[]>();
    await inBatches([...titles.keys()], 4, async (id) => stored.set(id, await messagesOf(id)));

    const examples: string[] = [];
    const note = (text: string) => {
      if (examples.length < 10) examples.push(text);
    };
    let lostConversations = 0;
    for (const id of ledger.conversations) {
      if (titles.has(id)) continue;
      lostConversations += 1;
      note(`conversation ${id} is gone`);
    }
    let lostMessages = 0;
    for (const message of ledger.messages) {
      const found = stored.get(message.conversationId)?.find((row) => row.id === message.messageId);
      const intact =
        found !== undefined &&
        found.content === message.content &&
        (message.role === "user" || found.status === "complete");
      if (intact) continue;
      lostMessages += 1;
      note(
        `${message.role} message ${message.messageId} of ${message.conversationId}: ` +
          (found ? `now ${found.status} ${JSON.stringify(found.content)}` : "gone"),
      );
    }
    const idsByTitle = new Map([...titles].map(([id, title]) => [title, id]));
    let lostImports = 0;
    for (const imported of ledger.imports) {
      const id = idsByTitle.get(imported.title);
      const count = id === undefined ? 0 : (stored.get(id)?.length ?? 0);
      if (count === imported.messages) continue;
      lostImports += 1;
      note(
        `import "${imported.title}": ${id === undefined ? "gone" : `${count} of ${imported.messages} messages`}`,
      );
    }

    // A reply whose client just went away is marked interrupted a moment later: look again.
    let streaming = streamingIn(stored);
    for (let tries = 0; streaming.length > 0 && tries < SETTLE_TRIES; tries += 1) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const recheck = new Map<string, StoredMessage[]>();
      for (const { conversationId } of streaming)
        recheck.set(conversationId, await messagesOf(conversationId));
      streaming = streamingIn(recheck);
    }
    for (const { conversationId, messageId } of streaming) {
      note(`reply ${messageId} of ${conversationId} is still streaming`);
    }
    return {
      conversations: { acknowledged: ledger.conversations.size, lost: lostConversations },
      messages: { acknowledged: ledger.messages.length, lost: lostMessages },
      imports: { acknowledged: ledger.imports.length, lost: lostImports },
      stuckStreaming: streaming.length,
      examples,
    };
  } finally {
    agent.destroy();
  }
}

/** Every conversation in the store: id -> title. */
async function listConversations(get: (path: string) => Promise<any>): Promise<Map<string, string>> {
  const titles = new Map<string, string>();
  let cursor: string | null = null;
  do {
    const page = await get(
      `/api/conversations?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
    );
    for (const conversation of page.data) titles.set(conversation.id, conversation.title);
    cursor = page.nextCursor;
  } while (cursor);
  return titles;
}

function streamingIn(stored: Map<string, StoredMessage[]>) {
  return [...stored].flatMap(([conversationId, messages]) =>
    messages
      .filter((message) => message.status === "streaming")
      .map((message) => ({ conversationId, messageId: message.id })),
  );
}

async function inBatches<T>(items: T[], width: number, work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: width }, worker));
}
