import type { LlamaModel, Token } from "node-llama-cpp";
import { SliceClock } from "../../core/slice-clock.js";
import type { ControlToken, Vocabulary } from "./vocabulary.js";

/** A part of the rendered prompt that came from a message (user text): never control tokens. */
export interface TextSpan {
  start: number;
  end: number;
}

/** Stops tokenizing once the prompt is known to exceed this many tokens. */
export class PromptTooLongError extends Error {
  override readonly name = "PromptTooLongError";
  constructor(
    /** Tokens counted (or, for a text too long to tokenize whole, estimated) before stopping. */
    readonly atLeast: number,
  ) {
    super(`The prompt has at least ${atLeast} tokens.`);
  }
}

/** A text fragment longer than this is first counted in windows, so a huge one is refused early. */
const WINDOW_CHARACTERS = 16_384;

/**
 * Tokenizes rendered prompts so that only the chat template's own markup becomes control tokens.
 *
 * llama.cpp's `parse_special` tokenization splits the text at every control-token text and
 * tokenizes the pieces between as plain text. This does the same split itself, but only in the
 * template's parts: inside a span that came from a message, `<|im_end|>` is eight characters of
 * text, as the user typed it. Tokens are therefore identical to llama.cpp's for prompts without
 * such text, and no message can close its turn or open a system turn.
 *
 * The work is bounded and shared with the event loop: the split is linear (llama.cpp's own is
 * quadratic in the number of pieces: 30,000 short messages took 10 s in one call), tokenizing
 * yields every few milliseconds, and it stops as soon as the prompt exceeds `limit`.
 */
export class PromptTokenizer {
  private readonly controls: ReadonlyMap<string, ControlToken>;
  private readonly pattern: RegExp | undefined;
  /** The most characters one token stands for, for lower bounds on a text's token count. */
  readonly maxTokenCharacters: number;

  constructor(
    private readonly model: LlamaModel,
    vocabulary: Vocabulary,
  ) {
    this.controls = vocabulary.controls;
    this.maxTokenCharacters = vocabulary.maxTokenCharacters;
    // Longest first: the alternation then matches the longest control text at each position.
    const texts = [...this.controls.keys()].sort((a, b) => b.length - a.length).map(escapeRegExp);
    this.pattern = texts.length > 0 ? new RegExp(texts.join("|"), "g") : undefined;
  }

  /**
   * Breaks up every control-token text in `text` with a zero-width space after its first
   * character, for user strings that a template prints itself (tool names, ids, arguments).
   */
  defang(text: string): string {
    if (!this.pattern) return text;
    return text.replace(this.pattern, (match) => `${match[0]}\u200B${match.slice(1)}`);
  }

  /**
   * The tokens of `text`, where control-token texts count only outside `spans` (sorted, disjoint).
   * Throws PromptTooLongError once more than `limit` tokens are certain.
   */
  async tokenize(text: string, spans: readonly TextSpan[], limit = Infinity): Promise<Token[]> {
    const tokens: Token[] = [];
    const clock = new SliceClock();
    let fragmentStart = 0;
    let stripNext = false;
    for (const { start, end, control } of await this.controlsOutside(text, spans, clock)) {
      let fragment = text.slice(fragmentStart, start);
      if (stripNext) fragment = fragment.trimStart();
      if (control.lstrip) fragment = fragment.trimEnd();
      await this.pushText(tokens, fragment, limit, clock);
      tokens.push(control.token);
      if (tokens.length > limit) throw new PromptTooLongError(tokens.length);
      fragmentStart = end;
      stripNext = control.rstrip;
    }
    let rest = text.slice(fragmentStart);
    if (stripNext) rest = rest.trimStart();
    await this.pushText(tokens, rest, limit, clock);
    return tokens;
  }

  /** Plain text (no control tokens at all), bounded and yielding like `tokenize`. */
  async tokenizeText(text: string, limit = Infinity): Promise<Token[]> {
    const tokens: Token[] = [];
    await this.pushText(tokens, text, limit, new SliceClock());
    return tokens;
  }

  /** Control-token occurrences in the template's parts of `text`, in order. */
  private async controlsOutside(text: string, spans: readonly TextSpan[], clock: SliceClock) {
    const found: Array<{ start: number; end: number; control: ControlToken }> = [];
    if (!this.pattern) return found;
    const regions: TextSpan[] = [];
    let at = 0;
    for (const span of spans) {
      if (span.start > at) regions.push({ start: at, end: span.start });
      at = Math.max(at, span.end);
    }
    if (at < text.length) regions.push({ start: at, end: text.length });
    for (const region of regions) {
      const part = text.slice(region.start, region.end);
      this.pattern.lastIndex = 0;
      for (let match = this.pattern.exec(part); match; match = this.pattern.exec(part)) {
        const start = region.start + match.index;
        found.push({ start, end: start + match[0].length, control: this.controls.get(match[0])! });
      }
      await clock.maybeYield();
    }
    return found;
  }

  private async pushText(tokens: Token[], text: string, limit: number, clock: SliceClock): Promise<void> {
    if (text.length === 0) return;
    const room = limit - tokens.length;
    // Every token stands for at most maxTokenCharacters characters: a longer text cannot fit.
    if (text.length > room * this.maxTokenCharacters) {
      throw new PromptTooLongError(tokens.length + Math.ceil(text.length / this.maxTokenCharacters));
    }
    if (text.length > WINDOW_CHARACTERS && Number.isFinite(limit)) {
      // Count a long text in windows first (a few tokens off at each cut), refusing it as soon as
      // it cannot fit; only a text that may fit is tokenized whole, which keeps the one
      // uninterrupted native call to about a context's worth of text.
      let estimate = 0;
      for (const window of windows(text)) {
        estimate += this.model.tokenize(window, false).length - 2;
        if (estimate > room) throw new PromptTooLongError(tokens.length + estimate);
        await clock.maybeYield();
      }
    }
    const piece = this.model.tokenize(text, false);
    for (const token of piece) tokens.push(token);
    if (tokens.length > limit) throw new PromptTooLongError(tokens.length);
    await clock.maybeYield();
  }
}

/** Cuts `text` into windows of about WINDOW_CHARACTERS, at whitespace where there is some. */
function* windows(text: string): Generator<string> {
  let start = 0;
  while (start < text.length) {
    let end = Math.min(text.length, start + WINDOW_CHARACTERS);
    if (end < text.length) {
      const space = text.lastIndexOf(" ", end);
      if (space > start + WINDOW_CHARACTERS / 2) end = space;
      else if (isLowSurrogate(text.charCodeAt(end))) end--; // never split a surrogate pair
    }
    yield text.slice(start, end);
    start = end;
  }
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
