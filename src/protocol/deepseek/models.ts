import type { ModelInfo } from "../../core/engine.js";
import { MODEL_ALIASES } from "../../core/model-aliases.js";

/**
 * `GET /models` in OpenAI's list shape; DeepSeek's aliases appear once a default model exists,
 * and an admin's aliases (`aliases` in --config) beside the models they name.
 */
export function listModels(
  models: readonly ModelInfo[],
  aliases: ReadonlyArray<{ alias: string; model: string }> = [],
) {
  const data = models.map((model) => ({
    id: model.id,
    object: "model" as const,
    created: model.created,
    owned_by: model.ownedBy,
    // Beyond OpenAI's shape: whether the model can answer now, and why not.
    status: model.state,
    ...(model.reason ? { status_reason: model.reason } : {}),
    ...(model.contextSize ? { context_length: model.contextSize } : {}),
    // An extension too: whether user messages may carry images (absent when not known).
    ...(model.acceptsImages === undefined ? {} : { accepts_images: model.acceptsImages }),
    // And whether it is a reranker (`/v1/rerank`), which cannot chat; absent for other models.
    ...(model.reranker ? { reranker: true } : {}),
  }));
  for (const { alias, model } of aliases) {
    const target = models.find((candidate) => candidate.id === model);
    if (!target || data.some((entry) => entry.id === alias)) continue;
    data.push({
      id: alias,
      object: "model",
      created: target.created,
      owned_by: target.ownedBy,
      status: target.state,
      ...(target.acceptsImages === undefined ? {} : { accepts_images: target.acceptsImages }),
    });
  }
  const first = models[0];
  if (first) {
    for (const alias of Object.keys(MODEL_ALIASES)) {
      if (data.some((entry) => entry.id === alias)) continue;
      data.push({
        id: alias,
        object: "model",
        created: first.created,
        owned_by: "qiusuo",
        status: first.state,
        ...(first.acceptsImages === undefined ? {} : { accepts_images: first.acceptsImages }),
      });
    }
  }
  return { object: "list" as const, data };
}
