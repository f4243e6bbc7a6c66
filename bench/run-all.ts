/**
 * `npm run bench [-- --quick] [-- --only ttft,rss] [-- --threads 2] [-- --skip-build] [-- --keep]
 *  [-- --wait-idle SECONDS]` (before each phase, wait up to SECONDS for the CPUs to be < 15% busy)
 *
 * Builds dist/, then measures on the generated ~0.5B Q8_0 bench model (and the tiny fixture model
 * for per-token HTTP cost), each phase bounded, and prints a table of metric | measured | target.
 * Phases: bandwidth, rss, overhead, ttft, chat, concurrency, web (the chat app in Chromium,
 * bench/web.ts), store (key admission, search, and what keys add to a request: bench/store.ts),
 * gateway (qiusuo in front of llama-server: decode, added TTFT, failover, prefix affinity:
 * bench/gateway.ts, also runnable alone), redaction (PII detectors' precision and recall on the
 * labelled corpus, and their cost: bench/redaction.ts), knowledge (document extraction and chunking
 * throughput: bench/knowledge-extract.ts), knowledgesearch (indexing pages/s with and without
 * embedding, hybrid search over 100,000 chunks on SQLite and PostgreSQL: bench/knowledge-search.ts), websearch (what web search and page fetching
 * cost in our code, against a local stand-in: bench/web-search.ts), protocols (what Responses, Anthropic and
 * Ollama cost over chat completions; rerank beside llama-server: bench/protocols.ts), sidebyside
 * (the engine beside llama.cpp's own llama-server on the same GGUF: bench/llama-side-by-side.ts),
 * enginebuild (the prebuilt llama.cpp binary beside the OpenMP build: bench/engine-build.ts),
 * kvcache (context memory and decode speed by KV-cache type: bench/kv-cache.ts), speculative
 * (decode with and without a draft model and prompt lookup: bench/speculative.ts), prefill (a
 * running stream's token gaps while a long prompt is read in chunks: bench/prefill.ts). Servers are `serve` child processes
 * on 127.0.0.1 with fresh temp data dirs (removed at the end unless --keep).
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { fileSha256 } from "../src/engines/local/file-digest.js";
import { ensureBenchModel, ensureFixtureModels } from "../test/fixtures/models.js";
import { runBandwidth, type BandwidthResult } from "./bandwidth.js";
import {
  cpuBusy,
  disposeBenchLlama,
  disposeVocabularies,
  fmt,
  mb,
  ms,
  tensorBytes,
  type TensorBytes,
} from "./common.js";
import { runConcurrency, type ConcurrencyResult } from "./concurrency.js";
import { directDecode, runDecodeOverhead, type DecodeOverheadResult } from "./decode-overhead.js";
import { runRss, type RssResult } from "./rss.js";
import { CLI_PATH, killAllServers, removeTempDirs } from "./server-process.js";
import {
  runMultiTurnTtft,
  runPromptCacheTtft,
  type MultiTurnTtftResult,
  type PromptCacheTtftResult,
} from "./ttft.js";

const PHASES = [
  "bandwidth",
  "rss",
  "overhead",
  "ttft",
  "chat",
  "concurrency",
  "web",
  "store",
  "gateway",
  "redaction",
  "knowledge",
  "knowledgesearch",
  "websearch",
  "protocols",
  "sidebyside",
  "enginebuild",
  "kvcache",
  "speculative",
  "prefill",
] as const;
type Phase = (typeof PHASES)[number];

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    only: { type: "string" },
    threads: { type: "string", default: String(Math.min(2, os.availableParallelism())) },
    "skip-build": { type: "boolean", default: false },
    keep: { type: "boolean", default: false },
    "wait-idle": { type: "string", default: "0" },
  },
});
const quick = values.quick!;
const threads = Number(values.threads);
const only = values.only?.split(",").map((name) => name.trim()) ?? [...PHASES];
for (const name of only) {
  if (!PHASES.includes(name as Phase)) {
    console.error(`unknown phase ${name}; phases: ${PHASES.join(", ")}`);
    process.exit(2);
  }
}
const enabled = (phase: Phase) => only.includes(phase);

const settings = quick
  ? {
      decodeTokens: 64,
      maxDecodeMs: 6_000,
      rounds: 1,
      tinyTokens: 128,
      ttftPrompt: 1000,
      warmRuns: 1,
      userWords: 6,
      answerTokens: 8,
      streamTokens: 32,
      reps: 1,
      bwBytes: 256 * 2 ** 20,
      bwRuns: 3,
    }
  : {
      decodeTokens: 128,
      maxDecodeMs: 12_000,
      rounds: 3,
      tinyTokens: 256,
      ttftPrompt: 2000,
      warmRuns: 3,
      userWords: 8,
      answerTokens: 16,
      streamTokens: 64,
      reps: 2,
      bwBytes: 512 * 2 ** 20,
      bwRuns: 5,
    };

const cleanup = () => {
  void killAllServers();
  if (!values.keep) removeTempDirs();
};
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    cleanup();
    process.exit(130);
  });
}

const benchStarted = performance.now();

// --- build ---------------------------------------------------------------------------------------
if (!values["skip-build"]) {
  const repo = fileURLToPath(new URL("..", import.meta.url));
  const build = spawnSync("npm", ["run", "build", "--silent"], { cwd: repo, stdio: "inherit" });
  if (build.status !== 0) {
    if (!existsSync(CLI_PATH)) {
      console.error("npm run build failed and there is no dist/ to fall back on");
      process.exit(1);
    }
    console.error("warning: npm run build failed; benchmarking the existing dist/ (may be stale)");
  }
}

const modelStarted = Date.now();
const benchModel = ensureBenchModel();
const tinyModel = ensureFixtureModels().tiny;
// An engine hashes a model file in the background after loading it (for provenance), once, then
// keeps the digest beside the file: do it here, so no phase measures decode beside a hash.
await fileSha256(benchModel);
const bytes: TensorBytes = await tensorBytes(benchModel);
console.log(
  `qiusuo bench${quick ? " --quick" : ""}: ${os.cpus()[0]?.model ?? "cpu"} x${os.availableParallelism()}, ` +
    `Node ${process.version}, threads ${threads} (server and in-process alike), load avg ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
);
console.log(
  `bench model ${benchModel}: ${mb(bytes.fileBytes)} file, ${mb(bytes.perToken)} read per decoded token (ready in ${Date.now() - modelStarted} ms)`,
);

// --- phases --------------------------------------------------------------------------------------
const errors = new Map<Phase, string>();
async function phase<T>(name: Phase, title: string, body: () => Promise<T>): Promise<T | undefined> {
  if (!enabled(name)) return undefined;
  console.log(`\n[${name}] ${title}`);
  let busy = await cpuBusy();
  const waitUntil = performance.now() + Number(values["wait-idle"]) * 1000;
  while (busy > 0.15 && performance.now() < waitUntil) busy = await cpuBusy(2000);
  if (busy > 0.15) {
    console.log(
      `  warning: the CPUs are ${(busy * 100).toFixed(0)}% busy before this phase; numbers will be low and noisy`,
    );
  }
  const started = performance.now();
  try {
    const result = await body();
    console.log(`  (${name}: ${ms(performance.now() - started)})`);
    return result;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    errors.set(name, message.split("\n")[0]!);
    console.log(`  FAILED: ${message}`);
    return undefined;
  }
}

const bandwidth: BandwidthResult | undefined = await phase("bandwidth", "memory read bandwidth", () =>
  runBandwidth({ threads, bytes: settings.bwBytes, runs: settings.bwRuns }),
);

const rss: RssResult | undefined = await phase("rss", "server RSS without a model", () =>
  runRss({ threads, samples: 4 }),
);

let overhead: DecodeOverheadResult | undefined;
let tinyOverhead: DecodeOverheadResult | undefined;
await phase(
  "overhead",
  `single-stream decode, HTTP (child process) vs in-process, ${settings.decodeTokens} tokens (or ${settings.maxDecodeMs / 1000} s) x ${settings.rounds} rounds, best round`,
  async () => {
    console.log("  bench model:");
    overhead = await runDecodeOverhead({
      label: "bench",
      modelPath: benchModel,
      threads,
      ctxSize: 1024,
      maxTokens: settings.decodeTokens,
      maxDecodeMs: settings.maxDecodeMs,
      rounds: settings.rounds,
    });
    console.log(
      `  bench model: direct ${fmt(overhead.directBest)} tok/s, HTTP ${fmt(overhead.httpBest)} tok/s, ` +
        `ratio ${fmt(overhead.httpBest / overhead.directBest, 3)}, same output: ${overhead.sameOutput ? "yes" : "no"}, ` +
        `server RSS with model ${mb(overhead.serverRssWithModel)}`,
    );
    console.log(`  tiny model, 1 thread (${settings.tinyTokens} tokens, shows the fixed per-token cost):`);
    tinyOverhead = await runDecodeOverhead({
      label: "tiny",
      modelPath: tinyModel,
      threads: 1, // a 64-dim model is all thread sync at 2 threads; 1 shows the per-token cost cleanly
      ctxSize: 1024,
      maxTokens: settings.tinyTokens,
      maxDecodeMs: settings.maxDecodeMs,
      rounds: settings.rounds,
    });
    console.log(
      `  tiny model: direct ${fmt(tinyOverhead.directBest)} tok/s, HTTP ${fmt(tinyOverhead.httpBest)} tok/s, ` +
        `HTTP cost ${fmt(1e6 / tinyOverhead.httpBest - 1e6 / tinyOverhead.directBest, 0)} us/token`,
    );
  },
);

const ttft: PromptCacheTtftResult | undefined = await phase(
  "ttft",
  `TTFT of a ~${settings.ttftPrompt}-token prompt: cold, warm, after restart (ctx 4096)`,
  () =>
    runPromptCacheTtft({
      modelPath: benchModel,
      threads,
      ctxSize: 4096,
      promptTokens: settings.ttftPrompt,
      warmRuns: settings.warmRuns,
    }),
);

const chat: MultiTurnTtftResult | undefined = await phase(
  "chat",
  "TTFT of turn 20 of a chat vs re-reading the history on a fresh server (ctx 4096)",
  () =>
    runMultiTurnTtft({
      modelPath: benchModel,
      threads,
      ctxSize: 4096,
      turns: 20,
      userWords: settings.userWords,
      answerTokens: settings.answerTokens,
    }),
);

const concurrency: ConcurrencyResult | undefined = await phase(
  "concurrency",
  `aggregate decode at 1/2/4 streams, --parallel 4, ${settings.streamTokens} tokens each`,
  () =>
    runConcurrency({
      modelPath: benchModel,
      threads,
      ctxSize: 1024,
      levels: [1, 2, 4],
      maxTokens: settings.streamTokens,
      reps: settings.reps,
    }),
);

/** Runs a bench script as its own process with --json; prints and returns the rows it reports. */
function benchProcess(script: string, args: string[]): Row[] {
  const repo = fileURLToPath(new URL("..", import.meta.url));
  const child = spawnSync("npx", ["tsx", script, "--json", ...args], {
    cwd: repo,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  if (child.status !== 0) throw new Error(`${script} exited with ${child.status}`);
  const { rows } = JSON.parse(child.stdout.trim().split("\n").at(-1)!) as { rows: Row[] };
  for (const row of rows) console.log(`  ${row[0]}: ${row[1]}`);
  return rows;
}

// The chat app runs in its own process: bench/web.ts drives Chromium and type-checks with the DOM.
const webRows: Row[] | undefined = await phase(
  "web",
  "chat app in Chromium: open a 1,000-message chat, long tasks while streaming at 50 tok/s, bundle size",
  async () => benchProcess("bench/web.ts", ["--skip-build", "--runs", quick ? "3" : "5"]),
);

// The store's figures come from bench/store.ts, run as its own process like the web phase.
const storeRows: Row[] | undefined = await phase(
  "store",
  "key admission, search over 20,000 messages, what keys and the ledger add to a request",
  async () => benchProcess("bench/store.ts", quick ? ["--conversations", "500"] : []),
);

// The gateway's figures come from bench/gateway.ts (llama-server upstreams), run as its own process.
const gatewayRows: Row[] | undefined = await phase(
  "gateway",
  "qiusuo as a gateway in front of llama-server: decode, added TTFT, failover, prefix affinity",
  async () =>
    benchProcess("bench/gateway.ts", [
      "--skip-build",
      ...(quick ? ["--rounds", "1", "--ttft-rounds", "20"] : []),
    ]),
);

// The engine beside llama-server (same GGUF, threads, context): bench/llama-side-by-side.ts.
const sideBySideRows: Row[] | undefined = await phase(
  "sidebyside",
  "qiusuo vs llama-server on the same GGUF: decode, 4 streams, arrivals, TTFT cold/warm/restart, turn 20",
  async () =>
    benchProcess("bench/llama-side-by-side.ts", [
      "--skip-build",
      "--threads",
      String(threads),
      ...(quick ? ["--quick"] : []),
    ]),
);

// Decode vs bandwidth needs an in-process decode figure; measure one if the overhead phase did not run.
let decodeTokPerSec = overhead?.directBest;
if (bandwidth && decodeTokPerSec === undefined) {
  await phase("bandwidth", "in-process decode for the bandwidth ratio", async () => {
    decodeTokPerSec = (
      await directDecode({
        modelPath: benchModel,
        threads,
        ctxSize: 1024,
        maxTokens: settings.decodeTokens,
        maxDecodeMs: settings.maxDecodeMs,
      })
    ).tokPerSec;
  });
}
await disposeVocabularies();
await disposeBenchLlama();
cleanup();

// --- table ---------------------------------------------------------------------------------------
type Row = [metric: string, measured: string, target: string, met: string];
const rows: Row[] = [];
const pct = (value: number) => `${(value * 100).toFixed(value < 0.1 ? 2 : 1)}%`;
const yes = (ok: boolean) => (ok ? "yes" : "NO");
const failed = (name: Phase, metric: string, target: string) => {
  if (enabled(name) && errors.has(name))
    rows.push([metric, `error: ${errors.get(name)!.slice(0, 60)}`, target, "-"]);
};

if (overhead) {
  rows.push([
    "HTTP overhead, single-stream decode",
    `${pct(overhead.overhead)} (HTTP ${fmt(overhead.httpBest)} vs direct ${fmt(overhead.directBest)} tok/s)`,
    "<= 3%",
    yes(overhead.overhead <= 0.03),
  ]);
  if (tinyOverhead) {
    rows.push([
      "  tiny model (1 thread): HTTP cost per token",
      `${fmt(1e6 / tinyOverhead.httpBest - 1e6 / tinyOverhead.directBest, 0)} us (${fmt(tinyOverhead.httpBest, 0)} vs ${fmt(tinyOverhead.directBest, 0)} tok/s)`,
      "-",
      "-",
    ]);
  }
} else failed("overhead", "HTTP overhead, single-stream decode", "<= 3%");

if (ttft) {
  rows.push([
    `warm TTFT, ${ttft.promptTokens}-token prompt`,
    `${pct(ttft.warmMs / ttft.coldMs)} of cold (${ms(ttft.warmMs)} vs ${ms(ttft.coldMs)})`,
    "<= 2% of cold",
    yes(ttft.warmMs <= 0.02 * ttft.coldMs),
  ]);
  rows.push([
    "TTFT after restart (disk cache)",
    `${pct(ttft.restoredMs / ttft.coldMs)} of cold (${ms(ttft.restoredMs)}, cache hit ${ttft.restoredCacheHit})`,
    "<= 5% of cold",
    yes(ttft.restoredMs <= 0.05 * ttft.coldMs),
  ]);
} else {
  failed("ttft", "warm TTFT", "<= 2% of cold");
  failed("ttft", "TTFT after restart (disk cache)", "<= 5% of cold");
}

if (chat) {
  rows.push([
    `turn-${chat.turns} TTFT (${chat.finalPromptTokens}-token history)`,
    `${pct(chat.lastTurnMs / chat.rereadMs)} of re-read (${ms(chat.lastTurnMs)} vs ${ms(chat.rereadMs)})`,
    "<= 10% of re-read",
    yes(chat.lastTurnMs <= 0.1 * chat.rereadMs),
  ]);
} else failed("chat", "turn-20 TTFT", "<= 10% of re-read");

if (concurrency) {
  const one = concurrency.aggregate.get(1)!;
  const two = concurrency.aggregate.get(2)!;
  const four = concurrency.aggregate.get(4)!;
  rows.push([
    "4 streams / 1 stream, aggregate decode (all streams decoding)",
    `${fmt(four / one, 2)}x (${fmt(one)} / ${fmt(two)} / ${fmt(four)} tok/s at 1/2/4)`,
    ">= 1.5x",
    yes(four / one >= 1.5),
  ]);
  const firstOne = concurrency.fromFirstToken.get(1)!;
  const firstFour = concurrency.fromFirstToken.get(4)!;
  rows.push([
    "  same, from the first token (later prompts included)",
    `${fmt(firstFour / firstOne, 2)}x (${fmt(firstOne)} / ${fmt(firstFour)} tok/s at 1/4)`,
    "-",
    "-",
  ]);
} else failed("concurrency", "4 streams / 1 stream", ">= 1.5x");

// PII redaction: precision/recall on the labelled corpus and the cost per KB and per token (CPU only).
const redactionRows: Row[] | undefined = await phase(
  "redaction",
  "PII redaction: precision and recall per kind on the labelled corpus, cost per KB and per token",
  async () => benchProcess("bench/redaction.ts", []),
);
// Knowledge bases: extraction throughput on the worker (PDF pages/s, Markdown/HTML/DOCX MB/s) and chunking.
const knowledgeRows: Row[] | undefined = await phase(
  "knowledge",
  "knowledge bases: document extraction throughput (PDF pages/s; Markdown, HTML, DOCX MB/s) and chunking",
  async () => benchProcess("bench/knowledge-extract.ts", ["--rounds", quick ? "3" : "5"]),
);
// Knowledge search: indexing throughput and hybrid search latency over 100,000 chunks (bench/knowledge-search.ts).
const knowledgeSearchRows: Row[] | undefined = await phase(
  "knowledgesearch",
  "knowledge bases: indexing pages/s with and without embedding; hybrid search p50/p95 over 100,000 chunks",
  async () => benchProcess("bench/knowledge-search.ts", ["--queries", quick ? "50" : "200"]),
);
// Web search: the provider's added latency and page extraction time, against a local stand-in (CPU only).
const webSearchRows: Row[] | undefined = await phase(
  "websearch",
  "web search: SearXNG provider's added latency, page fetch and readability extraction, prompt assembly",
  async () => benchProcess("bench/web-search.ts", ["--rounds", quick ? "20" : "50"]),
);
// Client protocols over chat completions, and rerank beside llama-server: bench/protocols.ts.
const protocolRows: Row[] | undefined = await phase(
  "protocols",
  "what Responses, Anthropic and Ollama add over chat completions; rerank beside llama-server",
  async () => benchProcess("bench/protocols.ts", ["--rounds", quick ? "10" : "30"]),
);
// The prebuilt llama.cpp binary beside the OpenMP build of `qiusuo build-engine`: bench/engine-build.ts.
const engineBuildRows: Row[] | undefined = await phase(
  "enginebuild",
  "llama.cpp builds: prebuilt vs OpenMP (qiusuo build-engine), decode at 1 and 2 threads, threads used",
  async () => benchProcess("bench/engine-build.ts", ["--rounds", quick ? "1" : "3"]),
);
// KV-cache quantization: memory, fitted context and decode speed at f16, q8_0, q4_0: bench/kv-cache.ts.
const kvCacheRows: Row[] | undefined = await phase(
  "kvcache",
  "KV-cache types: context memory (estimate and RSS), fitted context, decode tok/s",
  async () => benchProcess("bench/kv-cache.ts", ["--threads", String(threads), "--runs", quick ? "1" : "3"]),
);
// Speculative decoding and chunked prefill, in-process on the engine: bench/speculative.ts, bench/prefill.ts.
const speculativeRows: Row[] | undefined = await phase(
  "speculative",
  "decode with and without a draft model and prompt lookup, where drafts pay and where they cannot",
  async () =>
    benchProcess("bench/speculative.ts", ["--threads", String(threads), "--rounds", quick ? "1" : "3"]),
);
const prefillRows: Row[] | undefined = await phase(
  "prefill",
  "a running stream's token gaps while a 2,000-token prompt is read in chunks, and that prompt's TTFT",
  async () => benchProcess("bench/prefill.ts", ["--threads", String(threads), "--rounds", quick ? "1" : "3"]),
);
if (bandwidth && decodeTokPerSec !== undefined) {
  const limit = (bandwidth.bestGBs * 1e9) / bytes.perToken;
  rows.push([
    "decode / memory-bandwidth limit",
    `${pct(decodeTokPerSec / limit)} (${fmt(decodeTokPerSec)} of ${fmt(limit)} tok/s = ${fmt(bandwidth.bestGBs)} GB/s / ${mb(bytes.perToken)})`,
    ">= 50%",
    yes(decodeTokPerSec / limit >= 0.5),
  ]);
} else failed("bandwidth", "decode / memory-bandwidth limit", ">= 50%");

if (rss) {
  rows.push(["server RSS without a model", mb(rss.rss), "< 150 MB", yes(rss.rss < 150e6)]);
} else failed("rss", "server RSS without a model", "< 150 MB");

if (webRows) rows.push(...webRows);
else failed("web", "web: the chat app in Chromium", "see bench/web.ts");
if (storeRows) rows.push(...storeRows);
else failed("store", "store: key admission, search", "-");
if (gatewayRows) rows.push(...gatewayRows);
else failed("gateway", "gateway: decode, TTFT, failover, affinity", "see bench/gateway.ts");
if (sideBySideRows) rows.push(...sideBySideRows);
else failed("sidebyside", "side by side with llama-server", "see bench/llama-side-by-side.ts");
if (redactionRows) rows.push(...redactionRows);
else failed("redaction", "redaction: precision / recall", "see bench/redaction.ts");
if (knowledgeRows) rows.push(...knowledgeRows);
else failed("knowledge", "knowledge extraction throughput", "see bench/knowledge-extract.ts");
if (knowledgeSearchRows) rows.push(...knowledgeSearchRows);
else failed("knowledgesearch", "knowledge indexing and hybrid search", "see bench/knowledge-search.ts");
if (webSearchRows) rows.push(...webSearchRows);
else failed("websearch", "web search: added latency, extraction", "see bench/web-search.ts");
if (engineBuildRows) rows.push(...engineBuildRows);
if (kvCacheRows) rows.push(...kvCacheRows);
else failed("kvcache", "kvcache: memory and decode by KV-cache type", "see bench/kv-cache.ts");
if (speculativeRows) rows.push(...speculativeRows);
else
  failed("speculative", "speculative decoding: decode with and without drafts", "see bench/speculative.ts");
if (prefillRows) rows.push(...prefillRows);
else failed("prefill", "chunked prefill: token gaps and TTFT", "see bench/prefill.ts");
if (protocolRows) rows.push(...protocolRows);
else
  failed(
    "protocols",
    "protocols: Responses, Anthropic, Ollama vs chat completions",
    "see bench/protocols.ts",
  );

const header: Row = ["metric", "measured", "target", "met?"];
const widths = header.map((_, column) => Math.max(...[header, ...rows].map((row) => row[column]!.length)));
const line = (row: Row) => `| ${row.map((cell, column) => cell.padEnd(widths[column]!)).join(" | ")} |`;
console.log(`\n${line(header)}\n|${widths.map((width) => "-".repeat(width + 2)).join("|")}|`);
for (const row of rows) console.log(line(row));
console.log(
  `\ntotal ${ms(performance.now() - benchStarted)}; load avg now ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}`,
);
process.exit(errors.size > 0 ? 1 : 0);
