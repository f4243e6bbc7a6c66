import { partialSuffixLength } from "../reasoning-splitter.js";
import type { CallCounter, ToolCallPart } from "./json-call.js";

/** Reads the text of one call (or one block of calls) after the marker that opened it. */
export interface CallReader {
  /** More text; `rest` is set once the call is over, holding the text that follows it. */
  push(text: string): { parts: ToolCallPart[]; rest?: string };
  /** The stream ended inside the call. */
  finish(): ToolCallPart[];
}

/** One way a model opens a tool call in its answer. */
export interface CallSyntax {
  /** The text that opens a call, e.g. `<tool_call>`. */
  open: string;
  /** Only recognised where the answer begins (Llama 3's bare JSON calls). */
  atStartOnly?: boolean;
  /** The opening text belongs to the call and is read by the reader too (a bare `{`). */
  openIsPartOfCall?: boolean;
  reader(counter: CallCounter): CallReader;
}

/**
 * Finds tool calls in a model's answer as it streams, in the syntaxes its family writes. Text
 * outside calls passes through; a possible start of a marker is held back until it is known.
 */
export class ToolCallScanner {
  private pending = "";
  private reader: CallReader | undefined;
  private readerSyntax: CallSyntax | undefined;
  private calls = 0;
  /** Nothing but whitespace has passed through yet. */
  private atStart = true;
  private readonly counter: CallCounter = { next: () => this.calls++ };

  constructor(private readonly syntaxes: readonly CallSyntax[]) {}

  /** How many calls have started. */
  get callCount(): number {
    return this.calls;
  }

  /** True while inside a call. */
  get inCall(): boolean {
    return this.reader !== undefined;
  }

  /** The syntax of the call being read, if inside one. */
  get openSyntax(): CallSyntax | undefined {
    return this.readerSyntax;
  }

  push(text: string): ToolCallPart[] {
    const parts: ToolCallPart[] = [];
    let input = text;
    for (;;) {
      if (this.reader) {
        const { parts: read, rest } = this.reader.push(input);
        parts.push(...read);
        if (rest === undefined) return parts;
        this.reader = undefined;
        this.readerSyntax = undefined;
        input = rest;
        continue;
      }
      this.pending += input;
      input = "";
      const found = this.findOpen();
      if (!found) {
        const keep = this.holdBack();
        this.emitText(parts, this.pending.slice(0, this.pending.length - keep));
        this.pending = this.pending.slice(this.pending.length - keep);
        return parts;
      }
      this.emitText(parts, this.pending.slice(0, found.at));
      const after = this.pending.slice(
        found.at + (found.syntax.openIsPartOfCall ? 0 : found.syntax.open.length),
      );
      this.pending = "";
      this.reader = found.syntax.reader(this.counter);
      this.readerSyntax = found.syntax;
      input = after;
    }
  }

  /** Ends the stream: a call cut off mid-way keeps what it got; text held back is given back. */
  finish(): ToolCallPart[] {
    const parts: ToolCallPart[] = this.reader ? this.reader.finish() : [];
    if (this.pending) parts.push({ kind: "text", text: this.pending });
    this.pending = "";
    this.reader = undefined;
    this.readerSyntax = undefined;
    return parts;
  }

  private emitText(parts: ToolCallPart[], text: string): void {
    if (!text) return;
    if (text.trim()) this.atStart = false;
    const last = parts.at(-1);
    if (last?.kind === "text") last.text += text;
    else parts.push({ kind: "text", text });
  }

  private findOpen(): { at: number; syntax: CallSyntax } | undefined {
    let best: { at: number; syntax: CallSyntax } | undefined;
    for (const syntax of this.syntaxes) {
      let at: number;
      if (syntax.atStartOnly) {
        if (!this.atStart) continue;
        const start = this.pending.length - this.pending.trimStart().length;
        at = this.pending.startsWith(syntax.open, start) ? start : -1;
      } else {
        at = this.pending.indexOf(syntax.open);
      }
      if (at >= 0 && (!best || at < best.at)) best = { at, syntax };
    }
    return best;
  }

  private holdBack(): number {
    let keep = 0;
    for (const syntax of this.syntaxes) {
      if (syntax.atStartOnly) continue; // one character, found or not at once
      keep = Math.max(keep, partialSuffixLength(this.pending, syntax.open));
    }
    // Whitespace at the start is held while a start-only syntax may still follow it.
    if (this.atStart && this.syntaxes.some((syntax) => syntax.atStartOnly) && !this.pending.trim()) {
      keep = this.pending.length;
    }
    return keep;
  }
}
