/**
 * One replica of an OpenAI-compatible upstream (vLLM, SGLang, llama-server, Ollama's /v1,
 * DeepSeek, OpenAI, another qiusuo): its models, its health, chats, completions and embeddings.
 * Failover, balancing and health state live in the replica pool; this class only answers for one
 * base URL, throwing QiusuoErrors whose `isRetryable` tells the pool whether another replica may
 * do better.
 */
import type { ChatEvent, ChatRequest, CompletionRequest, EmbeddingResult } from "../../core/chat.js";
import type { RankRequest, RankResult } from "../../core/engine.js";
import { InvalidParameterError, InvalidRequestError, QiusuoError } from "../../core/errors.js";
import { promptChars, toChatBody, toCompletionBody } from "./openai-wire.js";
import { StreamDecoder, replyStartsIn, type StreamDecoderOptions } from "./openai-stream-decoder.js";
import { errorFromBody, isErrorBody, malformedError } from "./upstream-error.js";
import {
  DEFAULT_LIMITS,
  DEFAULT_TIMEOUTS,
  UpstreamHttp,
  type UpstreamLimits,
  type UpstreamResponse,
  type UpstreamTimeouts,
} from "./upstream-http.js";

/** Errors of `GET /health` that mean "no health route here" rather than "unhealthy". */
const PROBE_FALLBACK = new Set(["upstream_endpoint_not_found", "model_not_found", "upstream_auth"]);

export interface UpstreamClientOptions {
  /** The pool's name (`--upstream NAME=…`), for messages and `servedBy`. */
  pool: string;
  /** `http://host:port` or `http://host:port/v1` (both work; a path before /v1 is kept). */
  baseUrl: string;
  /** How messages and `servedBy` name this replica. Default: the base URL as normalised. */
  replica?: string;
  /** Sent as `Authorization: Bearer KEY`; never appears in an error, a log or `servedBy`. */
  apiKey?: string;
  timeouts?: Partial<UpstreamTimeouts>;
  limits?: Partial<UpstreamLimits>;
  /** Send `request.thinking` as `chat_template_kwargs` (see ChatBodyOptions). Default true. */
  thinkingKwargs?: boolean;
}

/** A model as an upstream's `/v1/models` lists it. */
export interface UpstreamModel {
  id: string;
  /** Unix seconds, when the upstream says. */
  created?: number;
  ownedBy?: string;
  /** vLLM's `max_model_len`, qiusuo's `context_length`, or llama-server's `meta.n_ctx_train`. */
  contextLength?: number;
}

export class UpstreamClient {
  readonly pool: string;
  /** The label of this replica in messages and `servedBy`. */
  readonly replica: string;
  /** `pool (replica)`, for an admin's log lines; never holds the key. */
  readonly label: string;
  /** The OpenAI API root, ending in `/v1`. */
  readonly apiUrl: string;
  /** The server root (where `/health` lives). */
  readonly rootUrl: string;
  private readonly http: UpstreamHttp;
  private readonly thinkingKwargs: boolean;

  constructor(options: UpstreamClientOptions) {
    const { apiUrl, rootUrl } = normaliseBaseUrl(options.baseUrl);
    this.pool = options.pool;
    this.apiUrl = apiUrl;
    this.rootUrl = rootUrl;
    this.replica = options.replica ?? apiUrl;
    this.label = `${this.pool} (${this.replica})`;
    this.thinkingKwargs = options.thinkingKwargs ?? true;
    this.http = new UpstreamHttp({
      label: { pool: this.pool, replica: this.replica },
      ...(options.apiKey === undefined || options.apiKey === "" ? {} : { apiKey: options.apiKey }),
      timeouts: { ...DEFAULT_TIMEOUTS, ...options.timeouts },
      limits: { ...DEFAULT_LIMITS, ...options.limits },
    });
  }

