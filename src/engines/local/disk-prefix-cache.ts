import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import type { LlamaContextSequence, Token } from "node-llama-cpp";

interface CacheEntry {
  /** How many tokens the saved state holds. */
  length: number;
  /** Hash of those tokens; the file name is `${length}-${hash}.kv`. */
  hash: string;
  bytes: number;
  lastUsed: number;
}

/** Below this, re-reading the prompt is as fast as loading a file. */
const MIN_TOKENS = 64;

/**
 * KV state of token prefixes, saved to disk so a later request (also after a restart) that starts
 * with the same tokens skips re-reading them. One folder per model file and sequence count
 * (llama.cpp loads a state only into a context with the same number of sequences); files are
 * named by prefix length and hash, so the folder itself is the index. Least recently used files
 * go first when the folder passes its size cap.
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
      cache.add({ length: Number(match[1]), hash: match[2]!, bytes: stat.size, lastUsed: stat.mtimeMs });
    }
    return cache;
  }

  /** A key naming the model file by content, so a renamed file keeps its cache and a new one doesn't. */
  static async modelKey(modelPath: string, sequences: number): Promise<string> {
    const handle = await fs.open(modelPath, "r");
    try {
      const { size } = await handle.stat();
      const head = Buffer.alloc(Math.min(size, 1 << 20));
      await handle.read(head, 0, head.length, 0);
      return `${createHash("sha256").update(head).update(String(size)).digest("hex").slice(0, 24)}-s${sequences}`;
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

  /** The longest saved prefix of `tokens` holding at most `limit` tokens. */
  find(tokens: readonly Token[], limit: number): CacheEntry | undefined {
    const candidates = [...this.entries.values()]
      .filter((entry) => entry.length <= Math.min(limit, tokens.length))
      .sort((a, b) => b.length - a.length);
    for (const entry of candidates) {
      if (hashTokens(tokens, entry.length) === entry.hash) return entry;
    }
    return undefined;
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
    const entry: CacheEntry = { length: tokens.length, hash, bytes: 0, lastUsed: Date.now() };
    const file = this.fileOf(entry);
    const temporary = `${file}.${process.pid}.tmp`;
    // Written aside and renamed, so a crash never leaves a half-written state to be loaded.
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
    }
  }

  private fileOf(entry: Pick<CacheEntry, "length" | "hash">): string {
    return path.join(this.dir, `${entry.length}-${entry.hash}.kv`);
  }
}

function hashTokens(tokens: readonly Token[], length: number): string {
  const view = Uint32Array.from(tokens.slice(0, length) as number[]);
  return createHash("sha256").update(new Uint8Array(view.buffer)).digest("hex").slice(0, 32);
}
