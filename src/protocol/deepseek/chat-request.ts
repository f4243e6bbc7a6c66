import { randomInt } from "node:crypto";
import { z } from "zod";
import type { ChatMessage, ChatRequest } from "../../core/chat.js";
import { InvalidParameterError } from "../../core/errors.js";
import { parseWith } from "../validation.js";

/** `null` is accepted for every optional field and means "use the default" (DeepSeek sends them). */
const optional = <Schema extends z.ZodTypeAny>(schema: Schema) =>
  schema.nullish().transform((value) => value ?? undefined);

const text = z.string();

/** Content may be a string or OpenAI's array of text parts; both become plain text. */
const content = z.union([
  text,
  z
    .array(z.object({ type: z.literal("text"), text }).passthrough())
    .transform((parts) => parts.map((part) => part.text).join("")),
]);

const message = z.discriminatedUnion("role", [
  z.object({ role: z.literal("system"), content, name: optional(z.string()) }),
  // OpenAI's newer name for the system role; clients built for OpenAI send it.
  z.object({ role: z.literal("developer"), content, name: optional(z.string()) }),
  z.object({ role: z.literal("user"), content, name: optional(z.string()) }),
  z.object({
    role: z.literal("assistant"),
    content: content.nullish(),
    name: optional(z.string()),
    reasoning_content: optional(z.string()),
    reasoning: optional(z.string()),
    thinking: optional(z.string()),
  }),
]);

const MAX_STOP_SEQUENCES = 16;

export const chatCompletionSchema = z.object({
  model: z.string().min(1, "must not be empty"),
  messages: z.array(message).min(1, "must hold at least 1 message"),
  max_tokens: optional(z.number().int().min(1, "must be at least 1")),
  max_completion_tokens: optional(z.number().int().min(1, "must be at least 1")),
  temperature: optional(z.number().min(0, "must be between 0 and 2").max(2, "must be between 0 and 2")),
  top_p: optional(
    z.number().gt(0, "must be greater than 0 and at most 1").max(1, "must be greater than 0 and at most 1"),
  ),
  seed: optional(z.number().int()),
  stop: optional(
    z.union([
      z.string(),
      z.array(z.string()).max(MAX_STOP_SEQUENCES, `must hold at most ${MAX_STOP_SEQUENCES} sequences`),
    ]),
  ),
  stream: optional(z.boolean()),
  stream_options: optional(z.object({ include_usage: optional(z.boolean()) }).passthrough()),
  frequency_penalty: optional(
    z.number().min(-2, "must be between -2 and 2").max(2, "must be between -2 and 2"),
  ),
  presence_penalty: optional(
    z.number().min(-2, "must be between -2 and 2").max(2, "must be between -2 and 2"),
  ),
  thinking: optional(z.object({ type: z.enum(["enabled", "disabled"]) }).passthrough()),
  n: optional(z.number().int().min(1, "must be at least 1")),
  tools: optional(z.array(z.unknown())),
  response_format: optional(z.object({ type: z.string() }).passthrough()),
  logprobs: optional(z.boolean()),
});

export type ChatCompletionBody = z.infer<typeof chatCompletionSchema>;

export interface ParsedChatCompletion {
  request: ChatRequest;
  stream: boolean;
  includeUsage: boolean;
}

/** Parses and validates a `/chat/completions` body into the core request. */
export function parseChatCompletion(body: unknown): ParsedChatCompletion {
  const parsed = parseWith(chatCompletionSchema, body);
  refuseUnsupported(parsed);
  const stop = parsed.stop === undefined ? [] : typeof parsed.stop === "string" ? [parsed.stop] : parsed.stop;
  const request: ChatRequest = {
    model: parsed.model,
    messages: parsed.messages.map(toCoreMessage),
    sampling: {
      temperature: parsed.temperature ?? 1,
      topP: parsed.top_p ?? 1,
      seed: parsed.seed ?? randomInt(0, 2 ** 31 - 1), // never the library's clock-based default
      frequencyPenalty: parsed.frequency_penalty ?? 0,
      presencePenalty: parsed.presence_penalty ?? 0,
    },
    maxTokens: parsed.max_tokens ?? parsed.max_completion_tokens,
    stop: stop.filter((sequence) => sequence.length > 0),
    thinking: parsed.thinking === undefined ? undefined : parsed.thinking.type === "enabled",
  };
  return {
    request,
    stream: parsed.stream ?? false,
    includeUsage: parsed.stream_options?.include_usage ?? false,
  };
}

function toCoreMessage(input: z.infer<typeof message>): ChatMessage {
  switch (input.role) {
    case "system":
    case "developer":
      return { role: "system", content: input.content };
    case "user":
      return { role: "user", content: input.content };
    case "assistant": {
      const reasoning = input.reasoning_content ?? input.reasoning ?? input.thinking;
      return { role: "assistant", content: input.content ?? "", ...(reasoning ? { reasoning } : {}) };
    }
  }
}

/** Features not built yet are refused clearly rather than silently ignored. */
function refuseUnsupported(body: ChatCompletionBody): void {
  if (body.n !== undefined && body.n > 1) {
    throw new InvalidParameterError(
      "unsupported_value",
      "`n` above 1 is not supported; send n requests instead.",
      "n",
    );
  }
  if (body.tools && body.tools.length > 0) {
    throw new InvalidParameterError(
      "unsupported_parameter",
      "`tools` are not supported by this server yet.",
      "tools",
    );
  }
  if (body.response_format && body.response_format.type !== "text") {
    throw new InvalidParameterError(
      "unsupported_value",
      `\`response_format.type\` '${body.response_format.type}' is not supported by this server yet; use 'text'.`,
      "response_format.type",
    );
  }
  if (body.logprobs) {
    throw new InvalidParameterError(
      "unsupported_parameter",
      "`logprobs` are not supported by this server yet.",
      "logprobs",
    );
  }
}
