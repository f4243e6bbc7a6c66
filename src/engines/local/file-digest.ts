/**
 * SHA-256 of model files, for provenance and pull checks. Hashing gigabytes takes seconds, so a
 * digest is kept beside the file as `<file>.sha256` (sha256sum format) and in memory, and trusted
 * only while the file is unchanged since.
 */
import { createHash } from "node:crypto";
import { createReadStream, statSync } from "node:fs";
import { readFile, rename, stat, writeFile } from "node:fs/promises";
import path from "node:path";

const SHA256_HEX = /^[0-9a-f]{64}$/;
const digests = new Map<string, { modifiedMs: number; digest: Promise<string>; known?: string }>();

/**
 * Writes `<file>.sha256` in sha256sum format, so the next pull need not hash gigabytes again.
 * Written whole under another name and renamed, so a reader never sees it empty or half written.
 */
export async function writeChecksumFile(finalPath: string, sha256: string): Promise<void> {
  const checksumPath = `${finalPath}.sha256`;
  const partial = `${checksumPath}.${process.pid}.tmp`;
  await writeFile(partial, `${sha256}  ${path.basename(finalPath)}\n`);
  await rename(partial, checksumPath);
}

/** The recorded digest, trusted only when it was written after the model file last changed. */
export async function readChecksumFile(
  finalPath: string,
  modelModifiedMs: number,
): Promise<string | undefined> {
  const checksumPath = `${finalPath}.sha256`;
  try {
    const stats = await stat(checksumPath);
    if (stats.mtimeMs < modelModifiedMs) return undefined;
    const digest = (await readFile(checksumPath, "utf8")).slice(0, 64);
    return SHA256_HEX.test(digest) ? digest : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The file's SHA-256: from memory, from `<file>.sha256`, or hashed once (and the sidecar written
 * when the folder allows; a read-only folder only costs a re-hash after restart).
 */
export async function fileSha256(filePath: string): Promise<string> {
  const { mtimeMs } = statSync(filePath); // see knownSha256
  const known = digests.get(filePath);
  if (known && known.modifiedMs === mtimeMs) return known.digest;
  const digest = (async () => {
    const recorded = await readChecksumFile(filePath, mtimeMs);
    if (recorded) return recorded;
    const hash = createHash("sha256");
    for await (const chunk of createReadStream(filePath)) hash.update(chunk as Buffer);
    const computed = hash.digest("hex");
    await writeChecksumFile(filePath, computed).catch(() => undefined);
    return computed;
  })();
  const entry: { modifiedMs: number; digest: Promise<string>; known?: string } = {
    modifiedMs: mtimeMs,
    digest,
  };
  digests.set(filePath, entry);
  digest.then(
    (value) => (entry.known = value),
    () => digests.delete(filePath),
  );
  return digest;
}

/**
 * The file's SHA-256 if it is known without hashing (in memory, or in an up-to-date
 * `<file>.sha256`); undefined while the file is still being hashed or never was.
 */
export async function knownSha256(filePath: string): Promise<string | undefined> {
  // Synchronous: every reply asks, and libuv's one pool thread may be busy with a long decode
  // (src/cli/qiusuo.cts); a stat queued behind it held new requests back 180 ms.
  const { mtimeMs } = statSync(filePath);
  const known = digests.get(filePath);
  if (known && known.modifiedMs === mtimeMs && known.known !== undefined) return known.known;
  return readChecksumFile(filePath, mtimeMs);
}
