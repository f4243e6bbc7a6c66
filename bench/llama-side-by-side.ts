/**
 * The engine side by side with llama.cpp's own llama-server (issue 12, item 2): `qiusuo serve` and
 * llama-server (../shared/bin, the llama.cpp that node-llama-cpp bundles) on the same GGUF with the
 * same threads and the same context per sequence, measured in alternating rounds (qiusuo,
 * llama-server, llama-server, qiusuo, ...) and reported as medians over rounds:
 *
 * - single-stream decode tok/s at 1 and N threads, and N threads against 1 on each side;
 * - 4-stream aggregate decode (`--parallel 4` vs `-np 4`), and against qiusuo's single stream;
 * - the last of 4 simultaneous arrivals (distinct prompts): when it gets its first token;
 * - TTFT of a long prompt cold (a prompt neither has seen), warm (the same prompt again) and after
 *   a restart (qiusuo from its disk cache; llama-server, started without --slot-save-path, keeps
 *   nothing across restarts and re-reads the prompt);
 * - turn-20 TTFT of a growing conversation (turns interleaved between the two servers).
 *
 * Models: the ~0.5B Q8_0 bench model and the small 512-dim, 8-layer F32 model, both generated with
 * ASCII-only output (llama-server answers other output with HTTP 500).
 *
 * `npx tsx bench/llama-side-by-side.ts [--json] [--quick] [--threads N] [--models bench,small]
 * [--skip-build]`. `npm run bench` runs it as its `sidebyside` phase.
 */
import { spawnSync } from "node:child_process";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ensureBenchModel, ensureSmallAsciiModel } from "../test/fixtures/models.js";
import { startLlamaServer, type UpstreamServer } from "../test/integration/upstream-servers.js";
import { modelId, streamChat, type StreamTiming, type Usage } from "./client.js";
import {
  disposeBenchLlama,
  disposeVocabularies,
  fmt,
  median,
  ms,
  userMessageOfTokens,
  vocabulary,
  wordSalad,
  type ChatMessage,
} from "./common.js";
import { removeTempDirs, ServerProcess, tempDataDir } from "./server-process.js";

const MODELS = ["bench", "small"] as const;
const { values } = parseArgs({
  options: {
    json: { type: "boolean", default: false },
    quick: { type: "boolean", default: false },
    "skip-build": { type: "boolean", default: false },
    threads: { type: "string", default: String(Math.min(2, os.availableParallelism())) },
    models: { type: "string", default: MODELS.join(",") },
  },
});
const threads = Number(values.threads);
const models = values.models!.split(",").map((name) => name.trim());
for (const name of models) {
  if (!MODELS.includes(name as (typeof MODELS)[number])) throw new Error(`unknown model ${name}`);
}
const say = (line: string) => (values.json ? process.stderr : process.stdout).write(`${line}\n`);
const log = (line: string) => say(`  ${line}`);
const loadAverage = () =>
  os
    .loadavg()
    .map((load) => load.toFixed(2))
    .join(" ");

/** Per model: the big one is slow on 2 cores, so it gets fewer tokens and shorter prompts. */
const settings = (big: boolean) =>
  values.quick
    ? {
        rounds: 1,
        decodeTokens: big ? 32 : 128,
        streamTokens: big ? 16 : 64,
        arrivalPromptTokens: big ? 100 : 300,
        ttftPromptTokens: big ? 500 : 2000,
        ttftRounds: 1,
        turns: 20,
        answerTokens: 4,
      }
    : {
        rounds: 3,
        decodeTokens: big ? 96 : 200,
        streamTokens: big ? 32 : 100,
        arrivalPromptTokens: big ? 250 : 500,
        ttftPromptTokens: 2000,
        ttftRounds: 2,
        turns: 20,
        answerTokens: big ? 8 : 16,
      };

type Row = [metric: string, measured: string, target: string, met: string];
const rows: Row[] = [];
const yes = (ok: boolean) => (ok ? "yes" : "NO");
const x = (ratio: number) => `${fmt(ratio, 2)}x`;

type SideName = "qiusuo" | "llama-server";
interface Side {
  name: SideName;
  url: string;
  model: string;
}

/** Both servers on one model with the same threads and the same context per sequence. */
class Pair {
  private constructor(
    private qiusuoServer: ServerProcess,
    private llamaServer: UpstreamServer,
    private readonly start: {
      qiusuo: () => Promise<ServerProcess>;
      llama: () => Promise<UpstreamServer>;
    },
    private readonly model: string,
  ) {}

