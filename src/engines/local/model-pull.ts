// Downloads a GGUF model into <dataDir>/models. Models are gigabytes and home networks drop, so the
// download streams to `<file>.partial` and resumes from there with an HTTP Range request. Nothing is
// trusted: the size and SHA-256 are checked against the catalog (or what Hugging Face publishes for
// the file), and the file is run through our own GGUF checker before it gets its final name. A
// connection that drops mid-file is resumed by itself; two pulls of one file share one download,
// in this process through a map of running downloads, across processes through a lock file.

import { createHash } from "node:crypto";
import type { Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, rename, rm, stat, statfs } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import path from "node:path";

import { InvalidModelFileError, inspectGgufFile } from "./gguf-file.js";
import { readChecksumFile, writeChecksumFile } from "./file-digest.js";
import { resolveModelReference } from "./model-catalog.js";
import type { CatalogModel, ModelReference } from "./model-catalog.js";
import {
  ModelPullError,
  abortedError,
  diskFullError,
  displayName,
  formatMegabytes,
  interruptedError,
  isDiskFull,
  statusError,
  unreachableError,
} from "./model-pull-errors.js";
import { modelPathInDataDir, modelsDir } from "./model-paths.js";
import { fileSize, lockDownload, shareDownload, sleep } from "./pull-sharing.js";

export { ModelPullError } from "./model-pull-errors.js";
export type { ModelPullErrorCode } from "./model-pull-errors.js";

export interface PullProgress {
  /** Bytes on disk so far, including what an earlier, interrupted pull left. */
  downloadedBytes: number;
  /** The file's full size, when the server or the catalog says it. */
  totalBytes: number | undefined;
  /** The average speed of this pull. */
  bytesPerSecond: number;
}

export interface PullModelOptions {
  /** A catalog alias (`deepseek-r1:1.5b`) or `hf:OWNER/REPO/FILE.gguf`. */
  reference: string;
  dataDir: string;
  /** Default https://huggingface.co; a mirror such as https://hf-mirror.com works the same way. */
  huggingFaceEndpoint?: string;
  /** Catalog entries that come before the built-in ones (QIUSUO_MODEL_CATALOG); default none. */
  catalogOverrides?: readonly CatalogModel[];
  /** Extra request headers, e.g. `authorization: Bearer hf_...` for gated repositories. */
  headers?: Record<string, string>;
  /**
   * Aborting keeps the `.partial` file, so the next pull resumes. A pull that joined another one
   * stops waiting; the download stops when no pull waits for it any more.
   */
  signal?: AbortSignal;
  onProgress?: (progress: PullProgress) => void;
  /**
   * The pause before resuming a download whose connection dropped, doubled each time it drops
   * again without a byte more. Default 1000 ms.
   */
  resumeDelayMs?: number;
}

export interface PullModelResult {
  path: string;
  bytes: number;
  sha256: string;
  /** True when this pull fetched nothing: the model was there, or another process downloaded it. */
  alreadyPresent: boolean;
}

const MAX_REDIRECTS = 10;
/** A dropped connection is resumed this many times in a row without a byte more before giving up. */
const MAX_RESUMES_WITHOUT_PROGRESS = 4;
const DEFAULT_RESUME_DELAY_MS = 1000;
const PROGRESS_INTERVAL_MS = 100;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const USER_AGENT = "qiusuo (+https://github.com/qiusuo)";
/** Headers that must not follow a redirect to another origin (a CDN gets a signed URL instead). */
const CREDENTIAL_HEADERS = ["authorization", "cookie", "proxy-authorization"];

/**
 * Downloads the model `reference` names into `<dataDir>/models`, resuming an interrupted download,
 * and returns once the file is verified. Returns at once when a valid copy is already there; joins
 * a download of the same file already running in this process or in another one.
 */
