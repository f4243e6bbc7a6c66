import { z } from "zod";
import type { EmbeddingResult } from "../../core/chat.js";
import { optional, parseWith } from "../validation.js";

const MAX_INPUTS = 2048;

/** `POST /v1/embeddings`, OpenAI's shape (beyond DeepSeek, which has no embeddings endpoint). */
export const embeddingsSchema = z.object({
  model: z.string().min(1, "must not be empty"),
  input: z.union([
    z.string().min(1, "must not be empty"),
    z
      .array(z.string().min(1, "must not be empty"))
      .min(1, "must hold at least 1 input")
      .max(MAX_INPUTS, `must hold at most ${MAX_INPUTS} inputs`),
  ]),
  encoding_format: optional(z.enum(["float", "base64"])),
  user: optional(z.string()),
});

export function parseEmbeddings(body: unknown) {
  const parsed = parseWith(embeddingsSchema, body);
  return {
    model: parsed.model,
    inputs: typeof parsed.input === "string" ? [parsed.input] : parsed.input,
    base64: parsed.encoding_format === "base64",
  };
}

export function embeddingsResponse(model: string, result: EmbeddingResult, base64: boolean) {
  return {
    object: "list" as const,
    data: result.vectors.map((vector, index) => ({
      object: "embedding" as const,
      index,
      embedding: base64 ? Buffer.from(new Float32Array(vector).buffer).toString("base64") : vector,
    })),
    model,
    usage: { prompt_tokens: result.promptTokens, total_tokens: result.promptTokens },
  };
}
