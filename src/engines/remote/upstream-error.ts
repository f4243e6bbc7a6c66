/**
 * How an upstream's failures become qiusuo's errors. The kind decides two things: the status the
 * client sees (502/503/504 for the upstream's fault, 4xx for the request's) and `isRetryable`,
 * which the replica pool reads to fail over to another replica before the first token. So a
 * failure that another replica could serve is retryable; a request the upstream refused on its
 * merits is not, since every replica of a pool runs the same model and would refuse it too.
 *
 * Messages name the pool and the replica, quote the upstream's own words (bounded) when it gave
 * any, and never hold the key: every quoted text goes through `Redactor` first.
 */
import { QiusuoError } from "../../core/errors.js";

/** Which replica an error came from, as messages name it (never with credentials). */
export interface UpstreamLabel {
  pool: string;
  replica: string;
}

/** The most characters of an upstream's own message quoted in ours. */
export const QUOTE_LIMIT = 500;

/** Removes the upstream key from text quoted from an upstream (which may echo our headers). */
export class Redactor {
  constructor(private readonly secret: string | undefined) {}

  redact(text: string): string {
    let out = text;
    // Short keys are not searched for: replacing a 2-letter "key" would garble every message, and
    // a key that short is no secret. The Bearer rule below still catches an echoed header.
    if (this.secret !== undefined && this.secret.length >= 4) out = out.split(this.secret).join("[redacted]");
    return out.replace(/(bearer|basic)\s+[^\s"',;}]+/gi, "$1 [redacted]");
  }

  /** Redacted, whitespace collapsed, cut to `QUOTE_LIMIT` characters. */
  quote(text: string): string {
    const flat = this.redact(text).replace(/\s+/g, " ").trim();
    return flat.length > QUOTE_LIMIT ? `${flat.slice(0, QUOTE_LIMIT)}…` : flat;
  }
}

/** What we had asked, so a refusal can be told apart from a plain bad request. */
export interface RequestContext {
  /** The request asked for JSON output (`response_format` json_object or json_schema). */
  jsonMode?: boolean;
  /** The upstream model id, for messages. */
  upstreamModel?: string;
}

function where(label: UpstreamLabel): string {
  return `upstream '${label.pool}' (${label.replica})`;
}

/** An upstream error body's fields, from OpenAI's envelope, llama-server's, Ollama's or plain text. */
export interface UpstreamErrorDetails {
  message: string;
  type?: string;
  code?: string;
  param?: string;
}

/** Reads `{error:{message,type,code,param}}`, `{error:"..."}`, `{message}`, `{detail}` or raw text. */
export function errorDetails(body: unknown, rawText = ""): UpstreamErrorDetails {
  const record = asRecord(body);
  const error = record?.error;
  if (typeof error === "string") return { message: error };
  const inner = asRecord(error) ?? record;
  if (inner) {
    const message = [inner.message, inner.detail, inner.msg].find((value) => typeof value === "string");
    const details: UpstreamErrorDetails = {
      message: typeof message === "string" ? message : rawText || JSON.stringify(inner),
    };
    if (typeof inner.type === "string") details.type = inner.type;
    if (typeof inner.code === "string" || typeof inner.code === "number") details.code = String(inner.code);
    if (typeof inner.param === "string") details.param = inner.param;
    return details;
  }
  return { message: rawText };
}

/**
 * The error for an upstream's non-2xx answer (or a 2xx whose body is an error envelope, with the
 * status taken from its `code` when numeric).
 */
export function errorFromStatus(
  label: UpstreamLabel,
  redactor: Redactor,
  status: number,
  details: UpstreamErrorDetails,
  options: RequestContext & { retryAfterSeconds?: number } = {},
): QiusuoError {
  const quoted = redactor.quote(details.message);
  const said = quoted.length > 0 ? `: ${quoted}` : ".";
  const model = options.upstreamModel ? ` model '${options.upstreamModel}'` : "";
  if (status === 429) {
    return new QiusuoError(
      "rate_limit",
      "upstream_rate_limited",
      `The ${where(label)} is rate-limiting qiusuo (429)${said}`,
      options.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: options.retryAfterSeconds },
    );
  }
  if (status === 401 || status === 403) {
    // Kept retryable (bad_gateway): the key is per pool, but each replica is its own server, and
    // one started with another --api-key should not fail requests the others can serve; the pool
    // ejects it. When every replica refuses, this message reaches the admin through the client.
    return new QiusuoError(
      "bad_gateway",
      "upstream_auth",
      `The ${where(label)} refused qiusuo's key (${status}); set ` +
        `QIUSUO_UPSTREAM_${envName(label.pool)}_KEY to a key it accepts${said}`,
    );
  }
  if (
    status === 400 ||
    status === 404 ||
    status === 405 ||
    status === 409 ||
    status === 413 ||
    status === 422
  ) {
    if (options.jsonMode && /response_format|json|schema|grammar|guided|structured/i.test(details.message)) {
      return new QiusuoError(
        "invalid_parameter",
        "response_format_unsupported",
        `The ${where(label)}${model} cannot produce this response_format${said}`,
        { param: "response_format" },
      );
    }
    if (
      details.type === "exceed_context_size_error" ||
      /context[ _]length|context window|maximum context|exceeds? the (available )?context/i.test(
        details.message,
      )
    ) {
      return new QiusuoError(
        "invalid_request",
        "context_length_exceeded",
        `The prompt does not fit the context of the ${where(label)}${model}${said}`,
        { param: "messages" },
      );
    }
    if (status === 404 && /model/i.test(details.message)) {
      return new QiusuoError(
        "invalid_request",
        "model_not_found",
        `The ${where(label)} does not serve the${model || " requested model"}${said}`,
        { param: "model" },
      );
    }
    if (status === 404 || status === 405) {
      return new QiusuoError(
        "invalid_request",
        "upstream_endpoint_not_found",
        `The ${where(label)} does not offer this endpoint (${status})${said}`,
      );
    }
    const param = details.param === undefined ? {} : { param: details.param };
    return status === 422
      ? new QiusuoError(
          "invalid_parameter",
          "upstream_invalid_parameter",
          `The ${where(label)} refused the request${said}`,
          param,
        )
      : new QiusuoError(
          "invalid_request",
          "upstream_invalid_request",
          `The ${where(label)} refused the request (${status})${said}`,
          param,
        );
  }
  if (status === 503) {
    // Loading a model, or a full queue (Ollama's "server busy"): another replica may take it.
    return new QiusuoError(
      "unavailable",
      "upstream_unavailable",
      `The ${where(label)} is unavailable (503)${said}`,
      options.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: options.retryAfterSeconds },
    );
  }
  if (status === 504 || status === 408) {
    return new QiusuoError(
      "gateway_timeout",
      "upstream_timeout",
      `The ${where(label)} timed out (${status})${said}`,
    );
  }
  // Any other 4xx is an upstream we do not understand rather than a fault of the client's request.
  return new QiusuoError("bad_gateway", "upstream_error", `The ${where(label)} failed (${status})${said}`);
}

