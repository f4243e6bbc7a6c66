// A scripted fixture model whose reply is long (1,500 tokens), so a test can stop it mid-way and
// still find a partial reply. Made once and cached beside the other fixtures (git-ignored).
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_FIXTURE_DIR, makeScriptedModel } from "../fixtures/models.js";

/** How many tokens the long reply has; with `engine.contextSize` 4096 it fits with room to spare. */
export const LONG_REPLY_TOKENS = 1500;

/** The script: words in paragraphs of 25, each word its own token (entries must be unique). */
export function longReplyScript(tokens = LONG_REPLY_TOKENS): string[] {
  return Array.from({ length: tokens }, (_, index) =>
    (index + 1) % 25 === 0 ? `word${index}.\n\n` : `word${index} `,
  );
}

/** The full reply text the model writes. */
export const LONG_REPLY_TEXT = longReplyScript().join("");

const GENERATOR_SOURCES = ["models", "gguf-writer", "fixture-tokenizer"].map(
  (name) => new URL(`../fixtures/${name}.ts`, import.meta.url),
);

/**
 * The path of a scripted model for `script`, generating it unless a copy made from this very
 * script and fixture writer is cached under `fileName` (a stamp file holds their hash).
 */
export function ensureScriptedFixture(
  fileName: string,
  script: readonly string[],
  name: string,
  dir: string = DEFAULT_FIXTURE_DIR,
): string {
  const path = join(dir, fileName);
  const hash = createHash("sha256").update(JSON.stringify(script));
  for (const source of GENERATOR_SOURCES) if (existsSync(source)) hash.update(readFileSync(source));
  const stamp = hash.digest("hex");
  const stampPath = `${path}.stamp`;
  if (existsSync(path) && existsSync(stampPath) && readFileSync(stampPath, "utf8") === stamp) return path;
  mkdirSync(dir, { recursive: true });
  makeScriptedModel(path, { script, name });
  writeFileSync(stampPath, stamp);
  return path;
}

/** The path of the long scripted model, generating it unless an up-to-date copy is cached. */
export function ensureLongReplyModel(dir: string = DEFAULT_FIXTURE_DIR): string {
  return ensureScriptedFixture("scripted-long.gguf", longReplyScript(), "qiusuo-fixture-long", dir);
}
