/**
 * KV-cache settings of local models (`--cache-type`, `--flash-attn`), apart from node-llama-cpp so
 * the configuration can name them without loading llama.cpp.
 */

/** KV-cache storage types offered (`--cache-type`): llama-server's names. */
export const KV_CACHE_TYPES = ["f16", "q8_0", "q4_0"] as const;
export type KvCacheType = (typeof KV_CACHE_TYPES)[number];

/** `--flash-attn`: llama-server's `-fa` values. */
export const FLASH_ATTENTION_SETTINGS = ["auto", "on", "off"] as const;
export type FlashAttentionSetting = (typeof FLASH_ATTENTION_SETTINGS)[number];

/** How a context stores its KV cache and computes attention. */
export interface KvCacheSettings {
  keyType: KvCacheType;
  valueType: KvCacheType;
  flashAttention: FlashAttentionSetting;
}

/** What qiusuo did before these settings existed, and still does without them. */
export const DEFAULT_KV_CACHE: KvCacheSettings = { keyType: "f16", valueType: "f16", flashAttention: "auto" };

/** llama.cpp can read a quantized V cache only through the flash-attention kernel. */
export function quantizesValues(settings: KvCacheSettings): boolean {
  return settings.valueType !== "f16";
}

/** `q8_0`, or `q8_0/f16` when K and V differ. */
export function cacheTypeLabel(settings: Pick<KvCacheSettings, "keyType" | "valueType">): string {
  return settings.keyType === settings.valueType
    ? settings.keyType
    : `${settings.keyType}/${settings.valueType}`;
}
