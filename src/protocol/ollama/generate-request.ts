import { thinkingBudgetFor, withThinkingBudget } from "../../core/families/thinking-budget.js";
import { z } from "zod";
import type { ChatMessage, ChatRequest, CompletionRequest } from "../../core/chat.js";
import { PLAIN_TEXT_OPTIONS } from "../../core/chat.js";
import { InvalidRequestError } from "../../core/errors.js";
import { IMAGE_LIMITS } from "../image-limits.js";
import { tooManyImages } from "../images.js";
import { optional, parseWith } from "../validation.js";
import { base64Image, type ParsedOllamaRequest } from "./chat-request.js";
import {
  generationFields,
  keepAliveSeconds,
  toLogprobs,
  toMaxTokens,
  toResponseFormat,
  toSampling,
  toStop,
  toThinking,
} from "./request-options.js";

const generateSchema = z.object({
  ...generationFields,
  prompt: optional(z.string()),
  suffix: optional(z.string()),
  system: optional(z.string()),
  template: optional(z.string()),
  raw: optional(z.boolean()),
  images: optional(z.array(z.string())),
  /** Deprecated in Ollama: the token ids of an earlier exchange. Accepted and not used. */
  context: optional(z.array(z.number())),
});

/**
 * What an `/api/generate` body asks for: a chat turn (the prompt as a user message under the
 * model's template), a raw or fill-in-the-middle completion, or, with an empty prompt, only to
 * load or unload the model.
 */
export type ParsedGenerate =
  | ({ kind: "chat" } & ParsedOllamaRequest<ChatRequest>)
  | ({ kind: "complete" } & ParsedOllamaRequest<CompletionRequest>)
  | { kind: "load"; model: string; stream: boolean; keepAlive: number | undefined };

export function parseOllamaGenerate(body: unknown): ParsedGenerate {
  const parsed = parseWith(generateSchema, body);
  const stream = parsed.stream ?? true;
  const keepAlive = keepAliveSeconds(parsed.keep_alive);
  const prompt = parsed.prompt ?? "";
  if (parsed.template) {
    throw new InvalidRequestError(
      "unsupported_field",
      "`template` is not supported: prompts are rendered with the model's own chat template. Send `raw: true` with a prompt you formatted yourself instead.",
      "template",
    );
  }
  const suffix = parsed.suffix ? parsed.suffix : undefined;
  if (prompt === "" && suffix === undefined) return { kind: "load", model: parsed.model, stream, keepAlive };

  const logprobs = toLogprobs(parsed.logprobs, parsed.top_logprobs);
  const common = {
    model: parsed.model,
    sampling: toSampling(parsed.options),
    maxTokens: toMaxTokens(parsed.options),
    stop: toStop(parsed.options),
    logprobs,
  };
  const hideThinking = parsed.think === false;
  if (parsed.raw || suffix !== undefined) {
    // Without the chat template there is no turn to hold images, JSON modes or reasoning.
    const why = suffix !== undefined ? "with `suffix` (fill-in-the-middle)" : "with `raw: true`";
    for (const field of ["format", "images"] as const) {
      const value = parsed[field];
      if (value !== undefined && value !== "" && !(Array.isArray(value) && value.length === 0)) {
        throw new InvalidRequestError("unsupported_value", `\`${field}\` cannot be used ${why}.`, field);
      }
    }
    return {
      kind: "complete",
      request: { ...common, prompt, suffix },
      stream,
      keepAlive,
      hideThinking,
    };
  }

  if ((parsed.images?.length ?? 0) > IMAGE_LIMITS.imagesPerRequest) {
    throw tooManyImages(`images.${IMAGE_LIMITS.imagesPerRequest}`);
  }
  const images = (parsed.images ?? []).map((image, index) => base64Image(image, `images.${index}`));
  const messages: ChatMessage[] = [
    ...(parsed.system ? [{ role: "system" as const, content: parsed.system }] : []),
    { role: "user", content: prompt, ...(images.length > 0 ? { images } : {}) },
  ];
  return {
    kind: "chat",
    request: {
      ...PLAIN_TEXT_OPTIONS,
      ...common,
      messages,
      thinking: toThinking(parsed.think),
      ...withThinkingBudget(thinkingBudgetFor(typeof parsed.think === "string" ? parsed.think : undefined)),
      responseFormat: toResponseFormat(parsed.format),
    },
    stream,
    keepAlive,
    hideThinking,
  };
}
