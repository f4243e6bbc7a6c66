/**
 * Single-stream decode speed of a realistic-shape model (~0.5B parameters, Q8_0, generated):
 * node-llama-cpp called directly in-process vs the same model through qiusuo's HTTP API.
 * Prints both and their ratio from one run. `npm run bench [-- --tokens 128 --threads 2]`
 */
import os from "node:os";
import { parseArgs } from "node:util";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { ensureBenchModel } from "../test/fixtures/models.js";
import { disposeRuntime } from "../src/engines/local/llama-runtime.js";
import { LocalEngine } from "../src/engines/local/local-engine.js";
import { buildApp } from "../src/server/app.js";

const { values } = parseArgs({
  options: {
    tokens: { type: "string", default: "128" },
    threads: { type: "string", default: String(Math.min(2, os.availableParallelism())) },
    runs: { type: "string", default: "3" },
  },
});
const tokens = Number(values.tokens);
const threads = Number(values.threads);
const runs = Number(values.runs);
const prompt = "Once upon a time, in a land far away, there lived";

const started = Date.now();
const modelPath = ensureBenchModel();
console.log(
  `bench model: ${modelPath} (ready in ${Date.now() - started} ms), threads ${threads}, ${tokens} tokens x ${runs} runs`,
);

/** Decode tokens/s straight through node-llama-cpp: tokenize, evaluate greedily, count. */
async function direct(): Promise<number[]> {
  const llama = await getLlama({
    gpu: false,
    maxThreads: threads,
    logLevel: LlamaLogLevel.error,
    build: "never",
  });
  const model = await llama.loadModel({ modelPath });
  const context = await model.createContext({ contextSize: 1024, threads });
  const results: number[] = [];
  for (let run = 0; run < runs; run++) {
    const sequence = context.getSequence();
    let count = 0;
    let firstAt = 0;
    for await (const _token of sequence.evaluate(model.tokenize(prompt), { temperature: 0 })) {
      if (count === 0) firstAt = performance.now();
      if (++count > tokens) break;
    }
    // The first token's time includes the prompt; decode speed counts from it.
    results.push(((count - 1) * 1000) / (performance.now() - firstAt));
    sequence.dispose();
  }
  await context.dispose();
  await model.dispose();
  await llama.dispose();
  return results;
}

/** The same through qiusuo: a streaming request, timed from the first delta to the last. */
async function http(): Promise<number[]> {
  const engine = new LocalEngine({ contextSize: 1024, parallel: 1, threads, gpu: "off" });
  const model = await engine.addModelFile(modelPath);
  const app = await buildApp({ engine, health: engine, host: "127.0.0.1", logLevel: "error" });
  const url = await app.listen({ host: "127.0.0.1", port: 0 });
  const results: number[] = [];
  for (let run = 0; run < runs; run++) {
    const response = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: model.id,
        messages: [{ role: "user", content: prompt }],
        max_tokens: tokens + 1,
        temperature: 0,
        stream: true,
        stream_options: { include_usage: true },
      }),
    });
    const reader = response.body!.getReader();
    let firstAt = 0;
    let completionTokens = 0;
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += new TextDecoder().decode(value);
      if (firstAt === 0 && /"(reasoning_)?content":"[^"]/.test(buffer)) firstAt = performance.now();
      const usage = /"completion_tokens":(\d+)/.exec(buffer);
      if (usage) completionTokens = Number(usage[1]);
    }
    results.push(((completionTokens - 1) * 1000) / (performance.now() - firstAt));
  }
  await app.close();
  await engine.dispose();
  await disposeRuntime();
  return results;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const directRuns = await direct();
const httpRuns = await http();
const format = (values: number[]) => values.map((value) => value.toFixed(1)).join(", ");
console.log(
  `node-llama-cpp in-process : ${median(directRuns).toFixed(1)} tokens/s (runs: ${format(directRuns)})`,
);
console.log(
  `qiusuo over HTTP (stream) : ${median(httpRuns).toFixed(1)} tokens/s (runs: ${format(httpRuns)})`,
);
console.log(`ratio HTTP / direct       : ${(median(httpRuns) / median(directRuns)).toFixed(3)}`);
