import type { LlamaModel, Token } from "node-llama-cpp";
import { SliceClock } from "../../core/slice-clock.js";

/** A token llama.cpp parses from text only when asked to (`parse_special`). */
export interface ControlToken {
  token: Token;
  /** llama.cpp strips whitespace on these sides of the token when it parses it from text. */
  lstrip: boolean;
  rstrip: boolean;
}

/** What the engine needs to know of a model's vocabulary, read once when the model loads. */
export interface Vocabulary {
  /** Control tokens by their text. */
  controls: Map<string, ControlToken>;
  /** The most characters one token stands for, for lower bounds on a text's token count. */
  maxTokenCharacters: number;
  /** Tokens that hold only part of a UTF-8 character (byte tokens of byte-level vocabularies). */
  partialCharacterTokens: Token[];
}

/**
 * Reads every token of the vocabulary once, yielding to the event loop as it goes (a 150k
 * vocabulary takes ~0.6 s of native calls in all).
 */
export async function readVocabulary(model: LlamaModel): Promise<Vocabulary> {
  const controls = new Map<string, ControlToken>();
  const partialCharacterTokens: Token[] = [];
  let maxTokenCharacters = 1;
  const clock = new SliceClock();
  for (const token of model.iterateAllTokens()) {
    const attributes = model.getTokenAttributes(token);
    const text = model.detokenize([token], true);
    maxTokenCharacters = Math.max(maxTokenCharacters, text.length);
    // llama.cpp parses control and unknown-typed tokens only with parse_special; user-defined
    // ones (like `<think>` in some vocabularies) it matches in any text, so they count as text.
    if (attributes.control || attributes.unknown) {
      if (text.length > 0 && !controls.has(text)) {
        controls.set(text, { token, lstrip: attributes.lstrip, rstrip: attributes.rstrip });
      }
    } else if (text.includes("\uFFFD")) {
      partialCharacterTokens.push(token);
    }
    await clock.maybeYield();
  }
  return { controls, maxTokenCharacters, partialCharacterTokens };
}
