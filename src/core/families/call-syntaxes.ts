import { partialSuffixLength } from "../reasoning-splitter.js";
import {
  JsonCallObject,
  JsonValueScanner,
  newToolCallId,
  type CallCounter,
  type ToolCallPart,
} from "./json-call.js";
import type { CallReader, CallSyntax } from "./tool-call-scanner.js";

export const TOOL_CALL_OPEN = "<tool_call>";
export const TOOL_CALL_CLOSE = "</tool_call>";

/**
 * Hermes and Qwen, and what qiusuo's grammars make any model write:
 * `<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>`.
 */
export const hermesCalls: CallSyntax = {
  open: TOOL_CALL_OPEN,
  reader: (counter) => new HermesReader(counter),
};

class HermesReader implements CallReader {
  private readonly call: JsonCallObject;
  /** After the object: text up to `</tool_call>`. */
  private tail: string | undefined;

  constructor(counter: CallCounter) {
    this.call = new JsonCallObject(counter);
  }

  push(text: string): { parts: ToolCallPart[]; rest?: string } {
    if (this.tail !== undefined) return this.readTail(text, []);
    if (!this.call.started) {
      // A block that is not a call closes before its object does: give it back as written.
      const unread = this.call.unread + text;
      const close = unread.indexOf(TOOL_CALL_CLOSE);
      if (close >= 0 && !unread.slice(0, close).trim().startsWith("{")) {
        return {
          parts: [{ kind: "text", text: TOOL_CALL_OPEN + unread.slice(0, close + TOOL_CALL_CLOSE.length) }],
          rest: unread.slice(close + TOOL_CALL_CLOSE.length),
        };
      }
    }
    const { parts, rest } = this.call.push(text);
    if (rest === undefined) return { parts };
    if (parts.length === 1 && parts[0]!.kind === "text") parts[0]!.text = TOOL_CALL_OPEN + parts[0]!.text;
    this.tail = "";
    return this.readTail(rest, parts);
  }

  finish(): ToolCallPart[] {
    const parts = this.call.finish();
    if (parts[0]?.kind === "text") parts[0].text = TOOL_CALL_OPEN + parts[0].text;
    return parts;
  }

  private readTail(text: string, parts: ToolCallPart[]): { parts: ToolCallPart[]; rest?: string } {
    this.tail += text;
    const close = this.tail!.indexOf(TOOL_CALL_CLOSE);
    if (close < 0) return { parts };
    return { parts, rest: this.tail!.slice(close + TOOL_CALL_CLOSE.length).replace(/^\s+/, "") };
  }
}

export const DEEPSEEK_CALLS_BEGIN = "<｜tool▁calls▁begin｜>";
export const DEEPSEEK_CALLS_END = "<｜tool▁calls▁end｜>";
export const DEEPSEEK_CALL_BEGIN = "<｜tool▁call▁begin｜>";
export const DEEPSEEK_CALL_END = "<｜tool▁call▁end｜>";
export const DEEPSEEK_SEP = "<｜tool▁sep｜>";

/**
 * DeepSeek V3 and R1: `<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n```json\n{…}\n```<｜tool▁call▁end｜>…<｜tool▁calls▁end｜>`;
 * V3.1 drops the type and the fence: `<｜tool▁call▁begin｜>NAME<｜tool▁sep｜>{…}<｜tool▁call▁end｜>`.
 */
export const deepseekCalls: CallSyntax = {
  open: DEEPSEEK_CALLS_BEGIN,
  reader: (counter) => new DeepSeekReader(counter, DEEPSEEK_CALLS_BEGIN),
};

/** A call written without the block around it (distills sometimes drop it). */
export const deepseekBareCall: CallSyntax = {
  open: DEEPSEEK_CALL_BEGIN,
  openIsPartOfCall: true,
  reader: (counter) => new DeepSeekReader(counter, ""),
};

class DeepSeekReader implements CallReader {
  private mode: "between" | "head" | "fence" | "arguments" | "after" = "between";
  private pending = "";
  private index = -1;
  /** V3's fenced arguments end at the fence; V3.1's at `<｜tool▁call▁end｜>`. */
  private argumentsEnd = DEEPSEEK_CALL_END;
  private atArgumentsStart = true;
  /** The text read since the last call ended, given back if the stream ends inside the next. */
  private unread: string;

  constructor(
    private readonly counter: CallCounter,
    opening: string,
  ) {
    this.unread = opening;
  }

  push(text: string): { parts: ToolCallPart[]; rest?: string } {
    this.pending += text;
    this.unread += text;
    const parts: ToolCallPart[] = [];
    for (;;) {
      const before = `${this.mode}:${this.pending.length}`;
      const rest = this.step(parts);
      if (rest !== undefined) return { parts, rest };
      if (`${this.mode}:${this.pending.length}` === before) return { parts };
    }
  }

