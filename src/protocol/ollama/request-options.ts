/**
 * The fields `/api/chat` and `/api/generate` share: `options`, `think`, `format`, `keep_alive`,
 * `logprobs`, and how each maps onto the core request.
 */
import { randomInt } from "node:crypto";
import { z } from "zod";
import type { ResponseFormat, SamplingSettings } from "../../core/chat.js";
import { InvalidParameterError } from "../../core/errors.js";
import { optional, range, shallowJson } from "../validation.js";

const MAX_STOP_SEQUENCES = 16;
const MAX_TOP_LOGPROBS = 20;

/** Ollama's defaults where they differ from DeepSeek's (its `options` reference). */
export const OLLAMA_DEFAULTS = { temperature: 0.8, topP: 0.9 } as const;

/**
 * `options`: the sampling settings we honour are checked; every other Ollama option (`num_ctx`,
 * `top_k`, `min_p`, `repeat_penalty`, `mirostat`, `num_gpu`, ...) is accepted with any value and
 * not applied (docs/api.md lists them).
 */
export const ollamaOptions = z
  .object({
    temperature: optional(z.number().min(0, range(0, 2)).max(2, range(0, 2))),
    top_p: optional(
      z.number().gt(0, "must be greater than 0 and at most 1").max(1, "must be greater than 0 and at most 1"),
    ),
    seed: optional(z.number().int()),
    num_predict: optional(z.number().int()),
    stop: optional(
      z.union([
        z.string(),
        z.array(z.string()).max(MAX_STOP_SEQUENCES, `must hold at most ${MAX_STOP_SEQUENCES} sequences`),
      ]),
    ),
    presence_penalty: optional(z.number().min(-2, range(-2, 2)).max(2, range(-2, 2))),
    frequency_penalty: optional(z.number().min(-2, range(-2, 2)).max(2, range(-2, 2))),
  })
  .passthrough();

export type OllamaOptions = z.infer<typeof ollamaOptions>;

/** `think`: on or off, or an effort level (which turns thinking on; no engine here grades it). */
export const think = optional(z.union([z.boolean(), z.enum(["low", "medium", "high", "max"])]));

/** `format`: `"json"`, or a JSON Schema the output must match; `""` means plain text. */
export const format = optional(z.union([z.enum(["json", ""]), shallowJson(z.record(z.unknown()))]));

/** `keep_alive`: seconds as a number, or a Go duration (`"5m"`, `"1h30m"`, `"0"`, `"-1"`). */
export const keepAlive = optional(z.union([z.number(), z.string()]));

/** The fields both generating routes take beside their own. */
export const generationFields = {
  model: z.string().min(1, "must not be empty"),
  stream: optional(z.boolean()),
  options: optional(ollamaOptions),
  think,
  format,
  keep_alive: keepAlive,
  logprobs: optional(z.boolean()),
  top_logprobs: optional(z.number().int().min(0, range(0, 20)).max(MAX_TOP_LOGPROBS, range(0, 20))),
};

/** Sampling from `options`, with Ollama's defaults; a negative seed means "pick one", as in llama.cpp. */
export function toSampling(options: OllamaOptions | undefined): SamplingSettings {
  const seed = options?.seed;
  return {
    temperature: options?.temperature ?? OLLAMA_DEFAULTS.temperature,
    topP: options?.top_p ?? OLLAMA_DEFAULTS.topP,
    seed: seed === undefined || seed < 0 ? randomInt(0, 2 ** 31 - 1) : seed,
    frequencyPenalty: options?.frequency_penalty ?? 0,
    presencePenalty: options?.presence_penalty ?? 0,
  };
}

/** `num_predict`: a positive count caps the tokens; 0, -1 (unlimited) and -2 (fill the context) do not. */
export function toMaxTokens(options: OllamaOptions | undefined): number | undefined {
  const limit = options?.num_predict;
  return limit !== undefined && limit > 0 ? limit : undefined;
}

export function toStop(options: OllamaOptions | undefined): string[] {
  const stop = options?.stop;
  const list = stop === undefined ? [] : typeof stop === "string" ? [stop] : stop;
  return list.filter((sequence) => sequence.length > 0);
}

export function toThinking(value: z.infer<typeof think>): boolean | undefined {
  return value === undefined ? undefined : value !== false;
}

export function toResponseFormat(value: z.infer<typeof format>): ResponseFormat {
  if (value === undefined || value === "") return { type: "text" };
  if (value === "json") return { type: "json_object" };
  return { type: "json_schema", name: "response", schema: value };
}

/** Log-probabilities: undefined for none, else how many alternatives per token. */
export function toLogprobs(logprobs: boolean | undefined, top: number | undefined): number | undefined {
  if (top !== undefined && top > 0 && !logprobs) {
    throw new InvalidParameterError(
      "invalid_value",
      "`top_logprobs` needs `logprobs: true`.",
      "top_logprobs",
    );
  }
  return logprobs ? (top ?? 0) : undefined;
}

const DURATION_UNITS: Record<string, number> = {
  ns: 1e-9,
  us: 1e-6,
  µs: 1e-6,
  ms: 1e-3,
  s: 1,
  m: 60,
  h: 3600,
};
const DURATION = /^([+-]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|m|h))+$/;
const DURATION_PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/g;

/**
 * `keep_alive` in seconds: Infinity for a negative value (stay loaded), 0 to unload after the
 * request, undefined when not given. A string is a number of seconds or a Go duration.
 */
export function keepAliveSeconds(value: string | number | undefined): number | undefined {
  if (value === undefined) return undefined;
  let seconds: number | undefined;
  if (typeof value === "number") seconds = value;
  else if (/^[+-]?\d+(\.\d+)?$/.test(value.trim())) seconds = Number(value.trim());
  else if (DURATION.test(value.trim())) {
    const text = value.trim();
    seconds = 0;
    for (const [, amount, unit] of text.matchAll(DURATION_PART))
      seconds += Number(amount) * DURATION_UNITS[unit!]!;
    if (text.startsWith("-")) seconds = -seconds;
  }
  if (seconds === undefined || !Number.isFinite(seconds)) {
    throw new InvalidParameterError(
      "invalid_value",
      `Invalid value for \`keep_alive\`: ${JSON.stringify(value)} is neither a number of seconds nor a duration such as "5m" or "1h30m".`,
      "keep_alive",
    );
  }
  return seconds < 0 ? Infinity : seconds;
}
