import { readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { FLASH_ATTENTION_SETTINGS, KV_CACHE_TYPES, type KvCacheSettings } from "../core/kv-cache-settings.js";

/**
 * The one place that reads configuration: flags > environment (QIUSUO_*) > defaults.
 * Nothing else in qiusuo reads process.env. Every problem is reported at once.
 */

const integer = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/**
 * The defaults of `qiusuo serve`: the schema below and the command's `--help` both read them, so
 * what the help promises is what the server does.
 */
export const SERVE_DEFAULTS = {
  host: "127.0.0.1",
  port: 8080,
  parallel: 2,
  cacheSizeMb: 4096,
  keepAliveSeconds: 5,
  // A 32 MiB body (the limit) then needs about 9 Mbit/s; a dribbling client holds a socket for
  // half a minute at most.
  requestTimeoutSeconds: 30,
  idleUnloadSeconds: 1800,
  maxLoadedModels: 2,
  gpu: "auto",
  metrics: "admin",
  cacheType: "f16",
  flashAttn: "auto",
  promptLookup: "auto",
} as const;

/**
 * An entry of QIUSUO_MODEL_CATALOG, a JSON array read at start: a site's own aliases, or new pins
 * (file, size, SHA-256) for built-in ones, say for a mirror that serves its own builds. Tests use it
 * to serve a fixture model under the default model's alias. model-catalog.ts checks repo and file
 * again as it does any hf: reference.
 */
export const catalogEntrySchema = z
  .object({
    /** What users type; lower case, and not `hf:...`, which names a file instead. */
    alias: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._:+-]{0,99}$/, "expected lower-case letters, digits and . _ : + -")
      .refine((alias) => !alias.startsWith("hf:"), "an alias may not start with hf:"),
    /** `OWNER/NAME` on Hugging Face (or the mirror). */
    repo: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/, "expected OWNER/NAME"),
    /** The file's path in the repository, a .gguf file. */
    file: z.string().regex(/\.gguf$/i, "expected a .gguf file"),
    description: z.string().optional(),
    /** Bytes; the pull refuses a file of another size. */
    size: z.number().int().nonnegative().optional(),
    /** 64 lower-case hex digits; the pull refuses a file with another digest. */
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, "expected 64 lower-case hex digits")
      .optional(),
  })
  .strict();

export type CatalogEntry = z.infer<typeof catalogEntrySchema>;

/** A pool's name: what its models are prefixed with (`NAME/model`) and its key's variable says. */
export const UPSTREAM_NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;

/** An upstream replica's base URL: http(s), no credentials (the key comes from the environment). */
const upstreamUrl = z
  .string()
  .url()
  .superRefine((text, context) => {
    const url = new URL(text);
    if (url.protocol !== "http:" && url.protocol !== "https:")
      context.addIssue({
        code: "custom",
        message: `expected an http:// or https:// URL, got ${url.protocol}`,
      });
    if (url.username || url.password)
      context.addIssue({
        code: "custom",
        message: "put the key in QIUSUO_UPSTREAM_<NAME>_KEY, not in the URL",
      });
    if (url.search || url.hash)
      context.addIssue({ code: "custom", message: "expected a base URL without ?query or #fragment" });
  });

/**
 * One upstream pool (`--upstream NAME=URL,...` or `upstreams.NAME` in `--config`): replicas of
 * one OpenAI-compatible server (vLLM, SGLang, llama-server, Ollama's /v1, DeepSeek, OpenAI,
 * another qiusuo) that serve the same models.
 */
