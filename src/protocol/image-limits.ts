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

/**
 * The image type whose signature `head` (a file's first 12 bytes or more) starts with, if any:
 * what a `data:` URL's declared type must match, and what the web app labels a picked file with.
 */
export function sniffImageType(head: Uint8Array): ImageMediaType | undefined {
  const startsWith = (from: number, bytes: readonly number[]) =>
    bytes.every((byte, index) => head[from + index] === byte);
  const text = (value: string) => [...value].map((char) => char.charCodeAt(0));
  if (startsWith(0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return "image/png";
  if (startsWith(0, [0xff, 0xd8, 0xff])) return "image/jpeg";
  if (startsWith(0, text("GIF87a")) || startsWith(0, text("GIF89a"))) return "image/gif";
  if (startsWith(0, text("RIFF")) && startsWith(8, text("WEBP"))) return "image/webp";
  return undefined;
}
