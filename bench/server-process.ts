/**
 * Runs `node dist/cli/qiusuo.cjs serve ...` as a child process on 127.0.0.1 with an ephemeral port:
 * waits for the printed URL and for /health, reads the child's RSS, stops it with SIGTERM (SIGKILL
 * after a grace period). Children still alive when the bench exits are killed.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { sleep } from "./common.js";

export const CLI_PATH = fileURLToPath(new URL("../dist/cli/qiusuo.cjs", import.meta.url));

export interface ServeOptions {
  /** Model files; none starts a server without a model. */
  models?: string[];
  dataDir: string;
  threads: number;
  parallel?: number;
  ctxSize?: number;
  /** More `serve` flags, e.g. `["--upstream", "pool=http://127.0.0.1:8081/v1"]`. */
  args?: string[];
  /** Extra environment (the parent's QIUSUO_* variables are not inherited). */
  env?: Record<string, string>;
  /** Wait for /health 200 (default when a model is given) or for any /health answer. */
  waitFor?: "ready" | "answer";
  startTimeoutMs?: number;
}

const live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

const tempDirs: string[] = [];

/** A fresh, empty data dir under the OS temp dir; removed by removeTempDirs(). */
export function tempDataDir(label: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `qiusuo-bench-${label}-`));
  tempDirs.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export async function killAllServers(): Promise<void> {
  for (const child of live) child.kill("SIGKILL");
}

export class ServerProcess {
  private outputTail = "";
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exited: Promise<void>;
  url = "";
  /** From spawn to /health answering as asked. */
  startupMs = 0;

  private constructor(private readonly child: ChildProcess) {
    live.add(child);
    const keep = (chunk: Buffer) => {
      this.outputTail = (this.outputTail + chunk.toString()).slice(-8000);
    };
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        this.exitInfo = { code, signal };
        live.delete(child);
        resolve();
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  output(): string {
    return this.outputTail;
  }

  static async start(options: ServeOptions): Promise<ServerProcess> {
    const args = [CLI_PATH, "serve", "--host", "127.0.0.1", "--port", "0", "--data-dir", options.dataDir];
    for (const model of options.models ?? []) args.push("--model", model);
    args.push("--threads", String(options.threads), "--gpu", "off");
    if (options.parallel) args.push("--parallel", String(options.parallel));
    if (options.ctxSize) args.push("--ctx-size", String(options.ctxSize));
    args.push(...(options.args ?? []));
    const env: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(process.env)) if (!key.startsWith("QIUSUO_")) env[key] = value;
    Object.assign(env, { QIUSUO_NO_PULL: "1" }, options.env);

    const started = performance.now();
    const server = new ServerProcess(
      spawn(process.execPath, args, { env, stdio: ["ignore", "pipe", "pipe"] }),
    );
    const deadline = started + (options.startTimeoutMs ?? 180_000);
    try {
      server.url = await server.waitForUrl(deadline);
      const waitFor = options.waitFor ?? ((options.models?.length ?? 0) > 0 ? "ready" : "answer");
      await server.waitForHealth(waitFor, deadline);
    } catch (error) {
      await server.stop(5_000);
      throw error;
    }
    server.startupMs = performance.now() - started;
    return server;
  }

  private async waitForUrl(deadline: number): Promise<string> {
    while (performance.now() < deadline) {
      const match = /listening on (https?:\/\/[^\s)]+)/.exec(this.outputTail);
      if (match) return match[1]!;
      if (this.exitInfo) throw this.failure("exited before listening");
      await sleep(20);
    }
    throw this.failure("did not print its URL in time");
  }

  private async waitForHealth(waitFor: "ready" | "answer", deadline: number): Promise<void> {
    while (performance.now() < deadline) {
      if (this.exitInfo) throw this.failure("exited while starting");
      try {
        const response = await fetch(`${this.url}/health`, { signal: AbortSignal.timeout(5_000) });
        const body = (await response.json()) as { models?: Array<{ state?: string; reason?: string }> };
        if (waitFor === "answer" || response.status === 200) return;
        const main = body.models?.[0];
        if (main?.state === "failed" || main?.state === "missing") {
          throw this.failure(`model ${main.state}: ${main.reason ?? ""}`);
        }
      } catch (error) {
        if (error instanceof Error && error.message.startsWith("server ")) throw error;
      }
      await sleep(50);
    }
    throw this.failure(`/health did not ${waitFor === "ready" ? "return 200" : "answer"} in time`);
  }

  private failure(what: string): Error {
    return new Error(
      `server ${what}; last output:\n${this.outputTail.trim().split("\n").slice(-15).join("\n")}`,
    );
  }

  /** VmRSS and VmHWM of the server process, in bytes. */
  memory(): { rss: number; hwm: number } {
    const status = readFileSync(`/proc/${this.pid}/status`, "utf8");
    const field = (name: string) =>
      Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN) * 1024;
    return { rss: field("VmRSS"), hwm: field("VmHWM") };
  }

  /** SIGTERM, then SIGKILL after `graceMs`. Resolves once the process is gone. */
  async stop(graceMs = 60_000): Promise<{ ms: number; forced: boolean; code: number | null }> {
    const started = performance.now();
    if (this.exitInfo) return { ms: 0, forced: false, code: this.exitInfo.code };
    this.child.kill("SIGTERM");
    let forced = false;
    const timer = setTimeout(() => {
      forced = true;
      this.child.kill("SIGKILL");
    }, graceMs);
    await this.exited;
    clearTimeout(timer);
    const info = this.exitInfo as { code: number | null } | undefined; // set by the exit handler
    return { ms: performance.now() - started, forced, code: info?.code ?? null };
  }
}
