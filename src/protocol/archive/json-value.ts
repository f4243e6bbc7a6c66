/** Small readers for JSON of unknown shape: each answers undefined instead of throwing. */
import { ArchiveError } from "./archive-error.js";
import { MAX_JSON_DEPTH } from "./imported-conversation.js";

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

/** Throws `ArchiveError("import_too_large")` when arrays and objects nest deeper than the limit. */
export function checkDepth(json: unknown): void {
  const stack: Array<{ value: unknown; depth: number }> = [{ value: json, depth: 0 }];
  while (stack.length > 0) {
    const { value, depth } = stack.pop()!;
    if (typeof value !== "object" || value === null) continue;
    if (depth >= MAX_JSON_DEPTH) {
      throw new ArchiveError("import_too_large", `The file nests deeper than ${MAX_JSON_DEPTH} levels.`);
    }
    for (const child of Array.isArray(value) ? value : Object.values(value)) {
      if (typeof child === "object" && child !== null) stack.push({ value: child, depth: depth + 1 });
    }
  }
}
