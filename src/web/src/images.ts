// Images attached to a message: offered only when the chosen model accepts them; read in the
// browser as `data:` URLs (typed by their bytes, not their name) and sent with the message.
import { IMAGE_LIMITS, sniffImageType } from "../../protocol/image-limits.ts";
import type { AppModel, AttachedImage } from "./api/types.ts";

/** One image's size: the server's limit. */
export const MAX_IMAGE_BYTES = IMAGE_LIMITS.bytesPerImage;
/** Images on one message: the server's limit for a whole request. */
export const MAX_IMAGES = IMAGE_LIMITS.imagesPerRequest;
/** What the image picker offers. */
export const IMAGE_ACCEPT = IMAGE_LIMITS.mediaTypes.join(",");

/** DeepSeek's names, which the server points at its default model (the first listed). */
const DEFAULT_ALIASES = new Set(["", "deepseek-chat", "deepseek-reasoner"]);

/**
 * The model a message will go to: `chosen` by id or alias; the server's default (the first
 * model) when none is chosen or DeepSeek's names are; undefined when unknown.
 */
export function modelFor(models: readonly AppModel[], chosen: string): AppModel | undefined {
  const named = models.find((model) => model.id === chosen || model.aliases.includes(chosen));
  return named ?? (DEFAULT_ALIASES.has(chosen) ? models[0] : undefined);
}

/** Whether the composer offers images: only when the model it sends to says it accepts them. */
export function acceptsImages(models: readonly AppModel[], chosen: string): boolean {
  return modelFor(models, chosen)?.acceptsImages === true;
}

export function isImageFile(file: File): boolean {
  return file.type.startsWith("image/") || /\.(png|jpe?g|gif|webp)$/i.test(file.name);
}

export type ImageProblem =
  | { kind: "unsupported-image"; name: string }
  | { kind: "image-too-large"; name: string; size: number; limit: number }
  | { kind: "unreadable"; name: string; reason: string };

/** Reads an image as a `data:` URL of the type its bytes say, or says why it can't be attached. */
export async function readImage(file: File): Promise<AttachedImage | ImageProblem> {
  if (file.size > MAX_IMAGE_BYTES)
    return { kind: "image-too-large", name: file.name, size: file.size, limit: MAX_IMAGE_BYTES };
  try {
    const type = sniffImageType(new Uint8Array(await file.slice(0, 16).arrayBuffer()));
    if (!type) return { kind: "unsupported-image", name: file.name };
    const url = await new Promise<string>((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(reader.result as string);
      reader.onerror = () => reject(reader.error ?? new Error("read failed"));
      reader.readAsDataURL(new Blob([file], { type }));
    });
    return { name: file.name, url };
  } catch (error) {
    return { kind: "unreadable", name: file.name, reason: (error as Error).message };
  }
}

const SAFE_IMAGE_URL = /^data:image\/(?:png|jpeg|gif|webp);base64,[A-Za-z0-9+/]+={0,2}$/;

/** Only inline images of the allowed types are ever shown: never a URL the browser would fetch. */
export function isSafeImageUrl(url: unknown): url is string {
  return typeof url === "string" && SAFE_IMAGE_URL.test(url);
}
