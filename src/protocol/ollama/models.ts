/**
 * `/api/tags`, `/api/show` and `/api/ps` from the engine's model list. A model is listed under its
 * id and under each of its aliases (catalog names such as `qwen2.5:0.5b`, an admin's aliases), as
 * Ollama lists every tag of one file.
 */
import { z } from "zod";
import type { ModelDetails } from "../../core/engine.js";
import { InvalidRequestError } from "../../core/errors.js";
import { optional, parseWith } from "../validation.js";

/** A model's file digest (SHA-256 hex) by id, when known without hashing. */
export type DigestOf = (id: string) => string | undefined;

const LATEST = ":latest";

/** `name` without Ollama's default tag, when it has it. */
export function withoutLatestTag(name: string): string | undefined {
  return name.endsWith(LATEST) ? name.slice(0, -LATEST.length) : undefined;
}

/**
 * Ollama's clients add `:latest` to a name without a tag; when only the untagged name is among
 * `known` (ids and aliases), that is the model they mean.
 */
export function resolveModelName(name: string, known: ReadonlySet<string>): string {
  const untagged = withoutLatestTag(name);
  return untagged !== undefined && !known.has(name) && known.has(untagged) ? untagged : name;
}

/** Models a client can run: on disk (or served by a pool), not failed and not still downloading. */
export function listedModels(models: readonly ModelDetails[]): ModelDetails[] {
  return models.filter(
    (model) =>
      model.state !== "missing" &&
      model.state !== "failed" &&
      (model.pool !== undefined || model.file !== undefined),
  );
}

export function tagsResponse(models: readonly ModelDetails[], digestOf: DigestOf) {
  return {
    models: listedModels(models).flatMap((model) =>
      [model.id, ...model.aliases].map((name) => ({
        name,
        model: name,
        modified_at: new Date(model.created * 1000).toISOString(),
        size: model.sizeBytes ?? 0,
        digest: digestOf(model.id) ?? "",
        details: detailsOf(model),
      })),
    ),
  };
}

/** Loaded models only; upstream models are never "loaded" here. */
export function psResponse(models: readonly ModelDetails[], digestOf: DigestOf) {
  return {
    models: models
      .filter(
        (model) => model.pool === undefined && model.state === "ready" && model.contextSize !== undefined,
      )
      .map((model) => ({
        name: model.id,
        model: model.id,
        size: model.sizeBytes ?? 0,
        digest: digestOf(model.id) ?? "",
        details: detailsOf(model),
        // When the idle unload (--idle-unload) is due; null when the server never unloads.
        expires_at: model.idleUnloadAt === undefined ? null : new Date(model.idleUnloadAt).toISOString(),
        // llama.cpp's split between RAM and VRAM is not reported per model.
        size_vram: 0,
        context_length: model.contextSize,
      })),
  };
}

const showSchema = z.object({
  model: optional(z.string().min(1, "must not be empty")),
  // Ollama's older name for `model`, which some clients still send.
  name: optional(z.string().min(1, "must not be empty")),
  verbose: optional(z.boolean()),
});

/** The model an `/api/show` (or `/api/pull`) body names, by `model` or the older `name`. */
export function parseModelName(body: unknown): string {
  const parsed = parseWith(showSchema.passthrough(), body ?? {});
  const name = parsed.model ?? parsed.name;
  if (name === undefined)
    throw new InvalidRequestError("missing_field", "Missing required field `model`.", "model");
  return name;
}

export function showResponse(model: ModelDetails) {
  const architecture = model.architecture ?? "";
  return {
    license: "",
    // No Modelfile exists: this one says where the model comes from.
    modelfile: `# Served by qiusuo\nFROM ${model.file ?? model.id}\n`,
    parameters: "",
    template: "",
    system: "",
    details: detailsOf(model),
    model_info: {
      ...(architecture ? { "general.architecture": architecture } : {}),
      ...(model.parameters === undefined ? {} : { "general.parameter_count": model.parameters }),
      ...(architecture && model.contextLength !== undefined
        ? { [`${architecture}.context_length`]: model.contextLength }
        : {}),
    },
    capabilities: capabilitiesOf(model),
    modified_at: new Date(model.created * 1000).toISOString(),
  };
}

/**
 * What the model can do, in Ollama's words. Every model takes tools (the engine reads calls in
 * the `<tool_call>` convention when the template has none); `thinking` when its template opens
 * a reasoning block; `vision` when it takes images; none for a reranker.
 */
function capabilitiesOf(model: ModelDetails): string[] {
  // A reranker only scores documents (/v1/rerank); Ollama has no word for that.
  if (model.reranker) return [];
  return [
    "completion",
    "tools",
    ...(model.reasoning ? ["thinking"] : []),
    ...(model.acceptsImages ? ["vision"] : []),
  ];
}

function detailsOf(model: ModelDetails) {
  return {
    parent_model: "",
    format: model.file ? "gguf" : "",
    family: model.architecture ?? "",
    families: model.architecture ? [model.architecture] : null,
    parameter_size: model.parameters === undefined ? "" : parameterSize(model.parameters),
    quantization_level: model.quantization ?? "",
  };
}

/** Ollama's way of writing a parameter count: `494.03M`, `7.6B`. */
export function parameterSize(count: number): string {
  if (count >= 1e9) return `${(count / 1e9).toFixed(1)}B`;
  if (count >= 1e6) return `${(count / 1e6).toFixed(2)}M`;
  if (count >= 1e3) return `${(count / 1e3).toFixed(2)}K`;
  return String(count);
}
