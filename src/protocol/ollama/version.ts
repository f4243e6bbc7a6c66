import { QIUSUO_VERSION } from "../../core/version.js";

/**
 * The Ollama release whose API these routes follow. Clients compare it to decide which fields
 * they may send (`think` levels came in 0.12), so it names Ollama's version, not ours.
 */
export const OLLAMA_API_VERSION = "0.13.0";

export function versionResponse() {
  return { version: OLLAMA_API_VERSION, qiusuo_version: QIUSUO_VERSION };
}
