import { z } from "zod";
import type { EmbeddingResult } from "../../core/chat.js";
import { optional, parseWith } from "../validation.js";
import { keepAlive, keepAliveSeconds, ollamaOptions } from "./request-options.js";

const MAX_INPUTS = 2048;

const embedSchema = z.object({
  model: z.string().min(1, "must not be empty"),
  input: z.union([
    z.string().min(1, "must not be empty"),
    z
      .array(z.string().min(1, "must not be empty"))
      .min(1, "must hold at least 1 input")
      .max(MAX_INPUTS, `must hold at most ${MAX_INPUTS} inputs`),
  ]),
  // An input longer than the context is refused (400), never cut: `truncate` is accepted, not applied.
  truncate: optional(z.boolean()),
  dimensions: optional(z.number().int().min(1, "must be at least 1")),
  keep_alive: keepAlive,
  options: optional(ollamaOptions),
});

/** The legacy `/api/embeddings`: one `prompt`, one unnormalized `embedding`. */
const embeddingsSchema = z.object({
  model: z.string().min(1, "must not be empty"),
  prompt: z.string().min(1, "must not be empty"),
  keep_alive: keepAlive,
  options: optional(ollamaOptions),
});

export function parseOllamaEmbed(body: unknown) {
  const parsed = parseWith(embedSchema, body);
  return {
    model: parsed.model,
    inputs: typeof parsed.input === "string" ? [parsed.input] : parsed.input,
    dimensions: parsed.dimensions,
    keepAlive: keepAliveSeconds(parsed.keep_alive),
  };
}

export function parseOllamaEmbeddings(body: unknown) {
  const parsed = parseWith(embeddingsSchema, body);
  return {
    model: parsed.model,
    inputs: [parsed.prompt],
    dimensions: undefined,
    keepAlive: keepAliveSeconds(parsed.keep_alive),
  };
}

/**
 * `/api/embed`'s answer. Ollama L2-normalizes these vectors (and cuts them to `dimensions` first),
 * so cosine similarity is a dot product; llama.cpp's pooled output is not normalized, so we do it.
 */
export function embedResponse(
  model: string,
  result: EmbeddingResult,
  dimensions: number | undefined,
  durations: { totalMs: number; loadMs: number },
) {
  return {
    model,
    embeddings: result.vectors.map((vector) => normalize(dimensions ? vector.slice(0, dimensions) : vector)),
    total_duration: Math.round(durations.totalMs * 1e6),
    load_duration: Math.round(durations.loadMs * 1e6),
    prompt_eval_count: result.promptTokens,
  };
}

export function embeddingsResponse(result: EmbeddingResult) {
  return { embedding: result.vectors[0] ?? [] };
}

function normalize(vector: number[]): number[] {
  const length = Math.sqrt(vector.reduce((sum, value) => sum + value * value, 0));
  return length === 0 ? vector : vector.map((value) => value / length);
}
