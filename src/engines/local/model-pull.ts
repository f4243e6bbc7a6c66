// Downloads a GGUF model into <dataDir>/models. Models are gigabytes and home networks drop, so the
// download streams to `<file>.partial` and resumes from there with an HTTP Range request. Nothing is
// trusted: the size and SHA-256 are checked against the catalog (or what Hugging Face publishes for
// the file), and the file is run through our own GGUF checker before it gets its final name.

import { createHash } from "node:crypto";
import type { Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, readFile, rename, rm, stat, statfs, writeFile } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import path from "node:path";

import { QiusuoError } from "../../core/errors.js";
import type { ErrorKind } from "../../core/errors.js";
import { InvalidModelFileError, inspectGgufFile } from "./gguf-file.js";
import { readChecksumFile, writeChecksumFile } from "./file-digest.js";
import { resolveModelReference } from "./model-catalog.js";
import type { ModelReference } from "./model-catalog.js";
import { modelPathInDataDir, modelsDir } from "./model-paths.js";
import { isProcessAlive } from "../../core/process-alive.js";

export type ModelPullErrorCode =
  | "model_pull_failed"
  | "model_not_found"
  | "model_access_denied"
  | "model_unreachable"
  | "model_size_mismatch"
  | "model_checksum_mismatch"
  | "model_invalid_file"
  | "model_disk_full"
  | "model_pull_busy"
  | "model_pull_aborted";

const ERROR_KINDS: Record<ModelPullErrorCode, ErrorKind> = {
  model_pull_failed: "unavailable",
  model_not_found: "not_found",
  model_access_denied: "permission",
  model_unreachable: "unavailable",
  model_size_mismatch: "internal",
  model_checksum_mismatch: "internal",
  model_invalid_file: "internal",
  model_disk_full: "internal",
  model_pull_busy: "unavailable",
  model_pull_aborted: "unavailable",
};

export class ModelPullError extends QiusuoError {
  override readonly name = "ModelPullError";
  declare readonly code: ModelPullErrorCode;

  constructor(code: ModelPullErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(ERROR_KINDS[code], code, message, options);
  }
}

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
  /** Extra request headers, e.g. `authorization: Bearer hf_...` for gated repositories. */
  headers?: Record<string, string>;
  /** Aborting keeps the `.partial` file, so the next pull resumes. */
  signal?: AbortSignal;
  onProgress?: (progress: PullProgress) => void;
}

export interface PullModelResult {
  path: string;
  bytes: number;
  sha256: string;
  /** True when the model was already downloaded and nothing was fetched. */
  alreadyPresent: boolean;
}

const MAX_REDIRECTS = 10;
const PROGRESS_INTERVAL_MS = 100;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const USER_AGENT = "qiusuo (+https://github.com/qiusuo)";
/** Headers that must not follow a redirect to another origin (a CDN gets a signed URL instead). */
const CREDENTIAL_HEADERS = ["authorization", "cookie", "proxy-authorization"];

/**
 * Downloads the model `reference` names into `<dataDir>/models`, resuming an interrupted download,
 * and returns once the file is verified. Returns at once when a valid copy is already there.
 */
