import type { ChatRequest } from "../../core/chat.js";
import { InvalidRequestError } from "../../core/errors.js";

/**
 * Local GGUF models read text only (no vision projector is loaded), so a request whose messages
 * carry images is refused before it queues or tokenises: a 400 naming the model and the first
 * message with an image.
 */
export function refuseImages(model: string, request: ChatRequest): void {
  const index = request.messages.findIndex(
    (message) => message.role === "user" && (message.images?.length ?? 0) > 0,
  );
  if (index === -1) return;
  throw new InvalidRequestError(
    "model_not_multimodal",
    `The model '${model}' does not accept images. Send text only, or pick a model that accepts ` +
      "images (one whose `accepts_images` is true in /v1/models).",
    `messages.${index}.content`,
  );
}
