// Two pulls of one file share one download. In this process a second pull joins the running one
// (its progress and its result); another process is kept out by a lock file holding the pid of the
// one downloading, and follows that download's progress from its .partial file until the lock goes.

import { readFile, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";

import { isProcessAlive } from "../../core/process-alive.js";
import { ModelPullError, abortedError, diskFullError, isDiskFull } from "./model-pull-errors.js";
import type { PullModelResult, PullProgress } from "./model-pull.js";

/** How often a pull that waits for another process's download looks at its progress. */
const FOLLOW_INTERVAL_MS = 250;
/** A lock file with no pid in it yet is its owner's, between creating and writing it, for this long. */
const NEW_LOCK_GRACE_MS = 2000;

/** The file a download writes, and the pull that names it. */
export interface DownloadTarget {
  /** Two pulls of this path share one download. */
  finalPath: string;
  /** Where it comes from: a pull of another file that has the same name is refused, not joined. */
  url: string;
  /** The model as the user named it, for messages. */
  label: string;
}

/** Starts the download: it reports progress and stops on `signal`. */
export type StartDownload = (
  signal: AbortSignal,
  onProgress: (progress: PullProgress) => void,
) => Promise<PullModelResult>;

/** A download running in this process, shared by every pull of its file. */
interface RunningDownload {
  url: string;
  result: Promise<PullModelResult>;
  listeners: Set<(progress: PullProgress) => void>;
  /** The latest progress, handed to a pull that joins late. */
  latest: PullProgress | undefined;
  /** Pulls waiting for the result; the download is aborted when the last of them is. */
  followers: number;
  controller: AbortController;
}

const runningDownloads = new Map<string, RunningDownload>();

/**
 * Joins the download of `target` running in this process, or starts one with `start`, and waits for
 * it with this pull's own progress listener and abort signal. Aborting leaves the download running
 * while another pull still waits for it.
 */
export function shareDownload(
  target: DownloadTarget,
  start: StartDownload,
  options: { signal?: AbortSignal | undefined; onProgress?: ((progress: PullProgress) => void) | undefined },
): Promise<PullModelResult> {
  const download = runningDownloads.get(target.finalPath) ?? startDownload(target, start);
  if (download.url !== target.url) {
    return Promise.reject(
      new ModelPullError(
        "model_pull_busy",
        `Another file named ${path.basename(target.finalPath)} is being downloaded (${download.url}). ` +
          "Wait for it to finish, or pull a file with another name.",
      ),
    );
  }
  const { signal, onProgress } = options;
  if (signal?.aborted) {
    if (download.followers === 0) download.controller.abort();
    return Promise.reject(abortedError(target.label, undefined));
  }
  const listener = onProgress === undefined ? undefined : (progress: PullProgress) => onProgress(progress);
  download.followers++;
  if (listener !== undefined) {
    download.listeners.add(listener);
    if (download.latest !== undefined) listener(download.latest);
  }
  return new Promise<PullModelResult>((resolve, reject) => {
    let following = true;
    const leave = (): void => {
      if (!following) return;
      following = false;
      signal?.removeEventListener("abort", onAbort);
      if (listener !== undefined) download.listeners.delete(listener);
      download.followers--;
    };
    const onAbort = (): void => {
      leave();
      if (download.followers > 0) {
        reject(abortedError(target.label, undefined)); // the other pulls still want the file
        return;
      }
      download.controller.abort();
      download.result.then(resolve, reject); // rejects saying where the download stopped
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    download.result.then(
      (result) => {
        leave();
        resolve(result);
      },
      (error: unknown) => {
        leave();
        reject(error);
      },
    );
  });
}

function startDownload(target: DownloadTarget, start: StartDownload): RunningDownload {
  const controller = new AbortController();
  const download: RunningDownload = {
    url: target.url,
    listeners: new Set(),
    latest: undefined,
    followers: 0,
    controller,
    result: start(controller.signal, (progress) => {
      download.latest = progress;
      for (const listener of download.listeners) listener(progress);
    }),
  };
  download.result.finally(() => runningDownloads.delete(target.finalPath)).catch(() => undefined);
  runningDownloads.set(target.finalPath, download);
  return download;
}

/** What a pull that waits for another process's download needs. */
export interface LockOptions {
  label: string;
  /** The file's size when the catalog says it, for the progress of a download being followed. */
  totalBytes: number | undefined;
  signal: AbortSignal;
  onProgress: (progress: PullProgress) => void;
}

/**
 * Two processes pulling one file (say `serve` pulling while the user runs `pull`) would interleave
 * writes into the same .partial. A lock file holding the pid keeps the second out: it follows the
 * first one's progress until the lock is gone, then finds the finished file (or resumes the
 * partial itself when the first one failed). A lock whose process is gone is stale and taken over.
 */
export async function lockDownload(partialPath: string, options: LockOptions): Promise<() => Promise<void>> {
  const lockPath = `${partialPath}.lock`;
  const { label } = options;
  for (let staleLocks = 0; staleLocks < 3;) {
    try {
      await writeFile(lockPath, String(process.pid), { flag: "wx" });
      return () => rm(lockPath, { force: true });
    } catch (error) {
      if (isDiskFull(error)) throw diskFullError(label, path.dirname(lockPath), undefined);
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const holder = await lockHolder(lockPath);
    if (holder === "stale") {
      await rm(lockPath, { force: true });
      staleLocks++;
    } else {
      await followOtherProcess(lockPath, partialPath, options);
    }
  }
  throw new ModelPullError("model_pull_busy", `Could not lock the download of ${label}.`);
}

/** The live process that holds the lock, "new" for a lock still being written, or "stale". */
async function lockHolder(lockPath: string): Promise<number | "new" | "stale"> {
  const text = await readFile(lockPath, "utf8").catch(() => undefined);
  if (text === undefined) return "new"; // gone already: the next try takes it
  const holder = Number.parseInt(text, 10);
  if (Number.isInteger(holder) && holder > 0) {
    return holder !== process.pid && isProcessAlive(holder) ? holder : "stale";
  }
  const modified = await stat(lockPath).then(
    (stats) => stats.mtimeMs,
    () => 0,
  );
  return Date.now() - modified < NEW_LOCK_GRACE_MS ? "new" : "stale";
}

/** Reports another process's download from its partial file's size until its lock is released. */
async function followOtherProcess(
  lockPath: string,
  partialPath: string,
  options: LockOptions,
): Promise<void> {
  const started = Date.now();
  const startSize = await fileSize(partialPath);
  for (;;) {
    const holder = await lockHolder(lockPath);
    if (holder === "stale" || !(await exists(lockPath))) return;
    const downloadedBytes = await fileSize(partialPath);
    const seconds = (Date.now() - started) / 1000;
    options.onProgress({
      downloadedBytes,
      totalBytes: options.totalBytes,
      bytesPerSecond: seconds > 0 ? Math.max(0, downloadedBytes - startSize) / seconds : 0,
    });
    await sleep(FOLLOW_INTERVAL_MS, options.signal).catch(() => {
      throw abortedError(options.label, undefined);
    });
  }
}

async function exists(filePath: string): Promise<boolean> {
  return stat(filePath).then(
    () => true,
    () => false,
  );
}

/** Resolves after `milliseconds`, or rejects with the signal's reason when it is aborted first. */
export function sleep(milliseconds: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, milliseconds);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** The size of a regular file, 0 when there is none. */
export async function fileSize(filePath: string): Promise<number> {
  try {
    const stats = await stat(filePath);
    return stats.isFile() ? stats.size : 0;
  } catch {
    return 0;
  }
}
