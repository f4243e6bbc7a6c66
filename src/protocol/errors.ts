import { toQiusuoError, type ErrorKind, type QiusuoError } from "../core/errors.js";

/** The one table that maps error kinds to HTTP statuses and DeepSeek's error `type`. */
const statusByKind: Record<ErrorKind, { status: number; type: string }> = {
  invalid_request: { status: 400, type: "invalid_request_error" },
  invalid_parameter: { status: 422, type: "invalid_request_error" },
  authentication: { status: 401, type: "authentication_error" },
  // DeepSeek answers an empty balance with 402 and type `unknown_error` (observed, spec 6.5).
  insufficient_balance: { status: 402, type: "unknown_error" },
  permission: { status: 403, type: "permission_error" },
  not_found: { status: 404, type: "invalid_request_error" },
  conflict: { status: 409, type: "invalid_request_error" },
  rate_limit: { status: 429, type: "rate_limit_error" },
  request_too_large: { status: 413, type: "invalid_request_error" },
  headers_too_large: { status: 431, type: "invalid_request_error" },
  request_timeout: { status: 408, type: "invalid_request_error" },
  unavailable: { status: 503, type: "server_overloaded" },
  bad_gateway: { status: 502, type: "upstream_error" },
  gateway_timeout: { status: 504, type: "upstream_timeout" },
  internal: { status: 500, type: "server_error" },
};

export interface ErrorEnvelope {
  error: { message: string; type: string; param: string | null; code: string };
}

export interface WireError {
  status: number;
  headers: Record<string, string>;
  body: ErrorEnvelope;
  /** The error itself, for logging the cause of internal errors. */
  error: QiusuoError;
}

/** DeepSeek's envelope: `{"error":{"message","type","param","code"}}`. */
export function toWireError(thrown: unknown): WireError {
  const error = toQiusuoError(thrown);
  const { status, type } = statusByKind[error.kind];
  const headers: Record<string, string> = {};
  if (error.retryAfterSeconds !== undefined) headers["retry-after"] = String(error.retryAfterSeconds);
  return {
    status,
    headers,
    body: { error: { message: error.message, type, param: error.param, code: error.code } },
    error,
  };
}