export async function pullModel(options: PullModelOptions): Promise<PullModelResult> {
  const reference = resolveModelReference(
    options.reference,
    options.huggingFaceEndpoint === undefined ? {} : { huggingFaceEndpoint: options.huggingFaceEndpoint },
  );
  const finalPath = modelPathInDataDir(options.dataDir, reference.localFileName);
  await mkdir(modelsDir(options.dataDir), { recursive: true });

  const existing = await verifiedExistingModel(finalPath, reference);
  if (existing !== undefined) return existing;

  const partialPath = `${finalPath}.partial`;
  const releaseLock = await lockDownload(`${partialPath}.lock`, reference);
  try {
    const download = await downloadToPartial(reference, partialPath, options);
    return await finishDownload(reference, partialPath, finalPath, download);
  } finally {
    await releaseLock();
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
  await writeChecksumFile(finalPath, download.sha256);
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

/**
 * Two pulls of one file (say `serve` pulling while the user runs `pull`) would interleave writes
 * into the same .partial. A lock file holding our pid keeps the second out; a lock whose process is
 * gone is stale and taken over.
 */
async function lockDownload(lockPath: string, reference: ModelReference): Promise<() => Promise<void>> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(lockPath, String(process.pid), { flag: "wx" });
      return () => rm(lockPath, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const holder = Number.parseInt(await readFile(lockPath, "utf8").catch(() => ""), 10);
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isProcessAlive(holder)) {
        throw new ModelPullError(
          "model_pull_busy",
          `${displayName(reference)} is already being downloaded by process ${holder}. ` +
            "Wait for it to finish, or stop it and run the pull again to resume.",
        );
      }
      await rm(lockPath, { force: true });
    }
  }
  throw new ModelPullError("model_pull_busy", `Could not lock the download of ${displayName(reference)}.`);
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

  const file: FileHandle = await open(partialPath, plan.startAt > 0 ? "a" : "w");
  let downloaded = plan.startAt;
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
        await file.write(chunk.value);
        hash.update(chunk.value);
        downloaded += chunk.value.length;
        report(false);
      }
    }
    report(true);
    await file.datasync();
  } finally {
    await file.close().catch(() => undefined);
  }
  if (totalBytes !== undefined && downloaded < totalBytes) {
    throw new ModelPullError(
      "model_pull_failed",
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

function statusError(reference: ModelReference, status: number): ModelPullError {
  const label = displayName(reference);
  if (status === 404) {
    return new ModelPullError(
      "model_not_found",
      `${reference.repo}/${reference.file} was not found at ${reference.url} (HTTP 404). Check the owner, ` +
        "repository and file name on the model's page, or use a catalog alias such as deepseek-r1:1.5b.",
    );
  }
  if (status === 401 || status === 403) {
    return new ModelPullError(
      "model_access_denied",
      `Hugging Face refused access to ${label} (HTTP ${status}). The repository may be gated or private: ` +
        "accept its terms on the model's page and set HF_TOKEN to a Hugging Face access token.",
    );
  }
  if (status === 429) {
    return new ModelPullError(
      "model_pull_failed",
      `The server is rate-limiting downloads of ${label} (HTTP 429). Wait a while and run the pull again, or set HF_TOKEN.`,
    );
  }
  return new ModelPullError(
    "model_pull_failed",
    `The server answered HTTP ${status} for ${label}. Try again later, or set a mirror with QIUSUO_HF_ENDPOINT.`,
  );
}

function unreachableError(url: URL, error: unknown): ModelPullError {
  return new ModelPullError(
    "model_unreachable",
    `Could not reach ${url.origin} (${networkReason(error)}). Check the network, set a mirror with ` +
      "QIUSUO_HF_ENDPOINT, or pass --model /path/to/model.gguf",
    { cause: error },
  );
}

function interruptedError(
  label: string,
  downloaded: number,
  totalBytes: number | undefined,
  error: unknown,
  signal: AbortSignal | undefined,
): ModelPullError {
  if (signal?.aborted) return abortedError(label, downloaded);
  const of = totalBytes === undefined ? "" : ` of ${totalBytes}`;
  return new ModelPullError(
    "model_pull_failed",
    `The download of ${label} was interrupted after ${downloaded}${of} bytes (${networkReason(error)}). ` +
      "Run the same pull again to resume where it stopped.",
    { cause: error },
  );
}

function abortedError(label: string, downloaded: number | undefined): ModelPullError {
  const where = downloaded === undefined ? "" : ` after ${downloaded} bytes`;
  return new ModelPullError(
    "model_pull_aborted",
    `The download of ${label} was stopped${where}. Run the same pull again to resume.`,
  );
}

/** The most specific words in a fetch failure: undici wraps the socket error as `cause`. */
function networkReason(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const aggregate = current instanceof AggregateError ? current.errors[0] : undefined;
    const message = current.message || (aggregate instanceof Error ? aggregate.message : "");
    const code = (current as NodeJS.ErrnoException).code;
    if (message !== "" && message !== "fetch failed" && message !== "terminated") parts.push(message);
    else if (code !== undefined) parts.push(code);
    current = current.cause;
  }
  return parts.length > 0 ? parts.join(": ") : "network error";
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
      `${label} needs ${formatMegabytes(bytesNeeded)} more but ${directory} has only ${formatMegabytes(available)} free.`,
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

async function fileSize(filePath: string): Promise<number> {
  try {
    const stats = await stat(filePath);
    return stats.isFile() ? stats.size : 0;
  } catch {
    return 0;
  }
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

function displayName(reference: ModelReference): string {
  return reference.alias ?? `hf:${reference.repo}/${reference.file}`;
}

function formatMegabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}
