import type { LlamaModel, Token } from "node-llama-cpp";

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

/** Tokens read between two turns of the event loop (a 150k vocabulary takes ~0.6 s in all). */
const TOKENS_PER_SLICE = 4096;

/** Reads every token of the vocabulary once, yielding to the event loop as it goes. */
export async function readVocabulary(model: LlamaModel): Promise<Vocabulary> {
  const controls = new Map<string, ControlToken>();
  const partialCharacterTokens: Token[] = [];
  let maxTokenCharacters = 1;
  let read = 0;
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
    if (++read % TOKENS_PER_SLICE === 0) await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return { controls, maxTokenCharacters, partialCharacterTokens };
}