export const upstreamPoolSchema = z
  .object({
    /** Base URLs of the replicas (`http://host:8000/v1`; `/v1` is added when missing). */
    urls: z.array(upstreamUrl).min(1).max(256),
    /** Relative share of requests per replica, in `urls` order; default 1 each. */
    weights: z.array(z.number().positive().max(1000)).optional(),
    /** Serve only these upstream model ids; default all that `/v1/models` lists. */
    models: z.array(z.string().min(1).max(256)).optional(),
    /** Whether its models take images (true, false, or the ids of those that do); default false. */
    acceptsImages: z.union([z.boolean(), z.array(z.string().min(1))]).default(false),
    /** Requests in flight per replica; more wait in qiusuo's queue. */
    maxConcurrent: integer(1, 10_000).default(16),
    /** Requests that may wait for a replica before new ones get 429; default 8 per slot. */
    maxQueue: integer(0, 1_000_000).optional(),
    /**
     * Pass DeepThink on/off as `chat_template_kwargs` (vLLM, SGLang, llama-server and qiusuo take
     * it); turn off for OpenAI, which refuses fields it does not know.
     */
    thinkingKwargs: z.boolean().default(true),
    /**
     * Replace bank card numbers, mainland China ID numbers, phone numbers, e-mail addresses and
     * IBANs with placeholders before a request leaves for this pool, and put them back in the
     * reply (src/privacy/). Off by default.
     */
    redact: z.boolean().default(false),
    /** Send a conversation back to the replica that holds its prefix (KV cache). */
    affinity: z.boolean().default(true),
    /** Seconds to connect and get the response head before a replica counts as failed. */
    connectTimeoutSeconds: z.number().positive().max(600).default(10),
    /** Seconds a reply may stay silent mid-stream before it is ended with an error. */
    idleTimeoutSeconds: z.number().positive().max(3600).default(300),
    /** Seconds between rereads of each pool's `/v1/models`. */
    discoverySeconds: z.number().positive().max(86_400).default(60),
    /** Seconds between health checks of the replicas in service; 0 turns them off. */
    healthSeconds: z.number().min(0).max(3600).default(15),
    /** Consecutive failures that take a replica out of service until it answers a probe again. */
    ejectAfterFailures: integer(1, 1000).default(3),
  })
  .strict();

export type UpstreamPoolConfig = z.infer<typeof upstreamPoolSchema>;

/** `*`, or scheme://host[:port] where the host may hold `*` (e.g. `chrome-extension://*`). */
const ORIGIN_PATTERN = /^(\*|[a-z][a-z0-9+.-]*:\/\/[a-z0-9*.\-[\]:]+)$/i;
const ORIGIN_MESSAGE = "expected an origin like https://app.example.com, chrome-extension://*, or *";

