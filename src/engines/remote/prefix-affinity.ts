/**
 * Prefix affinity: short hashes of the growing prefixes of a request, so a pool can send a request
 * to the replica that already holds the longest of them in its KV cache (the turns of one
 * conversation, an agent's tool loop, a code editor's growing file).
 *
 * A key names a prefix, not a rendered prompt: the pool never sees the upstream's chat template,
 * and does not need to. Two requests whose messages agree up to message i render the same text up
 * to there on any template, so they share the key for i and the upstream's cache for that text.
 *
 * Hashing is one running SHA-256 over the whole input (linear in its size); at each boundary a
 * copy of the state is finished into a key. A chat keys every message only up to MAX_SPREAD_KEYS
 * messages; beyond that, every k-th message (k a power of two, so the boundaries of one
 * conversation stay the same from turn to turn) plus the last TAIL_KEYS, where the previous
 * turn's end always falls. That keeps the table small and the work bounded: 10,000 messages
 * (2 MB) take about 5 ms here, against 30-40 ms when every message was keyed.
 */
import { createHash } from "node:crypto";
import type { Hash } from "node:crypto";
import type { ChatMessage, ToolCall, ToolDefinition } from "../../core/chat.js";

export interface AffinityKey {
  /** A hash of the model and the prefix (22 base64url characters, 132 bits). */
  hash: string;
  /** How many characters of the request the prefix covers, tools included. */
  chars: number;
}

/** The keys of one request, shortest prefix first, and the size of the whole request. */
export interface AffinityKeys {
  keys: AffinityKey[];
  totalChars: number;
}

/** Message boundaries keyed across the whole of a long chat (then thinned to every k-th). */
const MAX_SPREAD_KEYS = 128;
/** The last boundaries of a chat, always keyed: the previous turn ends among them. */
const TAIL_KEYS = 16;
/**
 * What an image counts for in `chars`: its URL (a data: URL may be megabytes of base64) says
 * nothing of the tokens it takes, so each counts as about one message of text.
 */
const IMAGE_CHARS = 1024;

/**
 * Keys for each growing prefix of a chat: messages[0..i], with the model and tools folded in,
 * shortest first. Pass the model id the upstream knows, so that two aliases of one model share keys.
 *
 * What is hashed: each message's role, text, tool calls (name and arguments) and image URLs.
 * Left out on purpose: reasoning (some clients send it back on the next turn, most drop it, and
 * templates differ on whether it is rendered, so a key that included it would miss half the
 * time), tool-call ids (some clients rewrite them), and the `prefix` flag.
 */
export function chatAffinityKeys(
  model: string,
  messages: readonly ChatMessage[],
  tools?: readonly ToolDefinition[],
): AffinityKeys {
  const hash = createHash("sha256");
  hash.update(JSON.stringify(["chat", model]));
  let chars = 0;
  if (tools && tools.length > 0) {
    const text = JSON.stringify(tools.map((tool) => [tool.name, tool.description ?? "", tool.parameters]));
    hash.update(text);
    chars += text.length;
  }
  const stride = strideFor(messages.length);
  const keys: AffinityKey[] = [];
  // Messages between two keys go to the hash in one update: one native call per key, not per message.
  let pending: string[] = [];
  messages.forEach((message, index) => {
    const { text, counted } = serialise(message);
    pending.push(text);
    chars += counted;
    const boundary = index + 1;
    if (boundary % stride === 0 || boundary > messages.length - TAIL_KEYS) {
      hash.update(pending.join(""));
      pending = [];
      keys.push({ hash: finish(hash), chars });
    }
  });
  return { keys, totalChars: chars };
}

/**
 * The keys of the conversation once the reply is appended, so the next turn, which starts with
 * it, finds this replica. The reply's reasoning is not hashed (see chatAffinityKeys) but is
 * accepted so that callers pass the reply as they have it.
 */
