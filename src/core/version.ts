import { createRequire } from "node:module";

/**
 * qiusuo's own version, from package.json (two folders up from both src/core and dist/core), so
 * there is one place to bump it. Part of every local `system_fingerprint`.
 */
export const QIUSUO_VERSION: string = (
  createRequire(import.meta.url)("../../package.json") as { version: string }
).version;
