import { Template } from "@huggingface/jinja";
import { resolveChatWrapper, type ChatHistoryItem, type LlamaModel, type Token } from "node-llama-cpp";
import type { ChatMessage, ToolCall, ToolDefinition } from "../../core/chat.js";
import { InvalidRequestError } from "../../core/errors.js";
import { THINK_CLOSE, THINK_OPEN } from "../../core/reasoning-splitter.js";
import { TOOL_CALL_CLOSE, TOOL_CALL_OPEN } from "../../core/tool-call-parser.js";

export interface RenderedPrompt {
  tokens: Token[];
  /** Where the output starts: inside reasoning the template (or a prefix) opened, or in the answer. */
  startsIn: "undecided" | "reasoning" | "content";
}

export interface PromptInput {
  messages: readonly ChatMessage[];
  /** Tools to show the model; empty when it may not call any. */
  tools: readonly ToolDefinition[];
  thinking: boolean | undefined;
}

/**
 * Renders messages with the chat template stored in the GGUF, exactly as written (as llama-server
 * does with --jinja). node-llama-cpp's own wrappers are not used for this when a template exists:
 * they swap in a look-alike wrapper (ChatML for a ChatML-like template) and drop the `<think>\n`
 * that DeepSeek-R1 distill templates put at the end of the prompt.
 *
 * Tools go to the template as `tools` when it knows them (Qwen, Hermes, Llama 3.1 templates do);
 * otherwise they are described in the system prompt in the `<tool_call>` convention, and earlier
 * calls and results are written in that convention too.
 */
export class PromptRenderer {
  private readonly template: Template | undefined;
  private readonly templateKnowsTools: boolean;
  private readonly knowsThinkTags: boolean;

  constructor(private readonly model: LlamaModel) {
    const source = model.fileInfo.metadata.tokenizer?.chat_template;
    this.template = typeof source === "string" && source.length > 0 ? new Template(source) : undefined;
    this.templateKnowsTools =
      typeof source === "string" && /\btools\b/.test(source) && /tool_calls?\b/.test(source);
    // A reasoning model has `<think>` and `</think>` as single tokens of its vocabulary.
    this.knowsThinkTags =
      model.tokenize(THINK_OPEN, true).length === 1 && model.tokenize(THINK_CLOSE, true).length === 1;
  }

  render(input: PromptInput): RenderedPrompt {
    const last = input.messages.at(-1);
    const prefix = last?.role === "assistant" && last.prefix ? last : undefined;
    const history = prefix ? input.messages.slice(0, -1) : input.messages;
    let text = this.template ? this.renderTemplate(history, input.tools) : this.renderWithWrapper(history);
    let startsIn: RenderedPrompt["startsIn"] = text.trimEnd().endsWith(THINK_OPEN)
      ? "reasoning"
      : "undecided";

    if (prefix) {
      // Chat prefix completion: the model continues the given reasoning and/or answer.
      if (prefix.reasoning !== undefined && !prefix.content) {
        text += startsIn === "reasoning" ? prefix.reasoning : `${THINK_OPEN}\n${prefix.reasoning}`;
        startsIn = "reasoning";
      } else {
        if (prefix.reasoning !== undefined) {
          text += `${startsIn === "reasoning" ? "" : `${THINK_OPEN}\n`}${prefix.reasoning}\n${THINK_CLOSE}\n\n`;
        } else if (startsIn === "reasoning") {
          text += `\n\n${THINK_CLOSE}\n\n`;
        }
        text += prefix.content;
        startsIn = "content";
      }
    } else if (input.thinking === false && this.knowsThinkTags) {
      // Thinking off on a reasoning model: close an empty reasoning block, the way R1 distills and
      // Qwen3 are told to answer directly.
      text += startsIn === "reasoning" ? `\n\n${THINK_CLOSE}\n\n` : `${THINK_OPEN}\n\n${THINK_CLOSE}\n\n`;
      // Undecided, not "content": leading whitespace is trimmed as usual, and a model that
      // thinks anyway still has its reasoning split out rather than mixed into the answer.
      startsIn = "undecided";
    }
    const tokens = this.model.tokenize(text, true);
    const bos = this.model.tokens.bos;
    if (this.model.tokens.shouldPrependBosToken && bos !== null && tokens[0] !== bos) tokens.unshift(bos);
    return { tokens, startsIn };
  }

