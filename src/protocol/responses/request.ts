import { thinkingBudgetFor, withThinkingBudget } from "../../core/families/thinking-budget.js";
import { randomInt } from "node:crypto";
import { z } from "zod";
import type { ChatRequest, ResponseFormat, ToolChoice, ToolDefinition } from "../../core/chat.js";
import { InvalidParameterError, InvalidRequestError } from "../../core/errors.js";
import { TOOL_NAME } from "../deepseek/chat-request.js";
import {
  checkBodyDepthInSlices,
  MAX_MESSAGES,
  optional,
  parseShape,
  range,
  shallowJson,
  zodIssueToError,
} from "../validation.js";
import { itemsToMessages, parseInputItems, type Item } from "./items.js";

const MAX_TOOLS = 128;
const NAME_RULE = "must be 1 to 64 characters of a-z, A-Z, 0-9, _ and -";

/** Tools are checked in two steps: their `type`, then a function's fields. */
const tool = z.object({ type: z.string() }).passthrough();
const functionTool = z.object({
  name: z.string().regex(TOOL_NAME, NAME_RULE),
  description: optional(z.string()),
  parameters: optional(shallowJson(z.record(z.unknown()))),
  strict: optional(z.boolean()),
});

const toolChoice = z.union([
  z.enum(["none", "auto", "required"]),
  z.object({ type: z.string(), name: optional(z.string()) }).passthrough(),
]);

const format = z.discriminatedUnion("type", [
  z.object({ type: z.literal("text") }),
  z.object({ type: z.literal("json_object") }),
  z.object({
    type: z.literal("json_schema"),
    name: z.string().regex(TOOL_NAME, NAME_RULE),
    schema: shallowJson(z.record(z.unknown())),
    description: optional(z.string()),
    strict: optional(z.boolean()),
  }),
]);

/** Effort as OpenAI names it; `none` turns thinking off, any other turns it on. */
const effort = z.enum(["none", "minimal", "low", "medium", "high", "xhigh"]);

/** `input` as a string, or up to {@link MAX_MESSAGES} items checked one by one later. */
const input = z.union([
  z.string(),
  z.array(z.unknown()).max(MAX_MESSAGES, `must hold at most ${MAX_MESSAGES} items`),
]);

/** Metadata as OpenAI limits it: 16 pairs, keys up to 64 characters, values up to 512. */
const metadata = z
  .record(
    z.string().max(64, "keys must be at most 64 characters"),
    z.string().max(512, "must be at most 512 characters"),
  )
  .refine((value) => Object.keys(value).length <= 16, "must hold at most 16 pairs");

/**
 * The body of `POST /v1/responses`. Fields OpenAI has that change nothing here (`include`,
 * `truncation`, `service_tier`, `prompt_cache_key`, `safety_identifier`, `stream_options`,
 * `text.verbosity`, `reasoning.summary`) are accepted and ignored; unknown fields are dropped;
 * the ones that ask for what this server cannot do are refused by name (see parseResponseRequest).
 */
export const responseRequestSchema = z.object({
  model: z.string().min(1, "must not be empty"),
  input: optional(input),
  instructions: optional(z.string()),
  tools: optional(z.array(tool).max(MAX_TOOLS, `must hold at most ${MAX_TOOLS} tools`)),
  tool_choice: optional(toolChoice),
  parallel_tool_calls: optional(z.boolean()),
  text: optional(z.object({ format: optional(format) }).passthrough()),
  reasoning: optional(z.object({ effort: optional(effort) }).passthrough()),
  max_output_tokens: optional(z.number().int().min(1, "must be at least 1")),
  temperature: optional(z.number().min(0, range(0, 2)).max(2, range(0, 2))),
  top_p: optional(
    z.number().gt(0, "must be greater than 0 and at most 1").max(1, "must be greater than 0 and at most 1"),
  ),
  store: optional(z.boolean()),
  stream: optional(z.boolean()),
  previous_response_id: optional(z.string().min(1, "must not be empty")),
  metadata: optional(metadata),
  user: optional(z.string()),
  truncation: optional(z.enum(["auto", "disabled"])),
  include: optional(z.array(z.string())),
  background: optional(z.boolean()),
  conversation: optional(z.unknown()),
  prompt: optional(z.unknown()),
  top_logprobs: optional(z.number().int().min(0, range(0, 20)).max(20, range(0, 20))),
});

