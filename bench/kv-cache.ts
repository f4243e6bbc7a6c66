/**
 * `npx tsx bench/kv-cache.ts [--json] [--threads N] [--ctx-size TOKENS] [--runs N]`: what a
 * quantized KV cache (`qiusuo serve --cache-type`) saves and costs on the bench model, for f16,
 * q8_0 and q4_0 (K and V alike, flash attention on, one sequence):
 * - the context's memory at one context size, as node-llama-cpp estimates it
 *   (`estimateContextResourceRequirements`) and as RSS grows when llama.cpp allocates it;
 * - the context size qiusuo's fit (src/engines/local/context-fit.ts) picks for 4 sequences when
 *   512 MiB are free beside the weights;
 * - greedy decode tokens/s, the median of `--runs` runs.
 * Each measurement runs in a child process of its own, so one allocation's RSS does not hide the
 * next. run-all's `kvcache` phase; about a minute on a quiet machine.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { GgmlType } from "node-llama-cpp";
import { DEFAULT_KV_CACHE, KV_CACHE_TYPES, type KvCacheType } from "../src/core/kv-cache-settings.js";
import { fitContextSize } from "../src/engines/local/context-fit.js";
import { ggmlTypeOf } from "../src/engines/local/kv-cache.js";
import { ensureBenchModel } from "../test/fixtures/models.js";
import { benchLlama, fmt, median, renderPromptTokens } from "./common.js";

type Row = [metric: string, measured: string, target: string, met: string];

interface Measured {
  type: KvCacheType;
  estimateBytes: number;
  rssBytes: number;
  fittedContext: number;
  tokPerSec: number[];
}

const { values } = parseArgs({
  options: {
    json: { type: "boolean", default: false },
    threads: { type: "string", default: "2" },
    "ctx-size": { type: "string", default: "4096" },
    runs: { type: "string", default: "3" },
    tokens: { type: "string", default: "32" },
    child: { type: "string" },
  },
});
const threads = Number(values.threads);
const contextSize = Number(values["ctx-size"]);
const runs = Number(values.runs);
const tokens = Number(values.tokens);
/** Memory the fit plans with beside the weights: not enough for 4 × 4096 tokens of f16. */
const FIT_FREE_BYTES = 192 * 1024 ** 2;
const FIT_SEQUENCES = 4;

if (values.child) {
  console.log(JSON.stringify(await measure(values.child as KvCacheType)));
  process.exit(0);
}

// Each child measures memory once and decodes once; rounds alternate the types, so a change in
// the machine's load falls on all of them alike.
const measured: Measured[] = KV_CACHE_TYPES.map(runChild);
for (let round = 1; round < runs; round++) {
  for (const row of measured) row.tokPerSec.push(...runChild(row.type).tokPerSec);
}

const mib = (bytes: number) => `${(bytes / 1024 ** 2).toFixed(0)} MiB`;
const f16 = measured.find((row) => row.type === "f16")!;
const rows: Row[] = [];
for (const row of measured) {
  const share = row === f16 ? "" : ` (RSS ${fmt((row.rssBytes / f16.rssBytes) * 100, 0)}% of f16's)`;
  rows.push([
    `kvcache ${row.type}: context memory at ${contextSize} tokens, estimate / RSS`,
    `${mib(row.estimateBytes)} / ${mib(row.rssBytes)}${share}`,
    row === f16 ? "-" : "< f16",
    row === f16 ? "-" : row.estimateBytes < f16.estimateBytes ? "yes" : "NO",
  ]);
}
for (const row of measured) {
  rows.push([
    `kvcache ${row.type}: fitted context, ${FIT_SEQUENCES} sequences, ${mib(FIT_FREE_BYTES)} free`,
    `${row.fittedContext} tokens per sequence`,
    row === f16 ? "-" : ">= f16",
    row === f16 ? "-" : row.fittedContext >= f16.fittedContext ? "yes" : "NO",
  ]);
}
const f16Speed = median(f16.tokPerSec);
for (const row of measured) {
  const speed = median(row.tokPerSec);
  rows.push([
    `kvcache ${row.type}: decode tok/s, median of ${runs} (${threads} threads)`,
    `${fmt(speed)} (${row.tokPerSec.map((value) => fmt(value)).join(", ")})${row === f16 ? "" : `, ${fmt((speed / f16Speed) * 100, 0)}% of f16`}`,
    "-",
    "-",
  ]);
}

if (values.json) console.log(JSON.stringify({ rows }));
else for (const row of rows) console.log(`${row[0]}: ${row[1]}`);

/** A child process measuring `type`, with one decode run. */
function runChild(type: KvCacheType): Measured {
  const child = spawnSync(
    process.execPath,
    [
      ...["--import", "tsx", fileURLToPath(import.meta.url), "--child", type, "--runs", "1"],
      ...["--threads", String(threads), "--ctx-size", String(contextSize), "--tokens", String(tokens)],
    ],
    { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] },
  );
  if (child.status !== 0) throw new Error(`the ${type} run exited with ${child.status}`);
  return JSON.parse(child.stdout.trim().split("\n").at(-1)!) as Measured;
}

/** One cache type, in this process: estimate, allocate (RSS), fit, decode. */
async function measure(type: KvCacheType): Promise<Measured> {
  const modelPath = ensureBenchModel();
  const llama = await benchLlama(threads);
  const model = await llama.loadModel({ modelPath });
  const kvType: GgmlType = ggmlTypeOf(type);
  // V2 simulates the context in llama.cpp, as the fit does; the plain heuristic gives q4_0 about
  // 1.1 GB here, nine times f16, which RSS contradicts.
  const estimate = await model.fileInsights.estimateContextResourceRequirementsV2({
    contextSize,
    sequences: 1,
    modelGpuLayers: 0,
    flashAttention: true,
    kvCacheKeyType: kvType,
    kvCacheValueType: kvType,
  });
  const kvCache = { ...DEFAULT_KV_CACHE, keyType: type, valueType: type, flashAttention: "on" as const };
  const weights = await model.fileInsights.estimateModelResourceRequirementsV2({ gpuLayers: 0 });
  const fit = await fitContextSize(llama, modelPath, {
    requested: 0,
    parallel: FIT_SEQUENCES,
    kvCache,
    freeMemory: { ram: weights.cpuRam + FIT_FREE_BYTES },
  });

  const rssBefore = process.memoryUsage().rss;
  const context = await model.createContext({
    contextSize,
    sequences: 1,
    threads,
    flashAttention: true,
    experimentalKvCacheKeyType: kvType,
    experimentalKvCacheValueType: kvType,
  });
  const rssBytes = process.memoryUsage().rss - rssBefore;
  const prompt = renderPromptTokens(model, [{ role: "user", content: "Once upon a time, there lived" }]);
  const tokPerSec: number[] = [];
  for (let run = 0; run <= runs; run++) {
    const sequence = context.getSequence();
    let count = 0;
    let started = 0;
    const wanted = run === 0 ? 2 : tokens; // run 0 only warms up
    for await (const _token of sequence.evaluate(prompt, { temperature: 0 })) {
      if (count === 0) started = performance.now(); // decode only: from the first token on
      if (++count > wanted) break;
    }
    if (run > 0) tokPerSec.push((tokens * 1000) / (performance.now() - started));
    await sequence.dispose();
  }
  await context.dispose();
  await model.dispose();
  return { type, estimateBytes: estimate.cpuRam, rssBytes, fittedContext: fit.contextSize, tokPerSec };
}
