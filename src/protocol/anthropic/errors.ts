import { toQiusuoError, type ErrorKind, type QiusuoError } from "../../core/errors.js";

/** The error `type`s Anthropic's Messages API uses. */
export type AnthropicErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "billing_error"
  | "permission_error"
  | "not_found_error"
  | "request_too_large"
  | "rate_limit_error"
  | "api_error"
  | "overloaded_error";

/**
 * The one table for the Anthropic routes. It differs from DeepSeek's on purpose: Anthropic answers
 * every bad value with 400 (no 422), and calls "try again later" `overloaded_error` (Anthropic
 * sends that as 529; we keep 503, which every HTTP client knows to retry).
 */
const statusByKind: Record<ErrorKind, { status: number; type: AnthropicErrorType }> = {
  invalid_request: { status: 400, type: "invalid_request_error" },
  invalid_parameter: { status: 400, type: "invalid_request_error" },
  authentication: { status: 401, type: "authentication_error" },
  insufficient_balance: { status: 402, type: "billing_error" },
  permission: { status: 403, type: "permission_error" },
  not_found: { status: 404, type: "not_found_error" },
  conflict: { status: 409, type: "invalid_request_error" },
  rate_limit: { status: 429, type: "rate_limit_error" },
  request_too_large: { status: 413, type: "request_too_large" },
  headers_too_large: { status: 431, type: "invalid_request_error" },
  request_timeout: { status: 408, type: "invalid_request_error" },
  unavailable: { status: 503, type: "overloaded_error" },
  bad_gateway: { status: 502, type: "api_error" },
  gateway_timeout: { status: 504, type: "api_error" },
  internal: { status: 500, type: "api_error" },
};

/** Anthropic's error body: `{"type":"error","error":{"type","message"}}`. */
export interface AnthropicErrorBody {
  type: "error";
  error: { type: AnthropicErrorType; message: string };
}

export interface AnthropicWireError {
  status: number;
  headers: Record<string, string>;
  body: AnthropicErrorBody;
  /** The error itself, for logging the cause of internal errors. */
  error: QiusuoError;
}

export function errorBody(type: AnthropicErrorType, message: string): AnthropicErrorBody {
  return { type: "error", error: { type, message } };
}

/** Maps anything thrown to Anthropic's status and body, without exposing internals. */
export function toAnthropicError(thrown: unknown): AnthropicWireError {
  const error = toQiusuoError(thrown);
  const { status, type } = statusByKind[error.kind];
  const headers: Record<string, string> = {};
  if (error.retryAfterSeconds !== undefined) headers["retry-after"] = String(error.retryAfterSeconds);
  return { status, headers, body: errorBody(type, error.message), error };
}