export const serveConfigSchema = z.object({
  /** Address to bind. Loopback by default so nothing is exposed by accident. */
  host: z.string().min(1).default(SERVE_DEFAULTS.host),
  port: integer(0, 65535).default(SERVE_DEFAULTS.port),
  /** Where models, caches and the database live. Default ~/.qiusuo. */
  dataDir: z.string().min(1),
  /** Model files or catalog aliases to serve; the first one is the default model. */
  models: z.array(z.string().min(1)).default([]),
  /** Context size per sequence, in tokens; 0 means the model's trained size capped at 8192. */
  contextSize: integer(0, 10_000_000).default(0),
  /** Sequences decoded in parallel per model (batched together). */
  parallel: integer(1, 64).default(SERVE_DEFAULTS.parallel),
  /** Requests that may wait for a sequence per model before new ones get 429. 0: 8 per sequence. */
  maxQueue: integer(0, 100_000).default(0),
  /** Disk space for saved KV prefixes (the context cache), in MiB per model; 0 turns it off. */
  cacheSizeMb: integer(0, 10_000_000).default(SERVE_DEFAULTS.cacheSizeMb),
  /** Seconds of silence before a waiting request gets a keep-alive. */
  keepAliveSeconds: z.coerce.number().min(0.01).max(600).default(SERVE_DEFAULTS.keepAliveSeconds),
  /**
   * Seconds a client has to send a whole request (head and body) before it gets 408; fractions
   * allowed. Replies are not limited: a long generation streams for as long as it needs.
   */
  requestTimeoutSeconds: z.coerce.number().min(0.1).max(3600).default(SERVE_DEFAULTS.requestTimeoutSeconds),
  /** CPU threads for llama.cpp; 0 means one per available core. */
  threads: integer(0, 1024).default(0),
  /**
   * Seconds without a request after which a model is unloaded (it reloads on the next request);
   * fractions allowed, 0 keeps models loaded.
   */
  idleUnloadSeconds: z.coerce.number().min(0).max(31_536_000).default(SERVE_DEFAULTS.idleUnloadSeconds),
  /** Models in memory at once; loading one more unloads the least recently used idle one. */
  maxLoadedModels: integer(1, 64).default(SERVE_DEFAULTS.maxLoadedModels),
  /** Use a GPU when llama.cpp finds one; "off" forces the CPU. */
  gpu: z.enum(["auto", "off"]).default(SERVE_DEFAULTS.gpu),
  /**
   * How the KV cache is stored, K and V alike: f16, or q8_0 / q4_0 (about 1/2 and 1/3.5 of the
   * memory, so the fitted context grows). `cacheTypeK` and `cacheTypeV` set one half each.
   */
  cacheType: z.enum(KV_CACHE_TYPES).default(SERVE_DEFAULTS.cacheType),
  cacheTypeK: z.enum(KV_CACHE_TYPES).optional(),
  cacheTypeV: z.enum(KV_CACHE_TYPES).optional(),
  /** Flash attention: "auto" lets llama.cpp use it where it works; a quantized V cache needs it. */
  flashAttn: z.enum(FLASH_ATTENTION_SETTINGS).default(SERVE_DEFAULTS.flashAttn),
  /** A small model of the same vocabulary that drafts tokens for the served models (a file or a downloaded alias). */
  draftModel: z.string().min(1).optional(),
  /** Drafts looked up in the prompt: "auto" is on when no draft model is set (see src/engines/local/loaded-model.ts). */
  promptLookup: z.enum(["auto", "on", "off"]).default(SERVE_DEFAULTS.promptLookup),
  /** Hugging Face endpoint for pulls (a mirror works too). */
  huggingFaceEndpoint: z.string().url().default("https://huggingface.co"),
  huggingFaceToken: z.string().optional(),
  /** Catalog entries that come before the built-in ones (QIUSUO_MODEL_CATALOG); default none. */
  modelCatalog: z.array(catalogEntrySchema).default([]),
  /** Pull the default model in the background when no model is given. */
  pullDefaultModel: z.boolean().default(true),
  /** A `postgres://` URL (DATABASE_URL); the store uses SQLite in the data dir without one. */
  databaseUrl: z.string().url().optional(),
  /**
   * Accounts mode: logins, sessions and API keys. Always on when bound to a non-loopback address;
   * also on once any user has a password. Without it (loopback, no accounts) one implicit user.
   */
  auth: z.boolean().default(false),
  /**
   * Who may read /metrics in accounts mode: "admin" (an admin's API key or session) or "public"
   * (anyone, for a scraper that cannot hold a key). Local mode serves it to loopback alone anyway.
   */
  metrics: z.enum(["admin", "public"]).default(SERVE_DEFAULTS.metrics),
  /**
   * Web origins besides localhost's that browsers may call the API from (`--allow-origin`,
   * QIUSUO_ALLOW_ORIGINS, like Ollama's OLLAMA_ORIGINS): exact origins, `*` in the host
   * (`chrome-extension://*`, `https://*.example.com`) or `*` for any. They get CORS headers and pass
   * the loopback origin check; they authenticate with API keys (no cookies cross origins).
   */
  allowOrigins: z.array(z.string().regex(ORIGIN_PATTERN, ORIGIN_MESSAGE)).default([]),
  /**
   * The app's web search (联网搜索) provider; none turns the feature off. SearXNG needs
   * `searxngUrl`, Brave and Tavily their key (BRAVE_API_KEY, TAVILY_API_KEY).
   */
  searchProvider: z.enum(["searxng", "brave", "tavily"]).optional(),
  /** A SearXNG instance's base URL, with `json` in its `search.formats`. */
  searxngUrl: z.string().url().optional(),
  /** Brave's and Tavily's API keys, from the environment only. */
  braveApiKey: z.string().min(1).optional(),
  tavilyApiKey: z.string().min(1).optional(),
  /** Lets web search fetch pages on private, loopback and link-local addresses (off: SSRF guard). */
  fetchAllowPrivate: z.boolean().default(false),
  /** Server log level; the terminal gets plain progress lines whatever it is. */
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("warn"),
  /** Upstream pools by name (`--upstream`, `--config`'s `upstreams`); none by default. */
  upstreams: z
    .record(
      z.string().regex(UPSTREAM_NAME, "expected a name of lower-case letters, digits, _ and -"),
      upstreamPoolSchema,
    )
    .default({}),
  /** `QIUSUO_UPSTREAM_<NAME>_KEY` per pool, read from the environment only. */
  upstreamKeys: z.record(z.string()).default({}),
  /** Names an admin gives models: alias -> model id (`--config`'s `aliases`). */
  aliases: z.record(z.string().min(1).max(256), z.string().min(1).max(300)).default({}),
  /** The model `deepseek-chat` and `deepseek-reasoner` answer with; default the first one. */
  defaultModel: z.string().min(1).optional(),
  /**
   * The model knowledge collections are embedded with (a local GGUF or an upstream's model);
   * default the default model (any GGUF can embed; an embedding model does it better).
   */
  embeddingModel: z.string().min(1).max(300).optional(),
});

