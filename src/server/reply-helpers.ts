import { once } from "node:events";
import { maxHeaderSize, STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { InvalidRequestError, QiusuoError, type ErrorKind } from "../core/errors.js";
import { toWireError } from "../protocol/errors.js";
import { StoreError, type StoreErrorCode } from "../store/store-error.js";

/** Aborts when the client goes away before the reply is finished, so the engine stops at once. */
export function disconnectSignal(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.on("close", () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  return controller.signal;
}

/** Writes server-sent events with backpressure, and ends the response however the stream ends. */
export async function sendEventStream(
  request: FastifyRequest,
  reply: FastifyReply,
  chunks: AsyncIterable<string>,
  signal: AbortSignal,
): Promise<FastifyReply> {
  reply.hijack();
  const response = reply.raw;
  response.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    connection: "keep-alive",
    "x-accel-buffering": "no",
  });
  try {
    for await (const chunk of chunks) {
      if (signal.aborted) break;
      if (!response.write(chunk)) await once(response, "drain", { signal });
    }
  } catch (error) {
    if (!signal.aborted) request.log.error({ err: error }, "stream failed");
  } finally {
    response.end();
  }
  return reply;
}

/**
 * A non-streaming reply that keeps the client waiting gets blank lines before its JSON body
 * (DeepSeek does the same); once they have gone out the status is 200, so a late error is sent
 * as the protocol's error body instead.
 */
export async function sendJsonWithBlankLines(
  reply: FastifyReply,
  collect: (onKeepAlive: () => void) => Promise<unknown>,
  errorBody: (error: unknown) => unknown,
): Promise<FastifyReply> {
  let started = false;
  const startBody = () => {
    if (!started) {
      started = true;
      reply.hijack();
      reply.raw.writeHead(200, { "content-type": "application/json; charset=utf-8" });
    }
    reply.raw.write("\n");
  };
  try {
    const body = await collect(startBody);
    if (!started) return reply.send(body);
    reply.raw.end(JSON.stringify(body));
  } catch (error) {
    if (!started) throw error;
    reply.raw.end(JSON.stringify(errorBody(error)));
  }
  return reply;
}

/** Fastify's own errors (body too large, bad content) keep their meaning but get our shape. */
export function fromFastifyError(error: FastifyError | QiusuoError | StoreError): unknown {
  if (error instanceof QiusuoError) return error;
  if (error instanceof StoreError) return fromStoreError(error);
  if (error.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
    return new QiusuoError(
      "request_too_large",
      "body_too_large",
      "The request body is too large: it is over this server's size limit.",
    );
  }
  if (typeof error.statusCode === "number" && error.statusCode >= 400 && error.statusCode < 500) {
    return new InvalidRequestError("invalid_request", error.message);
  }
  return error;
}

/**
 * Answers what Node's HTTP server refuses before any route runs (a request not received in
 * time, a head over 16 KiB, bytes that are not HTTP) in DeepSeek's envelope, where Fastify would
 * use its own shape. The route is not known yet, so every protocol gets this one.
 */
export function clientErrorHandler(limits: {
  requestTimeoutSeconds: number;
}): (error: Error & { code?: string }, socket: Socket) => void {
  return (error, socket) => {
    if (error.code === "ECONNRESET" || socket.destroyed) return;
    const wire = toWireError(clientError(error, limits));
    // A reply may already be on its way (a hook answered before the body came); as Node does,
    // write nothing then rather than corrupt it.
    const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (socket.writable && inFlight?.headersSent !== true) {
      const body = JSON.stringify(wire.body);
      socket.write(
        `HTTP/1.1 ${wire.status} ${STATUS_CODES[wire.status]}\r\n` +
          "content-type: application/json; charset=utf-8\r\n" +
          `content-length: ${Buffer.byteLength(body)}\r\n` +
          "connection: close\r\n\r\n" +
          body,
      );
    }
    socket.destroy();
  };
}

function clientError(error: Error & { code?: string }, limits: { requestTimeoutSeconds: number }) {
  if (error.code === "ERR_HTTP_REQUEST_TIMEOUT") {
    return new QiusuoError(
      "request_timeout",
      "request_timeout",
      `The request did not arrive in time: this server waits ${limits.requestTimeoutSeconds} s ` +
        "for a request's headers and body.",
    );
  }
  // Node's parser has one budget for the request line and the headers together, and cannot say
  // which overflowed; 431 is the status for that (and the one Node itself sends). No route here
  // takes long URLs, so the usual cause is one that should have been a body.
  if (error.code === "HPE_HEADER_OVERFLOW") {
    return new QiusuoError(
      "headers_too_large",
      "headers_too_large",
      `The request line and headers are over this server's limit of ${maxHeaderSize} bytes; send ` +
        "long values in the JSON body, not in the URL.",
    );
  }
  return new InvalidRequestError("malformed_request", "The request is not valid HTTP/1.1.");
}

/** The store's refusals, as the API reports them. */
function fromStoreError(error: StoreError): QiusuoError {
  const kind = {
    user_exists: "invalid_parameter",
    user_not_found: "not_found",
    last_admin: "conflict",
    api_key_ambiguous: "invalid_parameter",
    message_parent_invalid: "invalid_request",
    cursor_invalid: "invalid_request",
    mcp_server_exists: "conflict",
  } as const satisfies Record<StoreErrorCode, ErrorKind>;
  return new QiusuoError(kind[error.code], error.code, error.message);
}

/** The body of a 404 for a path no route serves, in DeepSeek's shape. */
export function noRouteBody(request: FastifyRequest) {
  return {
    error: {
      message: `There is no route ${request.method} ${request.url.split("?")[0]}.`,
      type: "invalid_request_error",
      param: null,
      code: "not_found",
    },
  };
}
