import type { ChatHistoryItem, ChatWrapper, LlamaModel, Token } from "node-llama-cpp";
import type { ChatMessage } from "../../core/chat.js";
import { THINK_CLOSE, THINK_OPEN } from "../../core/reasoning-splitter.js";

export interface RenderedPrompt {
  tokens: Token[];
  /** The template already opened `<think>`, so the output starts inside the reasoning. */
  startsInReasoning: boolean;
}

/**
 * Renders messages with the model's own chat template (from the GGUF) into tokens.
 * Earlier reasoning is not replayed: R1-style templates drop it from the history.
 */
export function renderPrompt(
  model: LlamaModel,
  chatWrapper: ChatWrapper,
  messages: readonly ChatMessage[],
  thinking: boolean | undefined,
): RenderedPrompt {
  const chatHistory: ChatHistoryItem[] = messages.map((message) => {
    if (message.role === "system") return { type: "system", text: message.content };
    if (message.role === "user") return { type: "user", text: message.content };
    return { type: "model", response: [message.content] };
  });
  chatHistory.push({ type: "model", response: [] });
  const { contextText } = chatWrapper.generateContextState({ chatHistory });
  const tokens = contextText.tokenize(model.tokenizer);
  const tail = model.detokenize(tokens.slice(-4), true).trimEnd();
  let startsInReasoning = tail.endsWith(THINK_OPEN);

  // Thinking off on a thinking model: close an empty reasoning block, the way R1 distills and
  // Qwen3 are told to answer directly.
  if (thinking === false && knowsThinkTags(model)) {
    const closing = startsInReasoning ? `\n\n${THINK_CLOSE}\n\n` : `${THINK_OPEN}\n\n${THINK_CLOSE}\n\n`;
    tokens.push(...model.tokenize(closing, true));
    startsInReasoning = false;
  }
  return { tokens, startsInReasoning };
}

const thinkTagSupport = new WeakMap<LlamaModel, boolean>();

/** Whether `<think>` and `</think>` are single tokens of the vocabulary (a reasoning model). */
export function knowsThinkTags(model: LlamaModel): boolean {
  let known = thinkTagSupport.get(model);
  if (known === undefined) {
    known = model.tokenize(THINK_OPEN, true).length === 1 && model.tokenize(THINK_CLOSE, true).length === 1;
    thinkTagSupport.set(model, known);
  }
  return known;
}
