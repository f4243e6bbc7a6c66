import type { LlamaModel, Token } from "node-llama-cpp";

/**
 * Turns generated tokens into text as they come. A token may hold part of a UTF-8 character
 * (byte-level vocabularies split emoji and CJK), so text is released only once it decodes cleanly.
 */
export class TokenTextDecoder {
  private pending: Token[] = [];
  private committed: Token[] = [];

  constructor(private readonly model: LlamaModel) {}

  push(token: Token): string {
    this.pending.push(token);
    const text = this.model.detokenize(this.pending, false, this.committed.slice(-8));
    // An incomplete character decodes to U+FFFD; wait up to 4 tokens (the longest UTF-8 sequence).
    if (text.endsWith("\uFFFD") && this.pending.length < 4) return "";
    this.committed.push(...this.pending);
    this.pending = [];
    return text;
  }

  flush(): string {
    if (this.pending.length === 0) return "";
    const text = this.model.detokenize(this.pending, false, this.committed.slice(-8));
    this.committed.push(...this.pending);
    this.pending = [];
    return text;
  }
}