export type ServeConfig = z.infer<typeof serveConfigSchema>;

/** The model pulled when none is configured: a DeepSeek-R1 distill small enough for a laptop. */
export const DEFAULT_MODEL_ALIAS = "deepseek-r1:1.5b";

export interface ServeFlags {
  host?: string;
  port?: string | number;
  dataDir?: string;
  model?: string[];
  ctxSize?: string | number;
  parallel?: string | number;
  threads?: string | number;
  idleUnload?: string | number;
  maxLoadedModels?: string | number;
  maxQueue?: string | number;
  cacheSize?: string | number;
  keepAlive?: string | number;
  requestTimeout?: string | number;
  gpu?: string;
  cacheType?: string;
  cacheTypeK?: string;
  cacheTypeV?: string;
  flashAttn?: string;
  draftModel?: string;
  promptLookup?: string;
  logLevel?: string;
  databaseUrl?: string;
  auth?: boolean;
  metrics?: string;
  /** A web origin browsers may call from, repeatable. */
  allowOrigin?: string[];
  searchProvider?: string;
  searxngUrl?: string;
  fetchAllowPrivate?: boolean;
  embeddingModel?: string;
  /** `NAME=URL[,URL...]`, repeatable. */
  upstream?: string[];
  /** A JSON file with any setting, and `upstreams`, `aliases`, `defaultModel`. */
  config?: string;
}

