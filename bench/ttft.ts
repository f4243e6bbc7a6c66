/**
 * Time to first token, client-side, on `serve` child processes (max_tokens 1, streaming: to the
 * first content/reasoning delta, or to the end of the stream when the one token held no text).
 *
 * - runPromptCacheTtft: one long prompt, cold (fresh server, empty data dir), warm (same server,
 *   same prompt again) and after a restart (SIGTERM, then a new server on the same data dir).
 * - runMultiTurnTtft: a chat of N turns on one server, turn N's TTFT, vs the same final messages
 *   sent to a fresh server with an empty data dir (re-reading the whole history).
 */
import { modelId, streamChat, type StreamTiming } from "./client.js";
import { log, median, ms, userMessageOfTokens, vocabulary, wordSalad, type ChatMessage } from "./common.js";
import { ServerProcess, tempDataDir } from "./server-process.js";

export interface TtftOptions {
  modelPath: string;
  threads: number;
  ctxSize: number;
}

export interface PromptCacheTtftResult {
  promptTokens: number;
  coldMs: number;
  warmMs: number;
  restoredMs: number;
  warmCacheHit: number;
  restoredCacheHit: number;
  restartStopMs: number;
  restartStartupMs: number;
}

const describe = (timing: StreamTiming) =>
  `${ms(timing.ttftMs)} (prompt ${timing.usage.prompt_tokens}, cache hit ${timing.usage.prompt_cache_hit_tokens ?? "?"})`;

export async function runPromptCacheTtft(
  options: TtftOptions & { promptTokens: number; warmRuns: number },
): Promise<PromptCacheTtftResult> {
  const vocab = await vocabulary(options.modelPath, options.threads);
  const messages = [userMessageOfTokens(vocab, options.promptTokens, 2024)];
  const model = modelId(options.modelPath);
  const dataDir = tempDataDir("ttft");
  const serve = () =>
    ServerProcess.start({
      models: [options.modelPath],
      dataDir,
      threads: options.threads,
      parallel: 1,
      ctxSize: options.ctxSize,
    });
  const ask = (server: ServerProcess) => streamChat(server.url, { model, messages, maxTokens: 1 });

  let server = await serve();
  let restartStopMs = NaN;
  try {
    const cold = await ask(server);
    log(`cold     : ${describe(cold)}`);
    const warm: StreamTiming[] = [];
    for (let run = 0; run < options.warmRuns; run++) warm.push(await ask(server));
    const warmMs = median(warm.map((timing) => timing.ttftMs));
    log(
      `warm     : ${ms(warmMs)} median of ${warm.map((timing) => ms(timing.ttftMs)).join(", ")} (cache hit ${warm[0]!.usage.prompt_cache_hit_tokens ?? "?"})`,
    );

    const stopped = await server.stop();
    restartStopMs = stopped.ms;
    server = await serve();
    log(
      `restart  : SIGTERM exit took ${ms(stopped.ms)}${stopped.forced ? " (killed)" : ""}, new server ready in ${ms(server.startupMs)}`,
    );
    const restored = await ask(server);
    log(`restored : ${describe(restored)}`);
    return {
      promptTokens: cold.usage.prompt_tokens,
      coldMs: cold.ttftMs,
      warmMs,
      restoredMs: restored.ttftMs,
      warmCacheHit: warm[0]!.usage.prompt_cache_hit_tokens ?? NaN,
      restoredCacheHit: restored.usage.prompt_cache_hit_tokens ?? NaN,
      restartStopMs,
      restartStartupMs: server.startupMs,
    };
  } finally {
    await server.stop();
  }
}

export interface MultiTurnTtftResult {
  turns: number;
  finalPromptTokens: number;
  lastTurnMs: number;
  lastTurnCacheHit: number;
  rereadMs: number;
  turnMs: number[];
}

export async function runMultiTurnTtft(
  options: TtftOptions & { turns: number; userWords: number; answerTokens: number },
): Promise<MultiTurnTtftResult> {
  const model = modelId(options.modelPath);
  const start = () =>
    ServerProcess.start({
      models: [options.modelPath],
      dataDir: tempDataDir("chat"),
      threads: options.threads,
      parallel: 1,
      ctxSize: options.ctxSize,
    });
  const messages: ChatMessage[] = [{ role: "system", content: "You are a helpful assistant." }];
  const turnMs: number[] = [];
  let last: StreamTiming | undefined;
  const chat = await start();
  try {
    for (let turn = 1; turn <= options.turns; turn++) {
      messages.push({ role: "user", content: `Turn ${turn}: ${wordSalad(options.userWords, 500 + turn)}?` });
      const final = turn === options.turns;
      // The last turn only needs its first token.
      last = await streamChat(chat.url, { model, messages, maxTokens: final ? 1 : options.answerTokens });
      turnMs.push(last.ttftMs);
      if (!final) messages.push({ role: "assistant", content: last.content || "OK." });
    }
  } finally {
    await chat.stop();
  }
  log(`turn TTFTs: ${turnMs.map((value) => ms(value)).join(", ")}`);
  log(`turn ${options.turns}   : ${describe(last!)}`);

  const fresh = await start();
  let reread: StreamTiming;
  try {
    reread = await streamChat(fresh.url, { model, messages, maxTokens: 1 });
  } finally {
    await fresh.stop();
  }
  log(`re-read   : ${describe(reread)} (fresh server, empty data dir)`);
  return {
    turns: options.turns,
    finalPromptTokens: last!.usage.prompt_tokens,
    lastTurnMs: last!.ttftMs,
    lastTurnCacheHit: last!.usage.prompt_cache_hit_tokens ?? NaN,
    rereadMs: reread.ttftMs,
    turnMs,
  };
}
