import { getLlama, LlamaLogLevel, type Llama } from "node-llama-cpp";

/**
 * One llama.cpp runtime per process. getLlama loads the native binary (about a second), so it is
 * created once, on first use, and shared by every model.
 */
let runtime: Promise<Llama> | undefined;

/**
 * The CMake options of the CPU build `qiusuo build-engine` compiles. With OpenMP, ggml keeps its
 * worker threads between decodes; node-llama-cpp's prebuilt binaries are built without it, and
 * then every decode starts and ends its worker threads (about 200 thread ids in 200 tokens on
 * 2 threads), which on a busy or small CPU costs more than the second thread gives. getLlama
 * prefers a local build with these options and falls back to the prebuilt binary without one.
 */
export const ENGINE_BUILD_CMAKE_OPTIONS: Readonly<Record<string, string>> = { GGML_OPENMP: "ON" };

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
    // Prebuilt binaries or what `qiusuo build-engine` compiled: a server never compiles on its own.
    build: "never",
    cmakeOptions: { ...ENGINE_BUILD_CMAKE_OPTIONS },
    progressLogs: false,
  });
  return runtime;
}

/**
 * What to tell the person running a CPU server on the prebuilt binary with more than one thread:
 * that `qiusuo build-engine` makes more threads pay. Undefined when there is nothing to say.
 */
export function runtimeAdvice(llama: Llama, threads: number): string | undefined {
  if (llama.gpu !== false || llama.buildType !== "prebuilt" || threads <= 1) return undefined;
  return (
    "llama.cpp is the prebuilt CPU binary, which restarts its threads on every decode: " +
    "run `qiusuo build-engine` once (offline, a few minutes) for faster decoding with more than one thread"
  );
}

export async function disposeRuntime(): Promise<void> {
  const current = runtime;
  runtime = undefined;
  if (current) await (await current).dispose();
}
