/**
 * Aggregate decode tokens/s with 1, 2 and 4 concurrent streams on one `serve --parallel 4` child
 * process. Each stream has its own short prompt and max_tokens; the decode phase runs from the
 * first streamed token of any stream to the end of the last stream, and counts every completion
 * token after the very first one.
 */
import { modelId, streamChat } from "./client.js";
import { fmt, log, wordSalad } from "./common.js";
import { ServerProcess, tempDataDir } from "./server-process.js";

export interface ConcurrencyOptions {
  modelPath: string;
  threads: number;
  ctxSize: number;
  levels: number[];
  maxTokens: number;
  reps: number;
}

export interface ConcurrencyResult {
  /**
   * Best steady-state aggregate decode tok/s per level: tokens streamed while every stream was
   * decoding (from the last stream's first token to the first stream's last), over that window.
   */
  aggregate: Map<number, number>;
  /** Best aggregate from the first streamed token of any stream to the end (prompts of later streams included). */
  fromFirstToken: Map<number, number>;
  /** Best total completion tokens / whole wall time (prompts included). */
  endToEnd: Map<number, number>;
}

export async function runConcurrency(options: ConcurrencyOptions): Promise<ConcurrencyResult> {
  const parallel = Math.max(...options.levels);
  const server = await ServerProcess.start({
    models: [options.modelPath],
    dataDir: tempDataDir("concurrency"),
    threads: options.threads,
    parallel,
    ctxSize: options.ctxSize,
  });
  const model = modelId(options.modelPath);
  let promptSeed = 9000;
  const round = async (streams: number, maxTokens: number) => {
    const started = performance.now();
    const timings = await Promise.all(
      Array.from({ length: streams }, () =>
        streamChat(server.url, {
          model,
          messages: [{ role: "user", content: wordSalad(12, promptSeed++) }],
          maxTokens,
        }),
      ),
    );
    const total = timings.reduce((sum, timing) => sum + timing.usage.completion_tokens, 0);
    const firstAt = Math.min(...timings.map((timing) => timing.firstDeltaAt ?? timing.endAt));
    const endAt = Math.max(...timings.map((timing) => timing.endAt));
    // The window in which all streams were decoding; deltas in it, scaled from deltas to tokens
    // (a delta can hold back part of a character and carry two tokens).
    const windowStart = Math.max(...timings.map((timing) => timing.firstDeltaAt ?? timing.endAt));
    const windowEnd = Math.min(...timings.map((timing) => timing.lastDeltaAt ?? timing.endAt));
    let inWindow = 0;
    for (const timing of timings) {
      const perDelta = timing.usage.completion_tokens / Math.max(1, timing.deltas);
      inWindow += timing.deltaTimes.filter((at) => at > windowStart && at <= windowEnd).length * perDelta;
    }
    return {
      total,
      steady: windowEnd > windowStart ? (inWindow * 1000) / (windowEnd - windowStart) : 0,
      aggregate: ((total - 1) * 1000) / (endAt - firstAt),
      endToEnd: (total * 1000) / (endAt - started),
    };
  };
  try {
    await round(parallel, 4); // warm every sequence
    const aggregate = new Map<number, number>();
    const fromFirstToken = new Map<number, number>();
    const endToEnd = new Map<number, number>();
    for (const streams of options.levels) {
      const runs = [];
      for (let rep = 0; rep < options.reps; rep++) runs.push(await round(streams, options.maxTokens));
      aggregate.set(streams, Math.max(...runs.map((run) => run.steady)));
      fromFirstToken.set(streams, Math.max(...runs.map((run) => run.aggregate)));
      endToEnd.set(streams, Math.max(...runs.map((run) => run.endToEnd)));
      log(
        `${streams} stream${streams > 1 ? "s" : " "}: ${fmt(aggregate.get(streams)!)} tok/s aggregate decode while all ` +
          `decode, best of ${runs.length} (runs ${runs.map((run) => fmt(run.steady)).join(", ")}); ` +
          `${fmt(fromFirstToken.get(streams)!)} tok/s from the first token (later prompts included); ` +
          `${runs.map((run) => run.total).join("/")} tokens; end-to-end ${fmt(endToEnd.get(streams)!)} tok/s`,
      );
    }
    return { aggregate, fromFirstToken, endToEnd };
  } finally {
    await server.stop();
  }
}