  finish(): ToolCallPart[] {
    if (this.mode === "arguments" && this.pending && this.index >= 0) {
      return [{ kind: "call-delta", index: this.index, argumentsDelta: this.pending }];
    }
    if (this.mode === "head") return [{ kind: "text", text: this.unread }];
    return [];
  }

  private step(parts: ToolCallPart[]): string | undefined {
    if (this.mode === "between") {
      const trimmed = this.pending.trimStart();
      if (trimmed.startsWith(DEEPSEEK_CALL_BEGIN)) {
        this.pending = trimmed.slice(DEEPSEEK_CALL_BEGIN.length);
        this.mode = "head";
      } else if (trimmed.startsWith(DEEPSEEK_CALLS_END)) {
        return trimmed.slice(DEEPSEEK_CALLS_END.length);
      } else if (
        trimmed &&
        !DEEPSEEK_CALL_BEGIN.startsWith(trimmed) &&
        !DEEPSEEK_CALLS_END.startsWith(trimmed)
      ) {
        return trimmed; // a block left open: what follows is answer text again
      }
      return undefined;
    }
    if (this.mode === "head") {
      const sep = this.pending.indexOf(DEEPSEEK_SEP);
      if (sep < 0) return undefined;
      const head = this.pending.slice(0, sep).trim();
      let after = this.pending.slice(sep + DEEPSEEK_SEP.length);
      let name = head;
      if (head === "function") {
        const newline = after.indexOf("\n");
        if (newline < 0) return undefined; // the name is still coming
        name = after.slice(0, newline).trim();
        after = after.slice(newline + 1);
        this.argumentsEnd = "```";
        this.mode = "fence";
      } else {
        this.mode = "arguments";
      }
      this.index = this.counter.next();
      parts.push({ kind: "call-start", index: this.index, id: newToolCallId(), name });
      this.pending = after;
      this.unread = "";
      return undefined;
    }
    if (this.mode === "fence") {
      const opening = "```json";
      const trimmed = this.pending.trimStart();
      if (trimmed.startsWith(opening)) {
        this.pending = trimmed.slice(opening.length).replace(/^[ \t]*\n?/, "");
        this.mode = "arguments";
      } else if (trimmed.length >= opening.length || (trimmed && !opening.startsWith(trimmed))) {
        this.argumentsEnd = DEEPSEEK_CALL_END; // no fence after all
        this.mode = "arguments";
      }
      return undefined;
    }
    if (this.mode === "arguments") {
      if (this.atArgumentsStart) {
        this.pending = this.pending.trimStart();
        if (!this.pending) return undefined;
        this.atArgumentsStart = false;
      }
      const end = this.pending.indexOf(this.argumentsEnd);
      const limit =
        end >= 0 ? end : this.pending.length - partialSuffixLength(this.pending, this.argumentsEnd);
      // Whitespace before the end marker is not part of the arguments: held until text follows it.
      const ready = this.pending.slice(0, limit).trimEnd();
      if (ready) parts.push({ kind: "call-delta", index: this.index, argumentsDelta: ready });
      if (end < 0) {
        this.pending = this.pending.slice(ready.length);
        return undefined;
      }
      this.pending = this.pending.slice(end + this.argumentsEnd.length);
      this.atArgumentsStart = true;
      this.mode = this.argumentsEnd === DEEPSEEK_CALL_END ? "between" : "after";
      this.unread = this.pending;
      this.argumentsEnd = DEEPSEEK_CALL_END;
      return undefined;
    }
    // After the arguments: up to this call's end marker, then the next call or the block's end.
    const end = this.pending.indexOf(DEEPSEEK_CALL_END);
    if (end >= 0) {
      this.pending = this.pending.slice(end + DEEPSEEK_CALL_END.length);
      this.mode = "between";
      this.unread = this.pending;
    }
    return undefined;
  }
}

export const MISTRAL_TOOL_CALLS = "[TOOL_CALLS]";
export const MISTRAL_ARGS = "[ARGS]";
const MISTRAL_CALL_ID = "[CALL_ID]";

/**
 * Mistral: `[TOOL_CALLS][{"name": "…", "arguments": {…}}, …]` (v0.3, Small 3.1), and the newer
 * `[TOOL_CALLS]NAME[ARGS]{…}` (Small 3.2, Magistral, Devstral), one marker per call.
 */
export const mistralCalls: CallSyntax = {
  open: MISTRAL_TOOL_CALLS,
  reader: (counter) => new MistralReader(counter),
};

class MistralReader implements CallReader {
  private mode: "start" | "array" | "name" | "arguments" = "start";
  private pending = "";
  private object: JsonCallObject | undefined;
  private readonly args = new JsonValueScanner();
  private index = -1;

  constructor(private readonly counter: CallCounter) {}