type Body = z.infer<typeof responseRequestSchema>;

/** A function tool as the Responses API writes it (flat: no nested `function`). */
export interface WireFunctionTool {
  type: "function";
  name: string;
  description: string | null;
  parameters: Record<string, unknown>;
  strict: boolean;
}

export type WireToolChoice = "none" | "auto" | "required" | { type: "function"; name: string };
export type WireFormat = z.infer<typeof format>;

export interface ParsedResponseRequest {
  model: string;
  /** This request's own input, normalised (a string input is one user message). */
  input: Item[];
  instructions: string | undefined;
  tools: WireFunctionTool[];
  toolChoice: WireToolChoice;
  format: WireFormat;
  /** `reasoning.effort` as sent; null when absent. */
  effort: z.infer<typeof effort> | null;
  maxOutputTokens: number | undefined;
  temperature: number;
  topP: number;
  store: boolean;
  stream: boolean;
  previousResponseId: string | undefined;
  metadata: Record<string, string>;
  parallelToolCalls: boolean;
  user: string | undefined;
}

/** Parses and validates a `POST /v1/responses` body. */
export async function parseResponseRequest(body: unknown): Promise<ParsedResponseRequest> {
  const parsed: Body = parseShape(responseRequestSchema, body);
  refuseUnsupported(parsed);
  const items =
    parsed.input === undefined
      ? []
      : typeof parsed.input === "string"
        ? await parseInputItems([{ role: "user", content: parsed.input }], "input")
        : await parseInputItems(parsed.input, "input");
  await checkBodyDepthInSlices(body);
  const tools = (parsed.tools ?? []).map(toFunctionTool);
  const toolChoice = toWireToolChoice(parsed.tool_choice, tools);
  const format = parsed.text?.format ?? { type: "text" };
  if (format.type !== "text" && tools.length > 0 && toolChoice !== "none") {
    throw new InvalidParameterError(
      "unsupported_value",
      '`text.format` JSON modes cannot be combined with `tools` yet; send `tool_choice: "none"` or drop one of them.',
      "text.format.type",
    );
  }
  return {
    model: parsed.model,
    input: items,
    instructions: parsed.instructions,
    tools,
    toolChoice,
    format,
    effort: parsed.reasoning?.effort ?? null,
    maxOutputTokens: parsed.max_output_tokens,
    temperature: parsed.temperature ?? 1,
    topP: parsed.top_p ?? 1,
    store: parsed.store ?? true,
    stream: parsed.stream ?? false,
    previousResponseId: parsed.previous_response_id,
    metadata: parsed.metadata ?? {},
    parallelToolCalls: parsed.parallel_tool_calls ?? true,
    user: parsed.user,
  };
}

/** Fields that ask for what this server cannot do: a 400 naming the field, never ignored. */
function refuseUnsupported(body: Body): void {
  const refuse = (param: string, message: string) => {
    throw new InvalidParameterError("unsupported_parameter", message, param);
  };
  if (body.background === true) {
    refuse("background", "`background` responses are not supported; stream the response instead.");
  }
  if (body.conversation !== undefined) {
    refuse(
      "conversation",
      "The Conversations API is not supported; continue a stored response with `previous_response_id`.",
    );
  }
  if (body.prompt !== undefined) {
    refuse("prompt", "Prompt templates (`prompt`) are not supported; send `instructions` and `input`.");
  }
  if (body.top_logprobs !== undefined && body.top_logprobs > 0) {
    refuse("top_logprobs", "`top_logprobs` is not supported by /v1/responses; use /v1/chat/completions.");
  }
}

