import type {
  ChatEvent,
  ChatRequest,
  CompletionRequest,
  EmbeddingResult,
  ToolCall,
} from "../../core/chat.js";
import type {
  Engine,
  ModelDetails,
  ModelInfo,
  ModelProvenance,
  RankRequest,
  RankResult,
} from "../../core/engine.js";
import { InvalidRequestError, ModelNotFoundError, QiusuoError } from "../../core/errors.js";
import type { UpstreamPoolConfig } from "../../config/config.js";
import {
  redactChatRequest,
  redactCompletionRequest,
  redactTexts,
  type RedactionSession,
} from "../../privacy/redaction.js";
import { restoreEvents } from "../../privacy/restore-stream.js";
import { chatAffinityKeys, completionAffinityKeys, withReply, type AffinityKey } from "./prefix-affinity.js";
import { displayUrl, ReplicaPool, type PoolHealth } from "./replica-pool.js";
import { UpstreamClient } from "./upstream-client.js";

export interface RemoteEngineOptions {
  /** The pool's name: its models are served as `NAME/<upstream id>`. */
  name: string;
  config: UpstreamPoolConfig;
  /** `QIUSUO_UPSTREAM_<NAME>_KEY`; sent to the upstream, never logged or shown. */
  apiKey?: string;
  /**
   * How long a request may wait for its replica before the protocol gets its stream (and sends
   * keep-alives); until then a refusal still gets its own HTTP status. Default 250 ms.
   */
  headWaitMs?: number;
  log?: (line: string) => void;
}

/** What /health and the models page show of a pool. */
export interface RemotePoolHealth extends PoolHealth {
  /** Models found on the pool's last successful `/v1/models`. */
  models: number;
  /** Why the pool cannot answer, in words an admin can act on; absent while it can. */
  reason?: string;
}

interface UpstreamModel {
  id: string;
  created: number;
  ownedBy: string;
  contextLength?: number;
}

/** A failed first attempt is retried on another replica within this long. */
const FAILOVER_DEADLINE_MS = 30_000;

/** How long a request may wait for its replica before the protocol gets its stream (and keep-alives). */
const HEAD_WAIT_MS = 250;

/** Whether `promise` settles (either way) within `ms`. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const settled = promise.then(
    () => true as const,
    () => true as const,
  );
  try {
    return await Promise.race([settled, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * One upstream pool as an `Engine`: replicas of an OpenAI-compatible server that serve the same
 * models. Models are discovered from `/v1/models` and re-read on a timer; requests are balanced
 * over the replicas by the pool (least outstanding, prefix affinity), and a request that fails
 * before its first event is retried on another replica, so a replica dying costs no reply that
 * had not started.
 */
export class RemoteEngine implements Engine {
  readonly name: string;
  private readonly clients: UpstreamClient[];
  private readonly pool: ReplicaPool;
  private models: UpstreamModel[] = [];
  private discoveredAt: number | undefined;
  private discoveryError: string | undefined;
  /** Each replica's answer to the last failed discovery, by its index. */
  private readonly discoveryProblems = new Map<number, string>();
  private discoveryTimer: NodeJS.Timeout | undefined;
  private discovering: Promise<void> | undefined;
  private readonly created = Math.floor(Date.now() / 1000);
  private disposed = false;

  constructor(private readonly options: RemoteEngineOptions) {
    this.name = options.name;
    const { config } = options;
    this.clients = config.urls.map(
      (url) =>
        new UpstreamClient({
          pool: options.name,
          baseUrl: url,
          ...(options.apiKey === undefined ? {} : { apiKey: options.apiKey }),
          thinkingKwargs: config.thinkingKwargs,
          timeouts: {
            connectMs: config.connectTimeoutSeconds * 1000,
            idleMs: config.idleTimeoutSeconds * 1000,
          },
        }),
    );
    this.pool = new ReplicaPool({
      name: options.name,
      replicas: config.urls.map((url, index) => ({
        url,
        weight: config.weights?.[index] ?? 1,
        maxConcurrent: config.maxConcurrent,
      })),
      probe: (replica, signal) => this.clients[replica.index]!.probe(signal),
      ejectAfterFailures: config.ejectAfterFailures,
      healthIntervalMs: config.healthSeconds * 1000,
      affinity: config.affinity,
      ...(config.maxQueue === undefined ? {} : { maxQueue: config.maxQueue }),
      ...(options.log ? { log: options.log } : {}),
    });
  }

