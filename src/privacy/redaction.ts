/**
 * Redaction before remote models: a request's personal data (detectors.ts) is replaced by stable
 * placeholders before it leaves the machine, and the reply has them put back (restore-stream.ts).
 *
 * Placeholders look like `[EMAIL_1]`, `[CARD_2]`, `[CN_ID_1]`: upper-case ASCII in brackets, a
 * form models copy whole (they tokenize into a few common pieces and read as a template slot).
 * Numbers count per kind in order of first appearance over the request's texts: tool
 * descriptions, then messages in order, then stop strings. A conversation's history comes first,
 * so a value keeps its placeholder from turn to turn: the upstream sees the same prefix (its KV
 * cache still hits) and the model's earlier replies stay consistent.
 *
 * The session holds the values only in memory, for the one request; nothing here logs anything.
 */
import type { ChatMessage, ChatRequest, CompletionRequest, ToolCall } from "../core/chat.js";
import { findPii, PII_KINDS, type PiiKind } from "./detectors.js";

/** The placeholder label of each kind. */
const LABELS: Record<PiiKind, string> = {
  card: "CARD",
  cn_id: "CN_ID",
  phone: "PHONE",
  email: "EMAIL",
  iban: "IBAN",
};
const KIND_OF_LABEL = new Map(PII_KINDS.map((kind) => [LABELS[kind], kind]));

/** Any placeholder-shaped text, issued or not. */
export const PLACEHOLDER = /\[(CARD|CN_ID|PHONE|EMAIL|IBAN)_(\d{1,6})\]/g;
/** The longest placeholder: `[CN_ID_999999]`. */
export const MAX_PLACEHOLDER_LENGTH = "[CN_ID_999999]".length;

/**
 * The placeholders of one request and the values behind them. Redact every text of the request
 * through one session, then restore the reply through it.
 */
export class RedactionSession {
  private readonly byValue = new Map<string, string>();
  private readonly byPlaceholder = new Map<string, string>();
  /** Distinct values per kind. */
  private readonly issued = new Map<PiiKind, number>();
  /** The last number used per kind (numbers the client's own text holds are skipped). */
  private readonly lastNumber = new Map<PiiKind, number>();
  /** Placeholder-shaped text the client itself sent: never issued, so never "restored". */
  private readonly reserved = new Set<string>();

  /** Marks placeholder-shaped text already in `text` as taken (call on every text first). */
  reserve(text: string): void {
    for (const match of text.matchAll(PLACEHOLDER)) this.reserved.add(match[0]);
  }

  /** `text` with each detected value replaced by its placeholder. */
  redact(text: string): string {
    const matches = findPii(text);
    if (matches.length === 0) return text;
    let out = "";
    let at = 0;
    for (const match of matches) {
      out +=
        text.slice(at, match.start) + this.placeholderFor(match.kind, text.slice(match.start, match.end));
      at = match.end;
    }
    return out + text.slice(at);
  }

  /** `text` with every placeholder this session issued put back; others are left as they are. */
  restore(text: string): string {
    if (this.byPlaceholder.size === 0 || !text.includes("[")) return text;
    return text.replace(PLACEHOLDER, (placeholder) => this.byPlaceholder.get(placeholder) ?? placeholder);
  }

  /**
   * Whether `tail` (text from a `[` to the end of what has streamed so far) is the start of a
   * placeholder this session issued, but not a whole one: a streaming restorer holds it back.
   */
  couldBecomePlaceholder(tail: string): boolean {
    if (tail.length >= MAX_PLACEHOLDER_LENGTH) return false;
    for (const placeholder of this.byPlaceholder.keys())
      if (placeholder.length > tail.length && placeholder.startsWith(tail)) return true;
    return false;
  }

  /** Distinct values redacted, by kind; only kinds that occurred. */
  counts(): Partial<Record<PiiKind, number>> {
    const counts: Partial<Record<PiiKind, number>> = {};
    for (const kind of PII_KINDS) {
      const count = this.issued.get(kind) ?? 0;
      if (count > 0) counts[kind] = count;
    }
    return counts;
  }