function toFunctionTool(input: z.infer<typeof tool>, index: number): WireFunctionTool {
  if (input.type !== "function") {
    throw new InvalidParameterError(
      "unsupported_tool",
      `Tools of type '${input.type}' are hosted by OpenAI and not supported here; define a \`function\` tool and run it yourself.`,
      `tools.${index}.type`,
    );
  }
  const result = functionTool.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw zodIssueToError({ ...issue, path: ["tools", index, ...issue.path] });
  }
  const { name, description, parameters, strict } = result.data;
  return {
    type: "function",
    name,
    description: description ?? null,
    // A function without parameters takes an empty object.
    parameters: parameters ?? { type: "object", properties: {} },
    // OpenAI's default is true; clients built for other servers rarely write schemas strict mode
    // accepts, and non-strict arguments are still held to the schema by grammar.
    strict: strict ?? false,
  };
}

function toWireToolChoice(input: Body["tool_choice"], tools: readonly WireFunctionTool[]): WireToolChoice {
  if (input === undefined) return "auto";
  if (typeof input === "string") {
    if (input === "required" && tools.length === 0) {
      throw new InvalidParameterError(
        "invalid_value",
        "`tool_choice` 'required' needs at least one tool in `tools`.",
        "tool_choice",
      );
    }
    return input;
  }
  if (input.type !== "function") {
    throw new InvalidParameterError(
      "unsupported_value",
      `\`tool_choice\` of type '${input.type}' is not supported; use none, auto, required or a function.`,
      "tool_choice.type",
    );
  }
  const name = input.name;
  if (name === undefined) {
    throw new InvalidRequestError(
      "missing_field",
      "Missing required field `tool_choice.name`.",
      "tool_choice.name",
    );
  }
  if (!tools.some((candidate) => candidate.name === name)) {
    throw new InvalidParameterError(
      "invalid_value",
      `\`tool_choice\` names the function '${name}', which is not in \`tools\`.`,
      "tool_choice.name",
    );
  }
  return { type: "function", name };
}

/**
 * The core request for `parsed` over the whole conversation `items` (the continued responses'
 * items, then this request's input); `instructions` come first as a system message.
 */
export function toChatRequest(parsed: ParsedResponseRequest, items: readonly Item[]): ChatRequest {
  const messages = itemsToMessages(items);
  if (messages.length === 0) {
    throw new InvalidRequestError(
      "missing_field",
      "Missing required field `input` (or a `previous_response_id` to continue).",
      "input",
    );
  }
  const tools: ToolDefinition[] = parsed.tools.map((definition) => ({
    name: definition.name,
    ...(definition.description === null ? {} : { description: definition.description }),
    parameters: definition.parameters,
    strict: definition.strict,
  }));
  return {
    model: parsed.model,
    messages: [
      ...(parsed.instructions === undefined
        ? []
        : [{ role: "system" as const, content: parsed.instructions }]),
      ...messages,
    ],
    sampling: {
      temperature: parsed.temperature,
      topP: parsed.topP,
      seed: randomInt(0, 2 ** 31 - 1), // never the library's clock-based default
      frequencyPenalty: 0,
      presencePenalty: 0,
    },
    maxTokens: parsed.maxOutputTokens,
    stop: [],
    thinking: parsed.effort === null ? undefined : parsed.effort !== "none",
    ...withThinkingBudget(thinkingBudgetFor(parsed.effort)),
    tools,
    toolChoice: toCoreToolChoice(parsed.toolChoice, tools),
    responseFormat: toCoreFormat(parsed.format),
    logprobs: undefined,
  };
}

function toCoreToolChoice(choice: WireToolChoice, tools: readonly ToolDefinition[]): ToolChoice {
  if (tools.length === 0) return { type: "none" };
  return typeof choice === "string" ? { type: choice } : choice;
}

function toCoreFormat(input: WireFormat): ResponseFormat {
  if (input.type !== "json_schema") return { type: input.type };
  return { type: "json_schema", name: input.name, schema: input.schema };
}
