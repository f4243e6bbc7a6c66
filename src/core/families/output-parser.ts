import { ReasoningSplitter, type ReasoningTags, type SplitPart } from "../reasoning-splitter.js";
import { hermesCalls } from "./call-syntaxes.js";
import type { ToolCallPart } from "./json-call.js";
import { ToolCallScanner, type CallSyntax } from "./tool-call-scanner.js";

/** A piece of a model's output, as the reply builder turns it into chat events. */
export type OutputPart =
  | { kind: "reasoning"; text: string }
  | { kind: "content"; text: string }
  | { kind: "call-start"; index: number; id: string; name: string }
  | { kind: "call-delta"; index: number; argumentsDelta: string };

/** Reads one reply's raw text as it streams: reasoning, answer and tool calls. */
export interface OutputParser {
  push(text: string): OutputPart[];
  /** Flushes what is held back at the end of generation. */
  finish(): OutputPart[];
  /** Inside the reasoning now (counts reasoning tokens, and the thinking budget). */
  readonly isReasoning: boolean;
  /** Inside a `<tool_call>` block, the syntax qiusuo's lazy tool grammar holds to. */
  readonly inHermesCall: boolean;
  readonly callCount: number;
}

export interface OutputParserOptions {
  /** Where the output starts: inside reasoning the prompt opened, in the answer, or not known. */
  startsIn: "undecided" | "reasoning" | "content";
  /** Read tool calls in the answer; otherwise it is all text. */
  parseToolCalls: boolean;
}

/** Families whose reasoning is a tagged block before the answer and whose calls are markup in it. */
export class MarkupOutputParser implements OutputParser {
  private readonly splitter: ReasoningSplitter;
  private readonly tools: ToolCallScanner | undefined;

  constructor(tags: ReasoningTags, syntaxes: readonly CallSyntax[], options: OutputParserOptions) {
    this.splitter = new ReasoningSplitter({ startsIn: options.startsIn, tags });
    this.tools = options.parseToolCalls ? new ToolCallScanner(syntaxes) : undefined;
  }

  get isReasoning(): boolean {
    return this.splitter.isReasoning;
  }

  get inHermesCall(): boolean {
    return this.tools?.openSyntax === hermesCalls;
  }

  get callCount(): number {
    return this.tools?.callCount ?? 0;
  }

  push(text: string): OutputPart[] {
    return this.calls(this.splitter.push(text));
  }

  finish(): OutputPart[] {
    const parts = this.calls(this.splitter.finish());
    if (this.tools) parts.push(...fromToolParts(this.tools.finish()));
    return parts;
  }

  private calls(parts: SplitPart[]): OutputPart[] {
    if (!this.tools) return parts as OutputPart[];
    return parts.flatMap((part): OutputPart[] =>
      part.kind === "reasoning"
        ? [{ kind: "reasoning", text: part.text }]
        : fromToolParts(this.tools!.push(part.text)),
    );
  }
}

export function fromToolParts(parts: ToolCallPart[]): OutputPart[] {
  return parts.map((part) => (part.kind === "text" ? { kind: "content", text: part.text } : part));
}
