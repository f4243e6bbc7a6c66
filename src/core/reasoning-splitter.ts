/**
 * Splits a model's raw output into reasoning and answer, as text streams in.
 *
 * DeepSeek-R1 and its distills write `<think>…</think>` before the answer (Magistral writes
 * `[THINK]…[/THINK]`: the tags are the family's); some chat templates already put `<think>` at the
 * end of the prompt, so the output starts inside the reasoning.
 * Whitespace right after `<think>`, right before `</think>` and right after `</think>` is dropped,
 * as DeepSeek's API does (`reasoning_content` and `content` come back without it).
 */

export const THINK_OPEN = "<think>";
export const THINK_CLOSE = "</think>";

export type SplitPart = { kind: "reasoning" | "content"; text: string };

/** The markers around a family's reasoning block. */
export interface ReasoningTags {
  open: string;
  close: string;
}

export const THINK_TAGS: ReasoningTags = { open: THINK_OPEN, close: THINK_CLOSE };

type State =
  /** Nothing but whitespace seen yet; the output may still open with `<think>`. */
  "undecided" | "reasoning" | "content";

export class ReasoningSplitter {
  private state: State;
  /** Text held back: a possible tag prefix, or whitespace whose fate is not known yet. */
  private pending = "";
  /** True until the first non-whitespace text of the current part has been emitted. */
  private atPartStart = true;
  private readonly tags: ReasoningTags;

  /**
   * `startsIn`: "reasoning" when the prompt already opened `<think>`, "content" when the output
   * is known to be the answer (a prefix completion of the answer), "undecided" otherwise.
   */
  constructor(
    options: {
      startsInReasoning?: boolean;
      startsIn?: "undecided" | "reasoning" | "content";
      tags?: ReasoningTags;
    } = {},
  ) {
    this.tags = options.tags ?? THINK_TAGS;
    this.state = options.startsIn ?? (options.startsInReasoning ? "reasoning" : "undecided");
    // A continuation of known answer text (prefix completion, FIM) keeps its leading whitespace.
    this.atPartStart = this.state !== "content";
  }

  /** Whether the output is inside the reasoning now (used to count reasoning tokens). */
  get isReasoning(): boolean {
    return this.state === "reasoning";
  }

  push(text: string): SplitPart[] {
    this.pending += text;
    const parts: SplitPart[] = [];
    for (;;) {
      const before = `${this.state}:${this.pending}`;
      this.step(parts);
      if (`${this.state}:${this.pending}` === before) break;
    }
    return parts;
  }

  /** Flushes what is held back at the end of generation. */
  finish(): SplitPart[] {
    const parts: SplitPart[] = [];
    if (this.state === "undecided") this.state = "content";
    const text = this.state === "reasoning" ? this.pending.trimEnd() : this.pending;
    this.pending = "";
    this.emit(parts, this.state === "reasoning" ? "reasoning" : "content", text);
    return parts;
  }

  private step(parts: SplitPart[]): void {
    if (this.state === "undecided") {
      const trimmed = this.pending.trimStart();
      const open = this.tags.open;
      if (trimmed.startsWith(open)) {
        this.pending = trimmed.slice(open.length);
        this.state = "reasoning";
        this.atPartStart = true;
      } else if (trimmed.length === 0 || open.startsWith(trimmed)) {
        return; // still could be the tag
      } else {
        this.state = "content";
      }
      return;
    }
    if (this.state === "reasoning") {
      const close = this.pending.indexOf(this.tags.close);
      if (close >= 0) {
        this.emit(parts, "reasoning", this.pending.slice(0, close).trimEnd());
        this.pending = this.pending.slice(close + this.tags.close.length);
        this.state = "content";
        this.atPartStart = true;
        return;
      }
      // Hold back a possible start of `</think>` and trailing whitespace (it may precede the tag).
      const tagStart = this.pending.length - partialSuffixLength(this.pending, this.tags.close);
      const ready = this.pending.slice(0, tagStart).trimEnd();
      this.pending = this.pending.slice(ready.length);
      this.emit(parts, "reasoning", ready);
      return;
    }
    const text = this.pending;
    this.pending = "";
    this.emit(parts, "content", text);
  }

  private emit(parts: SplitPart[], kind: SplitPart["kind"], text: string): void {
    const out = this.atPartStart ? text.trimStart() : text;
    if (out.length === 0) return;
    this.atPartStart = false;
    const last = parts.at(-1);
    if (last && last.kind === kind) last.text += out;
    else parts.push({ kind, text: out });
  }
}

/** The length of the longest suffix of `text` that is a proper prefix of `tag`. */
export function partialSuffixLength(text: string, tag: string): number {
  for (let length = Math.min(tag.length - 1, text.length); length > 0; length--) {
    if (text.endsWith(tag.slice(0, length))) return length;
  }
  return 0;
}