export async function pullModel(options: PullModelOptions): Promise<PullModelResult> {
  const reference = resolveModelReference(options.reference, {
    ...(options.huggingFaceEndpoint === undefined
      ? {}
      : { huggingFaceEndpoint: options.huggingFaceEndpoint }),
    ...(options.catalogOverrides === undefined ? {} : { catalogOverrides: options.catalogOverrides }),
  });
  const finalPath = modelPathInDataDir(options.dataDir, reference.localFileName);
  await mkdir(modelsDir(options.dataDir), { recursive: true });

  const existing = await verifiedExistingModel(finalPath, reference);
  if (existing !== undefined) return existing;
  const target = { finalPath, url: reference.url, label: displayName(reference) };
  return shareDownload(
    target,
    (signal, onProgress) => downloadLocked(reference, finalPath, { ...options, signal, onProgress }),
    options,
  );
}

/** The options of the one download that every pull of a file shares. */
type LockedPullOptions = PullModelOptions & {
  signal: AbortSignal;
  onProgress: (progress: PullProgress) => void;
};

/** The download itself, under the lock that keeps other processes from writing the same file. */
async function downloadLocked(
  reference: ModelReference,
  finalPath: string,
  options: LockedPullOptions,
): Promise<PullModelResult> {
  const partialPath = `${finalPath}.partial`;
  const releaseLock = await lockDownload(partialPath, {
    label: displayName(reference),
    totalBytes: reference.size,
    signal: options.signal,
    onProgress: options.onProgress,
  });
  try {
    // Another process may have finished the file while this one waited for the lock.
    const existing = await verifiedExistingModel(finalPath, reference);
    if (existing !== undefined) return existing;
    const download = await downloadResuming(reference, partialPath, options);
    return await finishDownload(reference, partialPath, finalPath, download);
  } finally {
    await releaseLock();
  }
}

/** Downloads into the partial file, resuming by itself when the connection drops. */
async function downloadResuming(
  reference: ModelReference,
  partialPath: string,
  options: LockedPullOptions,
): Promise<DownloadOutcome> {
  const baseDelay = options.resumeDelayMs ?? DEFAULT_RESUME_DELAY_MS;
  let failuresInARow = 0;
  for (let attempt = 0; ; attempt++) {
    const before = await fileSize(partialPath);
    try {
      return await downloadToPartial(reference, partialPath, options);
    } catch (error) {
      // Once bytes have flowed, a network that is down for a moment is waited for, too.
      const resumable =
        error instanceof ModelPullError &&
        (error.code === "model_pull_interrupted" || (error.code === "model_unreachable" && attempt > 0));
      if (!resumable) throw error;
      failuresInARow = (await fileSize(partialPath)) > before ? 0 : failuresInARow + 1;
      if (failuresInARow > MAX_RESUMES_WITHOUT_PROGRESS) throw error;
      await sleep(baseDelay * 2 ** failuresInARow, options.signal).catch(() => {
        throw abortedError(displayName(reference), undefined);
      });
    }
  }
}

interface DownloadOutcome {
  bytes: number;
  sha256: string;
  /** The SHA-256 Hugging Face published for the file (its LFS `x-linked-etag`), when it did. */
  publishedSha256: string | undefined;
}

async function finishDownload(
  reference: ModelReference,
  partialPath: string,
  finalPath: string,
  download: DownloadOutcome,
): Promise<PullModelResult> {
  const label = displayName(reference);
  if (reference.size !== undefined && download.bytes !== reference.size) {
    await rm(partialPath, { force: true });
    throw new ModelPullError(
      "model_size_mismatch",
      `The download of ${label} has ${download.bytes} bytes but the catalog expects ${reference.size}: ` +
        "the file changed upstream or the download is corrupt. It was deleted; run the pull again.",
    );
  }
  const expectedSha256 = reference.sha256 ?? download.publishedSha256;
  if (expectedSha256 !== undefined && download.sha256 !== expectedSha256) {
    await rm(partialPath, { force: true });
    throw new ModelPullError(
      "model_checksum_mismatch",
      `The download of ${label} has SHA-256 ${download.sha256} but ${expectedSha256} was expected: ` +
        "the download is corrupt or the file was tampered with. It was deleted; run the pull again.",
    );
  }
  // Checked under its .partial name, so a file that fails never appears under the real name.
  try {
    await inspectGgufFile(partialPath, { displayName: reference.localFileName });
  } catch (error) {
    await rm(partialPath, { force: true });
    if (error instanceof InvalidModelFileError) {
      throw new ModelPullError(
        "model_invalid_file",
        `The download of ${label} finished but it is not a usable model: ${error.reason}. It was deleted.`,
        { cause: error },
      );
    }
    throw error;
  }
  await rename(partialPath, finalPath);
  // Only a cache of the digest: on a full disk the model is still complete and verified.
  await writeChecksumFile(finalPath, download.sha256).catch(() => undefined);
  return { path: finalPath, bytes: download.bytes, sha256: download.sha256, alreadyPresent: false };
}