export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join("\n")}`);
  }
}

const envNames: Record<string, string> = {
  host: "QIUSUO_HOST",
  port: "QIUSUO_PORT",
  dataDir: "QIUSUO_DATA_DIR",
  models: "QIUSUO_MODEL",
  contextSize: "QIUSUO_CTX_SIZE",
  parallel: "QIUSUO_PARALLEL",
  threads: "QIUSUO_THREADS",
  idleUnloadSeconds: "QIUSUO_IDLE_UNLOAD",
  maxQueue: "QIUSUO_MAX_QUEUE",
  cacheSizeMb: "QIUSUO_CACHE_SIZE",
  keepAliveSeconds: "QIUSUO_KEEP_ALIVE",
  requestTimeoutSeconds: "QIUSUO_REQUEST_TIMEOUT",
  maxLoadedModels: "QIUSUO_MAX_LOADED_MODELS",
  gpu: "QIUSUO_GPU",
  cacheType: "QIUSUO_CACHE_TYPE",
  cacheTypeK: "QIUSUO_CACHE_TYPE_K",
  cacheTypeV: "QIUSUO_CACHE_TYPE_V",
  flashAttn: "QIUSUO_FLASH_ATTN",
  draftModel: "QIUSUO_DRAFT_MODEL",
  promptLookup: "QIUSUO_PROMPT_LOOKUP",
  huggingFaceEndpoint: "QIUSUO_HF_ENDPOINT",
  huggingFaceToken: "HF_TOKEN",
  modelCatalog: "QIUSUO_MODEL_CATALOG",
  logLevel: "QIUSUO_LOG_LEVEL",
  databaseUrl: "DATABASE_URL",
  auth: "QIUSUO_AUTH",
  metrics: "QIUSUO_METRICS",
  allowOrigins: "QIUSUO_ALLOW_ORIGINS",
  searchProvider: "QIUSUO_SEARCH_PROVIDER",
  searxngUrl: "QIUSUO_SEARXNG_URL",
  braveApiKey: "BRAVE_API_KEY",
  tavilyApiKey: "TAVILY_API_KEY",
  fetchAllowPrivate: "QIUSUO_FETCH_ALLOW_PRIVATE",
  embeddingModel: "QIUSUO_EMBEDDING_MODEL",
  upstreams: "QIUSUO_UPSTREAM",
};

/** Settings that have no flag, only their environment variable. */
const ENV_ONLY = new Set([
  "huggingFaceEndpoint",
  "huggingFaceToken",
  "modelCatalog",
  "braveApiKey",
  "tavilyApiKey",
]);

/** The data directory: flag, then QIUSUO_DATA_DIR, then ~/.qiusuo. */
export function resolveDataDir(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(flag ?? env.QIUSUO_DATA_DIR ?? path.join(os.homedir(), ".qiusuo"));
}

/** Where a command's store lives: `--data-dir` (SQLite file there) or DATABASE_URL (PostgreSQL). */
export interface StoreConfig {
  dataDir: string;
  databaseUrl?: string;
}

export function loadStoreConfig(
  flags: { dataDir?: string; databaseUrl?: string },
  env: NodeJS.ProcessEnv = process.env,
): StoreConfig {
  const databaseUrl = flags.databaseUrl ?? (env.DATABASE_URL || undefined);
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError([
      `databaseUrl (--database-url or DATABASE_URL): expected a postgres:// URL, got '${databaseUrl}'`,
    ]);
  }
  const dataDir = resolveDataDir(flags.dataDir, env);
  return databaseUrl === undefined ? { dataDir } : { dataDir, databaseUrl };
}

export function resolveHuggingFace(env: NodeJS.ProcessEnv = process.env): {
  endpoint: string;
  token?: string;
} {
  const endpoint = (env.QIUSUO_HF_ENDPOINT ?? env.HF_ENDPOINT ?? "https://huggingface.co").replace(
    /\/+$/,
    "",
  );
  const token = env.HF_TOKEN;
  return token ? { endpoint, token } : { endpoint };
}

/** QIUSUO_MODEL_CATALOG's entries (none without it), for commands that pull but do not serve. */
export function resolveModelCatalog(env: NodeJS.ProcessEnv = process.env): CatalogEntry[] {
  const problems: string[] = [];
  const raw = readModelCatalogFile(env, problems);
  const parsed = z.array(catalogEntrySchema).default([]).safeParse(raw);
  if (parsed.success && problems.length === 0) return parsed.data;
  throw new ConfigError([
    ...problems,
    ...(parsed.success ? [] : issueProblems(parsed.error, "modelCatalog")),
  ]);
}

/** The parsed JSON of QIUSUO_MODEL_CATALOG's file; a file that cannot be read or parsed is a problem. */
function readModelCatalogFile(env: NodeJS.ProcessEnv, problems: string[]): unknown {
  const file = env.QIUSUO_MODEL_CATALOG;
  if (file === undefined || file === "") return undefined;
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    problems.push(
      `modelCatalog (QIUSUO_MODEL_CATALOG): cannot read ${file} as JSON: ${error instanceof Error ? error.message : String(error)}`,
    );
    return undefined;
  }
}

