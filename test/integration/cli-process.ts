// The built `qiusuo` command run as users run it: one-shot commands, and `qiusuo serve` as a
// child process with its output, its URL and its exit.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import path from "node:path";
import { waitFor } from "./harness.js";

export const cli = path.resolve("dist/cli/qiusuo.cjs");

/**
 * The environment without the variables that would point the commands at another store, nor the
 * thread pool size `npm test` sets (the command sets its own, src/cli/qiusuo.cts).
 */
const UNSET = new Set(["DATABASE_URL", "QIUSUO_DATA_DIR", "UV_THREADPOOL_SIZE"]);
export const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !UNSET.has(name)));

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `qiusuo ARGS...` to the end; a command that does not close its store times out. */
export function runQiusuo(
  args: string[],
  options: { input?: string; env?: Record<string, string> } = {},
): CliResult {
  const result = spawnSync(process.execPath, [cli, ...args], {
    input: options.input ?? "",
    env: { ...cleanEnv, ...options.env },
    encoding: "utf8",
    timeout: 30_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

export interface ServeProcess {
  child: ChildProcess;
  url: string;
  /** Everything it printed so far, stdout and stderr together. */
  output: () => string;
}

/**
 * Starts `qiusuo serve` on a free port and waits for the URL it prints; with `ready`, also for
 * /health to answer 200.
 */
export async function startServe(
  args: string[],
  options: { env?: Record<string, string>; ready?: boolean } = {},
): Promise<ServeProcess> {
  const child = spawn(
    process.execPath,
    [cli, "serve", "--port", "0", "--threads", "1", "--gpu", "off", ...args],
    { env: { ...cleanEnv, ...options.env }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  child.stdout!.on("data", (chunk) => (output += chunk));
  child.stderr!.on("data", (chunk) => (output += chunk));
  const server = { child, url: "", output: () => output };
  try {
    server.url = await waitForOutput(server, /listening on (http:\/\/[^\s]+)/, 30_000);
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
  if (options.ready) await waitForHealth(server.url, 200);
  return server;
}

/** Waits for the server's output to match `pattern` (it exiting first fails), and returns its first group, which the pattern must have. */
export async function waitForOutput(
  server: Pick<ServeProcess, "child" | "output">,
  pattern: RegExp,
  timeoutMs = 10_000,
): Promise<string> {
  let group: string | undefined;
  await waitFor(
    () => {
      group = pattern.exec(server.output())?.[1];
      if (group === undefined && server.child.exitCode !== null) {
        throw new Error(`serve exited with ${server.child.exitCode}:\n${server.output()}`);
      }
      return group !== undefined;
    },
    () => `the output matches ${pattern}:\n${server.output()}`,
    timeoutMs,
  );
  return group!;
}

/** Waits for /health to answer `status`, and returns its body. */
export async function waitForHealth(url: string, status: number): Promise<Record<string, any>> {
  let last: Record<string, any> = {};
  await waitFor(
    async () => {
      const response = await fetch(`${url}/health`);
      last = (await response.json()) as Record<string, any>;
      return response.status === status;
    },
    () => `/health answers ${status}: ${JSON.stringify(last)}`,
    30_000,
  );
  return last;
}

/** Signals the server (SIGTERM unless told) and returns its exit code once it has exited. */
export async function stopServe(
  child: ChildProcess,
  signal: NodeJS.Signals = "SIGTERM",
): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  child.kill(signal);
  return exited;
}
