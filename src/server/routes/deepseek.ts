import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Engine } from "../../core/engine.js";
import { QiusuoError } from "../../core/errors.js";
import { unlimitedBalance } from "../../protocol/deepseek/balance.js";
import { parseChatCompletion } from "../../protocol/deepseek/chat-request.js";
import { collectChatCompletion, streamChatCompletion } from "../../protocol/deepseek/chat-response.js";
import { collectCompletion, parseCompletion, streamCompletion } from "../../protocol/deepseek/completions.js";
import { embeddingsResponse, parseEmbeddings } from "../../protocol/deepseek/embeddings.js";
import { listModels } from "../../protocol/deepseek/models.js";
import { toWireError } from "../../protocol/errors.js";
import { withKeepAlive } from "../../protocol/keep-alive.js";
import { disconnectSignal, sendEventStream, sendJsonWithBlankLines } from "../reply-helpers.js";

/**
 * DeepSeek's (OpenAI-compatible) routes, at the root, under /v1 and under /beta as DeepSeek
 * serves them (clients point their base URL at any of the three).
 */
export function registerDeepSeekRoutes(app: FastifyInstance, engine: Engine, keepAliveMs: number): void {
  for (const prefix of ["", "/v1", "/beta"]) {
    app.get(`${prefix}/models`, async () => listModels(engine.listModels()));
    app.get(`${prefix}/user/balance`, async () => unlimitedBalance());
    app.post(`${prefix}/chat/completions`, (request, reply) =>
      chatCompletions(engine, keepAliveMs, request, reply),
    );
    app.post(`${prefix}/completions`, (request, reply) => completions(engine, keepAliveMs, request, reply));
    app.post(`${prefix}/embeddings`, (request) => embeddings(engine, request));
  }
}

const errorBody = (error: unknown) => toWireError(error).body;

async function chatCompletions(
  engine: Engine,
  keepAliveMs: number,
  request: FastifyRequest,
  reply: FastifyReply,
) {
  const { request: chatRequest, stream, includeUsage } = parseChatCompletion(request.body);
  const signal = disconnectSignal(reply);
  const events = withKeepAlive(await engine.chat(chatRequest, signal), keepAliveMs);
  if (!stream) {
    return sendJsonWithBlankLines(
      reply,
      (onKeepAlive) => collectChatCompletion(chatRequest.model, events, onKeepAlive),
      errorBody,
    );
  }
  return sendEventStream(
    request,
    reply,
    streamChatCompletion(chatRequest.model, events, includeUsage),
    signal,
  );
}

/** FIM and plain completions (`/beta/completions`). */
async function completions(
  engine: Engine,
  keepAliveMs: number,
  request: FastifyRequest,
  reply: FastifyReply,
) {
  const { request: completion, echo, stream, includeUsage } = parseCompletion(request.body);
  if (!engine.complete) throw unsupported("completions");
  const signal = disconnectSignal(reply);
  const events = withKeepAlive(await engine.complete(completion, signal), keepAliveMs);
  const { model, prompt } = completion;
  if (!stream) {
    return sendJsonWithBlankLines(
      reply,
      (onKeepAlive) => collectCompletion(model, prompt, echo, events, onKeepAlive),
      errorBody,
    );
  }
  return sendEventStream(request, reply, streamCompletion(model, prompt, echo, events, includeUsage), signal);
}

async function embeddings(engine: Engine, request: FastifyRequest) {
  const { model, inputs, base64 } = parseEmbeddings(request.body);
  if (!engine.embed) throw unsupported("embeddings");
  return embeddingsResponse(model, await engine.embed(model, inputs), base64);
}

function unsupported(what: string): QiusuoError {
  return new QiusuoError("unavailable", "not_supported", `This engine does not serve ${what}.`);
}
