import { once } from "node:events";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Engine } from "../../core/engine.js";
import { parseChatCompletion } from "../../protocol/deepseek/chat-request.js";
import { collectChatCompletion, streamChatCompletion } from "../../protocol/deepseek/chat-response.js";
import { listModels } from "../../protocol/deepseek/models.js";

/** DeepSeek's (OpenAI-compatible) routes, at the root and under /v1 as DeepSeek serves them. */
export function registerDeepSeekRoutes(app: FastifyInstance, engine: Engine): void {
  for (const prefix of ["", "/v1"]) {
    app.get(`${prefix}/models`, async () => listModels(engine.listModels()));
    app.post(`${prefix}/chat/completions`, (request, reply) => chatCompletions(engine, request, reply));
  }
}

async function chatCompletions(
  engine: Engine,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<unknown> {
  const { request: chatRequest, stream, includeUsage } = parseChatCompletion(request.body);
  const signal = disconnectSignal(reply);
  const events = await engine.chat(chatRequest, signal);
  if (!stream) return reply.send(await collectChatCompletion(chatRequest.model, events));

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

/** Aborts when the client goes away before the reply is finished, so the engine stops at once. */
function disconnectSignal(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.on("close", () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  return controller.signal;
}