export function loadServeConfig(flags: ServeFlags, env: NodeJS.ProcessEnv = process.env): ServeConfig {
  const problems: string[] = [];
  const file = readConfigFile(flags.config ?? (env.QIUSUO_CONFIG || undefined), problems);
  const modelCatalog = readModelCatalogFile(env, problems);
  const envModels = env.QIUSUO_MODEL?.split(",")
    .map((model) => model.trim())
    .filter(Boolean);
  const huggingFace = resolveHuggingFace(env);
  const raw = {
    host: flags.host ?? env.QIUSUO_HOST,
    port: flags.port ?? env.QIUSUO_PORT,
    dataDir: resolveDataDir(
      flags.dataDir ?? env.QIUSUO_DATA_DIR ?? (typeof file.dataDir === "string" ? file.dataDir : undefined),
      env,
    ),
    models: flags.model && flags.model.length > 0 ? flags.model : envModels,
    contextSize: flags.ctxSize ?? env.QIUSUO_CTX_SIZE,
    parallel: flags.parallel ?? env.QIUSUO_PARALLEL,
    threads: flags.threads ?? env.QIUSUO_THREADS,
    idleUnloadSeconds: flags.idleUnload ?? env.QIUSUO_IDLE_UNLOAD,
    maxQueue: flags.maxQueue ?? env.QIUSUO_MAX_QUEUE,
    cacheSizeMb: flags.cacheSize ?? env.QIUSUO_CACHE_SIZE,
    keepAliveSeconds: flags.keepAlive ?? env.QIUSUO_KEEP_ALIVE,
    requestTimeoutSeconds: flags.requestTimeout ?? env.QIUSUO_REQUEST_TIMEOUT,
    maxLoadedModels: flags.maxLoadedModels ?? env.QIUSUO_MAX_LOADED_MODELS,
    gpu: flags.gpu ?? env.QIUSUO_GPU,
    cacheType: flags.cacheType ?? env.QIUSUO_CACHE_TYPE,
    cacheTypeK: flags.cacheTypeK ?? env.QIUSUO_CACHE_TYPE_K,
    cacheTypeV: flags.cacheTypeV ?? env.QIUSUO_CACHE_TYPE_V,
    flashAttn: flags.flashAttn ?? env.QIUSUO_FLASH_ATTN,
    draftModel: flags.draftModel ?? env.QIUSUO_DRAFT_MODEL,
    promptLookup: flags.promptLookup ?? env.QIUSUO_PROMPT_LOOKUP,
    huggingFaceEndpoint: huggingFace.endpoint,
    huggingFaceToken: huggingFace.token,
    modelCatalog,
    pullDefaultModel: env.QIUSUO_NO_PULL === "1" ? false : undefined,
    logLevel: flags.logLevel ?? env.QIUSUO_LOG_LEVEL,
    databaseUrl: flags.databaseUrl ?? (env.DATABASE_URL || undefined),
    auth: flags.auth ?? (env.QIUSUO_AUTH === undefined ? undefined : env.QIUSUO_AUTH === "1"),
    metrics: flags.metrics ?? env.QIUSUO_METRICS,
    allowOrigins:
      flags.allowOrigin && flags.allowOrigin.length > 0
        ? flags.allowOrigin
        : env.QIUSUO_ALLOW_ORIGINS === undefined
          ? undefined
          : env.QIUSUO_ALLOW_ORIGINS.split(",")
              .map((origin) => origin.trim())
              .filter(Boolean),
    searchProvider: flags.searchProvider ?? (env.QIUSUO_SEARCH_PROVIDER || undefined),
    searxngUrl: flags.searxngUrl ?? (env.QIUSUO_SEARXNG_URL || undefined),
    braveApiKey: env.QIUSUO_BRAVE_API_KEY || env.BRAVE_API_KEY || undefined,
    tavilyApiKey: env.QIUSUO_TAVILY_API_KEY || env.TAVILY_API_KEY || undefined,
    fetchAllowPrivate:
      flags.fetchAllowPrivate ??
      (env.QIUSUO_FETCH_ALLOW_PRIVATE === undefined ? undefined : env.QIUSUO_FETCH_ALLOW_PRIVATE === "1"),
    embeddingModel: flags.embeddingModel ?? (env.QIUSUO_EMBEDDING_MODEL || undefined),
  };
  // The file comes under flags and environment: a value set there wins.
  const fromFile = Object.fromEntries(
    Object.entries(file).filter(([key]) => FILE_KEYS.has(key) && raw[key as keyof typeof raw] === undefined),
  );
  for (const key of Object.keys(file)) {
    if (!FILE_KEYS.has(key) && !["upstreams", "aliases", "defaultModel"].includes(key))
      problems.push(`${key} (in ${flags.config ?? env.QIUSUO_CONFIG}): not a setting qiusuo knows`);
  }
  const upstreams = mergeUpstreams(
    file.upstreams,
    flags.upstream && flags.upstream.length > 0 ? flags.upstream : envList(env.QIUSUO_UPSTREAM),
    problems,
  );
  const parsed = serveConfigSchema.safeParse({
    ...fromFile,
    ...Object.fromEntries(Object.entries(raw).filter(([, value]) => value !== undefined)),
    upstreams,
    upstreamKeys: upstreamKeys(upstreams, env),
    aliases: file.aliases,
    defaultModel: file.defaultModel,
  });
  if (parsed.success && parsed.data.flashAttn === "off" && kvCacheOf(parsed.data).valueType !== "f16") {
    problems.push(
      `cacheTypeV (--cache-type or --cache-type-v): a ${kvCacheOf(parsed.data).valueType} V cache needs flash attention, ` +
        "which --flash-attn off turns off (llama.cpp reads a quantized V cache only through it); " +
        "use --flash-attn auto or on, or keep V at f16 with --cache-type-v f16",
    );
  }
  if (parsed.success) problems.push(...searchProblems(parsed.data));
  if (!parsed.success || problems.length > 0) {
    throw new ConfigError([...problems, ...(parsed.success ? [] : issueProblems(parsed.error))]);
  }
  return parsed.data;
}

