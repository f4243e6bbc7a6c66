/**
 * A model's files on disk, who still holds them, and deleting them all (`qiusuo rm`, the app's
 * delete). Beside `<name>.gguf` lie `.sha256` (file-digest.ts) and, from a pull, `.partial` and
 * `.partial.lock` (model-pull.ts); `<dataDir>/cache/` holds a prefix-cache folder per sequence
 * count, named by the file's content (disk-prefix-cache.ts).
 */
import { execFile } from "node:child_process";
import { lstat, readFile, readdir, readlink, realpath, rm } from "node:fs/promises";
import path from "node:path";
import { isProcessAlive } from "../../core/process-alive.js";
import { DiskPrefixCache } from "./disk-prefix-cache.js";

const SIDECARS = [".sha256", ".partial", ".partial.lock"];

/** A process that has a model file open or mapped. */
export interface FileHolder {
  pid: number;
  /** Its command line, shortened; empty when it cannot be read. */
  command: string;
}

/** The process whose pull of this file is running, when one is (its lock names a live process). */
export async function runningPull(filePath: string): Promise<number | undefined> {
  const holder = Number.parseInt(await readFile(`${filePath}.partial.lock`, "utf8").catch(() => ""), 10);
  return Number.isInteger(holder) && holder > 0 && isProcessAlive(holder) ? holder : undefined;
}

/**
 * Deletes the model's file first (so a failure there leaves the model whole), then its sidecars
 * and cache folders, and returns what it deleted. A copy of the same file under another name
 * shares the cache folders; it rebuilds them as it is used.
 */
export async function deleteModelFiles(dataDir: string, filePath: string): Promise<string[]> {
  const files: string[] = [];
  for (const candidate of [filePath, ...SIDECARS.map((suffix) => `${filePath}${suffix}`)]) {
    if (await exists(candidate)) files.push(candidate);
  }
  const folders = await cacheFolders(dataDir, filePath);
  for (const file of files) await rm(file, { force: true });
  for (const folder of folders) await rm(folder, { recursive: true, force: true });
  return [...files, ...folders];
}

/** Prefix-cache folders are named `<content key>-s<sequences>`; the key needs the file itself. */
async function cacheFolders(dataDir: string, filePath: string): Promise<string[]> {
  let key: string;
  try {
    key = (await DiskPrefixCache.modelKey(filePath, 1)).replace(/-s1$/, "");
  } catch {
    return []; // no file, no way to name its cache
  }
  const root = path.join(path.resolve(dataDir), "cache");
  const names = await readdir(root).catch(() => [] as string[]);
  const pattern = new RegExp(`^${key}-s\\d+$`);
  return names.filter((name) => pattern.test(name)).map((name) => path.join(root, name));
}

/**
 * Other processes that have the file open or mapped (llama.cpp maps a loaded model's file): from
 * /proc on Linux, from `lsof` elsewhere. Only processes this user may inspect show (root sees all).
 * Undefined when the system offers neither way to tell.
 */
export async function processesUsingFile(filePath: string): Promise<FileHolder[] | undefined> {
  const target = await realpath(filePath);
  if (await exists("/proc/self/maps")) return fromProc(target);
  return fromLsof(target);
}

async function fromProc(target: string): Promise<FileHolder[]> {
  const pids = (await readdir("/proc"))
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => pid !== process.pid);
  const holders: FileHolder[] = [];
  for (const pid of pids) {
    if (await procHolds(pid, target)) holders.push({ pid, command: await procCommand(pid) });
  }
  return holders;
}

async function procHolds(pid: number, target: string): Promise<boolean> {
  // A mapping's line ends with its file's path, after the offset, device and inode columns.
  const maps = await readFile(`/proc/${pid}/maps`, "utf8").catch(() => "");
  if (maps.split("\n").some((line) => line.endsWith(` ${target}`))) return true;
  for (const fd of await readdir(`/proc/${pid}/fd`).catch(() => [] as string[])) {
    if ((await readlink(`/proc/${pid}/fd/${fd}`).catch(() => "")) === target) return true;
  }
  return false;
}

async function procCommand(pid: number): Promise<string> {
  const raw = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
  return shorten(raw.split("\0").filter(Boolean).join(" "));
}

function fromLsof(target: string): Promise<FileHolder[] | undefined> {
  return new Promise((resolve) => {
    // -F pc: one `p<pid>` line per process, then its `c<command>`; exit status 1 means none.
    execFile("lsof", ["-F", "pc", "--", target], { timeout: 10_000 }, (error, stdout) => {
      const code = (error as NodeJS.ErrnoException | null)?.code;
      if (code === "ENOENT") return resolve(undefined);
      const holders: FileHolder[] = [];
      for (const line of stdout.split("\n")) {
        if (line.startsWith("p")) holders.push({ pid: Number(line.slice(1)), command: "" });
        else if (line.startsWith("c") && holders.length > 0) holders.at(-1)!.command = shorten(line.slice(1));
      }
      resolve(holders.filter((holder) => holder.pid !== process.pid));
    });
  });
}

function shorten(command: string): string {
  return command.length > 100 ? `${command.slice(0, 100)}...` : command;
}

/** Whether the path exists; a link counts even when what it points to is gone. */
export async function exists(target: string): Promise<boolean> {
  try {
    await lstat(target);
    return true;
  } catch {
    return false;
  }
}