  /** Starts health checks and model discovery; resolves after the first discovery (never throws). */
  async start(): Promise<void> {
    this.pool.start();
    const every = this.options.config.discoverySeconds * 1000;
    this.discoveryTimer = setInterval(() => void this.discover(), every);
    this.discoveryTimer.unref();
    await this.discover();
  }

  /** Rereads the models from the first replica that answers. */
  discover(): Promise<void> {
    this.discovering ??= this.readModels().finally(() => {
      this.discovering = undefined;
    });
    return this.discovering;
  }

  private async readModels(): Promise<void> {
    const problems: string[] = [];
    for (const [index, client] of this.clients.entries()) {
      if (this.disposed) return;
      try {
        const found = await client.listModels(
          AbortSignal.timeout(this.options.config.connectTimeoutSeconds * 1000),
        );
        const allowed = this.options.config.models;
        this.models = found
          .filter((model) => allowed === undefined || allowed.includes(model.id))
          .map((model) => ({
            id: model.id,
            created: model.created ?? this.created,
            ownedBy: model.ownedBy ?? this.name,
            ...(model.contextLength === undefined ? {} : { contextLength: model.contextLength }),
          }));
        this.discoveredAt = Date.now();
        this.discoveryError = undefined;
        return;
      } catch (error) {
        problems.push(`${client.label}: ${messageOf(error)}`);
        this.discoveryProblems.set(index, messageOf(error));
      }
    }
    this.discoveryError = `no replica listed its models (${problems.join("; ")})`;
    if (this.discoveredAt === undefined)
      this.options.log?.(
        `upstream ${this.name}: ${this.discoveryError}; retrying every ${this.options.config.discoverySeconds} s`,
      );
  }

  health(): RemotePoolHealth {
    let health = this.pool.health();
    // Until one replica has listed its models, none has answered: the pool is down, not healthy.
    if (this.discoveredAt === undefined && this.discoveryError !== undefined) {
      health = {
        ...health,
        healthy: 0,
        replicas: health.replicas.map((replica, index) => {
          const problem = replica.lastError ?? this.discoveryProblems.get(index);
          return problem === undefined ? replica : { ...replica, lastError: problem };
        }),
      };
    }
    const reason =
      health.healthy === 0
        ? `No replica of ${this.name} is in service (${health.replicas
            .map((replica) => `${replica.url}: ${replica.lastError ?? replica.state}`)
            .join("; ")})`
        : this.discoveredAt === undefined
          ? `The models of ${this.name} are not known yet: ${this.discoveryError ?? "discovering"}`
          : undefined;
    return { ...health, models: this.models.length, ...(reason === undefined ? {} : { reason }) };
  }

  notReady(): string | undefined {
    return this.health().reason;
  }

  listModels(): ModelInfo[] {
    const health = this.health();
    const state: ModelInfo["state"] = health.healthy > 0 ? "ready" : "failed";
    const known: UpstreamModel[] =
      this.discoveredAt === undefined && this.options.config.models
        ? this.options.config.models.map((id) => ({ id, created: this.created, ownedBy: this.name }))
        : this.models;
    return known.map((model) => ({
      id: `${this.name}/${model.id}`,
      created: model.created,
      ownedBy: model.ownedBy,
      state: this.discoveredAt === undefined && health.healthy > 0 ? "loading" : state,
      ...(health.reason === undefined ? {} : { reason: health.reason }),
      ...(model.contextLength === undefined ? {} : { contextSize: model.contextLength }),
      pool: this.name,
      acceptsImages: this.acceptsImages(model.id),
    }));
  }

  modelDetails(): ModelDetails[] {
    return this.listModels().map((model) => ({
      ...model,
      aliases: [],
      ...(model.contextSize === undefined ? {} : { contextLength: model.contextSize }),
    }));
  }

  async provenance(model: string): Promise<ModelProvenance> {
    const upstreamModel = this.upstreamId(model);
    return {
      model,
      modelFile: `${this.name}:${upstreamModel}`,
      modelSha256: null,
      templateSha256: null,
      pool: this.name,
      upstreamModel,
    };
  }

