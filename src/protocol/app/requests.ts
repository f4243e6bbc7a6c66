/** The request bodies and queries of the chat app's API (`/api`, see docs/api.md). */
import { z } from "zod";
import { InvalidRequestError } from "../../core/errors.js";
import { IMAGE_LIMITS } from "../image-limits.js";
import { checkImageUrl } from "../images.js";
import { optional, parseWith } from "../validation.js";
import { FILE_LIMITS } from "./file-limits.js";

/** A user's login name. */
export const userName = z
  .string()
  .trim()
  .min(1)
  .max(64)
  .regex(/^[^\s/\\]+$/u, "must have no spaces or slashes");
export const password = z.string().min(8, "must have at least 8 characters").max(1024);
const positive = optional(z.number().int().min(1).max(Number.MAX_SAFE_INTEGER));

export const parseLogin = (body: unknown) =>
  parseWith(z.object({ name: z.string().min(1).max(64), password: z.string().min(1).max(1024) }), body);

export const parseSetup = (body: unknown) =>
  parseWith(z.object({ token: z.string().min(1).max(200), name: userName, password }), body);

/** A new key's name and limits (absent: unlimited). */
export const newKey = z.object({
  name: z.string().trim().min(1).max(64),
  rpm: positive,
  tpm: positive,
  maxConcurrent: positive,
  quotaTokens: positive,
  quotaRequests: positive,
});

export const parseNewKey = (body: unknown) => parseWith(newKey, body ?? {});

const time = optional(z.coerce.number().int().min(0));

export const parseUsageQuery = (query: unknown, groupings: readonly [string, ...string[]]) =>
  parseWith(
    z.object({
      groupBy: z.enum(groupings as [string, ...string[]]).default("day"),
      since: time,
      until: time,
    }),
    query,
  );

export const conversationSettings = z
  .object({
    model: optional(z.string().min(1).max(200)),
    systemPrompt: optional(z.string().max(100_000)),
    temperature: optional(z.number().min(0).max(2)),
  })
  .strict();

/** A new conversation's title and settings, or a change to them (PATCH): both optional. */
export const parseConversationFields = (body: unknown) =>
  parseWith(
    z.object({
      title: optional(z.string().trim().min(1).max(200)),
      settings: optional(conversationSettings),
    }),
    body ?? {},
  );

export const parseListQuery = (query: unknown) =>
  parseWith(
    z.object({
      limit: z.coerce.number().int().min(1).max(200).default(50),
      cursor: optional(z.string().max(500)),
    }),
    query,
  );

export const parseSearchQuery = (query: unknown) =>
  parseWith(
    z.object({
      q: z.string().trim().min(1).max(500),
      limit: z.coerce.number().int().min(1).max(100).default(20),
    }),
    query,
  );

export const parseSetCurrent = (body: unknown) =>
  parseWith(z.object({ messageId: z.string().min(1).max(100) }), body);

const tooMuchText = `must be at most ${FILE_LIMITS.textBytesPerFile} bytes of UTF-8 text`;

const generation = {
  model: optional(z.string().min(1).max(200)),
  thinking: optional(z.boolean()),
  temperature: optional(z.number().min(0).max(2)),
};

/** An image attached in the app: always inline (a `data:` URL read from the user's file). */
export interface AttachedImage {
  url: string;
  name?: string | undefined;
}

/** The most characters of one inline image: a 20 MiB image in base64, with its `data:` header. */
const MAX_IMAGE_URL_CHARS = Math.ceil(IMAGE_LIMITS.bytesPerImage / 3) * 4 + 64;

const newMessage = z.object({
  parentId: z.string().min(1).max(100).nullable(),
  content: z.string().max(1_000_000),
  files: optional(
    z
      .array(
        z.object({
          name: z.string().min(1).max(255),
          // Characters first, a cheap bound (a UTF-16 unit is at least one UTF-8 byte), then bytes.
          text: z
            .string()
            .max(FILE_LIMITS.textBytesPerFile, tooMuchText)
            .refine((text) => Buffer.byteLength(text, "utf8") <= FILE_LIMITS.textBytesPerFile, tooMuchText),
        }),
      )
      .max(FILE_LIMITS.files),
  ),
  images: optional(
    z
      .array(
        z.object({
          url: z.string().max(MAX_IMAGE_URL_CHARS, "must be an image of at most 20 MiB"),
          name: optional(z.string().min(1).max(255)),
        }),
      )
      .max(IMAGE_LIMITS.imagesPerRequest),
  ),
  ...generation,
});

export const parseNewMessage = (body: unknown) => {
  const message = parseWith(newMessage, body);
  for (const [index, image] of (message.images ?? []).entries()) {
    const param = `images.${index}.url`;
    if (!image.url.startsWith("data:")) {
      throw new InvalidRequestError(
        "invalid_image_url",
        `An image attached in the app must be sent inline, as a \`data:image/...;base64,\` URL (in \`${param}\`).`,
        param,
      );
    }
    checkImageUrl(image.url, param);
  }
  return message;
};

export const parseRegenerate = (body: unknown) => parseWith(z.object(generation), body ?? {});

/**
 * A user message with attached files, in DeepSeek's file template: each file as
 * `[file name]: …`, its text between `[file content begin]` and `[file content end]`, then the
 * question.
 */
export function withFiles(content: string, files: ReadonlyArray<{ name: string; text: string }>): string {
  if (files.length === 0) return content;
  const blocks = files.map(
    (file) => `[file name]: ${file.name}\n[file content begin]\n${file.text}\n[file content end]`,
  );
  return `${blocks.join("\n")}\n${content}`;
}

export const parseModelPull = (body: unknown) =>
  parseWith(z.object({ model: z.string().trim().min(1).max(500) }), body);
