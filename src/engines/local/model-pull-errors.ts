// The errors a pull ends with, each with a stable code and a message that says what to do next.
// Messages name the model as the user did (its alias or hf: reference) and never a raw errno.

import { QiusuoError } from "../../core/errors.js";
import type { ErrorKind } from "../../core/errors.js";
import type { ModelReference } from "./model-catalog.js";

export type ModelPullErrorCode =
  | "model_pull_failed"
  | "model_pull_interrupted"
  | "model_not_found"
  | "model_access_denied"
  | "model_unreachable"
  | "model_size_mismatch"
  | "model_checksum_mismatch"
  | "model_invalid_file"
  | "model_disk_full"
  | "model_pull_busy"
  | "model_pull_aborted";

const ERROR_KINDS: Record<ModelPullErrorCode, ErrorKind> = {
  model_pull_failed: "unavailable",
  model_pull_interrupted: "unavailable",
  model_not_found: "not_found",
  model_access_denied: "permission",
  model_unreachable: "unavailable",
  model_size_mismatch: "internal",
  model_checksum_mismatch: "internal",
  model_invalid_file: "internal",
  model_disk_full: "internal",
  model_pull_busy: "unavailable",
  model_pull_aborted: "unavailable",
};

export class ModelPullError extends QiusuoError {
  override readonly name = "ModelPullError";
  declare readonly code: ModelPullErrorCode;

  constructor(code: ModelPullErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(ERROR_KINDS[code], code, message, options);
  }
}

export function statusError(reference: ModelReference, status: number): ModelPullError {
  const label = displayName(reference);
  if (status === 404) {
    return new ModelPullError(
      "model_not_found",
      `${reference.repo}/${reference.file} was not found at ${reference.url} (HTTP 404). Check the owner, ` +
        "repository and file name on the model's page, or use a catalog alias such as deepseek-r1:1.5b.",
    );
  }
  if (status === 401 || status === 403) {
    return new ModelPullError(
      "model_access_denied",
      `Hugging Face refused access to ${label} (HTTP ${status}). The repository may be gated or private: ` +
        "accept its terms on the model's page and set HF_TOKEN to a Hugging Face access token.",
    );
  }
  if (status === 429) {
    return new ModelPullError(
      "model_pull_failed",
      `The server is rate-limiting downloads of ${label} (HTTP 429). Wait a while and run the pull again, or set HF_TOKEN.`,
    );
  }
  return new ModelPullError(
    "model_pull_failed",
    `The server answered HTTP ${status} for ${label}. Try again later, or set a mirror with QIUSUO_HF_ENDPOINT.`,
  );
}

export function unreachableError(url: URL, error: unknown): ModelPullError {
  return new ModelPullError(
    "model_unreachable",
    `Could not reach ${url.origin} (${networkReason(error)}). Check the network, set a mirror with ` +
      "QIUSUO_HF_ENDPOINT, or pass --model /path/to/model.gguf",
    { cause: error },
  );
}

export function interruptedError(
  label: string,
  downloaded: number,
  totalBytes: number | undefined,
  error: unknown,
  signal: AbortSignal | undefined,
): ModelPullError {
  if (signal?.aborted) return abortedError(label, downloaded);
  const of = totalBytes === undefined ? "" : ` of ${totalBytes}`;
  return new ModelPullError(
    "model_pull_interrupted",
    `The download of ${label} was interrupted after ${downloaded}${of} bytes (${networkReason(error)}). ` +
      "Run the same pull again to resume where it stopped.",
    { cause: error },
  );
}

export function abortedError(label: string, downloaded: number | undefined): ModelPullError {
  const where = downloaded === undefined ? "" : ` after ${downloaded} bytes`;
  return new ModelPullError(
    "model_pull_aborted",
    `The download of ${label} was stopped${where}. Run the same pull again to resume.`,
  );
}

/** The most specific words in a fetch failure: undici wraps the socket error as `cause`. */
export function networkReason(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const aggregate = current instanceof AggregateError ? current.errors[0] : undefined;
    const message = current.message || (aggregate instanceof Error ? aggregate.message : "");
    const code = (current as NodeJS.ErrnoException).code;
    if (message !== "" && message !== "fetch failed" && message !== "terminated") parts.push(message);
    else if (code !== undefined) parts.push(code);
    current = current.cause;
  }
  return parts.length > 0 ? parts.join(": ") : "network error";
}

export function isDiskFull(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === "ENOSPC" || code === "EDQUOT";
}

/** The disk filled while writing: what was written stays, named .partial, to resume from. */
export function diskFullError(label: string, directory: string, written: number | undefined): ModelPullError {
  const kept =
    written === undefined || written === 0
      ? ""
      : ` The ${formatMegabytes(written)} downloaded so far are kept (as a .partial file) to resume from; delete it to get the space back.`;
  return new ModelPullError(
    "model_disk_full",
    `The disk is full: ${directory} has no space left for ${label}.${kept} ` +
      "Free some space (or use a --data-dir on a larger disk) and run the pull again.",
  );
}

export function displayName(reference: ModelReference): string {
  return reference.alias ?? `hf:${reference.repo}/${reference.file}`;
}

export function formatMegabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}