  async chat(original: ChatRequest, signal: AbortSignal): Promise<AsyncIterable<ChatEvent>> {
    const upstreamModel = this.upstreamId(original.model);
    this.refuseImages(original, upstreamModel);
    // Redacted once, before any replica is picked: every attempt and failover sends the same
    // redacted request. Affinity keys hash the redacted text (and the reply as the upstream
    // wrote it, placeholders and all), because that is what the replicas hold in their KV cache;
    // placeholders are numbered by first appearance, so a conversation's next turn redacts its
    // history to the same text and still lands on the replica that has it.
    const { request, session } = this.options.config.redact
      ? redactChatRequest(original)
      : { request: original, session: undefined };
    const affinity = chatAffinityKeys(request.model, request.messages, request.tools);
    const reply = new ReplyText();
    const events = await this.stream(
      affinity,
      signal,
      (client, attemptSignal) => client.chat(upstreamModel, request, attemptSignal),
      reply,
      () => withReply(request.model, request.messages, request.tools, reply.value()),
    );
    return restored(events, session);
  }

  async complete(original: CompletionRequest, signal: AbortSignal): Promise<AsyncIterable<ChatEvent>> {
    const upstreamModel = this.upstreamId(original.model);
    const { request, session } = this.options.config.redact
      ? redactCompletionRequest(original)
      : { request: original, session: undefined };
    const affinity = completionAffinityKeys(request.model, request.prompt);
    const reply = new ReplyText();
    const events = await this.stream(
      affinity,
      signal,
      (client, attemptSignal) => client.complete(upstreamModel, request, attemptSignal),
      reply,
      () => completionAffinityKeys(request.model, request.prompt + reply.value().content).keys,
    );
    return restored(events, session);
  }

  async embed(model: string, original: string[], signal: AbortSignal): Promise<EmbeddingResult> {
    const upstreamModel = this.upstreamId(model);
    // Vectors of the redacted texts: nothing comes back to restore.
    const inputs = this.options.config.redact ? redactTexts(original).texts : original;
    const lease = await this.pool.dispatch(
      { signal, deadlineMs: FAILOVER_DEADLINE_MS },
      (replica, attemptSignal) => this.clients[replica.index]!.embed(upstreamModel, inputs, attemptSignal),
    );
    lease.release("ok");
    return lease.value;
  }

  async rank(request: RankRequest, signal: AbortSignal): Promise<RankResult> {
    const upstreamModel = this.upstreamId(request.model);
    if (request.documents.length === 0) return { scores: [], promptTokens: 0 };
    // Scores of the redacted texts, like embeddings: nothing comes back to restore.
    const ranked = this.options.config.redact ? redactRankRequest(request) : request;
    const lease = await this.pool.dispatch(
      { signal, deadlineMs: FAILOVER_DEADLINE_MS },
      (replica, attemptSignal) => this.clients[replica.index]!.rank(upstreamModel, ranked, attemptSignal),
    );
    lease.release("ok");
    return lease.value;
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    clearInterval(this.discoveryTimer);
    this.pool.stop();
  }

  /**
   * Runs a streamed reply on a replica the pool picks. The pool fails over while the upstream's
   * head has not come; after it, a reply that fails before its first event is started again on
   * another replica (nothing has reached the client yet), and one that fails later ends with the
   * error event. The slot is freed however the stream ends, a client leaving included.
   */
  private async stream(
    affinity: { keys: AffinityKey[]; totalChars: number },
    signal: AbortSignal,
    start: (client: UpstreamClient, signal: AbortSignal) => Promise<AsyncIterable<ChatEvent>>,
    reply: ReplyText,
    replyKeys: () => AffinityKey[],
  ): Promise<AsyncIterable<ChatEvent>> {
    const deadline = performance.now() + FAILOVER_DEADLINE_MS;
    const dispatch = () =>
      this.pool.dispatch(
        {
          ...(this.options.config.affinity ? { affinity } : {}),
          signal,
          deadlineMs: Math.max(1, deadline - performance.now()),
        },
        (replica, attemptSignal) => start(this.clients[replica.index]!, attemptSignal),
      );
    // A request that waits (in the pool's queue, or for a slow upstream's head) is handed back
    // to the protocol at once, so the client gets keep-alives meanwhile; one refused at once
    // (queue full, no replica, a 400 from the upstream) still gets its HTTP status.
    const first = dispatch();
    first.catch(() => {}); // observed by the stream below, or dropped with it
    let lease = (await settlesWithin(first, this.options.headWaitMs ?? HEAD_WAIT_MS))
      ? await first
      : undefined;
    let consumed = false;
    // A stream never read (the client left before it started) must not keep its slot.
    signal.addEventListener(
      "abort",
      () =>
        void first.then(
          (granted) => consumed || granted.release("aborted"),
          () => {},
        ),
      { once: true },
    );
    const pool = this.name;
    async function* events(): AsyncGenerator<ChatEvent> {
      consumed = true;
      lease ??= await first;
      let yielded = false;
      let iterator: AsyncIterator<ChatEvent> | undefined;
      try {
        for (;;) {
          iterator = lease.value[Symbol.asyncIterator]();
          try {
            for (;;) {
              const result: IteratorResult<ChatEvent> = await iterator.next();
              if (result.done) break;
              let event = result.value;
              reply.add(event);
              if (event.type === "finish") {
                event = {
                  ...event,
                  servedBy: {
                    upstreamModel: event.servedBy?.upstreamModel ?? "",
                    ...event.servedBy,
                    pool,
                    replica: displayUrl(lease.replica.url),
                  },
                };
              }
              yielded = true;
              yield event;
            }
            iterator = undefined;
            lease.release("ok");
            lease.remember(replyKeys());
            return;
          } catch (error) {
            iterator = undefined;
            if (signal.aborted) {
              lease.release("aborted", error);
              throw error;
            }
            lease.release("failed", error);
            const retryable = error instanceof QiusuoError && error.isRetryable;
            if (yielded || !retryable || performance.now() >= deadline) throw error;
            lease = await dispatch();
          }
        }
      } finally {
        // A client that left (or an error above) stops the upstream request and frees the slot.
        await iterator?.return?.();
        lease.release(signal.aborted ? "aborted" : "ok");
      }
    }
    return events();
  }

