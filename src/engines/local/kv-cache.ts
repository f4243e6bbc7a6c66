import { GgmlType, type GgufInsights, type Llama } from "node-llama-cpp";
import { quantizesValues, type KvCacheSettings, type KvCacheType } from "../../core/kv-cache-settings.js";

/** Elements per quantization block: a head's K or V row must be a whole number of blocks. */
const BLOCK_SIZE: Record<KvCacheType, number> = { f16: 1, q8_0: 32, q4_0: 32 };

const GGML_TYPE: Record<KvCacheType, GgmlType> = {
  f16: GgmlType.F16,
  q8_0: GgmlType.Q8_0,
  q4_0: GgmlType.Q4_0,
};

export function ggmlTypeOf(type: KvCacheType): GgmlType {
  return GGML_TYPE[type];
}

/**
 * Whether a context will compute attention with flash attention: true or false, or "auto" when
 * llama.cpp decides on a GPU backend at load (it checks each device; we cannot see its choice).
 * Measured with node-llama-cpp 3.21.1 on the CPU: "auto" turns flash attention on whenever the
 * model supports it, and llama.cpp turns it on for a quantized V cache ("enabling flash_attn since
 * it is required for quantized V cache").
 */
export function effectiveFlashAttention(
  settings: KvCacheSettings,
  insights: GgufInsights,
  llama: Pick<Llama, "gpu">,
): boolean | "auto" {
  if (settings.flashAttention !== "auto") return settings.flashAttention === "on";
  if (!insights.flashAttentionSupported) return false;
  return quantizesValues(settings) || llama.gpu === false ? true : "auto";
}

/**
 * Why `model` cannot hold a KV cache of these types, in words an operator can act on; undefined
 * when it can. llama.cpp refuses the same cases, but only as "Failed to create context".
 */
export function kvCacheProblem(
  settings: KvCacheSettings,
  insights: GgufInsights,
  fileName: string,
): string | undefined {
  if (quantizesValues(settings) && !insights.flashAttentionSupported) {
    return (
      `--cache-type-v ${settings.valueType} needs flash attention, which ${fileName} does not support; ` +
      "keep the V cache at f16 (--cache-type-v f16) and quantize only K (--cache-type-k)"
    );
  }
  if (settings.flashAttention === "on" && !insights.flashAttentionSupported) {
    return `${fileName} does not support flash attention; use --flash-attn auto or off`;
  }
  const attention = insights.ggufFileInfo.architectureMetadata.attention;
  const heads = attention?.head_count;
  const embedding = insights.embeddingVectorSize;
  const fallback = typeof heads === "number" && heads > 0 && embedding ? embedding / heads : undefined;
  for (const [flag, type, size] of [
    ["--cache-type-k", settings.keyType, attention?.key_length ?? fallback],
    ["--cache-type-v", settings.valueType, attention?.value_length ?? fallback],
  ] as const) {
    if (size !== undefined && size % BLOCK_SIZE[type] !== 0) {
      return (
        `${flag} ${type} stores blocks of ${BLOCK_SIZE[type]} values, which do not divide ` +
        `${fileName}'s attention head size of ${size}; use f16 for this model`
      );
    }
  }
  return undefined;
}
