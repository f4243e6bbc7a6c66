import { z } from "zod";
import type { ModelPullProgress } from "../../core/engine.js";
import { InvalidRequestError } from "../../core/errors.js";
import { optional, parseWith } from "../validation.js";

const pullSchema = z.object({
  model: optional(z.string().min(1, "must not be empty")),
  // What Ollama's clients (the JavaScript one included) still send.
  name: optional(z.string().min(1, "must not be empty")),
  insecure: optional(z.boolean()),
  stream: optional(z.boolean()),
});

export function parseOllamaPull(body: unknown): { model: string; stream: boolean } {
  const parsed = parseWith(pullSchema, body ?? {});
  const model = parsed.model ?? parsed.name;
  if (model === undefined)
    throw new InvalidRequestError("missing_field", "Missing required field `model`.", "model");
  return { model, stream: parsed.stream ?? true };
}

/**
 * Ollama pulls a manifest and then layers, each named by its digest. Ours is one GGUF file: its
 * layer is named by the SHA-256 the catalog pins for it, or by the model's name when no digest is
 * known before the download (an unpinned `hf:` reference); the verified digest follows.
 */
export function pullingStatus(model: string, progress: ModelPullProgress) {
  const digest = progress.sha256 === undefined ? model : `sha256:${progress.sha256}`;
  return {
    status: `pulling ${progress.sha256 === undefined ? model : progress.sha256.slice(0, 12)}`,
    digest,
    ...(progress.totalBytes === undefined ? {} : { total: progress.totalBytes }),
    completed: progress.downloadedBytes,
  };
}

export const PULL_MANIFEST = { status: "pulling manifest" } as const;
export const PULL_SUCCESS = { status: "success" } as const;

export function verifyingStatus(sha256: string | undefined) {
  return { status: "verifying sha256 digest", ...(sha256 ? { digest: `sha256:${sha256}` } : {}) };
}
