import { Template } from "@huggingface/jinja";
import { randomBytes } from "node:crypto";
import { resolveChatWrapper, type ChatHistoryItem, type LlamaModel, type Token } from "node-llama-cpp";
import type { ChatMessage, ToolCall, ToolDefinition } from "../../core/chat.js";
import { InvalidRequestError } from "../../core/errors.js";
import { THINKING_BUDGETS } from "../../core/families/thinking-budget.js";
import { THINK_CLOSE, THINK_OPEN } from "../../core/reasoning-splitter.js";
import { TOOL_CALL_CLOSE, TOOL_CALL_OPEN } from "../../core/tool-call-parser.js";
import { PromptTokenizer, type TextSpan } from "./prompt-tokenizer.js";
import { TemplateRenderError, templateThread } from "./template-thread.js";
import type { Vocabulary } from "./vocabulary.js";

/** Conversations up to this many messages render inline (well under a millisecond each). */
const INLINE_MESSAGES = 64;

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
  /** The thinking budget, told to templates that take a reasoning effort (gpt-oss). */
  thinkingBudget?: number;
  /** Refuse (PromptTooLongError) once the prompt is known to take more tokens than this. */
  limit?: number;
}

/** The prompt as text, and which parts of it came from messages rather than from the template. */
interface PromptText {
  text: string;
  spans: TextSpan[];
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
 *
 * Message text never becomes control tokens: the template is rendered a second time with a
 * marker in place of each message's content, which tells the template's markup from the
 * messages', and PromptTokenizer parses control tokens in the markup only. Other strings a
 * template prints itself (tool names, call ids, arguments, tool descriptions) have any
 * control-token text broken up first.
 */
export class PromptRenderer {
  private readonly template: Template | undefined;
  private readonly templateSource: string | undefined;
  private readonly templateKnowsTools: boolean;
  private readonly knowsThinkTags: boolean;
  private contentsAsGiven: boolean | undefined;
  readonly tokenizer: PromptTokenizer;

  constructor(
    private readonly model: LlamaModel,
    vocabulary: Vocabulary,
  ) {
    const source = model.fileInfo.metadata.tokenizer?.chat_template;
    this.templateSource =
      typeof source === "string" && source.length > 0 ? joinContinuedLines(source) : undefined;
    this.template = this.templateSource ? new Template(this.templateSource) : undefined;
    this.templateKnowsTools =
      typeof source === "string" && /\btools\b/.test(source) && /tool_calls?\b/.test(source);
    // A reasoning model has `<think>` and `</think>` as single tokens of its vocabulary.
    this.knowsThinkTags =
      model.tokenize(THINK_OPEN, true).length === 1 && model.tokenize(THINK_CLOSE, true).length === 1;
    this.tokenizer = new PromptTokenizer(model, vocabulary);
  }

  async render(input: PromptInput): Promise<RenderedPrompt> {
    const last = input.messages.at(-1);
    const prefix = last?.role === "assistant" && last.prefix ? last : undefined;
    const history = prefix ? input.messages.slice(0, -1) : input.messages;
    const prompt = await this.renderText(history, input.tools, {
      thinking: input.thinking,
      effort: effortOf(input),
    });
    let startsIn: RenderedPrompt["startsIn"] = prompt.text.trimEnd().endsWith(THINK_OPEN)
      ? "reasoning"
      : "undecided";
    const append = (text: string, fromMessage = false) => {
      if (fromMessage && text.length > 0) {
        prompt.spans.push({ start: prompt.text.length, end: prompt.text.length + text.length });
      }
      prompt.text += text;
    };

    if (prefix) {
      // Chat prefix completion: the model continues the given reasoning and/or answer.
      if (prefix.reasoning !== undefined && !prefix.content) {
        if (startsIn !== "reasoning") append(`${THINK_OPEN}\n`);
        append(prefix.reasoning, true);
        startsIn = "reasoning";
      } else {
        if (prefix.reasoning !== undefined) {
          if (startsIn !== "reasoning") append(`${THINK_OPEN}\n`);
          append(prefix.reasoning, true);
          append(`\n${THINK_CLOSE}\n\n`);
        } else if (startsIn === "reasoning") {
          append(`\n\n${THINK_CLOSE}\n\n`);
        }
        append(prefix.content, true);
        startsIn = "content";
      }
    } else if (
      input.thinking === false &&
      this.knowsThinkTags &&
      !prompt.text.trimEnd().endsWith(THINK_CLOSE)
    ) {
      // Thinking off on a reasoning model whose template did not close the reasoning itself (as
      // Qwen3's and DeepSeek V3.1's do when told): close an empty block, the way R1 distills and
      // Qwen3 are told to answer directly.
      append(startsIn === "reasoning" ? `\n\n${THINK_CLOSE}\n\n` : `${THINK_OPEN}\n\n${THINK_CLOSE}\n\n`);
      // Undecided, not "content": leading whitespace is trimmed as usual, and a model that
      // thinks anyway still has its reasoning split out rather than mixed into the answer.
      startsIn = "undecided";
    }
    const bos = this.model.tokens.bos;
    const withBos = this.model.tokens.shouldPrependBosToken && bos !== null;
    const limit = (input.limit ?? Infinity) - (withBos ? 1 : 0);
    const tokens = await this.tokenizer.tokenize(prompt.text, prompt.spans, limit);
    if (withBos && tokens[0] !== bos) tokens.unshift(bos);
    return { tokens, startsIn };
  }