/** A downloaded model that still matches the catalog and passes the GGUF check, or undefined. */
async function verifiedExistingModel(
  finalPath: string,
  reference: ModelReference,
): Promise<PullModelResult | undefined> {
  let size: number;
  let modifiedMs: number;
  try {
    const stats = await stat(finalPath);
    if (!stats.isFile()) return undefined;
    size = stats.size;
    modifiedMs = stats.mtimeMs;
  } catch {
    return undefined;
  }
  if (reference.size !== undefined && size !== reference.size) return undefined;
  try {
    await inspectGgufFile(finalPath);
  } catch (error) {
    if (error instanceof InvalidModelFileError) return undefined;
    throw error;
  }
  const sha256 =
    (await readChecksumFile(finalPath, modifiedMs)) ??
    (await hashFile(finalPath, size, createHash("sha256")));
  if (reference.sha256 !== undefined && sha256 !== reference.sha256) return undefined;
  return { path: finalPath, bytes: size, sha256, alreadyPresent: true };
}

async function downloadToPartial(
  reference: ModelReference,
  partialPath: string,
  options: PullModelOptions,
): Promise<DownloadOutcome> {
  let resumeFrom = await fileSize(partialPath);
  if (reference.size !== undefined && resumeFrom > reference.size) {
    await rm(partialPath, { force: true });
    resumeFrom = 0;
  }
  // Two rounds at most: a server that refuses our range (416 with another size, or a 206 from the
  // wrong offset) gets one fresh request for the whole file.
  for (let round = 0; round < 2; round++) {
    if (reference.size !== undefined && resumeFrom === reference.size) {
      // An earlier pull got every byte but stopped before verifying; nothing is left to fetch.
      return {
        bytes: resumeFrom,
        sha256: await hashFile(partialPath, resumeFrom, createHash("sha256")),
        publishedSha256: undefined,
      };
    }
    const hash = createHash("sha256");
    if (resumeFrom > 0) await hashFile(partialPath, resumeFrom, hash, false);

    const fetched = await fetchFollowingRedirects(reference, options, resumeFrom);
    const { response } = fetched;
    let startAt = 0;
    let totalBytes = fetched.linkedSize;
    if (response.status === 416 && resumeFrom > 0) {
      await response.body?.cancel();
      const total = parseContentRange(response.headers.get("content-range"))?.total;
      if (total === resumeFrom)
        return { bytes: resumeFrom, sha256: hash.digest("hex"), publishedSha256: fetched.sha256 };
      await rm(partialPath, { force: true });
      resumeFrom = 0;
      continue;
    }
    if (response.status === 206) {
      const range = parseContentRange(response.headers.get("content-range"));
      if (range === undefined || range.start !== resumeFrom) {
        await response.body?.cancel();
        await rm(partialPath, { force: true });
        resumeFrom = 0;
        continue;
      }
      startAt = resumeFrom;
      totalBytes = range.total ?? totalBytes;
    } else if (response.ok) {
      // A 200 to a range request means the server ignored the range: start over from byte 0.
      const length = contentLength(response.headers);
      totalBytes = length ?? totalBytes;
    } else {
      await response.body?.cancel();
      throw statusError(reference, response.status);
    }
    return await receiveBody(reference, partialPath, options, {
      response,
      startAt,
      totalBytes: reference.size ?? totalBytes,
      serverTotal: totalBytes,
      hash: startAt === 0 ? createHash("sha256") : hash,
      publishedSha256: fetched.sha256,
    });
  }
  throw new ModelPullError(
    "model_pull_failed",
    `The server for ${displayName(reference)} kept refusing to resume the download. Delete ` +
      `${path.basename(partialPath)} in ${path.dirname(partialPath)} and run the pull again.`,
  );
}

