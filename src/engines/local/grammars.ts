import type { ChatRequest, ToolDefinition } from "../../core/chat.js";
import { InvalidParameterError } from "../../core/errors.js";
import { TOOL_CALL_CLOSE, TOOL_CALL_OPEN } from "../../core/tool-call-parser.js";
import {
  GbnfBuilder,
  jsonObjectGbnf,
  jsonSchemaToGbnf,
  validateStrictToolSchema,
} from "./json-schema-grammar.js";

/** GBNF grammars for one request. */
export interface GrammarPlan {
  /** The whole answer (after any reasoning): JSON modes and forced tool calls. */
  answer?: string;
  /** Once the model opens `<tool_call>` of its own accord (tool_choice auto). */
  onToolCall?: string;
}

/**
 * Decides which grammars constrain a request's output, and checks every schema on the way: what
 * a grammar cannot enforce is refused with a 422 before anything is generated.
 *
 * - `tool_choice: required` or a named function: the answer is one `<tool_call>` block whose JSON
 *   names one of the allowed tools and carries arguments that match its schema.
 * - `tool_choice: auto`: the model writes freely; if it opens `<tool_call>`, the rest of the call
 *   is held to the same grammar (a lazy grammar, as llama-server does).
 * - `response_format` `json_object` / `json_schema`: the answer is that JSON.
 */
export function planGrammars(request: ChatRequest): GrammarPlan {
  const { toolChoice, tools, responseFormat } = request;
  const callsTools = toolChoice.type !== "none" && tools.length > 0;
  if (callsTools && responseFormat.type !== "text") {
    throw new InvalidParameterError(
      "unsupported_value",
      '`response_format` JSON modes cannot be combined with `tools` yet; send `tool_choice: "none"` or drop one of them.',
      "response_format.type",
    );
  }
  if (callsTools) {
    tools.forEach((tool, index) => {
      if (tool.strict) validateStrictToolSchema(tool.parameters, `tools.${index}.function.parameters`);
    });
    const allowed =
      toolChoice.type === "function" ? tools.filter((tool) => tool.name === toolChoice.name) : tools;
    if (allowed.length === 0) {
      // The protocols check this first; an empty choice would write a grammar llama.cpp refuses.
      throw new InvalidParameterError(
        "invalid_value",
        "`tool_choice` names a function that is not in `tools`.",
        "tool_choice",
      );
    }
    const builder = new GbnfBuilder();
    const call = toolCallRule(builder, allowed, tools);
    if (toolChoice.type === "auto") {
      const gap = builder.addRule("call-gap", "[ \\n]? [ \\n]?");
      return { onToolCall: builder.build(`${gap} ${call} ${gap} ${GbnfBuilder.literal(TOOL_CALL_CLOSE)}`) };
    }
    return {
      answer: builder.build(
        `${GbnfBuilder.literal(`${TOOL_CALL_OPEN}\n`)} ${call} ${GbnfBuilder.literal(`\n${TOOL_CALL_CLOSE}`)}`,
      ),
    };
  }
  if (responseFormat.type === "json_object") return { answer: jsonObjectGbnf() };
  if (responseFormat.type === "json_schema") {
    return { answer: jsonSchemaToGbnf(responseFormat.schema, "response_format.json_schema.schema") };
  }
  return {};
}

/** `{"name": "NAME", "arguments": ARGS}` for each allowed tool, arguments held to its schema. */
function toolCallRule(
  builder: GbnfBuilder,
  allowed: readonly ToolDefinition[],
  all: readonly ToolDefinition[],
): string {
  const alternatives = allowed.map((tool) => {
    const index = all.indexOf(tool);
    const args = builder.addSchema(tool.parameters, `args-${index}`, `tools.${index}.function.parameters`);
    const head = GbnfBuilder.literal(`{"name": ${JSON.stringify(tool.name)}, "arguments": `);
    return `${head} ${args} ${GbnfBuilder.literal("}")}`;
  });
  return builder.addRule("tool-call", alternatives.join(" | "));
}
