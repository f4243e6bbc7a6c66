/**
 * `npm run gpu-check [-- --model PATH] [-- --tokens N] [-- --threads N] [-- --pretend-gpu NAME]`
 *
 * For the day a GPU is lent: loads the generated ~0.5B Q8_0 bench model (or --model) through
 * qiusuo's own runtime with `--gpu auto` (node-llama-cpp's prebuilt binaries, never a build),
 * reports the backend llama.cpp actually used, how many layers went to the GPU and the decode
 * tokens/s, then the same on the CPU (`--gpu off`). Exits 1 when a GPU is present but the model
 * ran on the CPU anyway: the silent fallback this check exists to catch. Without a GPU it prints
 * "no GPU found: skipped" and exits 0.
 *
 * `--pretend-gpu NAME` tests the check itself on a machine without a GPU: it acts as if nvidia-smi
 * listed NAME, so the CPU fallback that follows must fail the check.
 *
 * Each measurement runs in its own child process: a process holds one llama.cpp binary, and a
 * CUDA binary that crashes takes only its child with it.
 */
import { execFile, spawn } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { getRuntime } from "../src/engines/local/llama-runtime.js";
import { ensureBenchModel } from "../test/fixtures/models.js";

/** One child's report: what llama.cpp ran on and how fast it decoded. */
interface Measurement {
  /** node-llama-cpp's `llama.gpu`: "cuda", "vulkan", "metal", or false for the CPU. */
  backend: string | false;
  devices: string[];
  gpuLayers: number;
  totalLayers: number;
  tokensPerSecond: number;
}

/** A GPU this machine has, and the backend node-llama-cpp should pick for it. */
interface FoundGpu {
  names: string[];
  expected: "cuda" | "metal";
}

const { values } = parseArgs({
  options: {
    model: { type: "string" },
    tokens: { type: "string", default: "128" },
    threads: { type: "string", default: String(os.availableParallelism()) },
    "pretend-gpu": { type: "string" },
    // Internal: run one measurement (auto | off) and print it as JSON, or try the CUDA binary alone.
    measure: { type: "string" },
    "probe-cuda": { type: "boolean", default: false },
  },
});
const tokens = Number(values.tokens);
const threads = Number(values.threads);

if (values.measure === "auto" || values.measure === "off") {
  const result = await measure(values.measure, values.model!);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
} else if (values["probe-cuda"]) {
  await probeCuda();
} else {
  process.exitCode = await check();
}

async function check(): Promise<number> {
  const gpu = await findGpu();
  if (gpu === "unreadable") {
    console.error(
      "gpu-check: an NVIDIA device node (/dev/nvidia0) is present but nvidia-smi lists no GPU: " +
        "the driver is not working, so llama.cpp can only use the CPU.",
    );
    return 1;
  }
  if (!gpu) {
    console.log("no GPU found: skipped");
    return 0;
  }
  console.log(`GPU found: ${gpu.names.join(", ")}; node-llama-cpp should use ${gpu.expected}`);
  const modelPath = values.model ?? ensureBenchModel();
  console.log(`model: ${modelPath} (${(statSync(modelPath).size / 1e6).toFixed(1)} MB), ${tokens} tokens`);

  const onGpu = await runChild(["--measure", "auto", "--model", modelPath]);
  console.log(`--gpu auto: ${describe(onGpu)}`);
  const onCpu = await runChild(["--measure", "off", "--model", modelPath]);
  console.log(`--gpu off:  ${describe(onCpu)}`);
  const ratio = onGpu.tokensPerSecond / onCpu.tokensPerSecond;
  console.log(`GPU decode is ${ratio.toFixed(1)}x the CPU's`);

  if (onGpu.backend === false) {
    console.error(
      `gpu-check: FAILED: a GPU is present but --gpu auto ran on the CPU (node-llama-cpp fell back ` +
        `without a word). ${await cudaDiagnosis(gpu)}`,
    );
    return 1;
  }
  if (onGpu.gpuLayers === 0) {
    console.error(
      `gpu-check: FAILED: the ${onGpu.backend} backend loaded but put no layer on the GPU ` +
        "(not enough free VRAM?); the model ran on the CPU.",
    );
    return 1;
  }
  if (onGpu.backend !== gpu.expected) {
    console.error(
      `gpu-check: FAILED: --gpu auto used ${onGpu.backend}, not ${gpu.expected}: the ${gpu.expected} ` +
        `binary did not load. ${await cudaDiagnosis(gpu)}`,
    );
    return 1;
  }
  if (ratio <= 1) {
    console.warn("gpu-check: warning: the GPU decoded no faster than the CPU; the model is on it, though.");
  }
  console.log(`ok: the model ran on the GPU (${onGpu.backend})`);
  return 0;
}

