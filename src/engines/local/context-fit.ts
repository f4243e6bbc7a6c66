import path from "node:path";
import { GgufInsights, InsufficientMemoryError, readGgufFileInfo, type Llama } from "node-llama-cpp";
import { DEFAULT_KV_CACHE, type KvCacheSettings } from "../../core/kv-cache-settings.js";
import { ggmlTypeOf, kvCacheProblem } from "./kv-cache.js";

/** The most tokens per sequence an automatic context size picks: enough for long chats, not a 128k KV. */
export const AUTO_CONTEXT_CAP = 8192;
/** Below this an automatic context is not worth loading; the model is refused instead. */
export const AUTO_CONTEXT_MIN = 512;

export interface ContextFitOptions {
  /** Tokens per sequence asked for; 0 means "fit": the trained size capped at 8192, shrunk to fit memory. */
  requested: number;
  /** Sequences the context holds; the KV cache grows with each. */
  parallel: number;
  /** Free memory in bytes to plan with, instead of asking the system (tests). */
  freeMemory?: { ram: number; vram?: number };
  /** KV-cache types and flash attention; a quantized cache fits more tokens. Default f16, auto. */
  kvCache?: KvCacheSettings;
}

export interface ContextFit {
  /** Tokens per sequence to create the context with. */
  contextSize: number;
  trainContextSize: number;
  /** Why the size is smaller than the trained size capped at 8192, when it is. */
  shrunkBecause?: string;
}

/**
 * Picks the context size per sequence before a model is loaded. An explicit size is kept (llama.cpp
 * fails loudly if it cannot allocate it). Otherwise it starts at the trained size capped at 8192
 * and shrinks until the weights plus the KV cache of every sequence fit in free memory, less
 * llama.cpp's own padding. node-llama-cpp's estimator does the arithmetic, for the KV-cache types
 * asked for (q8_0 holds about twice the tokens of f16 in the same memory); swap is never counted.
 * KV-cache types the model cannot hold are refused here, before anything is loaded.
 */
export async function fitContextSize(
  llama: Llama,
  filePath: string,
  options: ContextFitOptions,
): Promise<ContextFit> {
  const insights = await GgufInsights.from(
    await readGgufFileInfo(filePath, { sourceType: "filesystem", logWarnings: false }),
    llama,
  );
  const trainContextSize = insights.trainContextSize ?? 4096;
  const kvCache = options.kvCache ?? DEFAULT_KV_CACHE;
  const problem = kvCacheProblem(kvCache, insights, path.basename(filePath));
  if (problem) throw new Error(problem);
  if (options.requested > 0) return { contextSize: options.requested, trainContextSize };

  const max = Math.min(trainContextSize, AUTO_CONTEXT_CAP);
  const min = Math.min(max, AUTO_CONTEXT_MIN);
  const gpuLayers =
    llama.gpu === false
      ? 0
      : (await insights.configurationResolver.resolveModelGpuLayersV2("auto")).gpuLayers;
  const weights = await insights.estimateModelResourceRequirementsV2({ gpuLayers });
  const [ram, vram] = await Promise.all([llama.getRamState(), llama.getVramState()]);
  const freeRam = Math.max(0, (options.freeMemory?.ram ?? ram.free - llama.ramPaddingSize) - weights.cpuRam);
  const freeVram = Math.max(
    0,
    (options.freeMemory?.vram ?? vram.free - llama.vramPaddingSize) - weights.gpuVram,
  );
  try {
    const contextSize = await insights.configurationResolver.resolveContextContextSize(
      { min, max },
      {
        modelGpuLayers: gpuLayers,
        modelTrainContextSize: trainContextSize,
        sequences: options.parallel,
        flashAttention: kvCache.flashAttention === "auto" ? "auto" : kvCache.flashAttention === "on",
        kvCacheKeyType: ggmlTypeOf(kvCache.keyType),
        kvCacheValueType: ggmlTypeOf(kvCache.valueType),
        getRamState: async () => ({ total: ram.total, free: freeRam }),
        getVramState: async () => ({ total: vram.total, free: freeVram, unifiedSize: vram.unifiedSize }),
        getSwapState: async () => ({ total: 0, free: 0 }),
      },
    );
    return contextSize < max
      ? {
          contextSize,
          trainContextSize,
          shrunkBecause: `${options.parallel} × ${max} tokens of KV cache do not fit in free memory (${mebibytes(freeRam)} after the weights)`,
        }
      : { contextSize, trainContextSize };
  } catch (error) {
    if (!(error instanceof InsufficientMemoryError)) throw error;
    throw new Error(
      `Not enough free memory for ${path.basename(filePath)}: its weights need about ${mebibytes(weights.cpuRam + weights.gpuVram)} ` +
        `and ${options.parallel} sequence(s) of even ${min} tokens do not fit in what is left (${mebibytes(freeRam)}). ` +
        "Free some memory, lower --parallel, unload other models (--max-loaded-models) or use a smaller quantization.",
      { cause: error },
    );
  }
}

function mebibytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
  if (bytes >= 1024 ** 2) return `${Math.round(bytes / 1024 ** 2)} MiB`;
  return `${Math.round(bytes / 1024)} KiB`;
}
