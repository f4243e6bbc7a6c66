// The chat app's clients: turns in a conversation (some stopped after the first words, as the
// app's stop button does) and imports of qiusuo exports. Every message and import the server
// acknowledges goes in the ledger, checked against the store after the run.
import type { Client } from "./client.js";
import { parseJson, sseEvents } from "./exchange.js";
import { badResponse, errorInStream, type Check } from "./outcome.js";
import { CHAT_ANSWER } from "./soak-models.js";

/** Turns per conversation before a client starts a new one, so prompts stay short. */
const TURNS_PER_CONVERSATION = 3;

export async function appTurn(client: Client): Promise<void> {
  if (!client.conversation || client.conversation.turns >= TURNS_PER_CONVERSATION) {
    const created = await client.call(
      "app-conversation",
      "create",
      { method: "POST", path: "/api/conversations", body: { title: `soak client ${client.index}` } },
      (sent) => (typeof parseJson(sent.body)?.id === "string" ? undefined : badResponse("no id")),
    );
    if (created?.verdict.outcome !== "ok") return;
    const id = parseJson(created.sent.body).id as string;
    client.ledger.conversations.add(id);
    client.conversation = { id, parentId: null, turns: 0 };
  }
  const conversation = client.conversation;
  const stop = client.random() < 0.2;
  const content = client.question();
  const check: Check = (sent) => {
    const events = sseEvents(sent.body);
    const error = events.find((event) => event.event === "error");
    if (error) return errorInStream(error.data);
    const done = parseJson(events.find((event) => event.event === "done")?.data ?? "");
    if (!done) return badResponse("no done event");
    if (done.status !== "complete" || done.content !== CHAT_ANSWER) {
      return badResponse(`done ${done.status} ${JSON.stringify(done.content)}`);
    }
    return undefined;
  };
  const result = await client.call(
    "app-turn",
    stop ? "stop" : "turn",
    {
      method: "POST",
      path: `/api/conversations/${conversation.id}/messages`,
      body: { parentId: conversation.parentId, content },
      ...(stop ? { abortWhen: (text: string) => text.includes("event: delta") } : {}),
    },
    check,
  );
  if (!result) return;
  // What the client saw acknowledged, whatever the outcome: a killed turn's user message too.
  for (const { event, data } of sseEvents(result.sent.body)) {
    const message = event === "user" || event === "done" ? parseJson(data) : undefined;
    if (!message?.id) continue;
    client.ledger.messages.push({
      conversationId: conversation.id,
      messageId: message.id,
      role: event === "user" ? "user" : "assistant",
      content: message.content,
    });
    if (event === "done") {
      conversation.parentId = message.id;
      conversation.turns += 1;
    }
  }
}

export async function importConversations(client: Client): Promise<void> {
  const count = client.random() < 0.7 ? 1 : 3;
  const now = Date.now();
  const conversations = Array.from({ length: count }, (_, index) => {
    const turns = 1 + Math.floor(client.random() * 2);
    const messages = Array.from({ length: turns * 2 }, (_, position) => ({
      id: `m${position}`,
      parentId: position === 0 ? null : `m${position - 1}`,
      role: position % 2 === 0 ? "user" : "assistant",
      content: position % 2 === 0 ? client.question() : CHAT_ANSWER,
      status: "complete",
      createdAt: now + position,
    }));
    return {
      title: `soak import ${client.index}-${client.requests}-${index}`,
      createdAt: now,
      updatedAt: now,
      currentLeafId: messages.at(-1)!.id,
      messages,
    };
  });
  const body = { format: "qiusuo", version: 1, exportedAt: now, conversations };
  const result = await client.call(
    "import",
    count === 1 ? "one" : "three",
    { method: "POST", path: "/api/import", body },
    (sent) => (parseJson(sent.body)?.imported === count ? undefined : badResponse(`imported ${sent.body}`)),
  );
  if (result?.verdict.outcome !== "ok") return;
  for (const conversation of conversations) {
    client.ledger.imports.push({ title: conversation.title, messages: conversation.messages.length });
  }
}
