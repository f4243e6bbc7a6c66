/**
 * `npx tsx bench/protocols.ts [--json] [--rounds N] [--threads N]`: what each client protocol
 * costs over DeepSeek's chat completions for the same reply, and rerank beside llama-server.
 *
 * 1. One `qiusuo serve` on the scripted fixture (a fixed 11-token reply, so the model's time is
 *    tiny and the protocol's own work shows). Each round sends the same question once per
 *    protocol, in a rotated order: DeepSeek chat completions, OpenAI Responses (stored and
 *    `store: false`), Anthropic Messages and Ollama's /api/chat, whole and streamed. Reported:
 *    the median time per request and its difference from chat completions.
 * 2. The reranker fixture (Qwen3-Reranker-shaped, random weights) served by qiusuo and by
 *    llama.cpp's own llama-server (`--rerank --pooling rank`, same threads and context),
 *    alternating rounds: 20 documents of about 60 words against one query.
 *
 * run-all's `protocols` phase. Needs `npm run build` (run-all builds first).
 */
import { parseArgs } from "node:util";
import { ensureFixtureModels, ensureRerankerModel } from "../test/fixtures/models.js";
import { startLlamaServer } from "../test/integration/upstream-servers.js";
import { fmt, median, ms, wordSalad } from "./common.js";
import { removeTempDirs, ServerProcess, tempDataDir } from "./server-process.js";

type Row = [metric: string, measured: string, target: string, met: string];

const { values } = parseArgs({
  options: {
    json: { type: "boolean", default: false },
    rounds: { type: "string", default: "30" },
    threads: { type: "string", default: "1" },
  },
});
const rounds = Number(values.rounds);
const threads = Number(values.threads);
const log = (line: string) => (values.json ? console.error(`  ${line}`) : console.log(`  ${line}`));

const QUESTION = [{ role: "user", content: "What is six times seven?" }];

interface Call {
  name: string;
  path: string;
  body: Record<string, unknown>;
  headers?: Record<string, string>;
}

const calls: Call[] = [
  { name: "chat completions", path: "/v1/chat/completions", body: { model: "scripted", messages: QUESTION } },
  { name: "responses (stored)", path: "/v1/responses", body: { model: "scripted", input: QUESTION } },
  {
    name: "responses (store: false)",
    path: "/v1/responses",
    body: { model: "scripted", input: QUESTION, store: false },
  },
  {
    name: "anthropic messages",
    path: "/anthropic/v1/messages",
    body: { model: "scripted", max_tokens: 64, messages: QUESTION },
    headers: { "anthropic-version": "2023-06-01" },
  },
  { name: "ollama /api/chat", path: "/api/chat", body: { model: "scripted", messages: QUESTION } },
];

/** Milliseconds from sending to the last byte of the answer; fails on a non-200. */
async function timed(url: string, call: Call, stream: boolean): Promise<number> {
  const started = performance.now();
  const response = await fetch(url + call.path, {
    method: "POST",
    headers: { "content-type": "application/json", ...call.headers },
    body: JSON.stringify({ ...call.body, stream }),
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${call.name}: ${response.status} ${text.slice(0, 300)}`);
  return performance.now() - started;
}

const rows: Row[] = [];
const fixtures = ensureFixtureModels();
const reranker = ensureRerankerModel();
const server = await ServerProcess.start({
  models: [fixtures.scripted, reranker],
  dataDir: tempDataDir("protocols"),
  threads,
  parallel: 1,
  ctxSize: 2048,
});
try {
  // Protocol overhead: every protocol once per round, whole and streamed, in a rotated order.
  const samples = new Map<string, number[]>();
  for (const call of calls) await timed(server.url, call, false); // load and warm up
  for (let round = 0; round < rounds; round++) {
    for (let index = 0; index < calls.length; index++) {
      const call = calls[(index + round) % calls.length]!;
      for (const stream of [false, true]) {
        const key = `${call.name}${stream ? ", streamed" : ""}`;
        samples.set(key, [...(samples.get(key) ?? []), await timed(server.url, call, stream)]);
      }
    }
  }
  for (const stream of [false, true]) {
    const suffix = stream ? ", streamed" : "";
    const base = median(samples.get(`chat completions${suffix}`)!);
    for (const call of calls) {
      const value = median(samples.get(`${call.name}${suffix}`)!);
      const isBase = call.name === "chat completions";
      log(`${call.name}${suffix}: ${fmt(value, 2)} ms`);
      rows.push([
        `protocol: ${call.name}${suffix}, median per request`,
        `${fmt(value, 2)} ms${isBase ? "" : ` (${value >= base ? "+" : ""}${fmt(value - base, 2)} ms)`}`,
        isBase ? "-" : "<= chat completions + 2 ms",
        isBase ? "-" : value - base <= 2 ? "yes" : "NO",
      ]);
    }
  }

  // Rerank side by side with llama-server on the same GGUF, threads and context.
  const llama = await startLlamaServer({
    model: reranker,
    alias: "reranker",
    threads,
    ctx: 2048,
    // A pair must fit one batch (llama-server answers 500 otherwise), as qiusuo sizes its own.
    extraArgs: ["--rerank", "--pooling", "rank", "-b", "2048", "-ub", "2048"],
    timeoutMs: 120_000,
  });
  try {
    const documents = Array.from({ length: 20 }, (_, index) => wordSalad(60, index + 1));
    const body = JSON.stringify({ model: "reranker", query: "where is the capital", documents });
    const rerank = async (url: string) => {
      const started = performance.now();
      const response = await fetch(`${url}/v1/rerank`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
      const text = await response.text();
      if (response.status !== 200) throw new Error(`rerank at ${url}: ${response.status} ${text}`);
      return performance.now() - started;
    };
    await rerank(server.url);
    await rerank(llama.url);
    const ours: number[] = [];
    const theirs: number[] = [];
    const rerankRounds = Math.max(3, Math.round(rounds / 5));
    for (let round = 0; round < rerankRounds; round++) {
      if (round % 2 === 0) {
        ours.push(await rerank(server.url));
        theirs.push(await rerank(llama.url));
      } else {
        theirs.push(await rerank(llama.url));
        ours.push(await rerank(server.url));
      }
    }
    const ratio = median(ours) / median(theirs);
    log(`rerank 20 documents: qiusuo ${ms(median(ours))}, llama-server ${ms(median(theirs))}`);
    rows.push([
      "rerank, 20 documents x 60 words: qiusuo / llama-server time",
      `${fmt(ratio, 2)}x (${ms(median(ours))} vs ${ms(median(theirs))}, ${threads} thread)`,
      "<= 1.0x",
      ratio <= 1 ? "yes" : "NO",
    ]);
  } finally {
    await llama.stop();
  }
} finally {
  await server.stop();
  removeTempDirs();
}

if (values.json) console.log(JSON.stringify({ rows }));
else for (const row of rows) console.log(row.join(" | "));