  /** `GET /v1/models`. */
  async listModels(signal: AbortSignal): Promise<UpstreamModel[]> {
    const response = await this.http.send({ method: "GET", url: `${this.apiUrl}/models`, signal });
    const body = asRecord(await this.readJson(response));
    if (!body || !Array.isArray(body.data))
      throw malformedError(this.http.label, "a model list without `data`");
    const models: UpstreamModel[] = [];
    for (const item of body.data) {
      const record = asRecord(item);
      if (!record || typeof record.id !== "string" || record.id === "") continue;
      const model: UpstreamModel = { id: record.id };
      if (isCount(record.created)) model.created = record.created;
      if (typeof record.owned_by === "string") model.ownedBy = record.owned_by;
      const contextLength = [
        record.max_model_len,
        record.context_length,
        asRecord(record.meta)?.n_ctx_train,
      ].find(isCount);
      if (contextLength !== undefined && contextLength > 0) model.contextLength = contextLength;
      models.push(model);
    }
    return models;
  }

  /**
   * A cheap health check: `GET /health` (vLLM, SGLang, llama-server, qiusuo: 200 when ready, 503
   * while loading), or `GET /v1/models` where there is no /health (Ollama, hosted APIs).
   */
  async probe(signal: AbortSignal): Promise<void> {
    try {
      const response = await this.http.send({ method: "GET", url: `${this.rootUrl}/health`, signal });
      response.close();
      return;
    } catch (error) {
      // No such route, or one behind a key that /v1/models takes: ask the API itself.
      if (!(error instanceof QiusuoError) || !PROBE_FALLBACK.has(error.code)) throw error;
    }
    await this.listModels(signal);
  }

  /**
   * Streams a chat from the upstream (always streaming, whether or not our client asked to, so
   * time to first token and aborts work the same for both). Resolves once the upstream answered
   * 200 with an event stream (or a JSON body, which is read at once); any HTTP failure throws
   * before that, so the pool can fail over. Errors after it (a cut stream, an error event, an
   * idle upstream) are thrown by the iterator. Aborting `signal` closes the upstream connection
   * at once, and the iterator then ends without a `finish`, as local engines do.
   */
  async chat(
    upstreamModel: string,
    request: ChatRequest,
    signal: AbortSignal,
  ): Promise<AsyncIterable<ChatEvent>> {
    const jsonMode = request.responseFormat.type !== "text";
    const body = toChatBody(request, upstreamModel, { thinkingKwargs: this.thinkingKwargs });
    return this.stream(`${this.apiUrl}/chat/completions`, body, signal, {
      mode: "chat",
      upstreamModel,
      jsonMode,
      startsIn: replyStartsIn(request),
      promptChars: promptChars(request),
    });
  }

  /** `/v1/completions`, with `suffix` for fill-in-the-middle; events are text deltas and a finish. */
  async complete(
    upstreamModel: string,
    request: CompletionRequest,
    signal: AbortSignal,
  ): Promise<AsyncIterable<ChatEvent>> {
    return this.stream(`${this.apiUrl}/completions`, toCompletionBody(request, upstreamModel), signal, {
      mode: "completion",
      upstreamModel,
      promptChars: request.prompt.length + (request.suffix?.length ?? 0),
    });
  }

