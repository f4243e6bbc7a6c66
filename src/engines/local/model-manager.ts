/**
 * Model pulls, loads, unloads and deletes asked for from the app. A pull shows in /health and the model
 * list while it runs and in the terminal; several requests for one model share one download.
 */
import path from "node:path";
import type { ModelDetails, ModelManager, ModelPullProgress } from "../../core/engine.js";
import { QiusuoError } from "../../core/errors.js";
import type { LocalEngine } from "./local-engine.js";
import { resolveModelReference, type CatalogModel, type ModelReference } from "./model-catalog.js";
import { deleteModelFiles, processesUsingFile, runningPull } from "./model-files.js";
import { modelIdForFile, modelPathInDataDir, modelsDir } from "./model-paths.js";
import { pullModel } from "./model-pull.js";

export interface LocalModelManagerOptions {
  dataDir: string;
  huggingFaceEndpoint?: string;
  huggingFaceToken?: string;
  /** Catalog entries that come before the built-in ones (QIUSUO_MODEL_CATALOG). */
  catalogOverrides?: readonly CatalogModel[];
  log?: (message: string) => void;
}

interface RunningPull {
  done: Promise<ModelDetails>;
  listeners: Set<(progress: ModelPullProgress) => void>;
}

/** The terminal hears of a running pull at most this often. */
const LOG_INTERVAL_MS = 5_000;

export class LocalModelManager implements ModelManager {
  private readonly pulls = new Map<string, RunningPull>();

  constructor(
    private readonly engine: LocalEngine,
    private readonly options: LocalModelManagerOptions,
  ) {}

  pull(name: string, onProgress?: (progress: ModelPullProgress) => void): Promise<ModelDetails> {
    const reference = this.reference(name);
    let running = this.pulls.get(reference.localFileName);
    if (!running) {
      const listeners = new Set<(progress: ModelPullProgress) => void>();
      const done = this.download(name, reference, listeners).finally(() =>
        this.pulls.delete(reference.localFileName),
      );
      running = { done, listeners };
      this.pulls.set(reference.localFileName, running);
    }
    if (onProgress) running.listeners.add(onProgress);
    return running.done;
  }

  load(model: string): Promise<ModelDetails> {
    return this.engine.loadModel(model);
  }

  unload(model: string): Promise<ModelDetails> {
    return this.engine.unloadModel(model);
  }

  async remove(model: string): Promise<void> {
    const log = this.options.log ?? (() => {});
    await this.engine.removeModel(model, async ({ id, filePath }) => {
      const target = filePath ?? this.fileInDataDir(id);
      if (!target) return; // never on disk under a name we could delete: only forgotten
      const directory = modelsDir(this.options.dataDir);
      if (path.dirname(path.resolve(target)) !== directory) {
        throw new QiusuoError(
          "conflict",
          "model_outside_data_dir",
          `The model '${id}' is the file ${target}, which the server was given with --model. ` +
            `qiusuo deletes only the models it keeps in ${directory}; delete that file yourself, ` +
            "and start the server without it.",
        );
      }
      const puller = await runningPull(target);
      if (puller !== undefined) {
        throw new QiusuoError(
          "conflict",
          "model_in_use",
          `The model '${id}' is being downloaded by process ${puller}; stop that pull first.`,
        );
      }
      const holders = await processesUsingFile(target).catch(() => undefined);
      if (holders && holders.length > 0) {
        const named = holders.map((holder) => `${holder.pid}${holder.command ? ` (${holder.command})` : ""}`);
        throw new QiusuoError(
          "conflict",
          "model_in_use",
          `The model '${id}' is open in another process: ${named.join(", ")}. Stop it first.`,
        );
      }
      const deleted = await deleteModelFiles(this.options.dataDir, target);
      log(
        `deleted model ${id} (asked for in the app): ${deleted.map((file) => path.basename(file)).join(", ")}`,
      );
    });
  }

  /** Where a model known only by its id (a pull that failed) would lie; undefined for a name that can't. */
  private fileInDataDir(id: string): string | undefined {
    try {
      return modelPathInDataDir(this.options.dataDir, `${id}.gguf`);
    } catch {
      return undefined;
    }
  }

  private reference(name: string): ModelReference {
    try {
      return resolveModelReference(name, {
        ...(this.options.huggingFaceEndpoint === undefined
          ? {}
          : { huggingFaceEndpoint: this.options.huggingFaceEndpoint }),
        ...(this.options.catalogOverrides === undefined
          ? {}
          : { catalogOverrides: this.options.catalogOverrides }),
      });
    } catch (error) {
      throw new QiusuoError("invalid_parameter", "unknown_model_reference", messageOf(error), {
        param: "model",
        cause: error,
      });
    }
  }

  private async download(
    name: string,
    reference: ModelReference,
    listeners: Set<(progress: ModelPullProgress) => void>,
  ): Promise<ModelDetails> {
    const path = modelPathInDataDir(this.options.dataDir, reference.localFileName);
    const id = modelIdForFile(path);
    const aliases = [name, ...(reference.alias && reference.alias !== name ? [reference.alias] : [])];
    const log = this.options.log ?? (() => {});
    this.engine.setPending(id, "loading", `downloading ${name}`, aliases);
    log(`pulling ${name} (asked for in the app)`);
    let lastLog = performance.now();
    try {
      await pullModel({
        reference: name,
        dataDir: this.options.dataDir,
        ...(this.options.huggingFaceEndpoint === undefined
          ? {}
          : { huggingFaceEndpoint: this.options.huggingFaceEndpoint }),
        ...(this.options.catalogOverrides === undefined
          ? {}
          : { catalogOverrides: this.options.catalogOverrides }),
        ...(this.options.huggingFaceToken
          ? { headers: { authorization: `Bearer ${this.options.huggingFaceToken}` } }
          : {}),
        onProgress: (progress) => {
          const percent = progress.totalBytes
            ? Math.floor((100 * progress.downloadedBytes) / progress.totalBytes)
            : undefined;
          this.engine.setPending(
            id,
            "loading",
            `downloading ${name}${percent === undefined ? "" : `: ${percent}%`}`,
          );
          if (performance.now() - lastLog >= LOG_INTERVAL_MS && percent !== undefined) {
            lastLog = performance.now();
            log(`pulling ${name}: ${percent}%`);
          }
          for (const listener of listeners) {
            listener({
              downloadedBytes: progress.downloadedBytes,
              totalBytes: progress.totalBytes,
              ...(reference.sha256 === undefined ? {} : { sha256: reference.sha256 }),
            });
          }
        },
      });
    } catch (error) {
      const reason = `The model ${name} could not be downloaded: ${messageOf(error).replace(/\.?$/, ".")}`;
      this.engine.setPending(id, "missing", reason);
      log(reason);
      throw new QiusuoError("unavailable", "pull_failed", reason, { cause: error });
    }
    log(`pulled ${name}`);
    await this.engine.addModelFile(path, aliases);
    const details = this.engine.modelDetails().find((model) => model.id === id);
    if (!details)
      throw new QiusuoError("internal", "internal_error", `The model ${id} vanished after its pull.`);
    return details;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