/** The GPU nvidia-smi lists (or Apple silicon); "unreadable" for a device node without a working driver. */
async function findGpu(): Promise<FoundGpu | "unreadable" | undefined> {
  if (values["pretend-gpu"]) return { names: [values["pretend-gpu"]], expected: "cuda" };
  if (process.platform === "darwin" && process.arch === "arm64")
    return { names: ["Apple GPU"], expected: "metal" };
  const names = await new Promise<string[]>((resolve) => {
    execFile(
      "nvidia-smi",
      ["--query-gpu=name", "--format=csv,noheader"],
      { timeout: 30_000 },
      (error, stdout) =>
        resolve(
          error
            ? []
            : stdout
                .split("\n")
                .map((line) => line.trim())
                .filter(Boolean),
        ),
    );
  });
  if (names.length > 0) return { names, expected: "cuda" };
  return existsSync("/dev/nvidia0") ? "unreadable" : undefined;
}

/** Why the CUDA binary did not load, in node-llama-cpp's words (from a child that asks for it alone). */
async function cudaDiagnosis(gpu: FoundGpu): Promise<string> {
  if (gpu.expected !== "cuda") return "";
  try {
    const { stdout, stderr } = await runChildText(["--probe-cuda"]);
    return `Loading the CUDA binary alone says: ${`${stderr}\n${stdout}`.trim() || "(nothing)"}`;
  } catch (error) {
    return `Loading the CUDA binary alone failed: ${(error as Error).message}`;
  }
}

/** In a child: getLlama({gpu: "cuda"}) alone, printing the error that "auto" swallowed. */
async function probeCuda(): Promise<void> {
  try {
    const llama = await getLlama({ gpu: "cuda", build: "never", logLevel: LlamaLogLevel.warn });
    console.log(`the CUDA binary loads (llama.gpu = ${String(llama.gpu)})`);
  } catch (error) {
    console.log(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
  }
}

/** In a child: load the model with the server's runtime options, warm up, time greedy decoding. */
async function measure(gpu: "auto" | "off", modelPath: string): Promise<Measurement> {
  const llama = await getRuntime({ gpu, maxThreads: threads });
  const model = await llama.loadModel({ modelPath });
  const context = await model.createContext({ contextSize: 512, sequences: 1, threads });
  const sequence = context.getSequence();
  const prompt = model.tokenize("Once upon a time, in a land far away, there lived");
  let count = 0;
  for await (const _token of sequence.evaluate(prompt, { temperature: 0 })) if (++count >= 8) break;
  await sequence.clearHistory();
  // Timed from the first token (the prompt's evaluation before it is not decoding).
  count = 0;
  let started = 0;
  for await (const _token of sequence.evaluate(prompt, { temperature: 0 })) {
    if (count === 0) started = performance.now();
    if (++count > tokens) break;
  }
  const seconds = (performance.now() - started) / 1000;
  const result: Measurement = {
    backend: llama.gpu,
    devices: llama.gpu === false ? [] : await llama.getGpuDeviceNames(),
    gpuLayers: model.gpuLayers,
    totalLayers: model.fileInsights.totalLayers,
    tokensPerSecond: (count - 1) / seconds,
  };
  await context.dispose();
  await model.dispose();
  return result;
}

function describe(result: Measurement): string {
  const backend =
    result.backend === false
      ? "cpu"
      : `${result.backend} (${result.devices.join(", ") || "no device named"})`;
  const layers =
    result.backend === false ? "" : `, ${result.gpuLayers}/${result.totalLayers} layers on the GPU`;
  return `backend ${backend}${layers}, decode ${result.tokensPerSecond.toFixed(1)} tokens/s`;
}

async function runChild(args: string[]): Promise<Measurement> {
  const { stdout, stderr } = await runChildText([
    ...args,
    "--tokens",
    String(tokens),
    "--threads",
    String(threads),
  ]);
  const line = stdout.trim().split("\n").at(-1) ?? "";
  try {
    return JSON.parse(line) as Measurement;
  } catch {
    throw new Error(`the measurement printed no result:\n${stdout}${stderr}`);
  }
}

/** Runs this script again with `args` (tsx's loader flags carried over) and returns what it printed. */
function runChildText(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      if (code === 0) resolve({ stdout, stderr });
      else
        reject(new Error(`gpu-check ${args.join(" ")} exited with ${signal ?? code}:\n${stderr || stdout}`));
    });
  });
}
