import { toQiusuoError, type ErrorKind, type QiusuoError } from "../../core/errors.js";

/**
 * Ollama's statuses. Ollama answers every bad value with 400 (it has no 422) and a model it does
 * not have with 404; the rest are HTTP's usual meanings.
 */
const statusByKind: Record<ErrorKind, number> = {
  invalid_request: 400,
  invalid_parameter: 400,
  authentication: 401,
  insufficient_balance: 402,
  permission: 403,
  not_found: 404,
  conflict: 409,
  rate_limit: 429,
  request_too_large: 413,
  headers_too_large: 431,
  request_timeout: 408,
  unavailable: 503,
  bad_gateway: 502,
  gateway_timeout: 504,
  internal: 500,
};

/**
 * Ollama's error body is `{"error": "message"}`: its clients read `error` as a string (the
 * official JavaScript client throws `new Error(body.error)`). `code` and `param` are ours, beside
 * it, so a program can tell errors apart without parsing the message.
 */
export interface OllamaErrorBody {
  error: string;
  code: string;
  param?: string;
}

export interface OllamaWireError {
  status: number;
  headers: Record<string, string>;
  body: OllamaErrorBody;
  /** The error itself, for logging the cause of internal errors. */
  error: QiusuoError;
}

/** Maps anything thrown to Ollama's status and body, without exposing internals. */
export function toOllamaError(thrown: unknown): OllamaWireError {
  const error = toQiusuoError(thrown);
  const status = error.code === "model_not_found" ? 404 : statusByKind[error.kind];
  const headers: Record<string, string> = {};
  if (error.retryAfterSeconds !== undefined) headers["retry-after"] = String(error.retryAfterSeconds);
  const body: OllamaErrorBody = { error: error.message, code: error.code };
  if (error.param !== null) body.param = error.param;
  return { status, headers, body, error };
}
