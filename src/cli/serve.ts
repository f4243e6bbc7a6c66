import path from "node:path";
import type { Command } from "commander";
import {
  DEFAULT_MODEL_ALIAS,
  effectiveThreads,
  kvCacheOf,
  loadServeConfig,
  SERVE_DEFAULTS,
  type ServeConfig,
  type ServeFlags,
} from "../config/config.js";
// The engine, server and store load inside serve(), so other commands start without them.
import type { LocalEngine } from "../engines/local/local-engine.js";
import { modelIdForFile } from "../engines/local/model-paths.js";
import { pullModel } from "../engines/local/model-pull.js";
import { INSTANCE_HEARTBEAT_MS } from "../store/instances.js";
import { auditsDir } from "../audit/report-files.js";
import { webSearchSetup } from "../tools/web/search-setup.js";
import { localModelFiles, resolveModelSource, type ModelSource } from "./model-sources.js";
import { createProgressBar } from "./progress-bar.js";

export function registerServeCommand(program: Command): void {
  program
    .command("serve")
    .description("start the chat app and the API server")
    .option(
      "-m, --model <path|alias>",
      "model file, catalog alias or hf: reference (repeatable)",
      collect,
      [],
    )
    .option("--host <address>", `address to bind (default ${SERVE_DEFAULTS.host})`)
    .option("--port <port>", `port to listen on (default ${SERVE_DEFAULTS.port})`)
    .option("--data-dir <dir>", "where models and data live (default ~/.qiusuo)")
    .option("--ctx-size <tokens>", "context size per sequence (default: the model's, at most 8192)")
    .option("--parallel <n>", `sequences decoded in parallel per model (default ${SERVE_DEFAULTS.parallel})`)
    .option("--threads <n>", "CPU threads for llama.cpp (default: one per core)")
    .option(
      "--idle-unload <seconds>",
      `unload a model after this long without requests; it reloads on the next (default ${SERVE_DEFAULTS.idleUnloadSeconds}, 0 = never)`,
    )
    .option(
      "--max-loaded-models <n>",
      `models in memory at once; the least recently used idle one makes room (default ${SERVE_DEFAULTS.maxLoadedModels})`,
    )
    .option("--max-queue <n>", "requests that may wait per model before 429 (default 8 per sequence)")
    .option(
      "--cache-size <MiB>",
      `disk space for the context cache per model, 0 = off (default ${SERVE_DEFAULTS.cacheSizeMb})`,
    )
    .option(
      "--keep-alive <seconds>",
      `silence before a waiting request gets a keep-alive (default ${SERVE_DEFAULTS.keepAliveSeconds})`,
    )
    .option(
      "--request-timeout <seconds>",
      `time a client has to send a whole request, head and body; replies are not limited (default ${SERVE_DEFAULTS.requestTimeoutSeconds})`,
    )
    .option("--gpu <auto|off>", `use a GPU if one is found (default ${SERVE_DEFAULTS.gpu})`)
    .option(
      "--cache-type <f16|q8_0|q4_0>",
      `KV-cache storage, K and V; q8_0 halves its memory, so the fitted context grows (default ${SERVE_DEFAULTS.cacheType})`,
    )
    .option(
      "--cache-type-k <f16|q8_0|q4_0>",
      "KV-cache storage of K alone, llama-server's -ctk (default --cache-type)",
    )
    .option(
      "--cache-type-v <f16|q8_0|q4_0>",
      "KV-cache storage of V alone, llama-server's -ctv; quantized V needs flash attention (default --cache-type)",
    )
    .option(
      "--flash-attn <auto|on|off>",
      `flash attention; auto uses it where the model and device allow (default ${SERVE_DEFAULTS.flashAttn})`,
    )
    .option(
      "--draft-model <model>",
      "a small model of the same vocabulary that drafts tokens (speculative decoding): a GGUF file or a downloaded alias (QIUSUO_DRAFT_MODEL)",
    )
    .option(
      "--prompt-lookup <auto|on|off>",
      `draft tokens by finding what was just generated in the prompt; auto: on when there is no --draft-model (default ${SERVE_DEFAULTS.promptLookup})`,
    )
    .option("--log-level <level>", "fatal, error, warn, info, debug")
    .option("--auth", "accounts mode: logins and API keys (always on for a non-loopback --host)")
    .option("--database-url <url>", "PostgreSQL instead of SQLite in the data dir (or DATABASE_URL)")
    .option(
      "--upstream <NAME=URL[,URL...]>",
      "an OpenAI-compatible upstream pool (vLLM, SGLang, llama-server, Ollama, DeepSeek...); several URLs are replicas; key in QIUSUO_UPSTREAM_<NAME>_KEY (repeatable)",
      collect,
      [],
    )
    .option(
      "--config <file>",
      "a JSON file with settings, upstream pools and model aliases (see docs/deployment.md)",
    )
    .option(
      "--allow-origin <origin>",
      "a web origin besides localhost browsers may call the API from, with an API key: https://app.example.com, chrome-extension://*, or * (repeatable; QIUSUO_ALLOW_ORIGINS, comma-separated, like OLLAMA_ORIGINS)",
      collect,
      [],
    )
    .option(
      "--search-provider <searxng|brave|tavily>",
      "the app's web search (联网搜索) provider; Brave and Tavily take BRAVE_API_KEY / TAVILY_API_KEY (QIUSUO_SEARCH_PROVIDER)",
    )
    .option(
      "--searxng-url <url>",
      "a SearXNG instance with json in search.formats; alone, it picks SearXNG (QIUSUO_SEARXNG_URL)",
    )
    .option(
      "--fetch-allow-private",
      "let web search fetch pages on private, loopback and link-local addresses (QIUSUO_FETCH_ALLOW_PRIVATE=1)",
    )
    .option(
      "--embedding-model <model>",
      "the model knowledge collections are embedded with; default the default model (QIUSUO_EMBEDDING_MODEL)",
    )
    .option(
      "--metrics <admin|public>",
      `who may read /metrics in accounts mode: an admin's key or session, or anyone (default ${SERVE_DEFAULTS.metrics})`,
    )
    .action(async (flags: ServeFlags) => {
      await serve(loadServeConfig(flags));
    });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export async function serve(config: ServeConfig): Promise<void> {
  const [
    { LocalModelManager },
    { LocalEngine },
    { disposeRuntime },
    { prepareAuth },
    { Authenticator },
    { buildApp },
    { openCommandStore },
    { createMetrics },
    { buildEngines },
  ] = await Promise.all([
    import("../engines/local/model-manager.js"),
    import("../engines/local/local-engine.js"),
    import("../engines/local/llama-runtime.js"),
    import("../auth/auth-mode.js"),
    import("../auth/authenticator.js"),
    import("../server/app.js"),
    import("./store-command.js"),
    import("../server/metrics.js"),
    import("../host/engines.js"),
  ]);
  const store = await openCommandStore(
    config.databaseUrl
      ? { dataDir: config.dataDir, databaseUrl: config.databaseUrl }
      : { dataDir: config.dataDir },
  );
  let auth: InstanceType<typeof Authenticator>;
  try {
    auth = new Authenticator(store, await prepareAuth(store, { host: config.host, auth: config.auth }));
  } catch (error) {
    await store.close();
    throw error;
  }
  await store.sessions.prune();
  // Replies left streaming by an instance that is gone (a crash, kill -9) become interrupted, at
  // start and at every heartbeat; those of other live instances sharing the database are theirs.
  const instanceId = await store.instances.register();
  const sweep = async () =>
    store.conversations.markInterrupted({ liveOwners: await store.instances.liveIds() });
  const interrupted = await sweep();
  if (interrupted > 0)
    console.log(`${interrupted} reply(s) cut off by the last shutdown are marked interrupted.`);
  const heartbeat = setInterval(() => {
    store.instances
      .heartbeat(instanceId)
      .then(sweep)
      .catch((error: unknown) => console.error(`instance heartbeat failed: ${String(error)}`));
  }, INSTANCE_HEARTBEAT_MS);
  heartbeat.unref();
  const metrics = createMetrics();
  const draftModelPath = config.draftModel ? await draftModelFile(config, config.draftModel) : undefined;
  const engine = new LocalEngine({
    ...(draftModelPath ? { draftModelPath } : {}),
    promptLookup: config.promptLookup,
    contextSize: config.contextSize,
    parallel: config.parallel,
    threads: effectiveThreads(config),
    gpu: config.gpu,
    kvCache: kvCacheOf(config),
    ...(config.maxQueue > 0 ? { maxQueue: config.maxQueue } : {}),
    ...(config.cacheSizeMb > 0
      ? { cacheDir: path.join(config.dataDir, "cache"), cacheMaxBytes: config.cacheSizeMb * 1024 * 1024 }
      : {}),
    idleUnloadSeconds: config.idleUnloadSeconds,
    maxLoadedModels: config.maxLoadedModels,
    observer: metrics.observer,
    log: (message) => console.log(message),
  });
  metrics.watch(engine);
  const { router, remotes } = buildEngines(config, { local: engine, log: (line) => console.log(line) });
  metrics.watchPools(() => remotes.map((remote) => remote.health()));
  const sources = await configuredSources(config);
  for (const source of sources) {
    const id = modelIdForFile(source.path);
    engine.setPending(
      id,
      "loading",
      source.kind === "pull" ? "waiting to download" : "waiting to load",
      source.aliases,
    );
  }

  const pools = () => remotes.map((remote) => remote.health());
  const app = await buildApp({
    engine: router,
    store,
    auth,
    instanceId,
    models: new LocalModelManager(engine, {
      dataDir: config.dataDir,
      huggingFaceEndpoint: config.huggingFaceEndpoint,
      catalogOverrides: config.modelCatalog,
      ...(config.huggingFaceToken ? { huggingFaceToken: config.huggingFaceToken } : {}),
      log: (message) => console.log(message),
    }),
    health: { listModels: () => router.listModels(), pools },
    pools,
    auditsDir: auditsDir(config.dataDir),
    metrics,
    host: config.host,
    logLevel: config.logLevel,
    keepAliveSeconds: config.keepAliveSeconds,
    requestTimeoutSeconds: config.requestTimeoutSeconds,
    metricsAccess: config.metrics,
    allowOrigins: config.allowOrigins,
    webSearch: webSearchSetup(config),
    ...(config.embeddingModel === undefined ? {} : { embeddingModel: config.embeddingModel }),
  });
  const address = await app.listen({ host: config.host, port: config.port });
  const url = address.replace("://[::1]", "://localhost");
  console.log(
    `qiusuo is listening on ${url}  (chat app: ${url}/, API: ${url}/v1, health: ${url}/health, metrics: ${url}/metrics)`,
  );
  console.log(
    auth.mode === "local"
      ? "Local mode: no login, for this machine only (start with --auth for accounts and API keys)."
      : `Accounts mode (${store.kind}): API requests need a key (\`qiusuo keys create --user NAME\`).`,
  );
  if (auth.setupToken !== undefined) {
    console.log(`No admin account yet. Create one in the browser: ${url}/setup?token=${auth.setupToken}`);
  }
  for (const remote of remotes) {
    console.log(
      `upstream ${remote.name}: ${config.upstreams[remote.name]!.urls.length} replica(s); its models are served as ${remote.name}/<model>`,
    );
  }
  if (sources.length === 0 && remotes.length === 0) {
    console.log(
      "No model is configured. Start with --model /path/to/model.gguf, or run `qiusuo pull deepseek-r1:1.5b`.",
    );
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: shutting down`);
    await app.close();
    await router.dispose();
    await disposeRuntime();
    clearInterval(heartbeat);
    await store.instances.remove(instanceId).catch(() => {});
    await store.close();
    process.exit(0);
  };
  process.once("SIGINT", () => void shutdown("SIGINT"));
  process.once("SIGTERM", () => void shutdown("SIGTERM"));

  // Models are checked (and downloaded) after the server is up, so /health can report progress.
  // The default model loads at once so the first request is fast; the others on first use.
  sources.forEach((source, index) => void bringUp(engine, source, config, index === 0));
}

/** The draft model's file: a path, or an alias or file name already in the data dir. */
async function draftModelFile(config: ServeConfig, name: string): Promise<string> {
  const source = await resolveModelSource(name, config.dataDir, config.modelCatalog);
  if (source.kind === "pull") {
    throw new Error(`The draft model '${name}' is not downloaded: run \`qiusuo pull ${name}\` first.`);
  }
  return source.path;
}

