/**
 * Limits on images in a chat request, as OpenAI's and Anthropic's APIs have them. The API parsers
 * refuse more (images.ts); the web app checks the same numbers first. This file imports nothing:
 * the web build imports it too.
 */
export const IMAGE_LIMITS = {
  /** Images in one request, over all its messages. */
  imagesPerRequest: 20,
  /** Bytes of one image sent inline (a `data:` URL, decoded): 20 MiB. */
  bytesPerImage: 20 * 1024 * 1024,
  /** Characters of an `https:` image URL. */
  urlLength: 8192,
  /** The image types taken inline, as `data:` URLs and Anthropic `media_type`s. */
  mediaTypes: ["image/png", "image/jpeg", "image/gif", "image/webp"],
} as const;

export type ImageMediaType = (typeof IMAGE_LIMITS.mediaTypes)[number];