  static async start(
    modelPath: string,
    options: { threads: number; parallel: number; ctxPerSequence: number },
  ): Promise<Pair> {
    const model = modelId(modelPath);
    const dataDir = tempDataDir("sidebyside");
    const start = {
      qiusuo: () =>
        ServerProcess.start({
          models: [modelPath],
          dataDir,
          threads: options.threads,
          parallel: options.parallel,
          ctxSize: options.ctxPerSequence,
        }),
      // llama-server's -c is shared by its slots; qiusuo's --ctx-size is per sequence.
      llama: () =>
        startLlamaServer({
          model: modelPath,
          alias: model,
          threads: options.threads,
          parallel: options.parallel,
          ctx: options.ctxPerSequence * options.parallel,
          timeoutMs: 180_000,
        }),
    };
    const qiusuo = await start.qiusuo();
    try {
      return new Pair(qiusuo, await start.llama(), start, model);
    } catch (error) {
      await qiusuo.stop(10_000);
      throw error;
    }
  }

  get sides(): [Side, Side] {
    return [
      { name: "qiusuo", url: this.qiusuoServer.url, model: this.model },
      { name: "llama-server", url: this.llamaServer.url, model: this.model },
    ];
  }

  /** Round r's order: qiusuo first on even rounds, llama-server first on odd ones. */
  order(round: number): Side[] {
    return round % 2 === 0 ? this.sides : [...this.sides].reverse();
  }

  /** Stops both and starts them again; qiusuo on the same data dir (its disk cache survives). */
  async restart(): Promise<void> {
    await Promise.all([this.qiusuoServer.stop(30_000), this.llamaServer.stop()]);
    this.qiusuoServer = await this.start.qiusuo();
    this.llamaServer = await this.start.llama();
  }

  async stop(): Promise<void> {
    await Promise.all([this.qiusuoServer.stop(30_000), this.llamaServer.stop()]);
  }

  static async with<T>(
    modelPath: string,
    options: Parameters<typeof Pair.start>[1],
    body: (pair: Pair) => Promise<T>,
  ): Promise<T> {
    const pair = await Pair.start(modelPath, options);
    try {
      for (const side of pair.sides) await ask(side, [{ role: "user", content: "Warm up." }], 4);
      return await body(pair);
    } finally {
      await pair.stop();
    }
  }
}

const ask = (side: Side, messages: readonly ChatMessage[], maxTokens: number) =>
  streamChat(side.url, { model: side.model, messages, maxTokens });

/** Prompt tokens served from cache: ours report `prompt_cache_hit_tokens`, llama-server `cached_tokens`. */
function cachedTokens(usage: Usage): number | undefined {
  const details = (usage as { prompt_tokens_details?: { cached_tokens?: number } }).prompt_tokens_details;
  return usage.prompt_cache_hit_tokens ?? details?.cached_tokens;
}

/** Decode tok/s from the first streamed token to the end of the stream. */
const decodeRate = (timing: StreamTiming) =>
  ((timing.usage.completion_tokens - 1) * 1000) / (timing.endAt - timing.firstDeltaAt!);

type PerSide = Record<SideName, number[]>;
const perSide = (): PerSide => ({ qiusuo: [], "llama-server": [] });
const medians = (samples: PerSide) => ({
  qiusuo: median(samples.qiusuo),
  llama: median(samples["llama-server"]),
});
const list = (samples: number[], unit: (value: number) => string) =>
  samples.map((value) => unit(value)).join(", ");

// --- single-stream decode ------------------------------------------------------------------------

