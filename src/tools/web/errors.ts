/**
 * The errors web search and page fetching throw. Both are QiusuoErrors with stable codes, so a
 * turn can show the message in the thread and an `/api` route can map them to a status without
 * knowing anything about sockets.
 */
import { QiusuoError, type ErrorKind } from "../../core/errors.js";

/** Why a search provider could not give results. */
export type SearchFailure =
  /** Nothing answered: connection refused, DNS failure, reset. */
  | "unreachable"
  /** It did not answer within the time limit. */
  | "timeout"
  /** SearXNG without `json` in `search.formats`, or a key the provider refused. */
  | "forbidden"
  | "rate_limited"
  /** It answered, but not with the JSON its API documents (or too much of it). */
  | "bad_reply"
  /** SearXNG answered, but every engine it asked failed and there are no results. */
  | "engines_failed";

/** A search provider that is down, misconfigured or misbehaving: code `search_unavailable`. */
export class SearchUnavailableError extends QiusuoError {
  override readonly name = "SearchUnavailableError";
  readonly reason: SearchFailure;

  constructor(reason: SearchFailure, message: string, options: { cause?: unknown } = {}) {
    super("unavailable", "search_unavailable", message, options);
    this.reason = reason;
  }
}

/** Why a page could not be fetched. */
export type FetchFailure =
  /** Not http(s), credentials in the URL, or not a URL at all. */
  | "url_not_allowed"
  /** The host resolves to an address the SSRF guard refuses (loopback, private, metadata...). */
  | "address_not_allowed"
  /** DNS failure, connection refused or reset, TLS failure. */
  | "unreachable"
  /** Connecting, or the whole fetch, took longer than its limit with nothing read. */
  | "timeout"
  | "too_many_redirects"
  /** Not HTML or plain text (a PDF, an image, an archive...). */
  | "unsupported_type"
  /** The server answered with a status other than 2xx or a redirect. */
  | "http_status";

const KIND: Record<FetchFailure, ErrorKind> = {
  url_not_allowed: "invalid_parameter",
  address_not_allowed: "invalid_parameter",
  unreachable: "bad_gateway",
  timeout: "gateway_timeout",
  too_many_redirects: "bad_gateway",
  unsupported_type: "invalid_parameter",
  http_status: "bad_gateway",
};

/** A page the fetcher refused or could not read; `reason` is also the error's `code`. */
export class PageFetchError extends QiusuoError {
  override readonly name = "PageFetchError";
  readonly reason: FetchFailure;

  constructor(reason: FetchFailure, message: string, options: { cause?: unknown } = {}) {
    super(KIND[reason], reason, message, options);
    this.reason = reason;
  }
}

/** The error an aborted signal carries, for callers that stop a turn (never wrapped in ours). */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("This operation was aborted", "AbortError");
}
