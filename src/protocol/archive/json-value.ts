/** Small readers for JSON of unknown shape: each answers undefined instead of throwing. */
import { ArchiveError } from "./archive-error.js";
import type { Pacer } from "./pacer.js";

export type JsonRecord = Record<string, unknown>;

export function isRecord(value: unknown): value is JsonRecord {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function stringOf(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

/** A time as ms since the epoch, from seconds, ms or an ISO 8601 string. */
export function timeOf(value: unknown): number | undefined {
  if (typeof value === "number" && Number.isFinite(value) && value >= 0) {
    // Seconds until the year 33658; anything larger is already ms.
    return Math.round(value < 1e12 ? value * 1000 : value);
  }
  if (typeof value === "string") {
    const parsed = Date.parse(value);
    return Number.isNaN(parsed) ? undefined : parsed;
  }
  return undefined;
}

/** `text` cut to at most `length` characters, for an error message that quotes the file. */
export function shortened(text: string, length: number): string {
  return text.length > length ? `${text.slice(0, length)}…` : text;
}

/** A source string for an error message: quoted, and cut short so a huge id or title stays out. */
export function quoted(text: string): string {
  return JSON.stringify(shortened(text, 60));
}

/**
 * Throws `ArchiveError("import_too_large")` naming `where` when arrays and objects in `json`
 * nest deeper than `limit` levels.
 */
export async function checkDepth(json: unknown, limit: number, where: string, pacer: Pacer): Promise<void> {
  // Two parallel stacks, without recursion: a value and its depth.
  const values: unknown[] = [json];
  const depths: number[] = [0];
  while (values.length > 0) {
    const value = values.pop();
    const depth = depths.pop()!;
    if (typeof value !== "object" || value === null) continue;
    if (depth >= limit) {
      throw new ArchiveError(
        "import_too_large",
        `${where} nests arrays and objects deeper than ${limit} levels; an import takes at most ${limit}.`,
      );
    }
    for (const child of Array.isArray(value) ? value : Object.values(value)) {
      if (pacer.due()) await pacer.pause();
      if (typeof child !== "object" || child === null) continue;
      values.push(child);
      depths.push(depth + 1);
    }
  }
}