  push(text: string): { parts: ToolCallPart[]; rest?: string } {
    const parts: ToolCallPart[] = [];
    let input = text;
    for (;;) {
      if (this.object) {
        const read = this.object.push(input);
        parts.push(...read.parts);
        if (read.rest === undefined) return { parts };
        this.object = undefined;
        input = read.rest;
      }
      this.pending += input;
      input = "";
      const before = `${this.mode}:${this.pending.length}:${this.object ? 1 : 0}`;
      const rest = this.step(parts);
      if (rest !== undefined) return { parts, rest };
      if (this.object) continue;
      if (`${this.mode}:${this.pending.length}:0` === before) return { parts };
    }
  }

  finish(): ToolCallPart[] {
    if (this.object) return this.object.finish();
    if (this.mode === "name" && this.pending)
      return [{ kind: "text", text: MISTRAL_TOOL_CALLS + this.pending }];
    return [];
  }

  private step(parts: ToolCallPart[]): string | undefined {
    if (this.mode === "start") {
      const trimmed = this.pending.trimStart();
      if (!trimmed) return undefined;
      this.pending = trimmed;
      this.mode = trimmed.startsWith("[") && !trimmed.startsWith(MISTRAL_ARGS) ? "array" : "name";
      if (this.mode === "array") this.pending = trimmed.slice(1);
      return undefined;
    }
    if (this.mode === "array") {
      const trimmed = this.pending.replace(/^[\s,]+/, "");
      this.pending = trimmed;
      if (!trimmed) return undefined;
      if (trimmed.startsWith("]")) return trimmed.slice(1);
      if (trimmed.startsWith("{")) {
        this.object = new JsonCallObject(this.counter);
        const rest = trimmed;
        this.pending = "";
        const read = this.object.push(rest);
        parts.push(...read.parts);
        if (read.rest !== undefined) {
          this.object = undefined;
          this.pending = read.rest;
        }
        return undefined;
      }
      return trimmed; // not a list of calls after all: the rest is text
    }
    if (this.mode === "name") {
      const args = this.pending.indexOf(MISTRAL_ARGS);
      const head = args >= 0 ? this.pending.slice(0, args) : this.pending;
      const [written, callId = ""] = head.split(MISTRAL_CALL_ID);
      const name = written!.trim();
      // Until `[ARGS]` arrives, its start (or `[CALL_ID]`'s) may end what has come so far.
      const held =
        args < 0
          ? Math.max(partialSuffixLength(head, MISTRAL_ARGS), partialSuffixLength(head, MISTRAL_CALL_ID))
          : 0;
      const checked = callId ? name : name.slice(0, name.length - held);
      if (!/^[\w.-]*$/.test(checked) || (args < 0 && head.length > 128) || (args >= 0 && !name)) {
        const text = MISTRAL_TOOL_CALLS + this.pending;
        this.pending = "";
        parts.push({ kind: "text", text });
        return "";
      }
      if (args < 0) return undefined;
      this.index = this.counter.next();
      parts.push({ kind: "call-start", index: this.index, id: newToolCallId(), name });
      this.pending = this.pending.slice(args + MISTRAL_ARGS.length);
      this.mode = "arguments";
      return undefined;
    }
    const { from, end } = this.args.scan(this.pending);
    if (from >= 0) {
      const delta = this.pending.slice(from, end >= 0 ? end : this.pending.length);
      if (delta) parts.push({ kind: "call-delta", index: this.index, argumentsDelta: delta });
    }
    if (end >= 0) return this.pending.slice(end);
    this.pending = "";
    return undefined;
  }
}

export const LLAMA_PYTHON_TAG = "<|python_tag|>";

/**
 * Llama 3.1-3.3: the answer is `{"name": "…", "parameters": {…}}` (calls may be joined with `;`),
 * or the same after `<|python_tag|>`.
 */
export const llamaJsonCalls: CallSyntax = {
  open: "{",
  atStartOnly: true,
  openIsPartOfCall: true,
  reader: (counter) => new LlamaReader(counter),
};

export const llamaPythonTagCalls: CallSyntax = {
  open: LLAMA_PYTHON_TAG,
  reader: (counter) => new LlamaReader(counter),
};

class LlamaReader implements CallReader {
  private object: JsonCallObject | undefined;
  private pending = "";

  constructor(private readonly counter: CallCounter) {}

  push(text: string): { parts: ToolCallPart[]; rest?: string } {
    const parts: ToolCallPart[] = [];
    let input = text;
    for (;;) {
      if (this.object) {
        const read = this.object.push(input);
        parts.push(...read.parts);
        if (read.rest === undefined) return { parts };
        this.object = undefined;
        input = read.rest;
      }
      this.pending = (this.pending + input).replace(/^[\s;]+/, "");
      input = "";
      if (!this.pending) return { parts };
      if (!this.pending.startsWith("{")) return { parts, rest: this.pending };
      this.object = new JsonCallObject(this.counter);
      input = this.pending;
      this.pending = "";
    }
  }

  finish(): ToolCallPart[] {
    return this.object ? this.object.finish() : [];
  }
}
