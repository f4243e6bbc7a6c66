/**
 * `system_fingerprint`: a short name for "what produced this reply", as OpenAI sends it. Ours is
 * derived, not assigned, so anyone holding the same GGUF file can recompute it (docs/api.md says
 * how, and what it can and cannot prove).
 */
import { createHash } from "node:crypto";
import type { ServedBy } from "./chat.js";
import type { ModelProvenance } from "./engine.js";
import { QIUSUO_VERSION } from "./version.js";

/** `fp_` and the first 10 hex digits of the SHA-256 of `parts` joined by newlines. */
function fingerprintOf(parts: ReadonlyArray<string | number>): string {
  return `fp_${createHash("sha256").update(parts.join("\n")).digest("hex").slice(0, 10)}`;
}

/**
 * The fingerprint of a reply that starts on `provenance`:
 * - a local model with its file hashed: `sha256(modelSha256 \n templateSha256 \n version)`;
 * - a local model whose file is still being hashed (the first minute after a big file is first
 *   loaded; a reply never waits for it): `sha256("pending" \n file name \n size \n templateSha256
 *   \n version)`, which differs from the final one;
 * - an upstream model, before its replica is known: `sha256("pool" \n pool \n upstream model)`.
 * A missing template hash is the empty string. A KV cache stored quantized (`--cache-type q8_0`)
 * changes the numbers a reply is computed from, as quantized weights do, so it adds a last field
 * `kv:K/V` (e.g. `kv:q8_0/q8_0`); the default f16 adds nothing, so fingerprints from before stay.
 */
export function systemFingerprint(provenance: ModelProvenance, version: string = QIUSUO_VERSION): string {
  if (provenance.pool !== undefined) {
    return fingerprintOf(["pool", provenance.pool, provenance.upstreamModel ?? provenance.model]);
  }
  const template = provenance.templateSha256 ?? "";
  const runtime = provenance.runtime;
  const kvCache =
    (runtime?.cacheTypeK ?? "f16") === "f16" && (runtime?.cacheTypeV ?? "f16") === "f16"
      ? []
      : [`kv:${runtime?.cacheTypeK ?? "f16"}/${runtime?.cacheTypeV ?? "f16"}`];
  if (provenance.modelSha256 !== null)
    return fingerprintOf([provenance.modelSha256, template, version, ...kvCache]);
  return fingerprintOf([
    "pending",
    provenance.modelFile,
    provenance.modelSizeBytes ?? "",
    template,
    version,
    ...kvCache,
  ]);
}

/**
 * The fingerprint of an upstream reply once its replica is known:
 * `sha256("replica" \n pool \n replica URL \n upstream model \n the upstream's own fingerprint)`.
 */
export function replicaFingerprint(servedBy: ServedBy): string {
  return fingerprintOf([
    "replica",
    servedBy.pool,
    servedBy.replica,
    servedBy.upstreamModel,
    servedBy.systemFingerprint ?? "",
  ]);
}

/** For an engine that keeps no provenance (test doubles): `sha256("model" \n model id \n version)`. */
export function modelIdFingerprint(model: string, version: string = QIUSUO_VERSION): string {
  return fingerprintOf(["model", model, version]);
}
