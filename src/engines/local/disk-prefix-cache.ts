import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import type { LlamaContextSequence, Token } from "node-llama-cpp";
import { DEFAULT_KV_CACHE, type KvCacheSettings } from "../../core/kv-cache-settings.js";

interface CacheEntry {
  /** How many tokens the saved state holds. */
  length: number;
  /** The tokens themselves, kept beside the state so any shared prefix can be found. */
  tokens: Uint32Array;
  /** Hash of those tokens; the file name is `${length}-${hash}.kv`. */
  hash: string;
  bytes: number;
  lastUsed: number;
}

/** Below this, re-reading the prompt is as fast as loading a file. */
const MIN_TOKENS = 64;

/**
 * KV state of token prefixes, saved to disk so a later request (also after a restart) that starts
 * with the same tokens skips re-reading them. One folder per model file, sequence count and KV-cache
 * layout (llama.cpp loads a state only into a context with the same number of sequences, and a
 * state saved with one cache type is not one of another: see `modelKey`); files are
 * named by prefix length and hash, with the token list beside each, so the folder itself is the
 * index. A later prompt that shares any prefix with a saved state reuses that much of it. Least
 * recently used files go first when the folder passes its size cap.
 */
export class DiskPrefixCache {
  private readonly entries = new Map<string, CacheEntry>();
  private totalBytes = 0;

  private constructor(
    readonly dir: string,
    private readonly maxBytes: number,
  ) {}

  static async open(dir: string, maxBytes: number): Promise<DiskPrefixCache> {
    const cache = new DiskPrefixCache(dir, maxBytes);
    await fs.mkdir(dir, { recursive: true });
    for (const name of await fs.readdir(dir)) {
      const match = /^(\d+)-([0-9a-f]{32})\.kv$/.exec(name);
      const file = path.join(dir, name);
      if (!match) {
        if (name.endsWith(".tmp")) await fs.rm(file, { force: true }); // a save cut short by a crash
        continue;
      }
      const stat = await fs.stat(file);
      const tokens = await readTokens(file.replace(/\.kv$/, ".tokens"), Number(match[1]));
      if (!tokens) {
        await fs.rm(file, { force: true }); // no token list: it can never be matched
        continue;
      }
      cache.add({ length: tokens.length, tokens, hash: match[2]!, bytes: stat.size, lastUsed: stat.mtimeMs });
    }
    return cache;
  }

  /**
   * A key naming the model file by content, so a renamed file keeps its cache and a new one doesn't,
   * with the sequence count and, unless they are the defaults (f16, flash attention auto, the
   * folders made before they could change), the KV-cache types and flash-attention setting: K and V
   * are stored in their type, and without flash attention V is stored transposed.
   */
  static async modelKey(
    modelPath: string,
    sequences: number,
    kvCache: KvCacheSettings = DEFAULT_KV_CACHE,
  ): Promise<string> {
    const handle = await fs.open(modelPath, "r");
    try {
      const { size } = await handle.stat();
      const head = Buffer.alloc(Math.min(size, 1 << 20));
      await handle.read(head, 0, head.length, 0);
      const layout =
        kvCache.keyType === DEFAULT_KV_CACHE.keyType &&
        kvCache.valueType === DEFAULT_KV_CACHE.valueType &&
        kvCache.flashAttention === DEFAULT_KV_CACHE.flashAttention
          ? ""
          : `-k${kvCache.keyType}-v${kvCache.valueType}-fa${kvCache.flashAttention}`;
      return `${createHash("sha256").update(head).update(String(size)).digest("hex").slice(0, 24)}-s${sequences}${layout}`;
    } finally {
      await handle.close();
    }
  }

  get sizeBytes(): number {
    return this.totalBytes;
  }

  get count(): number {
    return this.entries.size;
  }

  /** The saved state sharing the longest prefix with `tokens`, and how long that prefix is. */
  find(tokens: readonly Token[], limit: number): { entry: CacheEntry; shared: number } | undefined {
    let best: { entry: CacheEntry; shared: number } | undefined;
    for (const entry of this.entries.values()) {
      if (entry.length > limit) continue;
      const shared = commonPrefixLength(entry.tokens, tokens);
      if (shared > (best?.shared ?? 0)) best = { entry, shared };
    }
    return best;
  }

  /** Loads a saved prefix into `sequence`, replacing what it held. */
  async restore(sequence: LlamaContextSequence, entry: CacheEntry): Promise<void> {
    await sequence.loadStateFromFile(this.fileOf(entry), { acceptRisk: true });
    entry.lastUsed = Date.now();
    const now = new Date();
    await fs.utimes(this.fileOf(entry), now, now).catch(() => undefined);
  }

  /** Saves what `sequence` holds, unless that prefix is saved already; then keeps the cap. */
  async save(sequence: LlamaContextSequence): Promise<boolean> {
    const tokens = sequence.contextTokens;
    if (tokens.length < MIN_TOKENS) return false;
    const hash = hashTokens(tokens, tokens.length);
    const existing = this.entries.get(`${tokens.length}-${hash}`);
    if (existing) {
      existing.lastUsed = Date.now();
      return false;
    }
    const list = Uint32Array.from(tokens as number[]);
    const entry: CacheEntry = { length: list.length, tokens: list, hash, bytes: 0, lastUsed: Date.now() };
    const file = this.fileOf(entry);
    const temporary = `${file}.${process.pid}.tmp`;
    // The token list goes first and the state is renamed into place last, so a crash never
    // leaves a half-written state that could be loaded.
    await fs.writeFile(file.replace(/\.kv$/, ".tokens"), new Uint8Array(list.buffer));
    const { fileSize } = await sequence.saveStateToFile(temporary);
    await fs.rename(temporary, file);
    entry.bytes = fileSize;
    this.add(entry);
    await this.evict();
    return true;
  }

  private add(entry: CacheEntry): void {
    this.entries.set(`${entry.length}-${entry.hash}`, entry);
    this.totalBytes += entry.bytes;
  }

  private async evict(): Promise<void> {
    const byAge = [...this.entries.values()].sort((a, b) => a.lastUsed - b.lastUsed);
    for (const entry of byAge) {
      if (this.totalBytes <= this.maxBytes) break;
      this.entries.delete(`${entry.length}-${entry.hash}`);
      this.totalBytes -= entry.bytes;
      await fs.rm(this.fileOf(entry), { force: true });
      await fs.rm(this.fileOf(entry).replace(/\.kv$/, ".tokens"), { force: true });
    }
  }

  private fileOf(entry: Pick<CacheEntry, "length" | "hash">): string {
    return path.join(this.dir, `${entry.length}-${entry.hash}.kv`);
  }
}

async function readTokens(file: string, expected: number): Promise<Uint32Array | undefined> {
  try {
    const bytes = await fs.readFile(file);
    if (bytes.length !== expected * 4) return undefined;
    return new Uint32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  } catch {
    return undefined;
  }
}

function commonPrefixLength(saved: Uint32Array, tokens: readonly Token[]): number {
  const length = Math.min(saved.length, tokens.length);
  let index = 0;
  while (index < length && saved[index] === tokens[index]) index++;
  return index;
}

function hashTokens(tokens: readonly Token[], length: number): string {
  const view = Uint32Array.from(tokens.slice(0, length) as number[]);
  return createHash("sha256").update(new Uint8Array(view.buffer)).digest("hex").slice(0, 32);
}