  /**
   * The rendered text with the spans that hold message contents. The template is rendered with a
   * marker in place of each content, and the contents are put back where the markers are. A
   * template that may change contents (trim them, or cut at `</think>` as R1 templates do) is
   * also rendered as is, and the real text is used wherever each content is found between the
   * parts around its marker. One that changed a content beyond that keeps the marked rendering
   * with the contents as given: faithful to the user's text, never to control tokens inside it.
   */
  private async renderText(
    messages: readonly ChatMessage[],
    tools: readonly ToolDefinition[],
    thinking: ThinkingSettings,
  ): Promise<PromptText> {
    const nonce = randomBytes(6).toString("hex");
    const contents: string[] = [];
    const marked = messages.map((message) => {
      if (message.content.length === 0) return message;
      contents.push(message.content);
      return { ...message, content: `\uE000${nonce}:${contents.length - 1}\uE001` };
    });
    const render = (list: readonly ChatMessage[]) =>
      this.template && list.length > INLINE_MESSAGES
        ? this.renderOnThread(list, tools, thinking)
        : this.renderMessages(list, tools, thinking);
    const pieces = (await render(marked)).split(new RegExp(`\uE000${nonce}:(\\d+)\uE001`));
    if (this.printsContentsAsGiven()) return reassemble(pieces, contents);
    return locateContents(await render(messages), pieces, contents) ?? reassemble(pieces, contents);
  }

  private renderMessages(
    messages: readonly ChatMessage[],
    tools: readonly ToolDefinition[],
    thinking: ThinkingSettings,
  ): string {
    if (!this.template) return this.renderWithWrapper(messages);
    try {
      return this.template.render(this.templateContext(messages, tools, thinking));
    } catch (error) {
      throw templateError(error);
    }
  }

  /** Long conversations render on a worker thread, so the event loop keeps serving meanwhile. */
  private async renderOnThread(
    messages: readonly ChatMessage[],
    tools: readonly ToolDefinition[],
    thinking: ThinkingSettings,
  ): Promise<string> {
    try {
      return await templateThread.render(
        this.templateSource!,
        this.templateContext(messages, tools, thinking),
      );
    } catch (error) {
      throw error instanceof TemplateRenderError ? templateError(error) : error;
    }
  }

  /**
   * Whether the template prints every content exactly as given, tried once on a conversation
   * that a trimming or reasoning-stripping template would change. Most do; those that do not
   * cost a second rendering per request.
   */
  private printsContentsAsGiven(): boolean {
    if (this.contentsAsGiven === undefined) {
      const probe: ChatMessage[] = [
        { role: "system", content: " system \n" },
        { role: "user", content: "\n user " },
        { role: "assistant", content: ` ${THINK_OPEN}reasoning${THINK_CLOSE} answer \n` },
        { role: "user", content: " question\n" },
      ];
      try {
        const pieces = this.renderMessages(
          probe.map((message, index) => ({ ...message, content: `\uE000${index}\uE001` })),
          [],
          NO_THINKING_SETTINGS,
        ).split(/\uE000(\d+)\uE001/);
        const contents = probe.map((message) => message.content);
        this.contentsAsGiven =
          reassemble(pieces, contents).text === this.renderMessages(probe, [], NO_THINKING_SETTINGS);
      } catch {
        this.contentsAsGiven = false;
      }
    }
    return this.contentsAsGiven;
  }