  /** `/v1/embeddings`: one vector per input, in input order. */
  async embed(upstreamModel: string, inputs: string[], signal: AbortSignal): Promise<EmbeddingResult> {
    const response = await this.http.send({
      method: "POST",
      url: `${this.apiUrl}/embeddings`,
      body: { model: upstreamModel, input: inputs, encoding_format: "float" },
      signal,
      upstreamModel,
    });
    const body = asRecord(await this.readJson(response));
    if (body && isErrorBody(body))
      throw errorFromBody(this.http.label, this.http.redactor, body, { upstreamModel });
    const data = Array.isArray(body?.data) ? body.data : undefined;
    const vectors: number[][] = new Array<number[]>(inputs.length);
    for (const [position, item] of (data ?? []).entries()) {
      const record = asRecord(item);
      const index = isCount(record?.index) ? record.index : position;
      const embedding = record?.embedding;
      if (
        index >= inputs.length ||
        !Array.isArray(embedding) ||
        !embedding.every((x) => typeof x === "number")
      ) {
        throw malformedError(this.http.label, "an embedding that is not a list of numbers");
      }
      vectors[index] = embedding as number[];
    }
    if (
      data === undefined ||
      data.length !== inputs.length ||
      vectors.some((vector) => vector === undefined)
    ) {
      throw malformedError(this.http.label, `${data?.length ?? "no"} embeddings for ${inputs.length} inputs`);
    }
    const usage = asRecord(body?.usage);
    const reported = usage?.prompt_tokens ?? usage?.total_tokens;
    const promptTokens = isCount(reported)
      ? reported
      : Math.ceil(inputs.reduce((sum, input) => sum + input.length, 0) / 4);
    return { vectors, promptTokens };
  }

  /**
   * `/v1/rerank` (llama-server, vLLM, SGLang, another qiusuo): the scores in document order. The
   * upstream sorts its results by score and may cut them to `top_n`, so they are mapped back by
   * `index`, and all of them are asked for.
   */
  async rank(upstreamModel: string, request: RankRequest, signal: AbortSignal): Promise<RankResult> {
    const { documents } = request;
    const response = await this.http
      .send({
        method: "POST",
        url: `${this.apiUrl}/rerank`,
        body: { model: upstreamModel, query: request.query, documents, top_n: documents.length },
        signal,
        upstreamModel,
      })
      .catch((error: unknown) => {
        throw notReranker(error, upstreamModel) ?? error;
      });
    const body = asRecord(await this.readJson(response));
    if (body && isErrorBody(body))
      throw errorFromBody(this.http.label, this.http.redactor, body, { upstreamModel });
    const results = Array.isArray(body?.results) ? body.results : undefined;
    const scores = new Array<number>(documents.length);
    for (const item of results ?? []) {
      const record = asRecord(item);
      const index = record?.index;
      const score = record?.relevance_score ?? record?.score;
      if (!isCount(index) || index >= documents.length || typeof score !== "number" || index in scores) {
        throw malformedError(
          this.http.label,
          "a rerank result without a valid `index` and `relevance_score`",
        );
      }
      scores[index] = score;
    }
    if (results === undefined || results.length !== documents.length) {
      throw malformedError(
        this.http.label,
        `${results?.length ?? "no"} rerank results for ${documents.length} documents`,
      );
    }
    const usage = asRecord(body?.usage);
    const reported = usage?.prompt_tokens ?? usage?.total_tokens;
    const promptTokens = isCount(reported)
      ? reported
      : Math.ceil(documents.reduce((sum, document) => sum + document.length, request.query.length) / 4);
    return { scores, promptTokens };
  }

  private async stream(
    url: string,
    body: unknown,
    signal: AbortSignal,
    options: Omit<StreamDecoderOptions, "label" | "redactor">,
  ): Promise<AsyncIterable<ChatEvent>> {
    const response = await this.http.send({
      method: "POST",
      url,
      body,
      signal,
      upstreamModel: options.upstreamModel,
      ...(options.jsonMode === undefined ? {} : { jsonMode: options.jsonMode }),
    });
    const decoder = new StreamDecoder(this.decoderOptions(options));
    if (response.isEventStream) return this.events(response, decoder, signal);
    if (response.contentType === "application/json") {
      // An upstream that ignored `stream: true`: the whole reply is here, so an error inside it
      // still throws before we resolve, where the pool can fail over.
      const events = [...decoder.push(await this.readJson(response)), ...decoder.end()];
      return (async function* () {
        yield* events;
      })();
    }
    response.close();
    throw malformedError(
      this.http.label,
      `content-type '${this.http.redactor.quote(response.contentType)}' where an event stream was expected`,
    );
  }