  /** Templates may refuse a conversation (`raise_exception`); that is the client's 400, not a 500. */
  private renderTemplate(messages: readonly ChatMessage[], tools: readonly ToolDefinition[]): string {
    const native = this.templateKnowsTools;
    const rendered = native ? messages.map(toTemplateMessage) : withToolsInText(messages, tools);
    try {
      return this.template!.render({
        messages: rendered,
        ...(native && tools.length > 0 ? { tools: tools.map(toTemplateTool) } : {}),
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
    const chatHistory: ChatHistoryItem[] = withToolsInText(messages, []).map((message) => {
      if (message.role === "system") return { type: "system", text: message.content };
      if (message.role === "user") return { type: "user", text: message.content };
      return { type: "model", response: [message.content] };
    });
    chatHistory.push({ type: "model", response: [] });
    const wrapper = resolveChatWrapper(this.model, { warningLogs: false });
    return wrapper.generateContextState({ chatHistory }).contextText.toString();
  }
}

type TemplateMessage = { role: string; content: string; [key: string]: unknown };

/** The shape Hugging Face chat templates expect: arguments as objects, tool results with ids. */
function toTemplateMessage(message: ChatMessage): TemplateMessage {
  if (message.role === "tool")
    return { role: "tool", content: message.content, tool_call_id: message.toolCallId };
  if (message.role === "assistant" && message.toolCalls?.length) {
    return {
      role: "assistant",
      content: message.content,
      tool_calls: message.toolCalls.map((call) => ({
        id: call.id,
        type: "function",
        function: { name: call.name, arguments: parseArguments(call) },
      })),
    };
  }
  return { role: message.role, content: message.content };
}

function toTemplateTool(tool: ToolDefinition) {
  return {
    type: "function",
    function: { name: tool.name, description: tool.description ?? "", parameters: tool.parameters },
  };
}

function parseArguments(call: ToolCall): unknown {
  try {
    return JSON.parse(call.arguments);
  } catch {
    return call.arguments;
  }
}

/**
 * For templates that know nothing of tools: describe them in the system prompt, write earlier
 * calls as `<tool_call>` blocks and results as `<tool_response>` blocks from the user.
 */
function withToolsInText(
  messages: readonly ChatMessage[],
  tools: readonly ToolDefinition[],
): TemplateMessage[] {
  const out: TemplateMessage[] = messages.map((message) => {
    if (message.role === "tool") {
      return { role: "user", content: `<tool_response>\n${message.content}\n</tool_response>` };
    }
    if (message.role === "assistant" && message.toolCalls?.length) {
      const calls = message.toolCalls
        .map(
          (call) =>
            `${TOOL_CALL_OPEN}\n${JSON.stringify({ name: call.name, arguments: parseArguments(call) })}\n${TOOL_CALL_CLOSE}`,
        )
        .join("\n");
      return { role: "assistant", content: [message.content, calls].filter(Boolean).join("\n") };
    }
    return { role: message.role, content: message.content };
  });
  if (tools.length === 0) return out;
  const instructions = toolInstructions(tools);
  const system = out[0]?.role === "system" ? out[0] : undefined;
  if (system) system.content = `${system.content}\n\n${instructions}`;
  else out.unshift({ role: "system", content: instructions });
  return out;
}

function toolInstructions(tools: readonly ToolDefinition[]): string {
  const signatures = tools.map((tool) => JSON.stringify(toTemplateTool(tool))).join("\n");
  return [
    "# Tools",
    "",
    "You may call one or more functions to assist with the user query.",
    "",
    "You are provided with function signatures within <tools></tools> XML tags:",
    "<tools>",
    signatures,
    "</tools>",
    "",
    "For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:",
    "<tool_call>",
    '{"name": <function-name>, "arguments": <args-json-object>}',
    "</tool_call>",
  ].join("\n");
}
