/**
 * The web search provider interface, and what every provider shares: one bounded JSON request
 * (time limit, size limit, failures turned into SearchUnavailableError) and the clean-up of
 * results (http(s) URLs only, duplicates dropped, each field cut to size). A provider's base URL
 * is configured by an admin, so it is trusted: it may be a SearXNG on localhost, and requests to
 * it do not go through the page fetcher's SSRF guard.
 */
import { QIUSUO_VERSION } from "../../core/version.js";
import { abortReason, SearchUnavailableError } from "./errors.js";

export interface SearchOptions {
  /** A BCP 47 tag such as `zh-CN` or `en`; providers that take a language pass it on. */
  language?: string;
  timeRange?: "day" | "week" | "month" | "year";
  /** 0 off, 1 moderate, 2 strict (SearXNG's scale). */
  safeSearch?: 0 | 1 | 2;
  /** Most results wanted; providers return at most this many (and never more than MAX_RESULTS). */
  limit: number;
}

export interface SearchResult {
  title: string;
  /** Always an http(s) URL. */
  url: string;
  /** The provider's excerpt of the page (may be empty). */
  snippet: string;
  /** The engine that found it, when the provider says (SearXNG aggregates several). */
  engine?: string;
  /** As the provider wrote it (ISO 8601 for SearXNG, often without a zone), when it gave a valid date. */
  publishedDate?: string;
}

export interface SearchProvider {
  /** A short name for logs and the UI: `searxng`, `brave`, `tavily`. */
  readonly name: string;
  /** Throws SearchUnavailableError when the provider cannot answer, or the abort reason when `signal` stops it. */
  search(query: string, options: SearchOptions, signal?: AbortSignal): Promise<SearchResult[]>;
}

/** The most results any provider returns, whatever `limit` asks. */
export const MAX_RESULTS = 20;
/** Longest title and snippet kept, in characters; a provider's text past this is cut. */
export const MAX_TITLE_CHARS = 300;
export const MAX_SNIPPET_CHARS = 1_000;
const MAX_URL_CHARS = 2_048;

/** How long a provider may take and how much JSON it may send. */
export interface ProviderLimits {
  /** Default 10 s. */
  timeoutMs?: number;
  /** Default 2 MiB. */
  maxResponseBytes?: number;
}

/** What went wrong, in the words an admin reading the thread needs. */
export type StatusMessage = (status: number, body: string) => SearchUnavailableError | undefined;

/**
 * One request to a provider, answered with its parsed JSON. `describeStatus` turns a provider's
 * own error statuses (SearXNG's 403, Brave's 401) into a clear message; other non-2xx answers
 * become a generic `bad_reply`.
 */
export async function requestJson(
  provider: string,
  url: URL,
  init: { method?: "GET" | "POST"; headers?: Record<string, string>; body?: string },
  limits: ProviderLimits,
  signal: AbortSignal | undefined,
  describeStatus: StatusMessage = () => undefined,
): Promise<unknown> {
  const timeoutMs = limits.timeoutMs ?? 10_000;
  const maxBytes = limits.maxResponseBytes ?? 2 * 1024 * 1024;
  const deadline = AbortSignal.timeout(timeoutMs);
  const combined = signal ? AbortSignal.any([signal, deadline]) : deadline;
  const where = `${provider} at ${url.origin}`;
  const failed = (error: unknown): never => {
    if (signal?.aborted) throw abortReason(signal);
    if (error instanceof SearchUnavailableError) throw error;
    if (deadline.aborted) {
      throw new SearchUnavailableError(
        "timeout",
        `The search provider ${where} did not answer within ${timeoutMs / 1000} s.`,
      );
    }
    const cause = (error as { cause?: { code?: unknown } }).cause;
    const code = typeof cause?.code === "string" ? ` (${cause.code})` : "";
    throw new SearchUnavailableError(
      "unreachable",
      `The search provider ${where} could not be reached${code}.`,
      {
        cause: error,
      },
    );
  };
  try {
    const response = await fetch(url, {
      method: init.method ?? "GET",
      headers: { accept: "application/json", "user-agent": `qiusuo/${QIUSUO_VERSION}`, ...init.headers },
      ...(init.body === undefined ? {} : { body: init.body }),
      signal: combined,
    });
    const body = await readLimited(response, maxBytes, where);
    if (!response.ok) {
      throw (
        describeStatus(response.status, body) ??
        (response.status === 429
          ? new SearchUnavailableError(
              "rate_limited",
              `The search provider ${where} is rate limiting us (429).`,
            )
          : new SearchUnavailableError(
              "bad_reply",
              `The search provider ${where} answered ${response.status}.`,
            ))
      );
    }
    try {
      return JSON.parse(body) as unknown;
    } catch (error) {
      throw new SearchUnavailableError(
        "bad_reply",
        `The search provider ${where} did not answer with JSON.`,
        {
          cause: error,
        },
      );
    }
  } catch (error) {
    return failed(error);
  }
}

/** The body as text, refusing one larger than `maxBytes` (read as a stream, never buffered whole). */
async function readLimited(response: Response, maxBytes: number, where: string): Promise<string> {
  if (response.body === null) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.length;
    if (size > maxBytes) {
      await response.body.cancel().catch(() => undefined);
      throw new SearchUnavailableError(
        "bad_reply",
        `The search provider ${where} sent more than ${maxBytes} bytes.`,
      );
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** A provider's raw result, before clean-up. */
export interface RawResult {
  title?: unknown;
  url?: unknown;
  snippet?: unknown;
  engine?: unknown;
  publishedDate?: unknown;
}

/** Results with http(s) URLs only, no URL twice, fields cut to size, at most `limit` of them. */
export function cleanResults(raw: readonly RawResult[], limit: number): SearchResult[] {
  const cap = Math.max(0, Math.min(Math.floor(limit), MAX_RESULTS));
  const seen = new Set<string>();
  const results: SearchResult[] = [];
  for (const item of raw) {
    if (results.length >= cap) break;
    const url = httpUrl(item.url);
    if (url === undefined || seen.has(url)) continue;
    seen.add(url);
    const result: SearchResult = {
      title: cut(text(item.title), MAX_TITLE_CHARS) || url,
      url,
      snippet: cut(text(item.snippet), MAX_SNIPPET_CHARS),
    };
    const engine = cut(text(item.engine), 100);
    if (engine) result.engine = engine;
    const published = validDate(item.publishedDate);
    if (published) result.publishedDate = published;
    results.push(result);
  }
  return results;
}

function text(value: unknown): string {
  return typeof value === "string" ? value.replace(/\s+/g, " ").trim() : "";
}

/** `value` cut to `max` characters without splitting a surrogate pair, with an ellipsis when cut. */
export function cut(value: string, max: number): string {
  if (value.length <= max) return value;
  if (max <= 0) return "";
  return `${Array.from(value.slice(0, max)).slice(0, -1).join("")}…`;
}

function httpUrl(value: unknown): string | undefined {
  if (typeof value !== "string" || value.length > MAX_URL_CHARS) return undefined;
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : undefined;
  } catch {
    return undefined;
  }
}

/** The provider's date as it wrote it (often without a zone), when it is a date at all. */
function validDate(value: unknown): string | undefined {
  if (typeof value !== "string" || value.length > 40 || Number.isNaN(Date.parse(value))) return undefined;
  return value;
}
