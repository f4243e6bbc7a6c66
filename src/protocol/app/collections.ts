/**
 * Knowledge collections in the chat app's API: their limits and the request bodies, parsed into
 * DeepSeek-style 400/422 errors naming the field.
 */
import { z } from "zod";
import { InvalidRequestError } from "../../core/errors.js";
import { optional, parseWith } from "../validation.js";

export const COLLECTION_LIMITS = {
  /** Characters of a collection's name. */
  nameChars: 100,
  /** Characters of its description. */
  descriptionChars: 2_000,
  /** Characters of a file's name. */
  fileNameChars: 255,
  /** Characters of a search query. */
  queryChars: 2_000,
  /** Collections one search may cover. */
  searchCollections: 50,
  /** Passages one search may return (default 8). */
  searchResults: 50,
} as const;

const name = z.string().trim().min(1).max(COLLECTION_LIMITS.nameChars);
const description = z.string().max(COLLECTION_LIMITS.descriptionChars);
const id = z.string().min(1).max(100);

/** A new collection (`name` required) or a change to one (PATCH: both optional). */
export const parseCollectionFields = (body: unknown, options: { create: boolean }) =>
  parseWith(
    z.object({
      name: options.create ? name : optional(name),
      description: optional(description),
    }),
    body ?? {},
  );

/** `POST /api/collections/search`. */
export const parseCollectionSearch = (body: unknown) =>
  parseWith(
    z.object({
      query: z.string().trim().min(1).max(COLLECTION_LIMITS.queryChars),
      collectionIds: z.array(id).min(1).max(COLLECTION_LIMITS.searchCollections),
      limit: z.number().int().min(1).max(COLLECTION_LIMITS.searchResults).default(8),
    }),
    body ?? {},
  );

/**
 * The uploaded file's name from `X-File-Name` (percent-encoded UTF-8, so any name survives an
 * HTTP header); only its last path segment is kept.
 */
export function parseFileName(header: string | string[] | undefined): string {
  const raw = Array.isArray(header) ? header[0] : header;
  if (raw === undefined || raw.trim() === "")
    throw new InvalidRequestError(
      "missing_file_name",
      "Send the file's name in the X-File-Name header.",
      "X-File-Name",
    );
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    throw new InvalidRequestError(
      "invalid_file_name",
      "X-File-Name must be the file's name, percent-encoded as UTF-8.",
      "X-File-Name",
    );
  }
  const base = decoded.split(/[/\\]/).pop()!.trim();
  // Control characters would end up in citations and logs.
  // eslint-disable-next-line no-control-regex
  if (base === "" || base.length > COLLECTION_LIMITS.fileNameChars || /[\u0000-\u001f\u007f]/.test(base))
    throw new InvalidRequestError(
      "invalid_file_name",
      `X-File-Name must be a file name of 1 to ${COLLECTION_LIMITS.fileNameChars} characters without control characters.`,
      "X-File-Name",
    );
  return base;
}