/** The KV-cache settings of a config: `cacheTypeK`/`cacheTypeV` where set, else `cacheType`. */
export function kvCacheOf(
  config: Pick<ServeConfig, "cacheType" | "cacheTypeK" | "cacheTypeV" | "flashAttn">,
): KvCacheSettings {
  return {
    keyType: config.cacheTypeK ?? config.cacheType,
    valueType: config.cacheTypeV ?? config.cacheType,
    flashAttention: config.flashAttn,
  };
}

/** Settings a `--config` file may hold beside `upstreams`, `aliases` and `defaultModel`. */
const FILE_KEYS = new Set([
  "host",
  "port",
  "dataDir",
  "models",
  "contextSize",
  "parallel",
  "threads",
  "idleUnloadSeconds",
  "maxQueue",
  "cacheSizeMb",
  "keepAliveSeconds",
  "requestTimeoutSeconds",
  "maxLoadedModels",
  "gpu",
  "cacheType",
  "cacheTypeK",
  "cacheTypeV",
  "flashAttn",
  "draftModel",
  "promptLookup",
  "logLevel",
  "databaseUrl",
  "auth",
  "metrics",
  "allowOrigins",
  "searchProvider",
  "searxngUrl",
  "fetchAllowPrivate",
  "embeddingModel",
]);

/** A search provider without what it needs to answer: a URL or a key. */
function searchProblems(config: ServeConfig): string[] {
  const missing: Record<string, [boolean, string]> = {
    searxng: [config.searxngUrl === undefined, "needs --searxng-url (or QIUSUO_SEARXNG_URL)"],
    brave: [config.braveApiKey === undefined, "needs BRAVE_API_KEY (or QIUSUO_BRAVE_API_KEY)"],
    tavily: [config.tavilyApiKey === undefined, "needs TAVILY_API_KEY (or QIUSUO_TAVILY_API_KEY)"],
  };
  const check = config.searchProvider && missing[config.searchProvider];
  return check && check[0]
    ? [`searchProvider (--search-provider): ${config.searchProvider} ${check[1]}`]
    : [];
}

