// `qiusuo serve` as a child process, as users run it: started from the built CLI, killed with
// SIGKILL or stopped with SIGTERM, and measured from /proc (resident memory, open descriptors).
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, readdirSync, readFileSync, readlinkSync } from "node:fs";
import http from "node:http";
import { fileURLToPath } from "node:url";
import { sleep } from "./client.js";
import { exchange } from "./exchange.js";

export const CLI_PATH = fileURLToPath(new URL("../../dist/cli/qiusuo.cjs", import.meta.url));
/** Runs full garbage collections in the server on SIGUSR2 (see gc-hook.mjs). */
const GC_HOOK = new URL("./gc-hook.mjs", import.meta.url).href;
/** RSS counts as settled once two reads this far apart differ by less than a MiB. */
const SETTLE_STEP_MS = 250;
/**
 * For the runner's own requests: each connection closes after its answer, so none is left open
 * in the server for the next count of its open files (fetch would keep one for the server's
 * 72-second keep-alive).
 */
const ONE_SHOT = new http.Agent({ keepAlive: false });

export interface ServeOptions {
  models: string[];
  dataDir: string;
  /** 0 for any free port. */
  port: number;
  parallel: number;
  contextSize: number;
  startTimeoutMs: number;
  /** Where everything the server prints is appended. */
  logFile: string;
}

export interface ProcessSample {
  rssBytes: number;
  /** Every open descriptor. */
  openFiles: number;
  /** Of which sockets (the listener, clients' connections). */
  sockets: number;
}

export interface HeapSample {
  heapUsedBytes: number;
  heapTotalBytes: number;
  externalBytes: number;
}

const live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

export class ServerProcess {
  url = "";
  /** From spawn to /health 200. */
  startupMs = 0;
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private outputTail = "";
  private collections = 0;
  private readonly exited: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    logFile: string,
  ) {
    live.add(child);
    const log = createWriteStream(logFile, { flags: "a" });
    const keep = (chunk: Buffer) => {
      log.write(chunk);
      this.outputTail = (this.outputTail + chunk.toString()).slice(-16_000);
    };
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    child.once("close", () => log.end()); // after the last output, unlike "exit"
    this.exited = new Promise((resolve) =>
      child.once("exit", (code, signal) => {
        this.exit = { code, signal };
        live.delete(child);
        resolve();
      }),
    );
  }

  get pid(): number {
    return this.child.pid!;
  }

  get port(): number {
    return Number(new URL(this.url).port);
  }

  output(): string {
    return this.outputTail;
  }

  /** Resolves when the process has exited, for any reason. */
  whenExited(): Promise<void> {
    return this.exited;
  }

  static async start(options: ServeOptions): Promise<ServerProcess> {
    const args = [
      "--import",
      GC_HOOK,
      CLI_PATH,
      "serve",
      "--host",
      "127.0.0.1",
      "--port",
      String(options.port),
    ];
    args.push("--data-dir", options.dataDir, "--parallel", String(options.parallel));
    args.push("--ctx-size", String(options.contextSize), "--threads", "1", "--gpu", "off");
    args.push("--max-loaded-models", String(options.models.length));
    for (const model of options.models) args.push("--model", model);
    // The parent's QIUSUO_* settings and DATABASE_URL would point the server elsewhere.
    const env: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(process.env)) {
      if (!key.startsWith("QIUSUO_") && key !== "DATABASE_URL") env[key] = value;
    }
    env.QIUSUO_NO_PULL = "1";
    const started = performance.now();
    const server = new ServerProcess(
      spawn(process.execPath, args, { env, stdio: ["ignore", "pipe", "pipe"] }),
      options.logFile,
    );
    const deadline = started + options.startTimeoutMs;
    try {
      server.url = await server.waitForUrl(deadline);
      await server.waitForReady(deadline);
    } catch (error) {
      server.kill();
      await server.exited;
      throw error;
    }
    server.startupMs = performance.now() - started;
    return server;
  }

  private async waitForUrl(deadline: number): Promise<string> {
    while (performance.now() < deadline) {
      const url = /listening on (http:\/\/\S+)/.exec(this.outputTail)?.[1];
      if (url) return url;
      if (this.exit) throw this.failure("exited before listening");
      await sleep(20);
    }
    throw this.failure("did not print its URL in time");
  }

  private async waitForReady(deadline: number): Promise<void> {
    while (performance.now() < deadline) {
      if (this.exit) throw this.failure("exited while starting");
      const answer = await exchange(ONE_SHOT, this.url, { method: "GET", path: "/health", timeoutMs: 5_000 });
      if (answer.status === 200) return;
      await sleep(50);
    }
    throw this.failure("/health did not answer 200 in time");
  }

  failure(what: string): Error {
    return new Error(
      `server ${what}; its last output:\n${this.outputTail.trim().split("\n").slice(-20).join("\n")}`,
    );
  }

  /** SIGKILL: no shutdown code runs, as in a crash or an OOM kill. */
  kill(): void {
    this.child.kill("SIGKILL");
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs: number): Promise<{ ms: number; forced: boolean; code: number | null }> {
    const started = performance.now();
    if (this.exit) return { ms: 0, forced: false, code: this.exit.code };
    this.child.kill("SIGTERM");
    let forced = false;
    const timer = setTimeout(() => {
      forced = true;
      this.kill();
    }, graceMs);
    await this.exited;
    clearTimeout(timer);
    return { ms: performance.now() - started, forced, code: this.exitCode() };
  }

  /**
   * Collects the server's garbage and waits for its RSS to settle (freed pages go back to the
   * system over a second or so), then measures it.
   */
  async settledSample(timeoutMs = 10_000): Promise<ProcessSample> {
    const deadline = performance.now() + timeoutMs;
    const marker = `soak-gc ${++this.collections}\n`;
    this.child.kill("SIGUSR2");
    while (!this.outputTail.includes(marker)) {
      if (this.exit) throw this.failure("exited while collecting garbage");
      if (performance.now() > deadline) throw this.failure("did not collect its garbage in time");
      await sleep(20);
    }
    let last = this.sample();
    while (performance.now() < deadline) {
      await sleep(SETTLE_STEP_MS);
      const next = this.sample();
      const settled = Math.abs(next.rssBytes - last.rssBytes) < 1024 * 1024;
      last = next;
      if (settled) break;
    }
    return last;
  }

  private exitCode(): number | null {
    return this.exit?.code ?? null;
  }

  /** The JS heap and external memory as the server's /metrics reports them, in bytes. */
  async heap(): Promise<HeapSample | undefined> {
    const answer = await exchange(ONE_SHOT, this.url, {
      method: "GET",
      path: "/metrics",
      timeoutMs: 5_000,
    });
    if (answer.status !== 200) return undefined;
    const text = answer.body;
    const metric = (name: string) =>
      Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text)?.[1]);
    return {
      heapUsedBytes: metric("nodejs_heap_size_used_bytes"),
      heapTotalBytes: metric("nodejs_heap_size_total_bytes"),
      externalBytes: metric("nodejs_external_memory_bytes"),
    };
  }

  sample(): ProcessSample {
    const status = readFileSync(`/proc/${this.pid}/status`, "utf8");
    const rssKb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
    const descriptors = readdirSync(`/proc/${this.pid}/fd`);
    let sockets = 0;
    for (const fd of descriptors) {
      try {
        if (readlinkSync(`/proc/${this.pid}/fd/${fd}`).startsWith("socket:")) sockets += 1;
      } catch {
        // closed between the listing and the read
      }
    }
    return { rssBytes: rssKb * 1024, openFiles: descriptors.length, sockets };
  }
}
