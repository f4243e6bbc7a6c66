import { InvalidRequestError } from "../core/errors.js";
import { IMAGE_LIMITS, sniffImageType, type ImageMediaType } from "./image-limits.js";

/**
 * Checks an image URL from a request: an inline `data:image/(png|jpeg|gif|webp);base64,...` URL
 * whose bytes are valid base64, at most {@link IMAGE_LIMITS.bytesPerImage} decoded, and start with
 * the signature of the declared type; or an `https:` URL, which only an upstream that accepts
 * images ever fetches (qiusuo itself never does). Anything else is a 400 naming `param`.
 */
export function checkImageUrl(url: string, param: string): void {
  if (/^data:/i.test(url)) {
    const header = /^data:(image\/(?:png|jpeg|gif|webp));base64,/i.exec(url);
    if (!header) {
      throw new InvalidRequestError(
        "invalid_image_url",
        `An inline image must be a \`data:image/png|jpeg|gif|webp;base64,...\` URL (in \`${param}\`).`,
        param,
      );
    }
    checkImageData(header[1]!.toLowerCase() as ImageMediaType, url, header[0].length, param);
    return;
  }
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (!parsed || parsed.protocol !== "https:" || parsed.hostname === "") {
    throw new InvalidRequestError(
      "invalid_image_url",
      `An image URL must be an \`https:\` URL or a base64 \`data:image/...\` URL (in \`${param}\`).`,
      param,
    );
  }
  if (url.length > IMAGE_LIMITS.urlLength) {
    throw new InvalidRequestError(
      "invalid_image_url",
      `An image URL may be at most ${IMAGE_LIMITS.urlLength} characters; this one has ${url.length} (in \`${param}\`).`,
      param,
    );
  }
}

/** Whether `value` is one of the image types taken inline. */
export function isImageMediaType(value: string): value is ImageMediaType {
  return (IMAGE_LIMITS.mediaTypes as readonly string[]).includes(value);
}

/** Refuses a request with more than {@link IMAGE_LIMITS.imagesPerRequest} images; `param` names the first one over. */
export function tooManyImages(param: string): InvalidRequestError {
  return new InvalidRequestError(
    "too_many_images",
    `A request may hold at most ${IMAGE_LIMITS.imagesPerRequest} images (the one in \`${param}\` is over).`,
    param,
  );
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Checks the base64 text of `url` from `start` on, without decoding more than its first bytes:
 * the size follows from the length, and the type from the signature.
 */
function checkImageData(type: ImageMediaType, url: string, start: number, param: string): void {
  const length = url.length - start;
  const padding = url.endsWith("==") ? 2 : url.endsWith("=") ? 1 : 0;
  // Unpadded base64 is taken too; a length of 4n+1 is never valid.
  if (length === 0 || length % 4 === 1 || !BASE64.test(url.slice(start))) {
    throw new InvalidRequestError("invalid_image", `The image in \`${param}\` is not valid base64.`, param);
  }
  const bytes = Math.floor((length * 3) / 4) - padding;
  if (bytes > IMAGE_LIMITS.bytesPerImage) {
    throw new InvalidRequestError(
      "image_too_large",
      `The image in \`${param}\` is ${bytes} bytes; an image may be at most ${IMAGE_LIMITS.bytesPerImage} bytes (20 MiB).`,
      param,
    );
  }
  const head = Buffer.from(url.slice(start, start + 16), "base64");
  if (sniffImageType(head) !== type) {
    throw new InvalidRequestError(
      "invalid_image",
      `The image in \`${param}\` is not a ${type.slice("image/".length).toUpperCase()} file: its bytes do not start with that format's signature.`,
      param,
    );
  }
}
