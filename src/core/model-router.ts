import type { ChatEvent, ChatRequest, CompletionRequest, EmbeddingResult } from "./chat.js";
import type {
  ContinuationScore,
  Engine,
  ModelDetails,
  ModelInfo,
  ModelProvenance,
  RankRequest,
  RankResult,
} from "./engine.js";
import { ModelNotFoundError, ModelUnavailableError, QiusuoError } from "./errors.js";
import { MODEL_ALIASES } from "./model-aliases.js";

/** One engine behind the router: the local llama.cpp engine, or one upstream pool. */
export interface RouterBackend {
  /** `local`, or the pool's name (its models are named `NAME/<upstream id>`). */
  name: string;
  engine: Engine;
}

export interface ModelRouterOptions {
  /** In order of precedence: the first backend's first model is the default model. */
  backends: RouterBackend[];
  /**
   * Names an admin gives models (`--config`'s `aliases`): alias -> model id or another name.
   * An alias may also re-point `deepseek-chat` / `deepseek-reasoner`.
   */
  aliases?: Readonly<Record<string, string>>;
  /** The model DeepSeek's names answer with; default the first model of the first backend. */
  defaultModel?: string;
}

/** Where a requested name leads. */
export interface ModelRoute {
  backend: RouterBackend;
  /** The id the backend knows the model by. */
  model: string;
  /** The thinking a DeepSeek name implies (`deepseek-reasoner`), when the request set none. */
  thinking: boolean | undefined;
}

/**
 * The one place that maps a requested model name to an engine: a model's own id, its local
 * aliases (catalog names such as `deepseek-r1:1.5b`), an admin's aliases, DeepSeek's public names
 * (`deepseek-chat`, `deepseek-reasoner`: the default model without and with thinking), and an
 * upstream model's bare id (`Qwen3-8B` for `vllm/Qwen3-8B`) when no other engine has that id.
 * Protocols, the app and the CLI see only the `Engine` it implements; the engines behind it see
 * only their own ids.
 */
export class ModelRouter implements Engine {
  private readonly backends: RouterBackend[];
  private readonly aliases: Readonly<Record<string, string>>;

  constructor(private readonly options: ModelRouterOptions) {
    this.backends = options.backends;
    this.aliases = options.aliases ?? {};
  }

  /** Every model of every backend, the default model first. */
  listModels(): ModelInfo[] {
    const models = this.backends.flatMap((backend) => backend.engine.listModels());
    const main = this.defaultModelId(models);
    const index = models.findIndex((model) => model.id === main);
    if (index > 0) models.unshift(...models.splice(index, 1));
    return models;
  }

  modelDetails(): ModelDetails[] {
    const details = this.backends.flatMap(
      (backend) =>
        backend.engine.modelDetails?.() ??
        backend.engine.listModels().map((model) => ({ ...model, aliases: [] })),
    );
    const names = this.adminAliasesByTarget();
    for (const model of details) {
      const extra = names.get(model.id) ?? [];
      if (extra.length > 0) model.aliases = [...new Set([...model.aliases, ...extra])];
    }
    const main = this.defaultModelId(details);
    const index = details.findIndex((model) => model.id === main);
    if (index > 0) details.unshift(...details.splice(index, 1));
    return details;
  }

  /** Resolves `name` as a request's `model`, or throws the 400 that lists what exists. */
  route(name: string): ModelRoute {
    const thinking = MODEL_ALIASES[name]?.thinking;
    let target = name;
    // Admin aliases may chain (a -> b -> model), but never loop.
    for (let hops = 0; hops < 8 && this.aliases[target] !== undefined; hops++) target = this.aliases[target]!;
    if (target in MODEL_ALIASES && !this.hasId(target)) {
      const main = this.defaultModelId(this.backends.flatMap((backend) => backend.engine.listModels()));
      if (main !== undefined) target = main;
    }
    const found = this.find(target);
    if (!found) {
      const pools = this.bareMatches(target).map((match) => match.model);
      if (pools.length > 1) {
        throw new QiusuoError(
          "invalid_request",
          "model_ambiguous",
          `The model '${name}' is served by several upstream pools: ${pools.join(", ")}. Name one of them.`,
          { param: "model" },
        );
      }
      throw this.notServable(name, target);
    }
    return { ...found, thinking };
  }

  /** Admin aliases that lead to a model, for `/v1/models`. */
  modelAliases(): Array<{ alias: string; model: string }> {
    return [...this.adminAliasesByTarget()].flatMap(([model, aliases]) =>
      aliases.map((alias) => ({ alias, model })),
    );
  }

  async chat(request: ChatRequest, signal: AbortSignal): Promise<AsyncIterable<ChatEvent>> {
    const route = this.route(request.model);
    return route.backend.engine.chat(routed(request, route), signal);
  }

  async countTokens(request: ChatRequest): Promise<number> {
    const route = this.route(request.model);
    const { engine } = route.backend;
    if (!engine.countTokens) throw unsupportedBy(route, "counting tokens");
    return engine.countTokens(routed(request, route));
  }

  async complete(request: CompletionRequest, signal: AbortSignal): Promise<AsyncIterable<ChatEvent>> {
    const route = this.route(request.model);
    const { engine } = route.backend;
    if (!engine.complete) throw unsupportedBy(route, "completions");
    return engine.complete({ ...request, model: route.model }, signal);
  }

