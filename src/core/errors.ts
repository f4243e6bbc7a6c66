/**
 * The error hierarchy every layer throws. Each error has a stable `code`; protocol/ maps codes to
 * HTTP statuses and wire envelopes in one place, so internals never leak to clients.
 */
export type ErrorKind =
  /** The request body is not what the API accepts (bad JSON, missing or wrong-typed field). */
  | "invalid_request"
  /** The request is well-formed but a value is out of range or not allowed. */
  | "invalid_parameter"
  | "authentication"
  /** A key's quota (tokens or requests) is used up: DeepSeek's 402 "Insufficient Balance". */
  | "insufficient_balance"
  | "permission"
  | "not_found"
  /** The request clashes with the thing's current state (deleting a model that is loaded). */
  | "conflict"
  | "rate_limit"
  /** The request body is over the server's size limit. */
  | "request_too_large"
  /** The request line and headers together are over the server's size limit. */
  | "headers_too_large"
  /** The client did not send the whole request in time. */
  | "request_timeout"
  /** The server cannot serve the request now (model loading, missing, overloaded). */
  | "unavailable"
  /** An upstream engine answered with something that is not a valid reply (HTTP 502). */
  | "bad_gateway"
  /** An upstream engine did not answer in time (HTTP 504). */
  | "gateway_timeout"
  | "internal";

export class QiusuoError extends Error {
  override readonly name: string = "QiusuoError";
  readonly kind: ErrorKind;
  /** A stable, machine-readable code such as `model_not_found`. */
  readonly code: string;
  /** The request field the error is about, as a dotted path (`messages.0.content`). */
  readonly param: string | null;
  /** Whether repeating the same request later may succeed. */
  readonly isRetryable: boolean;
  /** Seconds a client should wait before retrying, when known. */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    kind: ErrorKind,
    code: string,
    message: string,
    options: { param?: string | null; retryAfterSeconds?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.kind = kind;
    this.code = code;
    this.param = options.param ?? null;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.isRetryable =
      kind === "rate_limit" || kind === "unavailable" || kind === "bad_gateway" || kind === "gateway_timeout";
  }
}

export class InvalidRequestError extends QiusuoError {
  override readonly name = "InvalidRequestError";
  constructor(code: string, message: string, param: string | null = null) {
    super("invalid_request", code, message, { param });
  }
}

export class InvalidParameterError extends QiusuoError {
  override readonly name = "InvalidParameterError";
  constructor(code: string, message: string, param: string | null = null) {
    super("invalid_parameter", code, message, { param });
  }
}

export class ModelNotFoundError extends QiusuoError {
  override readonly name = "ModelNotFoundError";
  constructor(model: string, available: readonly string[]) {
    const list =
      available.length > 0 ? available.join(", ") : "none (start the server with --model PATH.gguf)";
    super(
      "invalid_request",
      "model_not_found",
      `The model '${model}' does not exist. Available models: ${list}.`,
      {
        param: "model",
      },
    );
  }
}

export class ContextLengthError extends QiusuoError {
  override readonly name = "ContextLengthError";
  /**
   * `atLeast`: the prompt was refused as soon as it was certain not to fit, so `promptTokens` is
   * a lower bound rather than the full count.
   */
  constructor(
    contextSize: number,
    promptTokens: number,
    completionTokens: number,
    options: { atLeast?: boolean; param?: string } = {},
  ) {
    const prompt = options.atLeast ? `at least ${promptTokens}` : `${promptTokens}`;
    const total = options.atLeast
      ? `at least ${promptTokens + completionTokens}`
      : `${promptTokens + completionTokens}`;
    super(
      "invalid_request",
      "context_length_exceeded",
      `This model's maximum context length is ${contextSize} tokens. However, you requested ` +
        `${total} tokens (${prompt} in the messages, ${completionTokens} in the completion). ` +
        "Please reduce the length of the messages or completion.",
      { param: options.param ?? "messages" },
    );
  }
}

export class ModelUnavailableError extends QiusuoError {
  override readonly name = "ModelUnavailableError";
  constructor(code: string, message: string, retryAfterSeconds?: number) {
    super("unavailable", code, message, retryAfterSeconds === undefined ? {} : { retryAfterSeconds });
  }
}

/** Turns anything thrown into a QiusuoError without exposing internals in the message. */
export function toQiusuoError(error: unknown): QiusuoError {
  if (error instanceof QiusuoError) return error;
  return new QiusuoError("internal", "internal_error", "The server had an internal error; see its log.", {
    cause: error,
  });
}
