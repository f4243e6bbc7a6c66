import { Template } from "@huggingface/jinja";
import { resolveChatWrapper, type ChatHistoryItem, type LlamaModel, type Token } from "node-llama-cpp";
import type { ChatMessage } from "../../core/chat.js";
import { InvalidRequestError } from "../../core/errors.js";
import { THINK_CLOSE, THINK_OPEN } from "../../core/reasoning-splitter.js";

export interface RenderedPrompt {
  tokens: Token[];
  /** The template already opened `<think>`, so the output starts inside the reasoning. */
  startsInReasoning: boolean;
}

/**
 * Renders messages with the chat template stored in the GGUF, exactly as written (as llama-server
 * does with --jinja). node-llama-cpp's own wrappers are not used for this when a template exists:
 * they swap in a look-alike wrapper (ChatML for a ChatML-like template) and drop the `<think>\n`
 * that DeepSeek-R1 distill templates put at the end of the prompt.
 */
export class PromptRenderer {
  private readonly template: Template | undefined;
  private readonly knowsThinkTags: boolean;

  constructor(private readonly model: LlamaModel) {
    const source = model.fileInfo.metadata.tokenizer?.chat_template;
    this.template = typeof source === "string" && source.length > 0 ? new Template(source) : undefined;
    // A reasoning model has `<think>` and `</think>` as single tokens of its vocabulary.
    this.knowsThinkTags =
      model.tokenize(THINK_OPEN, true).length === 1 && model.tokenize(THINK_CLOSE, true).length === 1;
  }

  render(messages: readonly ChatMessage[], thinking: boolean | undefined): RenderedPrompt {
    let text = this.template ? this.renderTemplate(messages) : this.renderWithWrapper(messages);
    let startsInReasoning = text.trimEnd().endsWith(THINK_OPEN);
    // Thinking off on a reasoning model: close an empty reasoning block, the way R1 distills and
    // Qwen3 are told to answer directly.
    if (thinking === false && this.knowsThinkTags) {
      text += startsInReasoning ? `\n\n${THINK_CLOSE}\n\n` : `${THINK_OPEN}\n\n${THINK_CLOSE}\n\n`;
      startsInReasoning = false;
    }
    const tokens = this.model.tokenize(text, true);
    const bos = this.model.tokens.bos;
    if (this.model.tokens.shouldPrependBosToken && bos !== null && tokens[0] !== bos) tokens.unshift(bos);
    return { tokens, startsInReasoning };
  }

  /** Templates may refuse a conversation (`raise_exception`); that is the client's 400, not a 500. */
  private renderTemplate(messages: readonly ChatMessage[]): string {
    try {
      return this.template!.render({
        messages: messages.map((message) => ({ role: message.role, content: message.content })),
        add_generation_prompt: true,
        bos_token: this.model.tokens.bosString ?? "",
        eos_token: this.model.tokens.eosString ?? "",
      });
    } catch (error) {
      throw new InvalidRequestError(
        "chat_template_error",
        `The model's chat template cannot render these messages: ${error instanceof Error ? error.message : String(error)}`,
        "messages",
      );
    }
  }

  /** Models without a template get node-llama-cpp's best guess for their architecture. */
  private renderWithWrapper(messages: readonly ChatMessage[]): string {
    const chatHistory: ChatHistoryItem[] = messages.map((message) => {
      if (message.role === "system") return { type: "system", text: message.content };
      if (message.role === "user") return { type: "user", text: message.content };
      return { type: "model", response: [message.content] };
    });
    chatHistory.push({ type: "model", response: [] });
    const wrapper = resolveChatWrapper(this.model, { warningLogs: false });
    return wrapper.generateContextState({ chatHistory }).contextText.toString();
  }
}
