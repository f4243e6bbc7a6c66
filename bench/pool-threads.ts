/**
 * node-llama-cpp's decode called directly on the small fixture, with libuv's pool at 4 threads
 * (Node's default) and at 1 (what `qiusuo` sets, src/cli/qiusuo.cts), at 1 and 2 llama.cpp
 * threads: per token, the time around the decode task, around the sampling task, and the rest
 * (node-llama-cpp's own JavaScript). Each setting runs in a child process of its own, since the
 * pool's size is fixed at its first use.
 *
 * `npx tsx bench/pool-threads.ts [--tokens 200] [--rounds 3]`
 */
import { spawnSync } from "node:child_process";
import { parseArgs } from "node:util";
import { getLlama, LlamaLogLevel, type LlamaContext, type Token } from "node-llama-cpp";
import { ENGINE_BUILD_CMAKE_OPTIONS } from "../src/engines/local/llama-runtime.js";
import { ensureSmallAsciiModel } from "../test/fixtures/models.js";

const { values } = parseArgs({
  options: {
    tokens: { type: "string", default: "200" },
    rounds: { type: "string", default: "3" },
    child: { type: "string" },
  },
});
const tokens = Number(values.tokens);
const rounds = Number(values.rounds);

interface Timing {
  msPerToken: number;
  decodeMs: number;
  sampleMs: number;
}

async function measure(threads: number): Promise<Timing> {
  const llama = await getLlama({
    gpu: false,
    maxThreads: threads,
    logLevel: LlamaLogLevel.error,
    build: "never",
    cmakeOptions: { ...ENGINE_BUILD_CMAKE_OPTIONS },
  });
  const model = await llama.loadModel({ modelPath: ensureSmallAsciiModel() });
  const context = await model.createContext({ contextSize: 2048, sequences: 1, threads, batchSize: 512 });
  // Time the native tasks through a proxy of the context's addon object (not a public API).
  const native = (context as unknown as { _ctx: Record<string, (...args: unknown[]) => Promise<unknown>> })
    ._ctx;
  const spent = { decode: 0, sample: 0 };
  const timed = (name: string, key: keyof typeof spent) => {
    const call = native[name]!.bind(native);
    return async (...args: unknown[]) => {
      const started = performance.now();
      const result = await call(...args);
      spent[key] += performance.now() - started;
      return result;
    };
  };
  const wrapped: Record<string, unknown> = {
    decodeBatch: timed("decodeBatch", "decode"),
    sampleToken: timed("sampleToken", "sample"),
  };
  (context as unknown as { _ctx: unknown })._ctx = new Proxy(native, {
    get: (target, property) => {
      if (typeof property === "string" && property in wrapped) return wrapped[property];
      const value = target[property as string];
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const best: Timing[] = [];
  for (let round = 0; round < rounds; round++) best.push(await run(context, spent));
  await context.dispose();
  await model.dispose();
  return best.sort((a, b) => a.msPerToken - b.msPerToken)[0]!;
}

async function run(context: LlamaContext, spent: { decode: number; sample: number }): Promise<Timing> {
  const sequence = context.getSequence();
  const prompt = context.model.tokenize("Hello there, tell me a story about something") as Token[];
  let count = 0;
  let first = 0;
  for await (const _token of sequence.evaluate(prompt, { temperature: 0 })) {
    if (count === 0) {
      first = performance.now();
      spent.decode = spent.sample = 0;
    }
    if (++count > tokens) break;
  }
  const msPerToken = (performance.now() - first) / tokens;
  sequence.dispose();
  return { msPerToken, decodeMs: spent.decode / tokens, sampleMs: spent.sample / tokens };
}

if (values.child) {
  process.stdout.write(JSON.stringify(await measure(Number(values.child))));
} else {
  console.log(`pool threads vs llama.cpp threads, small fixture, ${tokens} tokens, best of ${rounds}`);
  for (const threads of [1, 2]) {
    for (const pool of [4, 1]) {
      const child = spawnSync(
        process.execPath,
        [
          "--import",
          "tsx",
          new URL(import.meta.url).pathname,
          "--child",
          String(threads),
          "--tokens",
          String(tokens),
          "--rounds",
          String(rounds),
        ],
        { env: { ...process.env, UV_THREADPOOL_SIZE: String(pool) }, encoding: "utf8" },
      );
      if (child.status !== 0) throw new Error(child.stderr);
      const timing = JSON.parse(child.stdout) as Timing;
      const rest = timing.msPerToken - timing.decodeMs - timing.sampleMs;
      console.log(
        `  ${threads} thread(s), pool ${pool}: ${timing.msPerToken.toFixed(2)} ms a token ` +
          `(${(1000 / timing.msPerToken).toFixed(1)} tok/s): decode ${timing.decodeMs.toFixed(2)} ms, ` +
          `sample ${timing.sampleMs.toFixed(3)} ms, rest ${rest.toFixed(2)} ms`,
      );
    }
  }
}
