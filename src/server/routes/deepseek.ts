import { once } from "node:events";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { ChatEvent } from "../../core/chat.js";
import type { Engine } from "../../core/engine.js";
import { parseChatCompletion } from "../../protocol/deepseek/chat-request.js";
import { collectChatCompletion, streamChatCompletion } from "../../protocol/deepseek/chat-response.js";
import { listModels } from "../../protocol/deepseek/models.js";
import { toWireError } from "../../protocol/errors.js";
import { KEEP_ALIVE, withKeepAlive } from "../../protocol/keep-alive.js";

/** DeepSeek's (OpenAI-compatible) routes, at the root and under /v1 as DeepSeek serves them. */
export function registerDeepSeekRoutes(app: FastifyInstance, engine: Engine, keepAliveMs: number): void {
  for (const prefix of ["", "/v1"]) {
    app.get(`${prefix}/models`, async () => listModels(engine.listModels()));
    app.post(`${prefix}/chat/completions`, (request, reply) =>
      chatCompletions(engine, keepAliveMs, request, reply),
    );
  }
}

async function chatCompletions(
  engine: Engine,
  keepAliveMs: number,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<unknown> {
  const { request: chatRequest, stream, includeUsage } = parseChatCompletion(request.body);
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
    for await (const chunk of streamChatCompletion(chatRequest.model, events, includeUsage)) {
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
 * as the error envelope in the body.
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
    const body = await collectChatCompletion(model, events, startBody);
    if (!started) return reply.send(body);
    reply.raw.end(JSON.stringify(body));
  } catch (error) {
    if (!started) throw error;
    reply.raw.end(JSON.stringify(toWireError(error).body));
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
