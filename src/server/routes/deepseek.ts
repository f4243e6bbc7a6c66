import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { NO_USAGE, type RequestMeter } from "../../auth/request-meter.js";
import type { Engine } from "../../core/engine.js";
import { modelIdFingerprint, systemFingerprint } from "../../core/fingerprint.js";
import { QiusuoError } from "../../core/errors.js";
import { balance } from "../../protocol/deepseek/balance.js";
import { parseChatCompletion } from "../../protocol/deepseek/chat-request.js";
import { collectChatCompletion, streamChatCompletion } from "../../protocol/deepseek/chat-response.js";
import { collectCompletion, parseCompletion, streamCompletion } from "../../protocol/deepseek/completions.js";
import { embeddingsResponse, parseEmbeddings } from "../../protocol/deepseek/embeddings.js";
import { listModels } from "../../protocol/deepseek/models.js";
import { toWireError } from "../../protocol/errors.js";
import { withKeepAlive } from "../../protocol/keep-alive.js";
import type { ApiGate } from "../api-gate.js";
import { apiBodyLimit } from "../limits.js";
import { disconnectSignal, sendEventStream, sendJsonWithBlankLines } from "../reply-helpers.js";

/**
 * DeepSeek's (OpenAI-compatible) routes, at the root, under /v1 and under /beta as DeepSeek
 * serves them (clients point their base URL at any of the three).
 */
export interface DeepSeekRouteOptions {
  engine: Engine;
  gate: ApiGate;
  keepAliveMs: number;
}

export function registerDeepSeekRoutes(app: FastifyInstance, options: DeepSeekRouteOptions): void {
  const { engine, gate, keepAliveMs } = options;
  const bodyLimit = apiBodyLimit(app);
  for (const prefix of ["", "/v1", "/beta"]) {
    app.get(`${prefix}/models`, async (request) => {
      await gate.principal(request);
      return listModels(engine.listModels(), engine.modelAliases?.() ?? []);
    });
    app.get(`${prefix}/user/balance`, async (request) => {
      const { apiKey } = await gate.principal(request);
      return balance(apiKey ?? undefined);
    });
    app.post(`${prefix}/chat/completions`, { bodyLimit }, async (request, reply) =>
      chatCompletions(engine, keepAliveMs, request, reply, (await gate.admit(request, reply)).meter),
    );
    app.post(`${prefix}/completions`, { bodyLimit }, async (request, reply) =>
      completions(engine, keepAliveMs, request, reply, (await gate.admit(request, reply)).meter),
    );
    app.post(`${prefix}/embeddings`, { bodyLimit }, async (request, reply) =>
      embeddings(engine, request, reply, (await gate.admit(request, reply)).meter),
    );
  }
}

const errorBody = (error: unknown) => toWireError(error).body;

async function chatCompletions(
  engine: Engine,
  keepAliveMs: number,
  request: FastifyRequest,
  reply: FastifyReply,
  meter: RequestMeter,
) {
  const { request: chatRequest, stream, includeUsage } = await parseChatCompletion(request.body);
  const signal = disconnectSignal(reply);
  const events = withKeepAlive(
    meter.watch(chatRequest.model, await engine.chat(chatRequest, signal)),
    keepAliveMs,
  );
  const fingerprint = await fingerprintFor(engine, chatRequest.model);
  if (!stream) {
    return sendJsonWithBlankLines(
      reply,
      (onKeepAlive) => collectChatCompletion(chatRequest.model, events, onKeepAlive, fingerprint),
      errorBody,
    );
  }
  return sendEventStream(
    request,
    reply,
    streamChatCompletion(chatRequest.model, events, includeUsage, fingerprint),
    signal,
  );
}

/**
 * The reply's `system_fingerprint` as it starts. Never waits for a model file's first hash: until
 * it is known the fingerprint is the provisional one (core/fingerprint.ts).
 */
async function fingerprintFor(engine: Engine, model: string): Promise<string> {
  const provenance = await engine.provenance?.(model, { waitForDigest: false }).catch(() => undefined);
  return provenance ? systemFingerprint(provenance) : modelIdFingerprint(model);
}

/** FIM and plain completions (`/beta/completions`). */
async function completions(
  engine: Engine,
  keepAliveMs: number,
  request: FastifyRequest,
  reply: FastifyReply,
  meter: RequestMeter,
) {
  const { request: completion, echo, stream, includeUsage } = parseCompletion(request.body);
  if (!engine.complete) throw unsupported("completions");
  const signal = disconnectSignal(reply);
  const events = withKeepAlive(
    meter.watch(completion.model, await engine.complete(completion, signal)),
    keepAliveMs,
  );
  const { model, prompt } = completion;
  const fingerprint = await fingerprintFor(engine, model);
  if (!stream) {
    return sendJsonWithBlankLines(
      reply,
      (onKeepAlive) => collectCompletion(model, prompt, echo, events, onKeepAlive, fingerprint),
      errorBody,
    );
  }
  return sendEventStream(
    request,
    reply,
    streamCompletion(model, prompt, echo, events, includeUsage, fingerprint),
    signal,
  );
}

async function embeddings(engine: Engine, request: FastifyRequest, reply: FastifyReply, meter: RequestMeter) {
  const { model, inputs, base64 } = parseEmbeddings(request.body);
  if (!engine.embed) throw unsupported("embeddings");
  const result = await engine.embed(model, inputs, disconnectSignal(reply));
  await meter.settle("ok", { ...NO_USAGE, promptTokens: result.promptTokens }, model);
  return embeddingsResponse(model, result, base64);
}

function unsupported(what: string): QiusuoError {
  return new QiusuoError("unavailable", "not_supported", `This engine does not serve ${what}.`);
}
