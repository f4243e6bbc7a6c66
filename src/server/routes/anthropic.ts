import { once } from "node:events";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { ChatEvent } from "../../core/chat.js";
import type { Engine } from "../../core/engine.js";
import { InvalidRequestError, QiusuoError } from "../../core/errors.js";
import { errorBody, toAnthropicError } from "../../protocol/anthropic/errors.js";
import { parseCountTokensRequest, parseMessagesRequest } from "../../protocol/anthropic/messages-request.js";
import { collectMessage, streamMessage } from "../../protocol/anthropic/messages-response.js";
import { KEEP_ALIVE, withKeepAlive } from "../../protocol/keep-alive.js";

/**
 * Anthropic's Messages API under /anthropic, with and without /v1, so a client's base URL may be
 * either `…/anthropic` (the SDK adds /v1) or `…/anthropic/v1`. The routes live in their own
 * plugin scope, so bad JSON, unknown paths and every other error get Anthropic's error shape.
 * `x-api-key` and `Authorization: Bearer` are both accepted; `anthropic-version` is not required.
 */
export function registerAnthropicRoutes(app: FastifyInstance, engine: Engine, keepAliveMs: number): void {
  void app.register(
    async (scope) => {
      scope.setErrorHandler((error: FastifyError | QiusuoError, request, reply) => {
        const wire = toAnthropicError(fromFastifyError(error));
        if (wire.error.kind === "internal")
          request.log.error({ err: wire.error.cause ?? error }, "request failed");
        void reply.code(wire.status).headers(wire.headers).send(wire.body);
      });
      scope.setNotFoundHandler((request, reply) => {
        void reply
          .code(404)
          .send(
            errorBody("not_found_error", `There is no route ${request.method} ${request.url.split("?")[0]}.`),
          );
      });
      for (const prefix of ["", "/v1"]) {
        scope.post(`${prefix}/messages`, (request, reply) => messages(engine, keepAliveMs, request, reply));
        scope.post(`${prefix}/messages/count_tokens`, (request) => countTokens(engine, request));
      }
    },
    { prefix: "/anthropic" },
  );
}

async function messages(
  engine: Engine,
  keepAliveMs: number,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<unknown> {
  const { request: chatRequest, stream } = parseMessagesRequest(request.body);
  const signal = disconnectSignal(reply);
  const events = withKeepAlive(await engine.chat(chatRequest, signal), keepAliveMs);
  if (!stream) return collectWithBlankLines(chatRequest.model, events, reply);

  reply.hijack();
  const response = reply.raw;
  response.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    connection: "keep-alive",
    "x-accel-buffering": "no",
  });
  try {
    for await (const chunk of streamMessage(chatRequest.model, events)) {
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

async function countTokens(engine: Engine, request: FastifyRequest): Promise<{ input_tokens: number }> {
  const chatRequest = parseCountTokensRequest(request.body);
  if (!engine.countTokens) {
    throw new QiusuoError(
      "unavailable",
      "count_tokens_unsupported",
      "Counting tokens is not supported by this engine.",
    );
  }
  return { input_tokens: await engine.countTokens(chatRequest) };
}

/**
 * A non-streaming reply that keeps the client waiting gets blank lines before its JSON body
 * (JSON parsers skip them); once they have gone out the status is 200, so a late error is sent
 * as the error body.
 */
async function collectWithBlankLines(
  model: string,
  events: AsyncIterable<ChatEvent | typeof KEEP_ALIVE>,
  reply: FastifyReply,
): Promise<unknown> {
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
    const body = await collectMessage(model, events, startBody);
    if (!started) return reply.send(body);
    reply.raw.end(JSON.stringify(body));
  } catch (error) {
    if (!started) throw error;
    reply.raw.end(JSON.stringify(toAnthropicError(error).body));
  }
  return reply;
}

/** Aborts when the client goes away before the reply is finished, so the engine stops at once. */
function disconnectSignal(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.on("close", () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  return controller.signal;
}

/** Fastify's own errors (body too large, bad content) keep their meaning but get our shape. */
function fromFastifyError(error: FastifyError | QiusuoError): unknown {
  if (error instanceof QiusuoError) return error;
  if (error.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
    return new QiusuoError("invalid_request", "body_too_large", "The request body is too large.");
  }
  if (typeof error.statusCode === "number" && error.statusCode >= 400 && error.statusCode < 500) {
    return new InvalidRequestError("invalid_request", error.message);
  }
  return error;
}
