import { randomBytes } from "node:crypto";
import { partialSuffixLength } from "./reasoning-splitter.js";

/**
 * Finds tool calls in a model's answer as it streams. Calls are written the way Qwen, Hermes and
 * most open models write them, and the way qiusuo's grammars make any model write them:
 *
 *   <tool_call>
 *   {"name": "get_weather", "arguments": {"city": "Paris"}}
 *   </tool_call>
 *
 * Once `"arguments":` is seen the arguments are passed on character by character, so clients see
 * them grow (OpenAI's `tool_calls[].function.arguments` deltas). Text outside calls stays text; a
 * call that cannot be read is given back as text rather than lost.
 */
export const TOOL_CALL_OPEN = "<tool_call>";
export const TOOL_CALL_CLOSE = "</tool_call>";

export type ToolCallPart =
  | { kind: "text"; text: string }
  | { kind: "call-start"; index: number; id: string; name: string }
  | { kind: "call-delta"; index: number; argumentsDelta: string };

const HEAD = /^\s*\{\s*"name"\s*:\s*"((?:[^"\\]|\\.)*)"\s*,\s*"arguments"\s*:\s*/;

type State =
  | { mode: "text" }
  /** Inside a call, before its name and `"arguments":` have both been read. */
  | { mode: "head"; raw: string }
  /** Streaming the arguments value; `depth` counts open braces and brackets. */
  | { mode: "arguments"; raw: string; depth: number; inString: boolean; escaped: boolean; started: boolean }
  /** After the arguments value, until `</tool_call>`. */
  | { mode: "tail"; raw: string };

export class ToolCallParser {
  private state: State = { mode: "text" };
  private pending = "";
  private calls = 0;

  /** How many calls have started. */
  get callCount(): number {
    return this.calls;
  }

  /** True while inside `<tool_call>…</tool_call>`. */
  get inCall(): boolean {
    return this.state.mode !== "text";
  }

  push(text: string): ToolCallPart[] {
    const parts: ToolCallPart[] = [];
    this.pending += text;
    for (;;) {
      const before = `${this.state.mode}:${this.pending.length}`;
      this.step(parts);
      if (`${this.state.mode}:${this.pending.length}` === before) break;
    }
    return parts;
  }

  /** Ends the stream: a call cut off mid-way is kept as far as it got. */
  finish(): ToolCallPart[] {
    const parts: ToolCallPart[] = [];
    const state = this.state;
    if (state.mode === "text") {
      if (this.pending) parts.push({ kind: "text", text: this.pending });
    } else if (state.mode === "head") {
      parts.push({ kind: "text", text: TOOL_CALL_OPEN + state.raw + this.pending });
    } else if (state.mode === "arguments" && this.pending) {
      parts.push({ kind: "call-delta", index: this.calls - 1, argumentsDelta: this.pending });
    }
    this.pending = "";
    this.state = { mode: "text" };
    return parts;
  }

  private step(parts: ToolCallPart[]): void {
    const state = this.state;
    if (state.mode === "text") {
      const open = this.pending.indexOf(TOOL_CALL_OPEN);
      if (open >= 0) {
        if (open > 0) parts.push({ kind: "text", text: this.pending.slice(0, open) });
        this.pending = this.pending.slice(open + TOOL_CALL_OPEN.length);
        this.state = { mode: "head", raw: "" };
        return;
      }
      const keep = partialSuffixLength(this.pending, TOOL_CALL_OPEN);
      const ready = this.pending.slice(0, this.pending.length - keep);
      if (ready) parts.push({ kind: "text", text: ready });
      this.pending = this.pending.slice(ready.length);
      return;
    }
    if (state.mode === "head") {
      state.raw += this.pending;
      this.pending = "";
      const match = HEAD.exec(state.raw);
      if (match) {
        const name = JSON.parse(`"${match[1]}"`) as string;
        parts.push({ kind: "call-start", index: this.calls++, id: newToolCallId(), name });
        this.pending = state.raw.slice(match[0].length);
        this.state = {
          mode: "arguments",
          raw: "",
          depth: 0,
          inString: false,
          escaped: false,
          started: false,
        };
        return;
      }
      const close = state.raw.indexOf(TOOL_CALL_CLOSE);
      if (close >= 0) {
        this.fallback(parts, state.raw.slice(0, close));
        this.pending = state.raw.slice(close + TOOL_CALL_CLOSE.length);
        this.state = { mode: "text" };
      }
      return;
    }
    if (state.mode === "arguments") {
      let end = -1;
      let from = state.started ? 0 : this.pending.length;
      for (let index = 0; index < this.pending.length && end < 0; index++) {
        const character = this.pending[index]!;
        if (!state.started) {
          if (/\s/.test(character)) continue;
          state.started = true;
          from = index; // whitespace before the value is not part of it
        }
        if (state.inString) {
          if (state.escaped) state.escaped = false;
          else if (character === "\\") state.escaped = true;
          else if (character === '"') {
            state.inString = false;
            if (state.depth === 0) end = index + 1; // a bare string value
          }
        } else if (character === '"') state.inString = true;
        else if (character === "{" || character === "[") state.depth++;
        else if (character === "}" || character === "]") {
          state.depth--;
          if (state.depth === 0) end = index + 1;
        }
      }
      const delta = this.pending.slice(from, end >= 0 ? end : this.pending.length);
      if (delta) parts.push({ kind: "call-delta", index: this.calls - 1, argumentsDelta: delta });
      this.pending = end >= 0 ? this.pending.slice(end) : "";
      if (end >= 0) this.state = { mode: "tail", raw: "" };
      return;
    }
    state.raw += this.pending;
    this.pending = "";
    const close = state.raw.indexOf(TOOL_CALL_CLOSE);
    if (close >= 0) {
      this.pending = state.raw.slice(close + TOOL_CALL_CLOSE.length).replace(/^\s+/, "");
      this.state = { mode: "text" };
    }
  }

  /** A call whose head did not match (arguments first, say): read it whole, or keep it as text. */
  private fallback(parts: ToolCallPart[], raw: string): void {
    try {
      const parsed = JSON.parse(raw) as { name?: unknown; arguments?: unknown };
      if (typeof parsed.name === "string") {
        const index = this.calls++;
        parts.push({ kind: "call-start", index, id: newToolCallId(), name: parsed.name });
        const args =
          typeof parsed.arguments === "string" ? parsed.arguments : JSON.stringify(parsed.arguments ?? {});
        parts.push({ kind: "call-delta", index, argumentsDelta: args });
        return;
      }
    } catch {
      // not JSON: fall through
    }
    parts.push({ kind: "text", text: TOOL_CALL_OPEN + raw + TOOL_CALL_CLOSE });
  }
}

/** An id in DeepSeek's style: `call_` and 24 random letters and digits. */
export function newToolCallId(): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  return `call_${Array.from(randomBytes(24), (byte) => alphabet[byte % alphabet.length]).join("")}`;
}
