/**
 * Prefix-affinity keys and the LRU table behind them: the keys of one conversation carry over from
 * turn to turn (so a pool can find the replica of the previous turn), differ where the
 * conversations differ, stay few and cheap on very long chats, and the table stays bounded.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ChatMessage, ToolDefinition } from "../../src/core/chat.js";
import {
  AffinityTable,
  chatAffinityKeys,
  completionAffinityKeys,
  withReply,
} from "../../src/engines/remote/prefix-affinity.js";
import type { AffinityKey } from "../../src/engines/remote/prefix-affinity.js";

const MODEL = "deepseek-v4";

const user = (content: string): ChatMessage => ({ role: "user", content });
const assistant = (content: string): ChatMessage => ({ role: "assistant", content });
const hashes = (keys: readonly AffinityKey[]) => keys.map((key) => key.hash);

/** A chat of `count` messages, user and assistant in turn, after a system prompt. */
function longChat(count: number): ChatMessage[] {
  const messages: ChatMessage[] = [{ role: "system", content: "You are helpful." }];
  for (let index = 1; index < count; index++) {
    const text = `message ${index}: ${"lorem ipsum ".repeat(16)}`;
    messages.push(index % 2 === 1 ? user(text) : assistant(text));
  }
  return messages;
}

describe("chatAffinityKeys", () => {
  it("keys every growing prefix, shortest first, with chars adding up to the total", () => {
    const messages = [{ role: "system", content: "Be brief." } as const, user("Hello"), assistant("Hi!")];
    const { keys, totalChars } = chatAffinityKeys(MODEL, messages);
    assert.equal(keys.length, 3);
    assert.deepEqual(
      keys.map((key) => key.chars),
      [9, 14, 17],
    );
    assert.equal(totalChars, 17);
    assert.equal(new Set(hashes(keys)).size, 3);
    for (const key of keys) assert.match(key.hash, /^[A-Za-z0-9_-]{22}$/);
  });

  it("gives a conversation's next turn the keys of the previous turn and its reply", () => {
    const turn1 = [user("What is 求索?")];
    const remembered = withReply(MODEL, turn1, undefined, {
      content: "To seek.",
      reasoning: "The user asks about a Chinese word.",
    });
    // The client sends the reply back without its reasoning, and asks more.
    const turn2 = [...turn1, assistant("To seek."), user("And 深度?")];
    const { keys } = chatAffinityKeys(MODEL, turn2);
    assert.deepEqual(hashes(keys).slice(0, 2), hashes(remembered));
    // ...and with its reasoning: the key is the same (reasoning is not hashed).
    const withReasoning: ChatMessage[] = [
      ...turn1,
      { role: "assistant", content: "To seek.", reasoning: "The user asks about a Chinese word." },
      user("And 深度?"),
    ];
    assert.deepEqual(hashes(chatAffinityKeys(MODEL, withReasoning).keys), hashes(keys));
  });

  it("carries tool calls over a tool loop, whatever ids the client gives them", () => {
    const tools: ToolDefinition[] = [
      { name: "get_weather", parameters: { type: "object" }, strict: false, description: "Weather" },
    ];
    const turn1 = [user("Weather in Hangzhou?")];
    const call = { id: "call_1", name: "get_weather", arguments: '{"city":"Hangzhou"}' };
    const remembered = withReply(MODEL, turn1, tools, { content: "", toolCalls: [call] });
    const turn2: ChatMessage[] = [
      ...turn1,
      { role: "assistant", content: "", toolCalls: [{ ...call, id: "call_rewritten" }] },
      { role: "tool", content: "21°C", toolCallId: "call_rewritten" },
    ];
    const { keys } = chatAffinityKeys(MODEL, turn2, tools);
    assert.equal(keys[1]!.hash, remembered.at(-1)!.hash);
    // Without the tools (or with other tools) nothing matches.
    assert.notEqual(chatAffinityKeys(MODEL, turn2).keys[1]!.hash, remembered.at(-1)!.hash);
  });

  it("tells apart models, message boundaries, roles and images", () => {
    const base = chatAffinityKeys(MODEL, [user("ab")]).keys.at(-1)!.hash;
    assert.notEqual(chatAffinityKeys("other-model", [user("ab")]).keys.at(-1)!.hash, base);
    assert.notEqual(chatAffinityKeys(MODEL, [user("a"), user("b")]).keys.at(-1)!.hash, base);
    assert.notEqual(chatAffinityKeys(MODEL, [assistant("ab")]).keys.at(-1)!.hash, base);
    const image: ChatMessage = {
      role: "user",
      content: "ab",
      images: [{ url: "data:image/png;base64,AAAA" }],
    };
    const withImage = chatAffinityKeys(MODEL, [image]);
    assert.notEqual(withImage.keys.at(-1)!.hash, base);
    // An image counts for a fixed share, not the length of its data: URL.
    assert.equal(withImage.totalChars, 2 + 1024);
  });

  it("keeps a 10,000-message chat cheap: few keys, and turn-to-turn matches still found", () => {
    const messages = longChat(10_000);
    chatAffinityKeys(MODEL, longChat(100)); // warm up
    const started = performance.now();
    const { keys, totalChars } = chatAffinityKeys(MODEL, messages);
    const elapsed = performance.now() - started;
    console.log(`# 10,000 messages (${totalChars} chars): ${keys.length} keys in ${elapsed.toFixed(1)} ms`);
    assert.ok(keys.length <= 128 + 16, `${keys.length} keys`);
    // About 5 ms on an idle core; the bound leaves room for a busy CI machine.
    assert.ok(elapsed < 150, `${elapsed} ms`);
    assert.equal(keys.at(-1)!.chars, totalChars);
    // The next turn of an agent loop (five tool results, then a user message) finds the reply.
    const remembered = withReply(MODEL, messages, undefined, { content: "done" });
    const next: ChatMessage[] = [...messages, assistant("done")];
    for (let index = 0; index < 5; index++)
      next.push({ role: "tool", content: "ok", toolCallId: `c${index}` });
    next.push(user("go on"));
    const nextHashes = new Set(hashes(chatAffinityKeys(MODEL, next).keys));
    assert.ok(nextHashes.has(remembered.at(-1)!.hash));
  });

  it("keys long chats at the same message boundaries from turn to turn (powers of two)", () => {
    const turn = longChat(1000);
    const later = longChat(1100);
    const shared = hashes(chatAffinityKeys(MODEL, turn).keys).filter((hash) =>
      hashes(chatAffinityKeys(MODEL, later).keys).includes(hash),
    );
    // 1,000 messages are keyed every 8th, 1,100 every 16th: every 16th boundary is shared.
    assert.equal(shared.length, Math.floor(1000 / 16));
  });
});