  async embed(model: string, inputs: string[], signal: AbortSignal): Promise<EmbeddingResult> {
    const route = this.route(model);
    const { engine } = route.backend;
    if (!engine.embed) throw unsupportedBy(route, "embeddings");
    return engine.embed(route.model, inputs, signal);
  }

  async rank(request: RankRequest, signal: AbortSignal): Promise<RankResult> {
    const route = this.route(request.model);
    const { engine } = route.backend;
    if (!engine.rank) throw unsupportedBy(route, "reranking");
    return engine.rank({ ...request, model: route.model }, signal);
  }

  async scoreContinuation(
    request: ChatRequest,
    continuation: string,
    options: { maxTokens: number },
    signal: AbortSignal,
  ): Promise<ContinuationScore> {
    const route = this.route(request.model);
    const { engine } = route.backend;
    if (!engine.scoreContinuation) throw unsupportedBy(route, "scoring a reply's likelihood");
    return engine.scoreContinuation(routed(request, route), continuation, options, signal);
  }

  async provenance(model: string, options?: { waitForDigest?: boolean }): Promise<ModelProvenance> {
    const route = this.route(model);
    const { engine } = route.backend;
    if (!engine.provenance) throw unsupportedBy(route, "provenance");
    return engine.provenance(route.model, options);
  }

  async tokenize(model: string, text: string, signal: AbortSignal): Promise<number[]> {
    const route = this.route(model);
    const { engine } = route.backend;
    if (!engine.tokenize) throw unsupportedBy(route, "tokenizing");
    return engine.tokenize(route.model, text, signal);
  }

  async dispose(): Promise<void> {
    await Promise.all(this.backends.map((backend) => backend.engine.dispose()));
  }

  /**
   * The model DeepSeek's names stand for: configured, else the first backend's first model that
   * can chat (a reranker cannot).
   */
  private defaultModelId(models: readonly ModelInfo[]): string | undefined {
    const configured = this.options.defaultModel;
    if (configured !== undefined) {
      const found = this.find(configured);
      if (found) return found.model;
    }
    return (models.find((model) => !model.reranker) ?? models[0])?.id;
  }

  private hasId(id: string): boolean {
    return this.backends.some((backend) => backend.engine.listModels().some((model) => model.id === id));
  }

  /** Exact ids first, then local aliases, then bare upstream ids held by exactly one model. */
  private find(name: string): Omit<ModelRoute, "thinking"> | undefined {
    for (const backend of this.backends) {
      if (backend.engine.listModels().some((model) => model.id === name)) return { backend, model: name };
    }
    for (const backend of this.backends) {
      const owner = backend.engine.modelDetails?.().find((model) => model.aliases.includes(name));
      if (owner) return { backend, model: owner.id };
    }
    const bare = this.bareMatches(name);
    return bare.length === 1 ? bare[0] : undefined;
  }

  /** Upstream models whose id is `POOL/name`. */
  private bareMatches(name: string): Array<Omit<ModelRoute, "thinking">> {
    return this.backends.flatMap((backend) =>
      backend.engine
        .listModels()
        .filter((model) => model.pool !== undefined && model.id === `${model.pool}/${name}`)
        .map((model) => ({ backend, model: model.id })),
    );
  }

  /**
   * The error for a name nothing serves: a 503 with the reason when the pool it names (or, for
   * DeepSeek's names with no model anywhere, every pool) cannot list its models now; else a 400
   * listing what exists.
   */
  private notServable(name: string, target: string): QiusuoError {
    const waiting = this.backends.flatMap((backend) => {
      const reason = backend.engine.notReady?.();
      if (reason === undefined) return [];
      const named = target.startsWith(`${backend.name}/`);
      const nothingElse =
        target in MODEL_ALIASES && !this.backends.some((other) => other.engine.listModels().length > 0);
      return named || nothingElse ? [reason] : [];
    });
    if (waiting.length > 0) {
      return new ModelUnavailableError(
        "upstream_unavailable",
        `The model '${name}' cannot be served now: ${waiting.join("; ")}.`,
        5,
      );
    }
    return new ModelNotFoundError(name, this.availableNames());
  }

  private availableNames(): string[] {
    const models = this.backends.flatMap((backend) => backend.engine.modelDetails?.() ?? []);
    const ids = this.backends.flatMap((backend) => backend.engine.listModels().map((model) => model.id));
    if (ids.length === 0) return [];
    const names = new Set([...ids, ...models.flatMap((model) => model.aliases)]);
    for (const name of [...Object.keys(this.aliases), ...Object.keys(MODEL_ALIASES)]) names.add(name);
    return [...names];
  }

  private adminAliasesByTarget(): Map<string, string[]> {
    const byTarget = new Map<string, string[]>();
    for (const alias of Object.keys(this.aliases)) {
      let target = alias;
      for (let hops = 0; hops < 8 && this.aliases[target] !== undefined; hops++)
        target = this.aliases[target]!;
      const found = this.find(target);
      if (!found) continue;
      byTarget.set(found.model, [...(byTarget.get(found.model) ?? []), alias]);
    }
    return byTarget;
  }
}

function routed(request: ChatRequest, route: ModelRoute): ChatRequest {
  return { ...request, model: route.model, thinking: request.thinking ?? route.thinking };
}

function unsupportedBy(route: ModelRoute, what: string): QiusuoError {
  return new QiusuoError(
    "invalid_request",
    "not_supported",
    `The model '${route.model}' (${route.backend.name}) does not support ${what}.`,
    { param: "model" },
  );
}