  /** Whether anything was redacted. */
  get size(): number {
    return this.byPlaceholder.size;
  }

  private placeholderFor(kind: PiiKind, value: string): string {
    // The same value written twice is one value (`4111 1111 1111 1111` and `4111111111111111`).
    const key = `${kind}:${normalise(kind, value)}`;
    const known = this.byValue.get(key);
    // The reply gets back the form the request used first.
    if (known !== undefined) return known;
    let number = this.lastNumber.get(kind) ?? 0;
    let placeholder: string;
    do {
      number++;
      placeholder = `[${LABELS[kind]}_${number}]`;
    } while (this.reserved.has(placeholder));
    this.lastNumber.set(kind, number);
    this.issued.set(kind, (this.issued.get(kind) ?? 0) + 1);
    this.byValue.set(key, placeholder);
    this.byPlaceholder.set(placeholder, value);
    return placeholder;
  }
}

function normalise(kind: PiiKind, value: string): string {
  if (kind === "email") return value.toLowerCase();
  return value.replace(/[\s-]/g, "").toUpperCase();
}

/** The kind a placeholder label names (`CN_ID` -> `cn_id`). */
export function kindOfLabel(label: string): PiiKind | undefined {
  return KIND_OF_LABEL.get(label);
}

/** A chat request with its texts redacted, and the session that restores the reply. */
export function redactChatRequest(request: ChatRequest): { request: ChatRequest; session: RedactionSession } {
  const session = new RedactionSession();
  for (const tool of request.tools) session.reserve(tool.description ?? "");
  for (const message of request.messages) for (const text of messageTexts(message)) session.reserve(text);
  for (const stop of request.stop) session.reserve(stop);

  const tools = request.tools.map((tool) =>
    tool.description === undefined ? tool : { ...tool, description: session.redact(tool.description) },
  );
  const messages = request.messages.map((message) => redactMessage(message, session));
  const stop = request.stop.map((text) => session.redact(text));
  return { request: { ...request, tools, messages, stop }, session };
}

/** A completion (FIM) request with its prompt and suffix redacted. */
export function redactCompletionRequest(request: CompletionRequest): {
  request: CompletionRequest;
  session: RedactionSession;
} {
  const session = new RedactionSession();
  session.reserve(request.prompt);
  session.reserve(request.suffix ?? "");
  for (const stop of request.stop) session.reserve(stop);
  const prompt = session.redact(request.prompt);
  const suffix = request.suffix === undefined ? undefined : session.redact(request.suffix);
  const stop = request.stop.map((text) => session.redact(text));
  return { request: { ...request, prompt, suffix, stop }, session };
}

/** Embedding inputs redacted (nothing comes back to restore). */
export function redactTexts(texts: readonly string[]): { texts: string[]; session: RedactionSession } {
  const session = new RedactionSession();
  for (const text of texts) session.reserve(text);
  return { texts: texts.map((text) => session.redact(text)), session };
}

function messageTexts(message: ChatMessage): string[] {
  const texts = [message.content];
  if (message.role === "assistant") {
    if (message.reasoning !== undefined) texts.push(message.reasoning);
    for (const call of message.toolCalls ?? []) texts.push(call.arguments);
  }
  return texts;
}

/** A message with its text, reasoning and tool-call arguments redacted; images pass as they are. */
function redactMessage(message: ChatMessage, session: RedactionSession): ChatMessage {
  const content = session.redact(message.content);
  if (message.role !== "assistant") return { ...message, content };
  const toolCalls: ToolCall[] | undefined = message.toolCalls?.map((call) => ({
    ...call,
    // Placeholders hold no quote or backslash, so JSON arguments stay JSON.
    arguments: session.redact(call.arguments),
  }));
  return {
    ...message,
    content,
    ...(message.reasoning === undefined ? {} : { reasoning: session.redact(message.reasoning) }),
    ...(toolCalls === undefined ? {} : { toolCalls }),
  };
}