async function configuredSources(config: ServeConfig): Promise<ModelSource[]> {
  if (config.models.length > 0) {
    return Promise.all(
      config.models.map((name) => resolveModelSource(name, config.dataDir, config.modelCatalog)),
    );
  }
  const files = await localModelFiles(config.dataDir);
  if (files.length > 0) return files.map((file) => ({ kind: "file", path: file, aliases: [] }));
  // With upstreams and no model of its own, qiusuo is a pure gateway: nothing to download.
  if (!config.pullDefaultModel || Object.keys(config.upstreams).length > 0) return [];
  // The one outbound connection on by default (docs/privacy.md), so it is said before it is made.
  console.log(
    `No model is configured: downloading the default model ${DEFAULT_MODEL_ALIAS} from ${new URL(config.huggingFaceEndpoint).origin} (QIUSUO_NO_PULL=1 or --model FILE.gguf turns this off).`,
  );
  return [await resolveModelSource(DEFAULT_MODEL_ALIAS, config.dataDir, config.modelCatalog)];
}

async function bringUp(
  engine: LocalEngine,
  source: ModelSource,
  config: ServeConfig,
  preload: boolean,
): Promise<void> {
  const id = modelIdForFile(source.path);
  if (source.kind === "pull") {
    const bar = createProgressBar(`pulling ${source.aliases[0] ?? id}`);
    try {
      await pullModel({
        reference: source.aliases[0] ?? id,
        dataDir: config.dataDir,
        huggingFaceEndpoint: config.huggingFaceEndpoint,
        catalogOverrides: config.modelCatalog,
        ...(config.huggingFaceToken
          ? { headers: { authorization: `Bearer ${config.huggingFaceToken}` } }
          : {}),
        onProgress: (progress) => {
          bar.update(progress);
          const percent = progress.totalBytes
            ? Math.floor((100 * progress.downloadedBytes) / progress.totalBytes)
            : 0;
          engine.setPending(id, "loading", `downloading ${source.aliases[0] ?? id}: ${percent}%`);
        },
      });
      bar.done("downloaded");
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      bar.done("failed");
      const advice = message.includes("--model")
        ? ""
        : " Start the server with --model /path/to/model.gguf to use a file you already have.";
      const reason = `The model ${source.aliases[0] ?? id} could not be downloaded: ${message.replace(/\.?$/, ".")}${advice}`;
      engine.setPending(id, "missing", reason);
      console.error(reason);
      return;
    }
  }
  try {
    // A preloaded model is announced by the engine's log: "model … is ready (context …)".
    const model = await engine.addModelFile(source.path, source.aliases, { preload });
    if (model.state === "available") console.log(`model ${model.id} is available; it loads on first use`);
  } catch (error) {
    console.error(`model ${id} failed to load: ${error instanceof Error ? error.message : String(error)}`);
  }
}
