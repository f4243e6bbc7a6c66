import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import type { ModelDetails, ModelPullProgress } from "../../core/engine.js";
import { InvalidRequestError } from "../../core/errors.js";
import { optional, parseWith } from "../validation.js";
import { toOllamaError } from "./errors.js";
import { ndjsonLine } from "./responses.js";

/** Progress lines go out at most this often. */
const PROGRESS_INTERVAL_MS = 250;

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

export const PULL_SUCCESS = { status: "success" } as const;

/**
 * A pull's NDJSON lines as Ollama streams them: `pulling manifest`, the layer's progress (at most
 * every 250 ms), the whole layer once more when done (also when nothing had to be downloaded),
 * `verifying sha256 digest` with the file's digest, `writing manifest` and `success`; a failure
 * is an `{"error"}` line.
 */
export async function* pullLines(
  model: string,
  done: Promise<ModelDetails>,
  latest: () => ModelPullProgress | undefined,
  digestOf: (details: ModelDetails) => Promise<string | undefined>,
): AsyncGenerator<string> {
  yield ndjsonLine({ status: "pulling manifest" });
  let settled = false;
  done.then(
    () => (settled = true),
    () => (settled = true),
  );
  let sent: ModelPullProgress | undefined;
  while (!settled) {
    await Promise.race([sleep(PROGRESS_INTERVAL_MS), done.catch(() => {})]);
    const progress = latest();
    if (progress !== sent && progress !== undefined && !settled) {
      sent = progress;
      yield ndjsonLine(pullingStatus(model, progress));
    }
  }
  try {
    const details = await done;
    const size = details.sizeBytes ?? latest()?.totalBytes ?? 0;
    const sha256 = latest()?.sha256;
    yield ndjsonLine(
      pullingStatus(model, { downloadedBytes: size, totalBytes: size, ...(sha256 ? { sha256 } : {}) }),
    );
    const digest = await digestOf(details);
    yield ndjsonLine({
      status: "verifying sha256 digest",
      ...(digest ? { digest: `sha256:${digest}` } : {}),
    });
    yield ndjsonLine({ status: "writing manifest" });
    yield ndjsonLine(PULL_SUCCESS);
  } catch (error) {
    yield ndjsonLine(toOllamaError(error).body);
  }
}
