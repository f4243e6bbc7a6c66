// Real upstream engines for the remote-engine tests and the bench: llama.cpp's own llama-server
// (the portable build in ../shared/bin) and `qiusuo serve` worker processes, each on a free
// loopback port, ready to answer before the promise resolves.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { waitFor } from "./harness.js";
import { cleanEnv, startServe, stopServe } from "./cli-process.js";

/** llama.cpp's server binary, relative to the repository root the tests run from. */
export const LLAMA_SERVER = path.resolve("../shared/bin/llama-server");

export interface UpstreamServer {
  /** `http://127.0.0.1:PORT`, without `/v1`. */
  url: string;
  child: ChildProcess;
  /** Everything it printed so far, stdout and stderr together. */
  output(): string;
  /** SIGTERM, then SIGKILL after 5 s; resolves once the process has exited and its files are gone. */
  stop(): Promise<void>;
  /** SIGKILL at once, for tests of a replica dying; `stop()` still cleans up afterwards. */
  kill(): void;
}

/** A port no one listens on right now (the kernel picks it; a tiny race remains, as everywhere). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface LlamaServerOptions {
  /** Path of the GGUF file. Use the `scripted` fixture: random weights emit non-UTF-8, which llama-server answers with a 500. */
  model: string;
  /** The model id clients send (`--alias`). */
  alias: string;
  /** Slots (`-np`). Default 1. */
  parallel?: number;
  /** Total context shared by the slots (`-c`). Default 512 per slot. */
  ctx?: number;
  /** CPU threads (`-t`). Default 1: the test machines are small and shared. */
  threads?: number;
  /** More flags, e.g. `["--reasoning-format", "deepseek", "--jinja"]` or `["--embeddings"]`. */
  extraArgs?: string[];
  /** How long to wait for /health 200. Default 60 s. */
  timeoutMs?: number;
}

/** Starts llama-server on a free port and waits until GET /health answers 200. */
export async function startLlamaServer(options: LlamaServerOptions): Promise<UpstreamServer> {
  const port = await freePort();
  const parallel = options.parallel ?? 1;
  const args = [
    "-m",
    options.model,
    "--alias",
    options.alias,
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
    "-t",
    String(options.threads ?? 1),
    "-c",
    String(options.ctx ?? 512 * parallel),
    "-np",
    String(parallel),
    "--no-webui",
    ...(options.extraArgs ?? []),
  ];
  const child = spawn(LLAMA_SERVER, args, { stdio: ["ignore", "pipe", "pipe"], env: cleanEnv });
  const server = processHandle(child, `http://127.0.0.1:${port}`, () => {});
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`llama-server exited (${child.exitCode ?? child.signalCode}):\n${server.output()}`);
        }
        return (await healthStatus(server.url)) === 200;
      },
      () => `llama-server answers /health 200:\n${server.output().slice(-4000)}`,
      options.timeoutMs ?? 60_000,
    );
  } catch (error) {
    await server.stop();
    throw error;
  }
  return server;
}

export interface QiusuoWorkerOptions {
  /** Path of the GGUF file to serve (`--model`). */
  model: string;
  /** More `qiusuo serve` flags, e.g. `["--parallel", "2", "--ctx-size", "1024"]`. */
  args?: string[];
  env?: Record<string, string>;
}

/**
 * Starts the built CLI (`npm run build` first) as `qiusuo serve --port 0 --threads 1 --gpu off
 * --model FILE` in local mode with its own temporary data dir, and waits for /health 200.
 */
export async function startQiusuoWorker(options: QiusuoWorkerOptions): Promise<UpstreamServer> {
  const dataDir = mkdtempSync(path.join(tmpdir(), "qiusuo-worker-"));
  const removeDataDir = () => rmSync(dataDir, { recursive: true, force: true });
  try {
    const serve = await startServe(
      ["--model", options.model, "--data-dir", dataDir, "--log-level", "warn", ...(options.args ?? [])],
      { env: { QIUSUO_NO_PULL: "1", ...options.env }, ready: true },
    );
    return processHandle(serve.child, serve.url, removeDataDir, serve.output);
  } catch (error) {
    removeDataDir();
    throw error;
  }
}

async function healthStatus(url: string): Promise<number | undefined> {
  try {
    const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) });
    await response.body?.cancel();
    return response.status;
  } catch {
    return undefined;
  }
}

function processHandle(
  child: ChildProcess,
  url: string,
  cleanup: () => void,
  output?: () => string,
): UpstreamServer {
  let printed = "";
  if (output === undefined) {
    // Keep only the tail: llama-server logs every request, and a bench runs thousands.
    const keep = (chunk: Buffer) => (printed = (printed + chunk.toString()).slice(-64_000));
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
  }
  return {
    url,
    child,
    output: output ?? (() => printed),
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    },
    async stop() {
      const escalate = setTimeout(() => child.kill("SIGKILL"), 5_000);
      try {
        await stopServe(child);
      } finally {
        clearTimeout(escalate);
        cleanup();
      }
    },
  };
}