interface BodyPlan {
  response: Response;
  /** The offset the body starts at: the partial's size for a 206, 0 otherwise. */
  startAt: number;
  /** The size the finished file must have, when known. */
  totalBytes: number | undefined;
  /** The size the server reports, compared with the catalog's before a byte is written. */
  serverTotal: number | undefined;
  hash: Hash;
  publishedSha256: string | undefined;
}

async function receiveBody(
  reference: ModelReference,
  partialPath: string,
  options: PullModelOptions,
  plan: BodyPlan,
): Promise<DownloadOutcome> {
  const label = displayName(reference);
  const { response, hash, totalBytes } = plan;
  if (reference.size !== undefined && plan.serverTotal !== undefined && plan.serverTotal !== reference.size) {
    await response.body?.cancel();
    await rm(partialPath, { force: true });
    throw new ModelPullError(
      "model_size_mismatch",
      `The server offers ${label} with ${plan.serverTotal} bytes but the catalog expects ${reference.size}: ` +
        `the file changed upstream. Update qiusuo, or pull hf:${reference.repo}/${reference.file} ` +
        "to take the new file (it is still checked against Hugging Face's published SHA-256).",
    );
  }
  if (totalBytes !== undefined)
    await ensureDiskSpace(path.dirname(partialPath), totalBytes - plan.startAt, label);

  let downloaded = plan.startAt;
  const diskFull = (error: unknown): unknown =>
    isDiskFull(error) ? diskFullError(label, path.dirname(partialPath), downloaded) : error;
  const file: FileHandle = await open(partialPath, plan.startAt > 0 ? "a" : "w").catch((error: unknown) => {
    throw diskFull(error);
  });
  const started = Date.now();
  let lastReport = 0;
  const report = (force: boolean): void => {
    const now = Date.now();
    if (options.onProgress === undefined || (!force && now - lastReport < PROGRESS_INTERVAL_MS)) return;
    lastReport = now;
    const seconds = (now - started) / 1000;
    const bytesPerSecond = seconds > 0 ? (downloaded - plan.startAt) / seconds : 0;
    options.onProgress({ downloadedBytes: downloaded, totalBytes, bytesPerSecond });
  };
  try {
    report(true);
    const body = response.body;
    if (body !== null) {
      const reader = body.getReader();
      for (;;) {
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch (error) {
          throw interruptedError(label, downloaded, totalBytes, error, options.signal);
        }
        if (chunk.done) break;
        if (totalBytes !== undefined && downloaded + chunk.value.length > totalBytes) {
          await reader.cancel();
          await file.close();
          await rm(partialPath, { force: true });
          throw new ModelPullError(
            "model_size_mismatch",
            `The server sent more than the ${totalBytes} bytes ${label} should have. The download was deleted.`,
          );
        }
        try {
          await file.write(chunk.value);
        } catch (error) {
          await reader.cancel().catch(() => undefined);
          throw diskFull(error);
        }
        hash.update(chunk.value);
        downloaded += chunk.value.length;
        report(false);
      }
    }
    report(true);
    await file.datasync().catch((error: unknown) => {
      throw diskFull(error);
    });
  } finally {
    await file.close().catch(() => undefined);
  }
  if (totalBytes !== undefined && downloaded < totalBytes) {
    throw new ModelPullError(
      "model_pull_interrupted",
      `The connection closed after ${downloaded} of ${totalBytes} bytes of ${label}. ` +
        "Run the same pull again to resume where it stopped.",
    );
  }
  return { bytes: downloaded, sha256: hash.digest("hex"), publishedSha256: plan.publishedSha256 };
}

interface FetchedFile {
  response: Response;
  /** The file's SHA-256 as Hugging Face publishes it (`x-linked-etag`, or an `etag` that is one). */
  sha256: string | undefined;
  /** The file's size from `x-linked-size`, which Hugging Face sends on the redirect to its CDN. */
  linkedSize: number | undefined;
}

/**
 * Follows redirects by hand: Hugging Face answers /resolve/ with a redirect to its CDN, and only
 * that first answer carries `x-linked-etag` (the file's SHA-256) and `x-linked-size`. Credentials
 * are dropped when a redirect leaves the origin they were meant for.
 */
