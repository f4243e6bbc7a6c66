import { getLlama, LlamaLogLevel, type Llama } from "node-llama-cpp";

/**
 * One llama.cpp runtime per process. getLlama loads the native binary (about a second), so it is
 * created once, on first use, and shared by every model.
 */
let runtime: Promise<Llama> | undefined;

export interface RuntimeOptions {
  gpu: "auto" | "off";
  /** Upper bound on threads across all contexts; set explicitly because the default oversubscribes. */
  maxThreads: number;
}

export function getRuntime(options: RuntimeOptions): Promise<Llama> {
  runtime ??= getLlama({
    gpu: options.gpu === "off" ? false : "auto",
    maxThreads: options.maxThreads,
    logLevel: LlamaLogLevel.error,
    // Prebuilt binaries only: a server must never start compiling llama.cpp on its own.
    build: "never",
    progressLogs: false,
  });
  return runtime;
}

export async function disposeRuntime(): Promise<void> {
  const current = runtime;
  runtime = undefined;
  if (current) await (await current).dispose();
}