/**
 * A body that is an error envelope although the status was 200 (an SSE event, or a JSON reply):
 * it reads as the status its `code` names, or as a 502 when it names none.
 */
export function errorFromBody(
  label: UpstreamLabel,
  redactor: Redactor,
  body: Record<string, unknown>,
  context: RequestContext = {},
): QiusuoError {
  const details = errorDetails(body);
  const inner = asRecord(body.error);
  const code = Number(details.code ?? inner?.status);
  const status = Number.isInteger(code) && code >= 400 && code < 600 ? code : 502;
  return errorFromStatus(label, redactor, status, details, context);
}

/** Whether a parsed body is an error envelope (`{"error": …}`) rather than a reply. */
export function isErrorBody(body: unknown): boolean {
  const record = asRecord(body);
  return record !== undefined && record.error !== undefined && record.error !== null;
}

/** A 3xx: we never follow redirects, so a key is not sent to wherever one points. */
export function redirectError(
  label: UpstreamLabel,
  redactor: Redactor,
  status: number,
  location: string | null,
): QiusuoError {
  const target = location ? ` to ${redactor.quote(location)}` : "";
  return new QiusuoError(
    "bad_gateway",
    "upstream_redirect",
    `The ${where(label)} answered with a redirect (${status})${target}; point the pool at the final URL.`,
  );
}

/** The upstream's answer could not be read as what the protocol promises. */
export function malformedError(label: UpstreamLabel, what: string): QiusuoError {
  return new QiusuoError("bad_gateway", "upstream_bad_response", `The ${where(label)} sent ${what}.`);
}

