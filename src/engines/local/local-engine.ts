import path from "node:path";
import type { ChatEvent, ChatRequest } from "../../core/chat.js";
import type { Engine, ModelInfo, ModelState } from "../../core/engine.js";
import { ModelNotFoundError, ModelUnavailableError } from "../../core/errors.js";
import { aliasThinking, MODEL_ALIASES } from "../../core/model-aliases.js";
import { inspectGgufFile } from "./gguf-file.js";
import { getRuntime, type RuntimeOptions } from "./llama-runtime.js";
import { LoadedModel, type LoadOptions } from "./loaded-model.js";

export type LocalEngineOptions = LoadOptions & Pick<RuntimeOptions, "gpu">;

interface ModelEntry {
  id: string;
  /** Other names clients may use, such as the catalog alias `deepseek-r1:1.5b`. */
  aliases: string[];
  created: number;
  state: ModelState;
  reason?: string;
  loaded?: LoadedModel;
}

/** Serves GGUF files in-process through llama.cpp. Only this folder imports node-llama-cpp. */
export class LocalEngine implements Engine {
  private readonly entries: ModelEntry[] = [];

  constructor(private readonly options: LocalEngineOptions) {}

  /** The model that `deepseek-chat` and `deepseek-reasoner` point to: the first one registered. */
  get defaultModel(): ModelInfo | undefined {
    const entry = this.entries[0];
    return entry && this.describe(entry);
  }

  listModels(): ModelInfo[] {
    return this.entries.map((entry) => this.describe(entry));
  }

  /** Registers a model that is not on disk yet (being pulled, or missing) with a reason. */
  setPending(
    id: string,
    state: "loading" | "missing" | "failed",
    reason: string,
    aliases: string[] = [],
  ): void {
    const entry = this.entryFor(id, aliases);
    entry.state = state;
    entry.reason = reason;
  }

  /** Checks a GGUF file, loads it and marks it ready; failures leave the model `failed` with a reason. */
  async addModelFile(filePath: string, aliases: string[] = []): Promise<ModelInfo> {
    const id = modelIdForFile(filePath);
    const entry = this.entryFor(id, aliases);
    entry.state = "loading";
    entry.reason = `Loading ${path.basename(filePath)}`;
    try {
      await inspectGgufFile(filePath); // untrusted input never reaches llama.cpp unchecked
      const llama = await getRuntime({ gpu: this.options.gpu, maxThreads: this.options.threads });
      entry.loaded = await LoadedModel.load(llama, filePath, this.options);
      entry.state = "ready";
      delete entry.reason;
    } catch (error) {
      entry.state = "failed";
      entry.reason = `Could not load ${path.basename(filePath)}: ${error instanceof Error ? error.message : String(error)}`;
      throw error;
    }
    return this.describe(entry);
  }

  /** Totals over loaded models: busy sequences, queued and aborted requests, generated tokens. */
  stats() {
    const totals = { busySequences: 0, queuedRequests: 0, abortedRequests: 0, generatedTokens: 0 };
    for (const entry of this.entries) {
      if (!entry.loaded) continue;
      totals.busySequences += entry.loaded.stats.busySequences;
      totals.queuedRequests += entry.loaded.queuedRequests;
      totals.abortedRequests += entry.loaded.stats.abortedRequests;
      totals.generatedTokens += entry.loaded.stats.generatedTokens;
    }
    return totals;
  }

  async chat(request: ChatRequest, signal: AbortSignal): Promise<AsyncIterable<ChatEvent>> {
    const entry = this.resolve(request.model);
    if (entry.state !== "ready" || !entry.loaded) {
      throw new ModelUnavailableError(
        entry.state === "loading" ? "model_loading" : "model_unavailable",
        `The model '${entry.id}' is not ready: ${(entry.reason ?? entry.state).replace(/\.$/, "")}.`,
        entry.state === "loading" ? 5 : undefined,
      );
    }
    const thinking = request.thinking ?? aliasThinking(request.model);
    return entry.loaded.chat(request, thinking, signal);
  }

  async dispose(): Promise<void> {
    for (const entry of this.entries) {
      await entry.loaded?.dispose();
      delete entry.loaded;
    }
  }

  private resolve(model: string): ModelEntry {
    const entry =
      model in MODEL_ALIASES
        ? this.entries[0]
        : this.entries.find((candidate) => candidate.id === model || candidate.aliases.includes(model));
    if (!entry) {
      const available = this.entries.flatMap((candidate) => [candidate.id, ...candidate.aliases]);
      throw new ModelNotFoundError(
        model,
        this.entries.length > 0 ? [...available, ...Object.keys(MODEL_ALIASES)] : [],
      );
    }
    return entry;
  }

  /** Finds the entry known by `id` or any of `aliases`, or makes one; the file-based id wins. */
  private entryFor(id: string, aliases: string[]): ModelEntry {
    const names = new Set([id, ...aliases]);
    let entry = this.entries.find(
      (candidate) => names.has(candidate.id) || candidate.aliases.some((alias) => names.has(alias)),
    );
    if (!entry) {
      entry = { id, aliases: [], created: Math.floor(Date.now() / 1000), state: "loading" };
      this.entries.push(entry);
    }
    if (entry.id !== id) {
      entry.aliases.push(entry.id);
      entry.id = id;
    }
    for (const alias of aliases)
      if (alias !== entry.id && !entry.aliases.includes(alias)) entry.aliases.push(alias);
    entry.aliases = entry.aliases.filter((alias) => alias !== entry.id);
    return entry;
  }

  private describe(entry: ModelEntry): ModelInfo {
    return {
      id: entry.id,
      created: entry.created,
      ownedBy: "qiusuo",
      state: entry.state,
      ...(entry.reason ? { reason: entry.reason } : {}),
      ...(entry.loaded ? { contextSize: entry.loaded.contextSize } : {}),
    };
  }
}

/** A model's id is its file name without `.gguf`. */
export function modelIdForFile(filePath: string): string {
  return path.basename(filePath).replace(/\.gguf$/i, "");
}