export function withReply(
  model: string,
  messages: readonly ChatMessage[],
  tools: readonly ToolDefinition[] | undefined,
  reply: { content: string; reasoning?: string; toolCalls?: ToolCall[] },
): AffinityKey[] {
  const assistant: ChatMessage = { role: "assistant", content: reply.content };
  if (reply.toolCalls && reply.toolCalls.length > 0) assistant.toolCalls = reply.toolCalls;
  return chatAffinityKeys(model, [...messages, assistant], tools).keys;
}

/**
 * Keys for a plain completion prompt at fixed character positions: every 1,024 characters up to
 * 64 Ki, every 8 Ki up to 512 Ki, every 64 Ki beyond (at most 120 keys plus one per 64 Ki), and
 * the whole prompt. Positions depend only on the position, so two prompts that share their first
 * n characters share every key below n.
 */
export function completionAffinityKeys(model: string, prompt: string): AffinityKeys {
  const hash = createHash("sha256");
  hash.update(JSON.stringify(["completion", model]));
  const keys: AffinityKey[] = [];
  let position = 0;
  while (position < prompt.length) {
    const next = Math.min(prompt.length, nextCompletionBoundary(position));
    hash.update(prompt.slice(position, next));
    position = next;
    keys.push({ hash: finish(hash), chars: position });
  }
  return { keys, totalChars: prompt.length };
}

function nextCompletionBoundary(position: number): number {
  const step = position < 64 * 1024 ? 1024 : position < 512 * 1024 ? 8 * 1024 : 64 * 1024;
  return (Math.floor(position / step) + 1) * step;
}

/** The smallest power of two that keeps a chat of `count` messages to MAX_SPREAD_KEYS keys. */
function strideFor(count: number): number {
  let stride = 1;
  while (count / stride > MAX_SPREAD_KEYS) stride *= 2;
  return stride;
}

/**
 * One message as self-delimiting text (each field prefixed by its length: cheaper than
 * JSON.stringify, which took most of the time on long chats), and the characters it counts for.
 */
function serialise(message: ChatMessage): { text: string; counted: number } {
  let text = `${message.role}:${field(message.content)}`;
  let counted = message.content.length;
  if (message.role === "assistant" && message.toolCalls && message.toolCalls.length > 0) {
    text += `calls${message.toolCalls.length}:`;
    for (const call of message.toolCalls) {
      text += field(call.name) + field(call.arguments);
      counted += call.name.length + call.arguments.length;
    }
  }
  if (message.role === "user" && message.images && message.images.length > 0) {
    text += `images${message.images.length}:`;
    for (const image of message.images) text += field(image.url);
    counted += IMAGE_CHARS * message.images.length;
  }
  return { text: `${text};`, counted };
}

function field(value: string): string {
  return `${value.length}:${value}`;
}

function finish(hash: Hash): string {
  return hash.copy().digest("base64url").slice(0, 22);
}

/**
 * Which replica last served each prefix: a least-recently-used table of at most `maxEntries`
 * keys (about 100 bytes each), so memory stays bounded however many conversations pass.
 */
export class AffinityTable {
  /** Map keeps insertion order: the first entry is the least recently used. */
  private readonly entries = new Map<string, number>();

  constructor(private readonly maxEntries = 50_000) {
    if (!(maxEntries >= 1)) throw new RangeError(`affinityEntries must be at least 1, not ${maxEntries}`);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Records `keys` as living on `replica` (the latest writer wins) and marks them recently used. */
  remember(keys: readonly AffinityKey[], replica: number): void {
    for (const key of keys) {
      this.entries.delete(key.hash);
      this.entries.set(key.hash, replica);
    }
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
    }
  }

  /**
   * The replica holding the longest of `keys` (given shortest first) that covers at least
   * `minChars`, or undefined. A hit is marked recently used.
   */
  lookup(keys: readonly AffinityKey[], minChars: number): { replica: number; chars: number } | undefined {
    for (let index = keys.length - 1; index >= 0; index--) {
      const key = keys[index]!;
      if (key.chars < minChars) return undefined;
      const replica = this.entries.get(key.hash);
      if (replica !== undefined) {
        this.entries.delete(key.hash);
        this.entries.set(key.hash, replica);
        return { replica, chars: key.chars };
      }
    }
    return undefined;
  }
}
