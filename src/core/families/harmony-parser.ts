import { partialSuffixLength } from "../reasoning-splitter.js";
import { hermesCalls } from "./call-syntaxes.js";
import { newToolCallId } from "./json-call.js";
import {
  fromToolParts,
  type OutputParser,
  type OutputParserOptions,
  type OutputPart,
} from "./output-parser.js";
import { ToolCallScanner } from "./tool-call-scanner.js";

export const HARMONY_START = "<|start|>";
export const HARMONY_CHANNEL = "<|channel|>";
export const HARMONY_MESSAGE = "<|message|>";
export const HARMONY_END = "<|end|>";
export const HARMONY_CALL = "<|call|>";
export const HARMONY_RETURN = "<|return|>";
export const HARMONY_CONSTRAIN = "<|constrain|>";

const BODY_ENDS = [HARMONY_END, HARMONY_CALL, HARMONY_RETURN, HARMONY_START];
/** A header longer than this without `<|message|>` is not one. */
const MAX_HEADER = 256;

/**
 * gpt-oss's harmony format: the reply is a run of messages, each a header and a body,
 * `<|channel|>analysis<|message|>…<|end|><|start|>assistant<|channel|>final<|message|>…`. The
 * `analysis` channel is the reasoning, `final` (and `commentary` without a recipient, the
 * model's preambles) the answer, and a message to `functions.NAME` a tool call whose body is the
 * arguments: `<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{…}<|call|>`.
 * Output that never opens a channel (a grammar-forced `<tool_call>`) is read as a plain answer.
 */
export class HarmonyParser implements OutputParser {
  private mode: "header" | "body" | "plain" = "header";
  private pending = "";
  private body: { kind: "reasoning" | "content" } | { kind: "call"; index: number } = { kind: "content" };
  private calls = 0;
  private readonly plain: ToolCallScanner | undefined;

  constructor(private readonly options: OutputParserOptions) {
    this.plain = options.parseToolCalls ? new ToolCallScanner([hermesCalls]) : undefined;
  }

  get isReasoning(): boolean {
    return this.mode === "body" && this.body.kind === "reasoning";
  }

  get inHermesCall(): boolean {
    return this.plain?.openSyntax === hermesCalls;
  }

  get callCount(): number {
    return this.calls + (this.plain?.callCount ?? 0);
  }

  push(text: string): OutputPart[] {
    this.pending += text;
    const parts: OutputPart[] = [];
    for (;;) {
      const before = `${this.mode}:${this.pending.length}`;
      this.step(parts);
      if (`${this.mode}:${this.pending.length}` === before) return parts;
    }
  }

  finish(): OutputPart[] {
    const parts: OutputPart[] = [];
    if (this.mode === "body") this.emitBody(parts, this.pending);
    else if (this.mode === "plain" || this.pending.trim()) this.emitPlain(parts, this.pending);
    this.pending = "";
    if (this.plain) parts.push(...fromToolParts(this.plain.finish()));
    return parts;
  }

  private step(parts: OutputPart[]): void {
    if (this.mode === "plain") {
      this.emitPlain(parts, this.pending);
      this.pending = "";
      return;
    }
    if (this.mode === "header") {
      const trimmed = this.pending.trimStart();
      const opensHeader = [HARMONY_START, HARMONY_CHANNEL].some(
        (marker) => trimmed.startsWith(marker) || marker.startsWith(trimmed),
      );
      if (!trimmed) return;
      if (!opensHeader) {
        this.mode = "plain";
        return;
      }
      const message = trimmed.indexOf(HARMONY_MESSAGE);
      if (message < 0) {
        if (trimmed.length > MAX_HEADER) this.mode = "plain";
        return;
      }
      this.openBody(parts, trimmed.slice(0, message));
      this.pending = trimmed.slice(message + HARMONY_MESSAGE.length);
      this.mode = "body";
      return;
    }
    let end = -1;
    let marker = "";
    for (const candidate of BODY_ENDS) {
      const at = this.pending.indexOf(candidate);
      if (at >= 0 && (end < 0 || at < end)) [end, marker] = [at, candidate];
    }
    if (end >= 0) {
      this.emitBody(parts, this.pending.slice(0, end));
      // A new `<|start|>` belongs to the next header; the other markers end this message.
      this.pending = this.pending.slice(marker === HARMONY_START ? end : end + marker.length);
      this.mode = "header";
      return;
    }
    const keep = Math.max(...BODY_ENDS.map((candidate) => partialSuffixLength(this.pending, candidate)));
    this.emitBody(parts, this.pending.slice(0, this.pending.length - keep));
    this.pending = this.pending.slice(this.pending.length - keep);
  }

  private openBody(parts: OutputPart[], header: string): void {
    const channel = /<\|channel\|>\s*([\w-]+)/.exec(header)?.[1];
    const recipient = /\bto=([^\s<]+)/.exec(header)?.[1];
    if (recipient?.startsWith("functions.") && this.options.parseToolCalls) {
      const index = this.callCount;
      this.calls++;
      parts.push({
        kind: "call-start",
        index,
        id: newToolCallId(),
        name: recipient.slice("functions.".length),
      });
      this.body = { kind: "call", index };
    } else {
      this.body = { kind: channel === "analysis" ? "reasoning" : "content" };
    }
  }

  private emitBody(parts: OutputPart[], text: string): void {
    if (!text) return;
    if (this.body.kind === "call") {
      parts.push({ kind: "call-delta", index: this.body.index, argumentsDelta: text });
      return;
    }
    const kind = this.body.kind;
    const last = parts.at(-1);
    if (last && last.kind === kind) last.text += text;
    else parts.push({ kind, text });
  }

  private emitPlain(parts: OutputPart[], text: string): void {
    if (!text) return;
    if (this.plain) parts.push(...fromToolParts(this.plain.push(text)));
    else parts.push({ kind: "content", text });
  }
}