async function singleStream(modelPath: string, label: string, big: boolean): Promise<Map<number, number>> {
  const { rounds, decodeTokens } = settings(big);
  const messages: ChatMessage[] = [
    { role: "user", content: "Once upon a time, in a land far away, there lived" },
  ];
  const qiusuoRate = new Map<number, number>();
  const llamaRate = new Map<number, number>();
  for (const count of [...new Set([1, threads])]) {
    await Pair.with(modelPath, { threads: count, parallel: 1, ctxPerSequence: 1024 }, async (pair) => {
      const rates = perSide();
      const texts = new Set<string>();
      for (let round = 0; round < rounds; round++) {
        for (const side of pair.order(round)) {
          const timing = await ask(side, messages, decodeTokens);
          rates[side.name].push(decodeRate(timing));
          texts.add(timing.content);
        }
      }
      const { qiusuo, llama } = medians(rates);
      qiusuoRate.set(count, qiusuo);
      llamaRate.set(count, llama);
      log(
        `decode, ${count} thread${count > 1 ? "s" : ""}, ${decodeTokens} tokens: qiusuo ${list(rates.qiusuo, fmt)} tok/s; ` +
          `llama-server ${list(rates["llama-server"], fmt)} tok/s; same text: ${texts.size === 1 ? "yes" : "NO"}`,
      );
      rows.push([
        `${label}: single-stream decode, ${count} thread${count > 1 ? "s" : ""}, qiusuo / llama-server`,
        `${x(qiusuo / llama)} (${fmt(qiusuo)} vs ${fmt(llama)} tok/s, medians of ${rounds})`,
        ">= 1.0x",
        yes(qiusuo >= llama),
      ]);
    });
  }
  if (threads > 1) {
    const ours = qiusuoRate.get(threads)! / qiusuoRate.get(1)!;
    const theirs = llamaRate.get(threads)! / llamaRate.get(1)!;
    rows.push([
      `${label}: decode at ${threads} threads / 1 thread (qiusuo; llama-server)`,
      `${x(ours)}; ${x(theirs)}`,
      ">= 1.0x (more threads never slower)",
      yes(ours >= 1),
    ]);
  }
  return qiusuoRate;
}

// --- four streams --------------------------------------------------------------------------------

/**
 * Aggregate decode while all streams decode: streamed tokens between the last stream's first
 * token and the first stream's last, over that window (as bench/concurrency.ts measures it).
 */
function steadyAggregate(timings: StreamTiming[]): number {
  const windowStart = Math.max(...timings.map((timing) => timing.firstDeltaAt ?? timing.endAt));
  const windowEnd = Math.min(...timings.map((timing) => timing.lastDeltaAt ?? timing.endAt));
  if (windowEnd <= windowStart) return NaN;
  let tokens = 0;
  for (const timing of timings) {
    const perDelta = timing.usage.completion_tokens / Math.max(1, timing.deltas);
    tokens += timing.deltaTimes.filter((at) => at > windowStart && at <= windowEnd).length * perDelta;
  }
  return (tokens * 1000) / (windowEnd - windowStart);
}

async function fourStreams(
  modelPath: string,
  label: string,
  big: boolean,
  singleRate: number,
): Promise<void> {
  const { rounds, streamTokens, arrivalPromptTokens } = settings(big);
  const vocab = await vocabulary(modelPath, threads);
  const seed = 7000;
  await Pair.with(modelPath, { threads, parallel: 4, ctxPerSequence: 1024 }, async (pair) => {
    const aggregate = perSide();
    const lastFirst = perSide();
    for (let round = 0; round < rounds; round++) {
      for (const side of pair.order(round)) {
        // Short distinct prompts, so the window is decode; each side gets the same prompts.
        const shortSeed = seed + 100 * round;
        const timings = await Promise.all(
          [0, 1, 2, 3].map((stream) =>
            ask(side, [{ role: "user", content: wordSalad(12, shortSeed + stream) }], streamTokens),
          ),
        );
        aggregate[side.name].push(steadyAggregate(timings));
      }
    }
    for (let round = 0; round < rounds; round++) {
      for (const side of pair.order(round)) {
        // Four distinct prompts arriving together, each answered with a stream of streamTokens.
        const prompts = [0, 1, 2, 3].map((stream) =>
          userMessageOfTokens(vocab, arrivalPromptTokens, seed + 1000 * (round + 1) + stream),
        );
        const startAt = performance.now();
        const timings = await Promise.all(prompts.map((prompt) => ask(side, [prompt], streamTokens)));
        lastFirst[side.name].push(
          Math.max(...timings.map((timing) => timing.startAt + timing.ttftMs)) - startAt,
        );
      }
    }
    const agg = medians(aggregate);
    const last = medians(lastFirst);
    log(
      `4 streams x ${streamTokens} tokens, aggregate while all decode: qiusuo ${list(aggregate.qiusuo, fmt)} tok/s; ` +
        `llama-server ${list(aggregate["llama-server"], fmt)} tok/s`,
    );
    log(
      `4 simultaneous ~${arrivalPromptTokens}-token prompts, last first token: qiusuo ${list(lastFirst.qiusuo, ms)}; ` +
        `llama-server ${list(lastFirst["llama-server"], ms)}`,
    );
    rows.push([
      `${label}: 4-stream aggregate decode (${threads} threads), qiusuo / llama-server`,
      `${x(agg.qiusuo / agg.llama)} (${fmt(agg.qiusuo)} vs ${fmt(agg.llama)} tok/s, medians of ${rounds})`,
      ">= 1.0x",
      yes(agg.qiusuo >= agg.llama),
    ]);
    rows.push([
      `${label}: qiusuo 4-stream aggregate / its single stream (${threads} threads)`,
      `${x(agg.qiusuo / singleRate)} (${fmt(agg.qiusuo)} vs ${fmt(singleRate)} tok/s)`,
      ">= 1.5x",
      yes(agg.qiusuo >= 1.5 * singleRate),
    ]);
    rows.push([
      `${label}: last of 4 simultaneous arrivals (~${arrivalPromptTokens}-token prompts) gets its first token`,
      `qiusuo ${ms(last.qiusuo)} vs llama-server ${ms(last.llama)} (${x(last.qiusuo / last.llama)})`,
      "<= llama-server",
      yes(last.qiusuo <= last.llama),
    ]);
  });
}