async function fetchFollowingRedirects(
  reference: ModelReference,
  options: PullModelOptions,
  resumeFrom: number,
): Promise<FetchedFile> {
  const headers: Record<string, string> = { "user-agent": USER_AGENT };
  for (const [name, value] of Object.entries(options.headers ?? {})) headers[name.toLowerCase()] = value;
  // Compressed transfer would make Content-Length and Range count compressed bytes.
  headers["accept-encoding"] = "identity";
  if (resumeFrom > 0) headers.range = `bytes=${resumeFrom}-`;

  let url = new URL(reference.url);
  let sha256: string | undefined;
  let etagSha256: string | undefined;
  let linkedSize: number | undefined;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    let response: Response;
    try {
      response = await fetch(url, {
        headers,
        redirect: "manual",
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
    } catch (error) {
      if (options.signal?.aborted) throw abortedError(displayName(reference), undefined);
      throw unreachableError(hop === 0 ? new URL(reference.url) : url, error);
    }
    sha256 ??= sha256FromHeader(response.headers.get("x-linked-etag"));
    etagSha256 ??= sha256FromHeader(response.headers.get("etag"));
    linkedSize ??= nonNegativeInteger(response.headers.get("x-linked-size"));

    const location = response.headers.get("location");
    if (response.status < 300 || response.status >= 400 || location === null) {
      return { response, sha256: sha256 ?? etagSha256, linkedSize };
    }
    await response.body?.cancel();
    const next = new URL(location, url);
    if (next.protocol !== "https:" && next.protocol !== "http:") {
      throw new ModelPullError(
        "model_pull_failed",
        `The server redirected ${displayName(reference)} to a non-HTTP URL.`,
      );
    }
    if (next.origin !== url.origin) for (const name of CREDENTIAL_HEADERS) delete headers[name];
    url = next;
  }
  throw new ModelPullError(
    "model_pull_failed",
    `The server redirected ${displayName(reference)} more than ${MAX_REDIRECTS} times.`,
  );
}

async function ensureDiskSpace(directory: string, bytesNeeded: number, label: string): Promise<void> {
  let available: number;
  try {
    const stats = await statfs(directory);
    available = stats.bavail * stats.bsize;
  } catch {
    return; // Not every file system reports free space; the write itself will fail if it runs out.
  }
  if (available < bytesNeeded) {
    throw new ModelPullError(
      "model_disk_full",
      `${label} needs ${formatMegabytes(bytesNeeded)} more but ${directory} has only ${formatMegabytes(available)} free. ` +
        "Free some space (or use a --data-dir on a larger disk) and run the pull again.",
    );
  }
}

async function hashFile(filePath: string, length: number, hash: Hash, digest?: true): Promise<string>;
async function hashFile(filePath: string, length: number, hash: Hash, digest: false): Promise<Hash>;
async function hashFile(filePath: string, length: number, hash: Hash, digest = true): Promise<string | Hash> {
  if (length > 0) {
    for await (const chunk of createReadStream(filePath, { start: 0, end: length - 1 }))
      hash.update(chunk as Buffer);
  }
  return digest ? hash.digest("hex") : hash;
}

function parseContentRange(header: string | null): { start: number; total: number | undefined } | undefined {
  if (header === null) return undefined;
  const match = /^bytes\s+(?:(\d+)-(\d+)|\*)\/(\d+|\*)$/i.exec(header.trim());
  if (match === null) return undefined;
  const total = match[3] === "*" || match[3] === undefined ? undefined : Number(match[3]);
  return { start: match[1] === undefined ? 0 : Number(match[1]), total };
}

function contentLength(headers: Headers): number | undefined {
  return nonNegativeInteger(headers.get("content-length"));
}

function nonNegativeInteger(value: string | null): number | undefined {
  if (value === null || !/^\d+$/.test(value.trim())) return undefined;
  const parsed = Number(value);
  return Number.isSafeInteger(parsed) ? parsed : undefined;
}

/** Hugging Face's LFS etag is the file's SHA-256; anything else (a git blob sha, an S3 md5) is ignored. */
function sha256FromHeader(value: string | null): string | undefined {
  if (value === null) return undefined;
  const digest = value.trim().replace(/^W\//, "").replace(/^"|"$/g, "").toLowerCase();
  return SHA256_HEX.test(digest) ? digest : undefined;
}