/** The `--config` file's JSON object; one that cannot be read or parsed is a problem. */
function readConfigFile(file: string | undefined, problems: string[]): Record<string, unknown> {
  if (file === undefined) return {};
  try {
    const value: unknown = JSON.parse(readFileSync(file, "utf8"));
    if (typeof value === "object" && value !== null && !Array.isArray(value))
      return value as Record<string, unknown>;
    problems.push(`config (--config ${file}): expected a JSON object`);
  } catch (error) {
    problems.push(
      `config (--config ${file}): cannot read it as JSON: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  return {};
}

function envList(value: string | undefined): string[] {
  return (value ?? "")
    .split(/\s+/)
    .map((item) => item.trim())
    .filter(Boolean);
}

/**
 * The file's pools with `--upstream NAME=URL[,URL...]` laid over them: a flag's URLs replace the
 * file's for that name and keep its other settings; a new name is a pool with defaults.
 */
function mergeUpstreams(fromFile: unknown, flags: readonly string[], problems: string[]): unknown {
  const pools: Record<string, unknown> =
    typeof fromFile === "object" && fromFile !== null ? { ...(fromFile as Record<string, unknown>) } : {};
  for (const flag of flags) {
    const match = /^([^=]+)=(.+)$/.exec(flag);
    if (!match) {
      problems.push(`upstreams (--upstream ${flag}): expected NAME=URL[,URL...]`);
      continue;
    }
    const name = match[1]!.trim();
    const urls = match[2]!
      .split(",")
      .map((url) => url.trim())
      .filter(Boolean);
    const before = pools[name];
    pools[name] = { ...(typeof before === "object" && before !== null ? before : {}), urls };
  }
  return pools;
}

/** Each pool's key from `QIUSUO_UPSTREAM_<NAME>_KEY` (NAME upper-cased, - as _). */
function upstreamKeys(pools: unknown, env: NodeJS.ProcessEnv): Record<string, string> {
  const keys: Record<string, string> = {};
  for (const name of Object.keys(typeof pools === "object" && pools !== null ? pools : {})) {
    const key = env[upstreamKeyVariable(name)];
    if (key) keys[name] = key;
  }
  return keys;
}

export function upstreamKeyVariable(pool: string): string {
  return `QIUSUO_UPSTREAM_${pool.toUpperCase().replace(/-/g, "_")}_KEY`;
}

/** One line per zod issue, naming the flag or variable it came from and where inside it. */
function issueProblems(error: z.ZodError, prefix?: string): string[] {
  return error.issues.map((issue) => {
    const [first, ...rest] = prefix === undefined ? issue.path : [prefix, ...issue.path];
    const key = String(first ?? "");
    const inside = rest.map((part) => (typeof part === "number" ? `[${part}]` : `.${part}`)).join("");
    const variable = envNames[key];
    const source =
      variable === undefined
        ? ""
        : ENV_ONLY.has(key)
          ? ` (${variable})`
          : ` (--${kebab(key)} or ${variable})`;
    return `${key}${inside}${source}: ${issue.message}`;
  });
}

function kebab(name: string): string {
  if (name === "contextSize") return "ctx-size";
  if (name === "models") return "model";
  if (name === "idleUnloadSeconds") return "idle-unload";
  if (name === "cacheSizeMb") return "cache-size";
  if (name === "keepAliveSeconds") return "keep-alive";
  if (name === "requestTimeoutSeconds") return "request-timeout";
  if (name === "upstreams") return "upstream";
  if (name === "allowOrigins") return "allow-origin";
  return name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}

/** Threads for llama.cpp: explicit, or one per core (more oversubscribes and collapses decode). */
export function effectiveThreads(config: Pick<ServeConfig, "threads">): number {
  return config.threads > 0 ? config.threads : Math.max(1, os.availableParallelism());
}

export function isLoopbackHost(host: string): boolean {
  return host === "localhost" || host === "::1" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
}