  private async *events(
    response: UpstreamResponse,
    decoder: StreamDecoder,
    signal: AbortSignal,
  ): AsyncGenerator<ChatEvent> {
    // Iterated by hand: a `break` out of for-await would drop the connection at `[DONE]`, and it
    // is worth keeping alive for the next request.
    const payloads = response.events();
    try {
      for (;;) {
        const next = await payloads.next();
        // The client left: events already read from the socket are not handed to it.
        if (signal.aborted) return;
        if (next.done || next.value === "[DONE]") break;
        yield* decoder.push(this.parseEvent(next.value));
      }
      if (signal.aborted) return;
      yield* decoder.end();
      // The end of the body normally follows `[DONE]` at once; reading it keeps the connection
      // for the next request. An upstream that sends more, or holds the body open, is cut off.
      await drain(payloads, DRAIN_MS);
    } catch (error) {
      if (signal.aborted) return; // the client left; it reads nothing more
      throw error;
    } finally {
      response.close(); // first: a read still pending on the body ends with it
      await payloads.return(undefined).catch(() => undefined);
    }
  }

  private parseEvent(data: string): unknown {
    try {
      return JSON.parse(data) as unknown;
    } catch {
      throw malformedError(
        this.http.label,
        `a stream event that is not JSON (${this.http.redactor.quote(data.slice(0, 200))})`,
      );
    }
  }

  private async readJson(response: UpstreamResponse): Promise<unknown> {
    try {
      return await response.json();
    } finally {
      response.close();
    }
  }

  private decoderOptions(options: Omit<StreamDecoderOptions, "label" | "redactor">): StreamDecoderOptions {
    return { ...options, label: this.http.label, redactor: this.http.redactor };
  }
}

/**
 * llama-server started without `--rerank` answers 501 Not Implemented. That is the client asking
 * the wrong model, not a failing replica: as a 502 it would be retried and, repeated, eject a
 * replica that serves chats well, so it becomes the 400 a local non-reranker gets.
 */
function notReranker(error: unknown, upstreamModel: string): QiusuoError | undefined {
  if (!(error instanceof QiusuoError) || error.code !== "upstream_error" || !/\(501\)/.test(error.message)) {
    return undefined;
  }
  return new InvalidRequestError(
    "model_not_reranker",
    `The upstream model '${upstreamModel}' does not rank documents. ${error.message.replace(/\.?$/, ".")} ` +
      "Name a reranker model, or start the upstream as one (llama-server: --rerank --pooling rank).",
    "model",
  );
}

/**
 * `http://h:p`, `http://h:p/`, `http://h:p/v1` and `http://h:p/v1/` all mean the same upstream.
 * Credentials in the URL are refused: they would end up in messages and logs.
 */
export function normaliseBaseUrl(baseUrl: string): { apiUrl: string; rootUrl: string } {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new InvalidParameterError(
      "invalid_upstream_url",
      "An upstream URL must be an absolute http(s) URL.",
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new InvalidParameterError(
      "invalid_upstream_url",
      "An upstream URL must start with http:// or https://.",
    );
  }
  if (url.username !== "" || url.password !== "") {
    throw new InvalidParameterError(
      "invalid_upstream_url",
      "An upstream URL must not carry credentials; put the key in QIUSUO_UPSTREAM_<NAME>_KEY.",
    );
  }
  url.search = "";
  url.hash = "";
  const path = url.pathname.replace(/\/+$/, "");
  const rootPath = path.endsWith("/v1") ? path.slice(0, -"/v1".length) : path;
  const root = `${url.origin}${rootPath}`;
  return { apiUrl: `${root}/v1`, rootUrl: root };
}

/** How long the end of a body may lag behind its `[DONE]` before the connection is dropped. */
const DRAIN_MS = 1_000;

/** Reads to the end within `ms`; errors and leftovers after the reply are no concern of it. */
async function drain(payloads: AsyncGenerator<string>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const reading = (async () => {
    while (!(await payloads.next()).done);
  })().catch(() => undefined);
  await Promise.race([reading, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0;
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}