describe("completionAffinityKeys", () => {
  it("keys fixed positions, so prompts that share a prefix share its keys", () => {
    const text = "x".repeat(5000);
    const { keys, totalChars } = completionAffinityKeys(MODEL, text);
    assert.deepEqual(
      keys.map((key) => key.chars),
      [1024, 2048, 3072, 4096, 5000],
    );
    assert.equal(totalChars, 5000);
    const longer = completionAffinityKeys(MODEL, text + "y".repeat(3000)).keys;
    assert.deepEqual(hashes(longer).slice(0, 4), hashes(keys).slice(0, 4));
    assert.notEqual(longer[4]!.hash, keys[4]!.hash);
    assert.deepEqual(completionAffinityKeys(MODEL, "").keys, []);
  });

  it("stays bounded on a large prompt", () => {
    const { keys } = completionAffinityKeys(MODEL, "z".repeat(4 * 1024 * 1024));
    // 64 keys to 64 Ki, 56 to 512 Ki, 56 to 4 Mi.
    assert.equal(keys.length, 64 + 56 + 56);
  });
});

describe("AffinityTable", () => {
  const key = (hash: string, chars: number): AffinityKey => ({ hash, chars });

  it("finds the replica of the longest remembered key that covers enough of the request", () => {
    const table = new AffinityTable(100);
    table.remember([key("a", 10), key("b", 20)], 0);
    table.remember([key("c", 30)], 2);
    const request = [key("a", 10), key("b", 20), key("c", 30), key("d", 40)];
    assert.deepEqual(table.lookup(request, 0), { replica: 2, chars: 30 });
    assert.deepEqual(table.lookup(request, 31), undefined);
    table.remember([key("c", 30)], 1);
    assert.deepEqual(table.lookup(request, 20), { replica: 1, chars: 30 });
  });

  it("forgets the least recently used keys past its size", () => {
    const table = new AffinityTable(3);
    table.remember([key("a", 1), key("b", 2), key("c", 3)], 0);
    assert.ok(table.lookup([key("a", 1)], 0)); // a is now the most recent
    table.remember([key("d", 4)], 1);
    assert.equal(table.size, 3);
    assert.equal(table.lookup([key("b", 2)], 0), undefined);
    assert.ok(table.lookup([key("a", 1)], 0));
    for (let index = 0; index < 1000; index++) table.remember([key(`k${index}`, index)], index % 3);
    assert.equal(table.size, 3);
  });
});