// --- TTFT: cold, warm, after a restart; turn 20 -----------------------------------------------------

async function ttft(modelPath: string, label: string, big: boolean): Promise<void> {
  const { ttftPromptTokens, ttftRounds, turns, answerTokens } = settings(big);
  const vocab = await vocabulary(modelPath, threads);
  const ctxPerSequence = 4096;
  await Pair.with(modelPath, { threads, parallel: 1, ctxPerSequence }, async (pair) => {
    const cold = perSide();
    const warm = perSide();
    const hits: Record<SideName, Array<number | undefined>> = { qiusuo: [], "llama-server": [] };
    let prompt: ChatMessage | undefined;
    let promptTokens = 0;
    for (let round = 0; round < ttftRounds; round++) {
      // A prompt neither server has seen (a different seed changes it from the first word).
      prompt = userMessageOfTokens(vocab, ttftPromptTokens, 4242 + round);
      for (const side of pair.order(round)) {
        const first = await ask(side, [prompt], 1);
        const again = await ask(side, [prompt], 1);
        cold[side.name].push(first.ttftMs);
        warm[side.name].push(again.ttftMs);
        hits[side.name].push(cachedTokens(again.usage));
        promptTokens = first.usage.prompt_tokens;
      }
    }
    const coldMs = medians(cold);
    const warmMs = medians(warm);
    log(
      `${promptTokens}-token prompt, cold: qiusuo ${list(cold.qiusuo, ms)}; llama-server ${list(cold["llama-server"], ms)}`,
    );
    log(
      `same prompt again (warm): qiusuo ${list(warm.qiusuo, ms)} (cached ${hits.qiusuo.join(", ")}); ` +
        `llama-server ${list(warm["llama-server"], ms)} (cached ${hits["llama-server"].join(", ")})`,
    );
    rows.push([
      `${label}: cold TTFT, ${promptTokens}-token prompt, qiusuo / llama-server`,
      `${x(coldMs.qiusuo / coldMs.llama)} (${ms(coldMs.qiusuo)} vs ${ms(coldMs.llama)})`,
      "-",
      "-",
    ]);
    rows.push([
      `${label}: warm TTFT (the same prompt again), qiusuo / llama-server`,
      `${x(warmMs.qiusuo / warmMs.llama)} (${fmt(warmMs.qiusuo, 1)} vs ${fmt(warmMs.llama, 1)} ms, medians of ${ttftRounds})`,
      "<= 1.0x",
      yes(warmMs.qiusuo <= warmMs.llama),
    ]);

    // Turns interleaved between the servers; each side keeps its own history of its own answers.
    const history: Record<SideName, ChatMessage[]> = {
      qiusuo: [{ role: "system", content: "You are a helpful assistant." }],
      "llama-server": [{ role: "system", content: "You are a helpful assistant." }],
    };
    const turnMs = perSide();
    let last: Partial<Record<SideName, StreamTiming>> = {};
    for (let turn = 1; turn <= turns; turn++) {
      const final = turn === turns;
      for (const side of pair.order(turn)) {
        const messages = history[side.name];
        messages.push({ role: "user", content: `Turn ${turn}: ${wordSalad(8, 500 + turn)}?` });
        const timing = await ask(side, messages, final ? 1 : answerTokens);
        turnMs[side.name].push(timing.ttftMs);
        if (final) last = { ...last, [side.name]: timing };
        else messages.push({ role: "assistant", content: timing.content || "OK." });
      }
    }
    const lastQ = last.qiusuo!;
    const lastL = last["llama-server"]!;
    const tail = (samples: number[]) => median(samples.slice(-5));
    log(
      `turn ${turns} (${lastQ.usage.prompt_tokens}-token history): qiusuo ${ms(lastQ.ttftMs)} (cached ${cachedTokens(lastQ.usage)}); ` +
        `llama-server ${ms(lastL.ttftMs)} (cached ${cachedTokens(lastL.usage)}); median of the last 5 turns ` +
        `${ms(tail(turnMs.qiusuo))} vs ${ms(tail(turnMs["llama-server"]))}`,
    );
    rows.push([
      `${label}: turn-${turns} TTFT of a growing chat (${lastQ.usage.prompt_tokens}-token history), qiusuo / llama-server`,
      `${x(lastQ.ttftMs / lastL.ttftMs)} (${fmt(lastQ.ttftMs, 1)} vs ${fmt(lastL.ttftMs, 1)} ms; last 5 turns' medians ` +
        `${fmt(tail(turnMs.qiusuo), 1)} vs ${fmt(tail(turnMs["llama-server"]), 1)} ms)`,
      "-",
      "-",
    ]);

    // After a restart: the last long prompt again. qiusuo reads its disk cache; llama-server,
    // without --slot-save-path, has no cache across restarts and reads the prompt again.
    await pair.restart();
    const restored: Partial<Record<SideName, StreamTiming>> = {};
    for (const side of pair.order(0)) restored[side.name] = await ask(side, [prompt!], 1);
    const restoredQ = restored.qiusuo!;
    const restoredL = restored["llama-server"]!;
    log(
      `after a restart: qiusuo ${ms(restoredQ.ttftMs)} (cached ${cachedTokens(restoredQ.usage)}); ` +
        `llama-server ${ms(restoredL.ttftMs)} (cached ${cachedTokens(restoredL.usage)})`,
    );
    rows.push([
      `${label}: TTFT after a restart, qiusuo (disk cache) / llama-server (re-reads; no --slot-save-path)`,
      `${fmt(restoredQ.ttftMs / restoredL.ttftMs, 3)}x (${ms(restoredQ.ttftMs)} vs ${ms(restoredL.ttftMs)})`,
      "<= 0.1x",
      yes(restoredQ.ttftMs <= 0.1 * restoredL.ttftMs),
    ]);
  });
}