  /** `NAME/<id>` (as listed) or a bare `<id>` (as the router passes an admin's alias on) -> `<id>`. */
  private upstreamId(model: string): string {
    const prefix = `${this.name}/`;
    const id = model.startsWith(prefix) ? model.slice(prefix.length) : model;
    const known =
      this.models.some((candidate) => candidate.id === id) ||
      (this.options.config.models?.includes(id) ?? false);
    if (!known)
      throw new ModelNotFoundError(
        model,
        this.listModels().map((candidate) => candidate.id),
      );
    return id;
  }

  private acceptsImages(upstreamModel: string): boolean {
    const accepts = this.options.config.acceptsImages;
    return Array.isArray(accepts) ? accepts.includes(upstreamModel) : accepts;
  }

  private refuseImages(request: ChatRequest, upstreamModel: string): void {
    if (this.acceptsImages(upstreamModel)) return;
    const index = request.messages.findIndex(
      (message) => message.role === "user" && (message.images?.length ?? 0) > 0,
    );
    if (index === -1) return;
    throw new InvalidRequestError(
      "model_not_multimodal",
      `The model '${request.model}' does not accept images. Send text only, or pick a model that ` +
        "accepts images (accepts_images in /v1/models; an admin marks an upstream pool's with acceptsImages).",
      `messages.${index}.content`,
    );
  }
}

/**
 * The reply with the session's placeholders put back and its redaction counts on `finish`; as
 * it is when nothing was redacted (or the pool does not redact).
 */
function restored(
  events: AsyncIterable<ChatEvent>,
  session: RedactionSession | undefined,
): AsyncIterable<ChatEvent> {
  return session === undefined || session.size === 0 ? events : restoreEvents(events, session);
}

/** The query and documents redacted in one session, so a value is the same placeholder in all. */
function redactRankRequest(request: RankRequest): RankRequest {
  const [query = "", ...documents] = redactTexts([request.query, ...request.documents]).texts;
  return { ...request, query, documents };
}

/** The reply as it grows, for the prefix the next turn will share. */
class ReplyText {
  private content = "";
  private reasoning = "";
  private readonly toolCalls: ToolCall[] = [];

  add(event: ChatEvent): void {
    if (event.type === "text-delta") this.content += event.text;
    else if (event.type === "reasoning-delta") this.reasoning += event.text;
    else if (event.type === "tool-call-start")
      this.toolCalls[event.index] = { id: event.id, name: event.name, arguments: "" };
    else if (event.type === "tool-call-delta") {
      const call = this.toolCalls[event.index];
      if (call) call.arguments += event.argumentsDelta;
    }
  }

  value(): { content: string; reasoning?: string; toolCalls?: ToolCall[] } {
    const calls = this.toolCalls.filter(Boolean);
    return {
      content: this.content,
      ...(this.reasoning ? { reasoning: this.reasoning } : {}),
      ...(calls.length > 0 ? { toolCalls: calls } : {}),
    };
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
