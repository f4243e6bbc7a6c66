import { randomBytes } from "node:crypto";

/** What a tool-call reader finds: answer text, the start of a call, or more of its arguments. */
export type ToolCallPart =
  | { kind: "text"; text: string }
  | { kind: "call-start"; index: number; id: string; name: string }
  | { kind: "call-delta"; index: number; argumentsDelta: string };

/** Hands out call indices in order, shared by every reader of one reply. */
export interface CallCounter {
  next(): number;
}

/** An id in DeepSeek's style: `call_` and 24 random letters and digits. */
export function newToolCallId(): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  return `call_${Array.from(randomBytes(24), (byte) => alphabet[byte % alphabet.length]).join("")}`;
}

/**
 * Finds where one JSON value ends as its text streams in: counts braces and brackets outside
 * strings. A bare string or number value ends at its closing quote or at the first character
 * that cannot continue it.
 */
export class JsonValueScanner {
  private depth = 0;
  private inString = false;
  private escaped = false;
  private started = false;
  private scalar = false;

  /** Whether any non-whitespace character of the value has been seen. */
  get hasStarted(): boolean {
    return this.started;
  }

  /**
   * Scans `text`; returns where the value begins in it (after leading whitespace, -1 if not yet)
   * and the index just past its end (-1 while it goes on).
   */
  scan(text: string): { from: number; end: number } {
    let from = this.started ? 0 : -1;
    for (let index = 0; index < text.length; index++) {
      const character = text[index]!;
      if (!this.started) {
        if (/\s/.test(character)) continue;
        this.started = true;
        from = index;
        this.scalar = character !== "{" && character !== "[" && character !== '"';
      }
      if (this.scalar) {
        if (/[\s,}\]]/.test(character)) return { from, end: index };
        continue;
      }
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (character === "\\") this.escaped = true;
        else if (character === '"') {
          this.inString = false;
          if (this.depth === 0) return { from, end: index + 1 };
        }
      } else if (character === '"') this.inString = true;
      else if (character === "{" || character === "[") this.depth++;
      else if (character === "}" || character === "]") {
        this.depth--;
        if (this.depth === 0) return { from, end: index + 1 };
      }
    }
    return { from, end: -1 };
  }
}

const HEAD = /^\s*\{\s*"name"\s*:\s*"((?:[^"\\]|\\.)*)"\s*,\s*"(?:arguments|parameters)"\s*:\s*/;

/**
 * Reads one `{"name": "…", "arguments": {…}}` object (Llama 3 writes `"parameters"`) as it
 * streams: the call starts once the name is read and the arguments pass on as they grow. An object
 * that names its arguments first is read whole once it closes; one that is not a call at all is
 * given back as text.
 */
export class JsonCallObject {
  private mode: "head" | "arguments" | "tail" = "head";
  /** Everything read in "head" mode, kept for the whole-object fallback. */
  private raw = "";
  /** The call object's own braces: in "head" mode for the fallback, then to find its end. */
  private outer = new JsonValueScanner();
  private readonly args = new JsonValueScanner();
  private index = -1;

  constructor(private readonly counter: CallCounter) {}

  /** True once the call has started (its name is known). */
  get started(): boolean {
    return this.index >= 0;
  }

  /** Reads more text; `rest` is what follows the object once it has closed. */
  push(text: string): { parts: ToolCallPart[]; rest?: string } {
    const parts: ToolCallPart[] = [];
    if (this.mode === "head") {
      const before = this.raw.length;
      this.raw += text;
      const match = HEAD.exec(this.raw);
      if (match) {
        const name = JSON.parse(`"${match[1]}"`) as string;
        this.index = this.counter.next();
        parts.push({ kind: "call-start", index: this.index, id: newToolCallId(), name });
        this.outer = new JsonValueScanner();
        this.outer.scan(match[0]); // the object has opened, and nothing in the head closes it
        this.mode = "arguments";
        return this.withParts(parts, this.push(this.raw.slice(match[0].length)));
      }
      const { end } = this.outer.scan(this.raw.slice(before));
      if (end >= 0) {
        const whole = this.raw.slice(0, before + end);
        return { parts: this.fallback(whole), rest: this.raw.slice(before + end) };
      }
      return { parts };
    }
    if (this.mode === "arguments") {
      const { from, end } = this.args.scan(text);
      if (from >= 0) {
        const delta = text.slice(from, end >= 0 ? end : text.length);
        if (delta) parts.push({ kind: "call-delta", index: this.index, argumentsDelta: delta });
      }
      this.outer.scan(text.slice(0, end >= 0 ? end : text.length));
      if (end < 0) return { parts };
      this.mode = "tail";
      return this.withParts(parts, this.push(text.slice(end)));
    }
    const { end } = this.outer.scan(text);
    return end >= 0 ? { parts, rest: text.slice(end) } : { parts };
  }

  /** The stream ended inside the object: a call keeps what it got, anything else is text. */
  finish(): ToolCallPart[] {
    if (this.mode === "head") return this.raw ? [{ kind: "text", text: this.raw }] : [];
    return [];
  }

  /** The text read so far, while the call has not started (for a reader that gives it back). */
  get unread(): string {
    return this.mode === "head" ? this.raw : "";
  }

  private withParts(parts: ToolCallPart[], next: { parts: ToolCallPart[]; rest?: string }) {
    return { ...next, parts: [...parts, ...next.parts] };
  }

  private fallback(whole: string): ToolCallPart[] {
    const call = parseWholeCall(whole);
    if (!call) return [{ kind: "text", text: whole }];
    this.index = this.counter.next();
    return [
      { kind: "call-start", index: this.index, id: newToolCallId(), name: call.name },
      { kind: "call-delta", index: this.index, argumentsDelta: call.arguments },
    ];
  }
}

/** A whole call object in any key order, or undefined when the text is not one. */
export function parseWholeCall(text: string): { name: string; arguments: string } | undefined {
  try {
    const parsed = JSON.parse(text) as { name?: unknown; arguments?: unknown; parameters?: unknown };
    if (typeof parsed.name !== "string") return undefined;
    const args = parsed.arguments ?? parsed.parameters ?? {};
    return { name: parsed.name, arguments: typeof args === "string" ? args : JSON.stringify(args) };
  } catch {
    return undefined;
  }
}
