import { once } from "node:events";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { NO_USAGE, type RequestMeter } from "../../auth/request-meter.js";
import type { ChatEvent } from "../../core/chat.js";
import type { Engine, ModelDetails, ModelManager, ModelPullProgress } from "../../core/engine.js";
import { ModelNotFoundError, QiusuoError } from "../../core/errors.js";
import { withKeepAlive } from "../../protocol/keep-alive.js";
import { parseOllamaChat } from "../../protocol/ollama/chat-request.js";
import {
  embedResponse,
  embeddingsResponse,
  parseOllamaEmbed,
  parseOllamaEmbeddings,
} from "../../protocol/ollama/embed.js";
import { toOllamaError } from "../../protocol/ollama/errors.js";
import { parseOllamaGenerate } from "../../protocol/ollama/generate-request.js";
import {
  parseModelName,
  psResponse,
  resolveModelName,
  showResponse,
  tagsResponse,
  withoutLatestTag,
} from "../../protocol/ollama/models.js";
import { PULL_SUCCESS, parseOllamaPull, pullLines } from "../../protocol/ollama/pull.js";
import { collectReply, ndjsonLines, ollamaChunks, type ReplyShape } from "../../protocol/ollama/responses.js";
import { versionResponse } from "../../protocol/ollama/version.js";
import type { ApiGate } from "../api-gate.js";
import { apiBodyLimit } from "../limits.js";
import { disconnectSignal, fromFastifyError, sendJsonWithBlankLines } from "../reply-helpers.js";

export interface OllamaRouteOptions {
  engine: Engine;
  gate: ApiGate;
  keepAliveMs: number;
  /** Pulls, loads and unloads (`/api/pull`, `keep_alive`); absent when the engine cannot. */
  models?: ModelManager | undefined;
}

/**
 * Ollama's native API at its own paths under /api (docs/api.md, "Ollama API"), beside the app's
 * routes there. Its own plugin scope gives every error Ollama's `{"error": "..."}` shape; paths
 * no route serves keep the app API's 404. Authentication is the API gate's, as for DeepSeek's
 * routes: no key in local mode, a Bearer key in accounts mode.
 */
export function registerOllamaRoutes(app: FastifyInstance, options: OllamaRouteOptions): void {
  const { engine, gate } = options;
  void app.register(
    async (scope) => {
      const bodyLimit = apiBodyLimit(scope);
      scope.setErrorHandler(async (error: FastifyError | QiusuoError, request, reply) => {
        const wire = toOllamaError(fromFastifyError(error));
        if (wire.error.kind === "internal")
          request.log.error({ err: wire.error.cause ?? error }, "request failed");
        await gate.settleFailed(request, wire.error.code);
        return reply.code(wire.status).headers(wire.headers).send(wire.body);
      });

      // Clients probe this before anything else; like /health it needs no key.
      scope.get("/version", async () => versionResponse());
      scope.get("/tags", async (request) => {
        await gate.principal(request);
        const models = modelsOf(engine);
        return tagsResponse(models, await digests(engine, models));
      });
      scope.get("/ps", async (request) => {
        await gate.principal(request);
        const models = modelsOf(engine);
        return psResponse(models, await digests(engine, models));
      });
      scope.post("/show", async (request) => {
        await gate.principal(request);
        return showResponse(await findModel(engine, parseModelName(request.body)));
      });
      scope.post("/chat", { bodyLimit }, async (request, reply) =>
        chat(options, request, reply, (await gate.admit(request, reply)).meter),
      );
      scope.post("/generate", { bodyLimit }, async (request, reply) =>
        generate(options, request, reply, (await gate.admit(request, reply)).meter),
      );
      scope.post("/embed", { bodyLimit }, async (request, reply) =>
        embed(options, request, reply, (await gate.admit(request, reply)).meter, "embed"),
      );
      scope.post("/embeddings", { bodyLimit }, async (request, reply) =>
        embed(options, request, reply, (await gate.admit(request, reply)).meter, "embeddings"),
      );
      scope.post("/pull", async (request, reply) => {
        requireAdmin((await gate.principal(request)).user, "pull");
        return pull(options, request, reply);
      });
      scope.delete("/delete", async (request) => {
        requireAdmin((await gate.principal(request)).user, "delete");
        return remove(options, parseModelName(request.body));
      });
    },
    { prefix: "/api" },
  );
}

async function chat(
  options: OllamaRouteOptions,
  request: FastifyRequest,
  reply: FastifyReply,
  meter: RequestMeter,
) {
  const startedAt = performance.now();
  const parsed = await parseOllamaChat(request.body);
  const model = resolveName(options.engine, parsed.request.model);
  if (parsed.loadOnly)
    return loadOrUnload(options, model, parsed.request.model, parsed.keepAlive, "chat", meter);
  const signal = disconnectSignal(reply);
  const events = await options.engine.chat({ ...parsed.request, model }, signal);
  return sendReply(options, request, reply, meter, signal, events, {
    shape: "chat",
    model: parsed.request.model,
    resolved: model,
    startedAt,
    stream: parsed.stream,
    hideThinking: parsed.hideThinking,
    keepAlive: parsed.keepAlive,
  });
}