  /**
   * What the template is rendered with. DeepThink on or off goes to the variables templates read
   * it from: `enable_thinking` (Qwen3, GLM, SmolLM3), `thinking` (DeepSeek V3.1, Granite), and
   * gpt-oss's `reasoning_effort` (its lowest when off, as it cannot turn reasoning off).
   * Undefined leaves the template's default.
   */
  private templateContext(
    messages: readonly ChatMessage[],
    tools: readonly ToolDefinition[],
    { thinking, effort }: ThinkingSettings,
  ) {
    const native = this.templateKnowsTools;
    const defang = (text: string) => this.tokenizer.defang(text);
    const rendered = native
      ? messages.map((message) => toTemplateMessage(message, defang))
      : withToolsInText(messages, tools, defang);
    return {
      messages: rendered,
      ...(native && tools.length > 0 ? { tools: tools.map((tool) => toTemplateTool(tool, defang)) } : {}),
      add_generation_prompt: true,
      ...(thinking === undefined ? {} : { enable_thinking: thinking, thinking }),
      ...(effort ? { reasoning_effort: effort } : {}),
      bos_token: this.model.tokens.bosString ?? "",
      eos_token: this.model.tokens.eosString ?? "",
    };
  }

  /** Models without a template get node-llama-cpp's best guess for their architecture. */
  private renderWithWrapper(messages: readonly ChatMessage[]): string {
    const defang = (text: string) => this.tokenizer.defang(text);
    const chatHistory: ChatHistoryItem[] = withToolsInText(messages, [], defang).map((message) => {
      if (message.role === "system") return { type: "system", text: message.content };
      if (message.role === "user") return { type: "user", text: message.content };
      return { type: "model", response: [message.content] };
    });
    chatHistory.push({ type: "model", response: [] });
    const wrapper = resolveChatWrapper(this.model, { warningLogs: false });
    return wrapper.generateContextState({ chatHistory }).contextText.toString();
  }
}

/**
 * Finds each content in the real rendering between the template parts of the marked one
 * (`pieces`: text, marker index, text, ...). Undefined when the template changed a content in a
 * way not recognised, or printed the parts differently once the contents were real.
 */
function locateContents(real: string, pieces: string[], contents: readonly string[]): PromptText | undefined {
  const spans: TextSpan[] = [];
  let at = 0;
  for (let index = 0; index < pieces.length; index += 2) {
    const piece = pieces[index]!;
    if (!real.startsWith(piece, at)) return undefined;
    at += piece.length;
    if (index + 1 >= pieces.length) break;
    const content = contents[Number(pieces[index + 1])]!;
    const next = pieces[index + 2]!;
    const shown = printedForms(content).find(
      (form) => real.startsWith(form, at) && real.startsWith(next, at + form.length),
    );
    if (shown === undefined) return undefined;
    if (shown.length > 0) spans.push({ start: at, end: at + shown.length });
    at += shown.length;
  }
  return at === real.length ? { text: real, spans } : undefined;
}

/** How templates print a content: as given, trimmed, or only what follows the reasoning. */
function printedForms(content: string): string[] {
  const answer = content.includes(THINK_CLOSE) ? content.split(THINK_CLOSE).at(-1)! : content;
  return [
    ...new Set([content, content.trim(), answer, answer.trim(), content.trimStart(), content.trimEnd()]),
  ];
}

function reassemble(pieces: string[], contents: readonly string[]): PromptText {
  let text = "";
  const spans: TextSpan[] = [];
  pieces.forEach((piece, index) => {
    if (index % 2 === 0) {
      text += piece;
      return;
    }
    const content = contents[Number(piece)]!;
    spans.push({ start: text.length, end: text.length + content.length });
    text += content;
  });
  return { text, spans };
}

/** Templates may refuse a conversation (`raise_exception`); that is the client's 400, not a 500. */
function templateError(error: unknown): unknown {
  if (error instanceof InvalidRequestError) return error;
  return new InvalidRequestError(
    "chat_template_error",
    `The model's chat template cannot render these messages: ${error instanceof Error ? error.message : String(error)}`,
    "messages",
  );
}

type TemplateMessage = { role: string; content: string; [key: string]: unknown };
type Defang = (text: string) => string;

/** The shape Hugging Face chat templates expect: arguments as objects, tool results with ids. */
function toTemplateMessage(message: ChatMessage, defang: Defang): TemplateMessage {
  if (message.role === "tool")
    return { role: "tool", content: message.content, tool_call_id: defang(message.toolCallId) };
  if (message.role === "assistant" && message.toolCalls?.length) {
    return {
      role: "assistant",
      content: message.content,
      tool_calls: message.toolCalls.map((call) => ({
        id: defang(call.id),
        type: "function",
        function: { name: defang(call.name), arguments: defangDeep(parseArguments(call), defang) },
      })),
    };
  }
  return { role: message.role, content: message.content };
}

function toTemplateTool(tool: ToolDefinition, defang: Defang) {
  return defangDeep(
    {
      type: "function",
      function: { name: tool.name, description: tool.description ?? "", parameters: tool.parameters },
    },
    defang,
  );
}

/** Every string (and key) of a JSON value, defanged (the protocols bound how deep client JSON nests). */
function defangDeep<Value>(value: Value, defang: Defang): Value {
  const copy = (item: unknown): unknown => {
    if (typeof item === "string") return defang(item);
    if (Array.isArray(item)) return item.map(copy);
    if (item !== null && typeof item === "object") {
      return Object.fromEntries(Object.entries(item).map(([key, inner]) => [defang(key), copy(inner)]));
    }
    return item;
  };
  return copy(value) as Value;
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
  defang: Defang,
): TemplateMessage[] {
  const out: TemplateMessage[] = messages.map((message) => {
    if (message.role === "tool") {
      return { role: "user", content: `<tool_response>\n${message.content}\n</tool_response>` };
    }
    if (message.role === "assistant" && message.toolCalls?.length) {
      const calls = message.toolCalls
        .map(
          (call) =>
            `${TOOL_CALL_OPEN}\n${defang(JSON.stringify({ name: call.name, arguments: parseArguments(call) }))}\n${TOOL_CALL_CLOSE}`,
        )
        .join("\n");
      return { role: "assistant", content: [message.content, calls].filter(Boolean).join("\n") };
    }
    return { role: message.role, content: message.content };
  });
  if (tools.length === 0) return out;
  const instructions = defang(toolInstructions(tools));
  const system = out[0]?.role === "system" ? out[0] : undefined;
  if (system) system.content = `${system.content}\n\n${instructions}`;
  else out.unshift({ role: "system", content: instructions });
  return out;
}

function toolInstructions(tools: readonly ToolDefinition[]): string {
  const signatures = tools.map((tool) => JSON.stringify(toTemplateTool(tool, (text) => text))).join("\n");
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

/**
 * Python's Jinja reads a backslash at the end of a line inside a string as a line continuation
 * (Mistral Small 3.x templates use it); @huggingface/jinja refuses it, so the lines are joined first.
 */
function joinContinuedLines(source: string): string {
  return source.replace(/\\\r?\n/g, "");
}

interface ThinkingSettings {
  thinking: boolean | undefined;
  /** The reasoning effort to tell templates that take one. */
  effort: "low" | "medium" | "high" | undefined;
}

const NO_THINKING_SETTINGS: ThinkingSettings = { thinking: undefined, effort: undefined };

/** Thinking off is the lowest effort; a budget maps to the level whose budget it fits in. */
function effortOf(input: PromptInput): ThinkingSettings["effort"] {
  if (input.thinking === false) return "low";
  const budget = input.thinkingBudget;
  if (budget === undefined) return undefined;
  return budget <= THINKING_BUDGETS.low! ? "low" : budget <= THINKING_BUDGETS.medium! ? "medium" : "high";
}
