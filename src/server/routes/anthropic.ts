import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { RequestMeter } from "../../auth/request-meter.js";
import type { Engine } from "../../core/engine.js";
import { QiusuoError } from "../../core/errors.js";
import { errorBody, toAnthropicError } from "../../protocol/anthropic/errors.js";
import { parseCountTokensRequest, parseMessagesRequest } from "../../protocol/anthropic/messages-request.js";
import { collectMessage, streamMessage } from "../../protocol/anthropic/messages-response.js";
import { withKeepAlive } from "../../protocol/keep-alive.js";
import type { ApiGate } from "../api-gate.js";
import { apiBodyLimit } from "../limits.js";
import {
  disconnectSignal,
  fromFastifyError,
  sendEventStream,
  sendJsonWithBlankLines,
} from "../reply-helpers.js";

/**
 * Anthropic's Messages API under /anthropic, with and without /v1, so a client's base URL may be
 * either `…/anthropic` (the SDK adds /v1) or `…/anthropic/v1`. The routes live in their own
 * plugin scope, so bad JSON, unknown paths and every other error get Anthropic's error shape.
 * `x-api-key` and `Authorization: Bearer` are both accepted; `anthropic-version` is not required.
 */
export function registerAnthropicRoutes(
  app: FastifyInstance,
  engine: Engine,
  gate: ApiGate,
  keepAliveMs: number,
): void {
  void app.register(
    async (scope) => {
      const bodyLimit = apiBodyLimit(scope);
      scope.setErrorHandler(async (error: FastifyError | QiusuoError, request, reply) => {
        const wire = toAnthropicError(fromFastifyError(error));
        if (wire.error.kind === "internal")
          request.log.error({ err: wire.error.cause ?? error }, "request failed");
        await gate.settleFailed(request, wire.error.code);
        return reply.code(wire.status).headers(wire.headers).send(wire.body);
      });
      scope.setNotFoundHandler((request, reply) => {
        void reply
          .code(404)
          .send(
            errorBody("not_found_error", `There is no route ${request.method} ${request.url.split("?")[0]}.`),
          );
      });
      for (const prefix of ["", "/v1"]) {
        scope.post(`${prefix}/messages`, { bodyLimit }, async (request, reply) =>
          messages(engine, keepAliveMs, request, reply, (await gate.admit(request, reply)).meter),
        );
        // Counting renders and tokenizes the whole prompt: it is admitted (rpm, concurrency,
        // request quota) and booked like any other request, with no tokens used.
        scope.post(`${prefix}/messages/count_tokens`, { bodyLimit }, async (request, reply) => {
          const { meter } = await gate.admit(request, reply);
          const counted = await countTokens(engine, request);
          await meter.settle("ok");
          return counted;
        });
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
  meter: RequestMeter,
): Promise<unknown> {
  const { request: chatRequest, stream } = await parseMessagesRequest(request.body);
  const signal = disconnectSignal(reply);
  const events = withKeepAlive(
    meter.watch(chatRequest.model, await engine.chat(chatRequest, signal)),
    keepAliveMs,
  );
  if (!stream) {
    return sendJsonWithBlankLines(
      reply,
      (onKeepAlive) => collectMessage(chatRequest.model, events, onKeepAlive),
      (error) => toAnthropicError(error).body,
    );
  }
  return sendEventStream(request, reply, streamMessage(chatRequest.model, events), signal);
}

async function countTokens(engine: Engine, request: FastifyRequest): Promise<{ input_tokens: number }> {
  const chatRequest = await parseCountTokensRequest(request.body);
  if (!engine.countTokens) {
    throw new QiusuoError(
      "unavailable",
      "count_tokens_unsupported",
      "Counting tokens is not supported by this engine.",
    );
  }
  return { input_tokens: await engine.countTokens(chatRequest) };
}
