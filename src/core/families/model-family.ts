import { THINK_TAGS, type ReasoningTags } from "../reasoning-splitter.js";
import {
  DEEPSEEK_CALL_BEGIN,
  DEEPSEEK_CALL_END,
  DEEPSEEK_CALLS_BEGIN,
  DEEPSEEK_CALLS_END,
  DEEPSEEK_SEP,
  deepseekBareCall,
  deepseekCalls,
  hermesCalls,
  LLAMA_PYTHON_TAG,
  llamaJsonCalls,
  llamaPythonTagCalls,
  MISTRAL_ARGS,
  MISTRAL_TOOL_CALLS,
  mistralCalls,
} from "./call-syntaxes.js";
import {
  HARMONY_CALL,
  HARMONY_CHANNEL,
  HARMONY_CONSTRAIN,
  HARMONY_END,
  HARMONY_MESSAGE,
  HARMONY_RETURN,
  HARMONY_START,
  HarmonyParser,
} from "./harmony-parser.js";
import { MarkupOutputParser, type OutputParser, type OutputParserOptions } from "./output-parser.js";
import type { CallSyntax } from "./tool-call-scanner.js";

export type FamilyName = "deepseek" | "qwen" | "gpt-oss" | "mistral" | "llama3";

/** How one family of models writes reasoning and tool calls, and how to read it. */
export interface ModelFamily {
  name: FamilyName;
  /**
   * The family's markers that are special tokens in its vocabulary. The engine renders them as
   * text for the parser even where the vocabulary marks them as control tokens (Mistral's
   * `[THINK]`, Llama's `<|python_tag|>`, harmony's channels), which plain detokenizing drops.
   */
  markers: readonly string[];
  /**
   * What the engine writes into the sequence to end the reasoning when its budget is spent; the
   * model then writes the answer.
   */
  closeReasoning: string;
  createParser(options: OutputParserOptions): OutputParser;
}

/** `<think>` tags and calls of the family's own syntax, plus `<tool_call>`, which the grammars force. */
function markupFamily(
  name: Exclude<FamilyName, "gpt-oss">,
  tags: ReasoningTags,
  syntaxes: readonly CallSyntax[],
  markers: readonly string[],
): ModelFamily {
  return {
    name,
    markers: [tags.open, tags.close, ...markers],
    closeReasoning: `\n${tags.close}`,
    createParser: (options) => new MarkupOutputParser(tags, [...syntaxes, hermesCalls], options),
  };
}

const MAGISTRAL_THINK: ReasoningTags = { open: "[THINK]", close: "[/THINK]" };

export const FAMILIES: Record<FamilyName, ModelFamily> = {
  qwen: markupFamily("qwen", THINK_TAGS, [], []),
  deepseek: markupFamily(
    "deepseek",
    THINK_TAGS,
    [deepseekCalls, deepseekBareCall],
    [DEEPSEEK_CALLS_BEGIN, DEEPSEEK_CALLS_END, DEEPSEEK_CALL_BEGIN, DEEPSEEK_CALL_END, DEEPSEEK_SEP],
  ),
  mistral: markupFamily("mistral", MAGISTRAL_THINK, [mistralCalls], [MISTRAL_TOOL_CALLS, MISTRAL_ARGS]),
  llama3: markupFamily("llama3", THINK_TAGS, [llamaPythonTagCalls, llamaJsonCalls], [LLAMA_PYTHON_TAG]),
  "gpt-oss": {
    name: "gpt-oss",
    markers: [
      HARMONY_START,
      HARMONY_CHANNEL,
      HARMONY_MESSAGE,
      HARMONY_END,
      HARMONY_CALL,
      HARMONY_RETURN,
      HARMONY_CONSTRAIN,
    ],
    closeReasoning: `${HARMONY_END}${HARMONY_START}assistant${HARMONY_CHANNEL}final${HARMONY_MESSAGE}`,
    createParser: (options) => new HarmonyParser(options),
  },
};

/**
 * The family of a model, from its chat template first (the markup it teaches is what the model
 * writes), then its architecture and name. Unknown models are read as Qwen/Hermes, the syntax
 * qiusuo's own tool prompt and grammars use.
 */
export function detectFamily(model: {
  template?: string;
  architecture?: string;
  name?: string;
}): ModelFamily {
  const template = model.template ?? "";
  const id = `${model.architecture ?? ""} ${model.name ?? ""}`.toLowerCase();
  if (template.includes(HARMONY_CHANNEL) || id.includes("gpt-oss")) return FAMILIES["gpt-oss"];
  if (template.includes("<｜Assistant｜>") || template.includes(DEEPSEEK_CALLS_BEGIN))
    return FAMILIES.deepseek;
  if (
    template.includes(MISTRAL_TOOL_CALLS) ||
    template.includes("[INST]") ||
    /mistral|magistral|devstral/.test(id)
  ) {
    return FAMILIES.mistral;
  }
  if (template.includes("<|start_header_id|>") || template.includes(LLAMA_PYTHON_TAG)) return FAMILIES.llama3;
  if (/deepseek/.test(id) && !template.includes("<|im_start|>")) return FAMILIES.deepseek;
  return FAMILIES.qwen;
}