// --- main ----------------------------------------------------------------------------------------

if (!values["skip-build"]) {
  const repo = fileURLToPath(new URL("..", import.meta.url));
  const build = spawnSync("npm", ["run", "build", "--silent"], { cwd: repo, stdio: "inherit" });
  if (build.status !== 0) throw new Error("npm run build failed");
}
const started = performance.now();
const loadBefore = loadAverage();
say(
  `side by side with llama-server${values.quick ? " --quick" : ""}: ${os.cpus()[0]?.model ?? "cpu"} x${os.availableParallelism()}, ` +
    `Node ${process.version}, threads ${threads}, load avg ${loadBefore}`,
);
const modelFiles = {
  bench: { label: "0.5B Q8_0", big: true, path: () => ensureBenchModel(undefined, { asciiOutput: true }) },
  small: { label: "small F32 (512x8)", big: false, path: () => ensureSmallAsciiModel() },
};
try {
  for (const name of models as Array<keyof typeof modelFiles>) {
    const { label, big, path } = modelFiles[name];
    const modelPath = path();
    say(`[sidebyside] ${label}: ${modelPath}`);
    const single = await singleStream(modelPath, label, big);
    await fourStreams(modelPath, label, big, single.get(threads)!);
    await ttft(modelPath, label, big);
  }
} finally {
  removeTempDirs();
  await disposeVocabularies();
  await disposeBenchLlama();
}
const loadAfter = loadAverage();
rows.push([
  "side by side: load average (1, 5, 15 min) before; after",
  `${loadBefore}; ${loadAfter}`,
  "-",
  "-",
]);
say(`  (sidebyside: ${ms(performance.now() - started)})`);
if (values.json) console.log(JSON.stringify({ rows }));
else
  for (const row of rows)
    console.log(`${row[0]}: ${row[1]}${row[2] === "-" ? "" : ` (target ${row[2]}, met: ${row[3]})`}`);