async function generate(
  options: OllamaRouteOptions,
  request: FastifyRequest,
  reply: FastifyReply,
  meter: RequestMeter,
) {
  const startedAt = performance.now();
  const parsed = parseOllamaGenerate(request.body);
  if (parsed.kind === "load") {
    const model = resolveName(options.engine, parsed.model);
    return loadOrUnload(options, model, parsed.model, parsed.keepAlive, "generate", meter);
  }
  const model = resolveName(options.engine, parsed.request.model);
  const signal = disconnectSignal(reply);
  let events: AsyncIterable<ChatEvent>;
  if (parsed.kind === "chat") {
    events = await options.engine.chat({ ...parsed.request, model }, signal);
  } else {
    if (!options.engine.complete) throw unsupported("raw and fill-in-the-middle completions");
    events = await options.engine.complete({ ...parsed.request, model }, signal);
  }
  return sendReply(options, request, reply, meter, signal, events, {
    shape: "generate",
    model: parsed.request.model,
    resolved: model,
    startedAt,
    stream: parsed.stream,
    hideThinking: parsed.hideThinking,
    keepAlive: parsed.keepAlive,
  });
}

/** Streams or collects a reply, then unloads the model when `keep_alive` was 0. */
async function sendReply(
  options: OllamaRouteOptions,
  request: FastifyRequest,
  reply: FastifyReply,
  meter: RequestMeter,
  signal: AbortSignal,
  events: AsyncIterable<ChatEvent>,
  how: {
    shape: ReplyShape;
    model: string;
    resolved: string;
    startedAt: number;
    stream: boolean;
    hideThinking: boolean;
    keepAlive: number | undefined;
  },
) {
  const chunks = ollamaChunks(withKeepAlive(meter.watch(how.resolved, events), options.keepAliveMs), {
    shape: how.shape,
    model: how.model,
    clock: { startedAt: how.startedAt, readyAt: performance.now() },
    hideThinking: how.hideThinking,
  });
  try {
    if (!how.stream) {
      return await sendJsonWithBlankLines(
        reply,
        (onKeepAlive) => collectReply(chunks, how.shape, onKeepAlive),
        (error) => toOllamaError(error).body,
      );
    }
    return await sendNdjson(request, reply, ndjsonLines(chunks), signal);
  } finally {
    if (how.keepAlive === 0) await unloadAfter(options, how.resolved, request);
  }
}

/**
 * An empty prompt (or no messages) only loads the model, or with `keep_alive: 0` unloads it, as
 * in Ollama; the answer is one done chunk with `done_reason` `load` or `unload`.
 */
async function loadOrUnload(
  options: OllamaRouteOptions,
  model: string,
  asked: string,
  keepAlive: number | undefined,
  shape: ReplyShape,
  meter: RequestMeter,
) {
  const local = await localModelId(options.engine, model);
  const unload = keepAlive === 0;
  if (local !== undefined && options.models) {
    if (unload) await options.models.unload(local);
    else await options.models.load(local);
  }
  await meter.settle("ok", NO_USAGE, model);
  return {
    model: asked,
    created_at: new Date().toISOString(),
    ...(shape === "chat" ? { message: { role: "assistant", content: "" } } : { response: "" }),
    done: true,
    done_reason: unload ? "unload" : "load",
  };
}

async function unloadAfter(
  options: OllamaRouteOptions,
  model: string,
  request: FastifyRequest,
): Promise<void> {
  try {
    const local = await localModelId(options.engine, model);
    if (local !== undefined) await options.models?.unload(local);
  } catch (error) {
    request.log.warn({ err: error }, "keep_alive 0: the model could not be unloaded");
  }
}

async function embed(
  options: OllamaRouteOptions,
  request: FastifyRequest,
  reply: FastifyReply,
  meter: RequestMeter,
  route: "embed" | "embeddings",
) {
  const startedAt = performance.now();
  const parsed = route === "embed" ? parseOllamaEmbed(request.body) : parseOllamaEmbeddings(request.body);
  if (!options.engine.embed) throw unsupported("embeddings");
  const model = resolveName(options.engine, parsed.model);
  const result = await options.engine.embed(model, parsed.inputs, disconnectSignal(reply));
  await meter.settle("ok", { ...NO_USAGE, promptTokens: result.promptTokens }, model);
  if (parsed.keepAlive === 0) await unloadAfter(options, model, request);
  if (route === "embeddings") return embeddingsResponse(result);
  return embedResponse(parsed.model, result, parsed.dimensions, {
    totalMs: performance.now() - startedAt,
    loadMs: 0,
  });
}