export function tooLargeError(label: UpstreamLabel, what: string, limitBytes: number): QiusuoError {
  return new QiusuoError(
    "bad_gateway",
    "upstream_response_too_large",
    `The ${where(label)} sent a response too large: ${what} is over ${formatBytes(limitBytes)}.`,
  );
}

export function streamCutError(label: UpstreamLabel): QiusuoError {
  return new QiusuoError(
    "bad_gateway",
    "upstream_stream_cut",
    `The ${where(label)} closed the stream before the reply ended.`,
  );
}

export function headersTimeoutError(label: UpstreamLabel, ms: number): QiusuoError {
  return new QiusuoError(
    "gateway_timeout",
    "upstream_timeout",
    `The ${where(label)} did not answer within ${formatSeconds(ms)}.`,
  );
}

export function idleTimeoutError(label: UpstreamLabel, ms: number): QiusuoError {
  return new QiusuoError(
    "gateway_timeout",
    "upstream_idle_timeout",
    `The ${where(label)} sent nothing for ${formatSeconds(ms)} in the middle of its reply.`,
  );
}

/** Network codes that mean "this replica cannot be reached now", so another one should be tried. */
const UNREACHABLE = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
  "ETIMEDOUT",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_CLOSED",
]);

/**
 * A fetch that failed without an HTTP answer (before the headers). The cause's code is named so
 * an admin can tell a refused connection from a DNS failure; its message is not quoted, as it may
 * hold a URL.
 */
export function networkError(label: UpstreamLabel, error: unknown): QiusuoError {
  const code = networkCode(error);
  const reason = code ? ` (${code})` : "";
  if (code === "UND_ERR_HEADERS_TIMEOUT") {
    return new QiusuoError(
      "gateway_timeout",
      "upstream_timeout",
      `The ${where(label)} did not answer in time${reason}.`,
    );
  }
  if (code === undefined || UNREACHABLE.has(code) || code.startsWith("E")) {
    return new QiusuoError(
      "unavailable",
      "upstream_unreachable",
      `The ${where(label)} cannot be reached${reason}.`,
      { cause: error },
    );
  }
  return new QiusuoError("bad_gateway", "upstream_error", `The ${where(label)} failed${reason}.`, {
    cause: error,
  });
}

/** A failure while reading the body after a 200 (connection reset, undici's own body timeout). */
export function bodyError(label: UpstreamLabel, error: unknown): QiusuoError {
  const code = networkCode(error);
  if (code === "UND_ERR_BODY_TIMEOUT") {
    return new QiusuoError(
      "gateway_timeout",
      "upstream_idle_timeout",
      `The ${where(label)} stopped sending in the middle of its reply (${code}).`,
    );
  }
  return streamCutError(label);
}

/** The code of a fetch failure: undici wraps the socket's error as `cause`. */
export function networkCode(error: unknown): string | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 4; depth++) {
    const code = (current as Error & { code?: unknown }).code;
    if (typeof code === "string") return code;
    current = current.cause;
  }
  return undefined;
}

/** Retry-After in seconds (delta-seconds or an HTTP date), when present and sane. */
export function retryAfterSeconds(header: string | null, now = Date.now()): number | undefined {
  if (header === null) return undefined;
  const seconds = Number(header.trim());
  if (Number.isFinite(seconds) && seconds >= 0) return Math.min(Math.ceil(seconds), 3600);
  const date = Date.parse(header);
  if (Number.isNaN(date)) return undefined;
  return Math.min(Math.max(0, Math.ceil((date - now) / 1000)), 3600);
}

/** `QIUSUO_UPSTREAM_<NAME>_KEY`'s NAME for a pool name (upper case, non-alphanumerics as `_`). */
export function envName(pool: string): string {
  return pool.toUpperCase().replace(/[^A-Z0-9]/g, "_");
}

function formatBytes(bytes: number): string {
  return bytes >= 1024 * 1024
    ? `${Math.round(bytes / (1024 * 1024))} MiB`
    : `${Math.round(bytes / 1024)} KiB`;
}

function formatSeconds(ms: number): string {
  return ms >= 1000 ? `${Math.round(ms / 100) / 10} s` : `${ms} ms`;
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}
