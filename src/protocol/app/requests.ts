/** The request bodies and queries of the chat app's API (`/api`, see docs/api.md). */
import { z } from "zod";
import { InvalidRequestError, QiusuoError } from "../../core/errors.js";
import { IMAGE_LIMITS } from "../image-limits.js";
import { checkImageUrl } from "../images.js";
import { optional, parseWith } from "../validation.js";
import { FILE_LIMITS } from "./file-limits.js";
import { PROJECT_LIMITS } from "./projects.js";

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

const id = z.string().min(1).max(100);

/**
 * Collections or MCP servers a conversation uses: at most 20, no id twice. Whether each is the
 * user's is checked at each turn, where one that is gone is skipped (it may be deleted later anyway).
 */
const toolIds = z
  .array(id)
  .max(20)
  .refine((ids) => new Set(ids).size === ids.length, "must not name an id twice");

export const conversationSettings = z
  .object({
    model: optional(z.string().min(1).max(200)),
    systemPrompt: optional(z.string().max(100_000)),
    temperature: optional(z.number().min(0).max(2)),
    webSearch: optional(z.boolean()),
    collectionIds: optional(toolIds),
    mcpServerIds: optional(toolIds),
  })
  .strict();

/**
 * A new conversation's title, settings and project, or a change to them (PATCH), which may also
 * move it (`projectId`, null for out of any project) and pin it: all optional.
 */
export const parseConversationFields = (body: unknown) =>
  parseWith(
    z.object({
      title: optional(z.string().trim().min(1).max(200)),
      settings: optional(conversationSettings),
      projectId: id.nullable().optional(),
      pinned: optional(z.boolean()),
    }),
    body ?? {},
  );

/** `?project=ID` keeps a list or search to one project's conversations. */
const projectFilter = { project: optional(id) };

export const parseListQuery = (query: unknown) =>
  parseWith(
    z.object({
      limit: z.coerce.number().int().min(1).max(200).default(50),
      cursor: optional(z.string().max(500)),
      ...projectFilter,
    }),
    query,
  );

export const parseSearchQuery = (query: unknown) =>
  parseWith(
    z.object({
      q: z.string().trim().min(1).max(500),
      limit: z.coerce.number().int().min(1).max(100).default(20),
      ...projectFilter,
    }),
    query,
  );

/** Text no longer than `chars` characters, or a 400 naming the field and both numbers. */
function boundedText(value: string | undefined, chars: number, param: string, what: string): void {
  if (value === undefined || value.length <= chars) return;
  throw new InvalidRequestError(
    `${param.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`)}_too_long`,
    `${what} has ${value.length} characters; at most ${chars} are allowed.`,
    param,
  );
}

/** A new project (name required) or a change to one (PATCH: both optional). */
export const parseProjectFields = (body: unknown, options: { create: boolean }) => {
  const name = z.string().trim().min(1).max(PROJECT_LIMITS.nameChars);
  const fields = parseWith(
    z.object({
      name: options.create ? name : optional(name),
      instructions: optional(z.string()),
    }),
    body ?? {},
  );
  boundedText(fields.instructions, PROJECT_LIMITS.instructionsChars, "instructions", "The instructions");
  return fields;
};

/** Delete a project: its conversations are kept (moved out of it) unless `chats=delete`. */
export const parseProjectDelete = (query: unknown) =>
  parseWith(z.object({ chats: z.enum(["keep", "delete"]).default("keep") }), query ?? {});

/**
 * Files added to a project, as the composer extracts them (name and text). The count and sizes
 * are checked against what the project holds by {@link checkProjectFiles}.
 */
export const parseProjectFiles = (body: unknown) =>
  parseWith(
    z.object({
      files: z.array(z.object({ name: z.string().trim().min(1).max(255), text: z.string() })).min(1),
    }),
    body,
  );

/**
 * Whether a project may take `added` files beside `existing` ones: a 400 past the count, a 413
 * past a file's or the project's size, naming the numbers.
 */
export function checkProjectFiles(
  existing: ReadonlyArray<{ bytes: number }>,
  added: ReadonlyArray<{ bytes: number; name?: string }>,
): void {
  if (existing.length + added.length > PROJECT_LIMITS.files) {
    throw new InvalidRequestError(
      "too_many_project_files",
      `A project holds at most ${PROJECT_LIMITS.files} files; it has ${existing.length} and ${added.length} were added.`,
      "files",
    );
  }
  for (const [index, file] of added.entries()) {
    if (file.bytes > PROJECT_LIMITS.textBytesPerFile) {
      throw new QiusuoError(
        "request_too_large",
        "project_file_too_large",
        `The text of ${file.name ? `'${file.name}'` : "a file"} is ${file.bytes} bytes; a project file may have at most ${PROJECT_LIMITS.textBytesPerFile} bytes of text.`,
        { param: `files.${index}.text` },
      );
    }
  }
  const total = [...existing, ...added].reduce((sum, file) => sum + file.bytes, 0);
  if (total > PROJECT_LIMITS.totalTextBytes) {
    throw new QiusuoError(
      "request_too_large",
      "project_files_too_large",
      `The project's files would hold ${total} bytes of text; a project may hold at most ${PROJECT_LIMITS.totalTextBytes} bytes in all.`,
      { param: "files" },
    );
  }
}

export const parseCustomInstructions = (body: unknown) => {
  const fields = parseWith(
    z.object({ aboutUser: z.string(), responseStyle: z.string(), enabled: z.boolean() }),
    body,
  );
  const chars = PROJECT_LIMITS.customInstructionsChars;
  boundedText(fields.aboutUser, chars, "aboutUser", "What qiusuo should know about you");
  boundedText(fields.responseStyle, chars, "responseStyle", "How qiusuo should answer");
  return fields;
};

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

/** The user's answer to a reply that stopped at an "ask me first" tool call, with the reply's settings. */
export const parseToolApproval = (body: unknown) =>
  parseWith(z.object({ approve: z.boolean(), ...generation }), body);

/** `POST /api/web-search`: a query, and how many of the top pages to fetch for their text (default none). */
export const parseWebSearch = (body: unknown) =>
  parseWith(
    z.object({
      query: z.string().trim().min(1).max(500),
      fetch: z.number().int().min(0).max(5).default(0),
    }),
    body,
  );

/**
 * A user message with attached files, in DeepSeek's file template: each file as
 * `[file name]: …`, its text between `[file content begin]` and `[file content end]`, then the
 * question.
 */
export function withFiles(content: string, files: ReadonlyArray<{ name: string; text: string }>): string {
  if (files.length === 0) return content;
  return `${fileBlocks(files)}\n${content}`;
}

/** Files in DeepSeek's file template, one block each, newline-separated. */
export function fileBlocks(files: ReadonlyArray<{ name: string; text: string }>): string {
  return files
    .map((file) => `[file name]: ${file.name}\n[file content begin]\n${file.text}\n[file content end]`)
    .join("\n");
}

export const parseModelPull = (body: unknown) =>
  parseWith(z.object({ model: z.string().trim().min(1).max(500) }), body);