async function pull(options: OllamaRouteOptions, request: FastifyRequest, reply: FastifyReply) {
  const { model, stream } = parseOllamaPull(request.body);
  if (!options.models) throw unsupported("pulling models");
  let latest: ModelPullProgress | undefined;
  const done = startPull(options.models, model, (progress) => (latest = progress));
  done.catch(() => {}); // reported in the reply; a client that left needs no rejection
  if (!stream) {
    await done;
    return PULL_SUCCESS;
  }
  const controller = new AbortController();
  reply.raw.on("close", () => controller.abort());
  const digestOf = async (details: ModelDetails) => {
    const provenance = await options.engine
      .provenance?.(details.id, { waitForDigest: false })
      .catch(() => undefined);
    return provenance?.modelSha256 ?? undefined;
  };
  return sendNdjson(
    request,
    reply,
    pullLines(model, done, () => latest, digestOf),
    controller.signal,
  );
}

/**
 * Deletes a local model as Ollama does, unloading it first (after the requests it is serving);
 * the app's rules then apply: only files in the data dir, never one in use by another process.
 */
async function remove(options: OllamaRouteOptions, name: string): Promise<Record<string, never>> {
  if (!options.models) throw unsupported("deleting models");
  const local = await localModelId(options.engine, resolveName(options.engine, name));
  if (local === undefined) {
    throw new QiusuoError(
      "invalid_request",
      "not_supported",
      `'${name}' is an upstream model; it cannot be deleted here.`,
      {
        param: "model",
      },
    );
  }
  await options.models.unload(local);
  await options.models.remove(local);
  return {};
}

/** Ollama's names carry a tag; `name:latest` is the catalog's `name` when only that exists. */
function startPull(
  models: ModelManager,
  model: string,
  onProgress: (progress: ModelPullProgress) => void,
): Promise<ModelDetails> {
  try {
    return models.pull(model, onProgress);
  } catch (error) {
    const untagged = withoutLatestTag(model);
    if (untagged && error instanceof QiusuoError && error.code === "unknown_model_reference") {
      return models.pull(untagged, onProgress);
    }
    throw error;
  }
}

/** Writes NDJSON lines with backpressure, and ends the response however the stream ends. */
async function sendNdjson(
  request: FastifyRequest,
  reply: FastifyReply,
  lines: AsyncIterable<string>,
  signal: AbortSignal,
): Promise<FastifyReply> {
  reply.hijack();
  const response = reply.raw;
  response.writeHead(200, {
    "content-type": "application/x-ndjson",
    "cache-control": "no-cache",
    "x-accel-buffering": "no",
  });
  try {
    for await (const line of lines) {
      if (signal.aborted) break;
      if (!response.write(line)) await once(response, "drain", { signal });
    }
  } catch (error) {
    if (!signal.aborted) request.log.error({ err: error }, "stream failed");
  } finally {
    response.end();
  }
  return reply;
}

function modelsOf(engine: Engine): ModelDetails[] {
  return engine.modelDetails?.() ?? engine.listModels().map((model) => ({ ...model, aliases: [] }));
}

/** Each model's file digest when already known; a file never hashed is not hashed for a listing. */
async function digests(
  engine: Engine,
  models: readonly ModelDetails[],
): Promise<(id: string) => string | undefined> {
  const known = new Map<string, string>();
  await Promise.all(
    models.map(async (model) => {
      if (model.pool !== undefined || model.file === undefined) return;
      const provenance = await engine.provenance?.(model.id, { waitForDigest: false }).catch(() => undefined);
      if (provenance?.modelSha256) known.set(model.id, provenance.modelSha256);
    }),
  );
  return (id) => known.get(id);
}

/** The model a name stands for, for `/api/show`: by id or alias, else as the router resolves it. */
async function findModel(engine: Engine, name: string): Promise<ModelDetails> {
  const models = modelsOf(engine);
  const resolved = resolveName(engine, name);
  const direct = models.find((model) => model.id === resolved || model.aliases.includes(resolved));
  if (direct) return direct;
  const routed = await engine.provenance?.(resolved, { waitForDigest: false });
  const found = routed && models.find((model) => model.id === routed.model);
  if (!found)
    throw new ModelNotFoundError(
      name,
      models.map((model) => model.id),
    );
  return found;
}

/** A requested name as this server knows it (see resolveModelName). */
function resolveName(engine: Engine, name: string): string {
  if (withoutLatestTag(name) === undefined) return name;
  const known = new Set([
    ...modelsOf(engine).flatMap((model) => [model.id, ...model.aliases]),
    ...(engine.modelAliases?.() ?? []).map((entry) => entry.alias),
  ]);
  return resolveModelName(name, known);
}

/** The local engine's id for a name, or undefined for an upstream model (nothing to load here). */
async function localModelId(engine: Engine, name: string): Promise<string | undefined> {
  if (!engine.provenance) return undefined;
  const provenance = await engine.provenance(name, { waitForDigest: false });
  return provenance.pool === undefined ? provenance.model : undefined;
}

/** Pulls and deletes change the server's disk: admins only (the local user is one). */
function requireAdmin(user: { role: string }, what: string): void {
  if (user.role !== "admin") {
    throw new QiusuoError("permission", "admin_only", `Only an admin may ${what} models.`);
  }
}

function unsupported(what: string): QiusuoError {
  return new QiusuoError("unavailable", "not_supported", `This server does not serve ${what}.`);
}
