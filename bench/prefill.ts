/**
 * `npx tsx bench/prefill.ts [--json] [--threads N] [--rounds N] [--prompt TOKENS]`: chunked
 * prefill through the engine (two sequences, greedy). A stream decodes; once it is steady, a new
 * request with a `--prompt`-token prompt (fresh each round, so no prefix cache) arrives. Measured:
 * - the running stream's largest gap between two tokens while the prompt is read, against its
 *   median gap (target: worst < 4x median);
 * - the new request's time to first token beside the running stream (its prompt read in chunks
 *   between the stream's steps) against the same prompt's TTFT with nothing else running (read
 *   whole): the cost of chunking, the stream's own tokens in the batches included (target < 10%).
 * On the small random fixture (512 wide, 8 layers). Rounds alternate the two TTFT measurements;
 * figures are medians over rounds. run-all's `prefill` phase.
 */
import os from "node:os";
import { parseArgs } from "node:util";
import { PLAIN_TEXT_OPTIONS, type ChatRequest } from "../src/core/chat.js";
import { LocalEngine } from "../src/engines/local/local-engine.js";
import { ensureSmallAsciiModel } from "../test/fixtures/models.js";
import { disposeVocabularies, fmt, median, userMessageOfTokens, vocabulary } from "./common.js";

type Row = [metric: string, measured: string, target: string, met: string];

const { values } = parseArgs({
  options: {
    json: { type: "boolean", default: false },
    threads: { type: "string", default: String(Math.min(2, os.availableParallelism())) },
    rounds: { type: "string", default: "3" },
    prompt: { type: "string", default: "2000" },
  },
});
const threads = Number(values.threads);
const rounds = Number(values.rounds);
const promptTokens = Number(values.prompt);
const say = (line: string) => (values.json ? console.error(line) : console.log(line));

const modelPath = ensureSmallAsciiModel();
const engine = new LocalEngine({ contextSize: promptTokens + 1100, parallel: 2, threads, gpu: "off" });
await engine.addModelFile(modelPath, [], { preload: true });
const model = engine.listModels()[0]!.id;
const vocab = await vocabulary(modelPath, threads);

function request(content: string, maxTokens: number): ChatRequest {
  return {
    model,
    messages: [{ role: "user", content }],
    sampling: { temperature: 0, topP: 1, seed: 1, frequencyPenalty: 0, presencePenalty: 0 },
    maxTokens,
    stop: [],
    thinking: undefined,
    ...PLAIN_TEXT_OPTIONS,
  };
}

/** Streams `chat` and calls `onToken` at each delta; resolves with the time of the first one. */
async function generate(
  chat: ChatRequest,
  onToken: (at: number) => void = () => {},
  signal = new AbortController().signal,
): Promise<number> {
  let first = 0;
  for await (const event of await engine.chat(chat, signal)) {
    if (event.type !== "text-delta" && event.type !== "reasoning-delta") continue;
    const at = performance.now();
    first ||= at;
    onToken(at);
  }
  return first;
}

/** TTFT (ms) of a fresh long prompt with nothing else running. */
async function ttftAlone(seed: number): Promise<number> {
  const started = performance.now();
  return (await generate(request(userMessageOfTokens(vocab, promptTokens, seed).content, 1))) - started;
}

/** The long prompt arriving while a stream decodes: its TTFT and the stream's gaps. */
async function beside(seed: number) {
  const long = userMessageOfTokens(vocab, promptTokens, seed).content;
  const times: number[] = [];
  let arrival: Promise<{ sentAt: number; firstAt: number }> | undefined;
  let answered = false;
  // The stream stops a few tokens after the long prompt's first token.
  const stop = new AbortController();
  await generate(
    request(`Tell a long story, number ${seed}.`, 1000),
    (at) => {
      times.push(at);
      if (times.length === 20) {
        const sentAt = performance.now();
        arrival = generate(request(long, 1)).then((firstAt) => {
          answered = true;
          return { sentAt, firstAt };
        });
      }
      if (answered) stop.abort();
    },
    stop.signal,
  ).catch(() => undefined);
  const { sentAt, firstAt } = await arrival!;
  const gaps = times.slice(1).map((at, index) => ({ at, gap: at - times[index]! }));
  // Every gap that overlaps the prefill, from the arrival to the first token.
  const during = gaps.filter(({ at, gap }) => at > sentAt && at - gap < firstAt);
  return {
    ttft: firstAt - sentAt,
    medianGap: median(gaps.filter(({ at }) => at <= sentAt).map(({ gap }) => gap)),
    worstGap: Math.max(...during.map(({ gap }) => gap), 0),
    tokensDuring: during.length,
  };
}

await ttftAlone(999); // warm up
const alone: number[] = [];
const besides: Array<Awaited<ReturnType<typeof beside>>> = [];
for (let round = 0; round < rounds; round++) {
  alone.push(await ttftAlone(2 * round + 1));
  const measured = await beside(2 * round + 2);
  besides.push(measured);
  say(
    `  round ${round + 1}: TTFT alone ${fmt(alone.at(-1)!, 0)} ms, beside a stream ${fmt(measured.ttft, 0)} ms; ` +
      `stream gaps median ${fmt(measured.medianGap)} ms, worst during the prefill ${fmt(measured.worstGap)} ms ` +
      `(${measured.tokensDuring} tokens during it)`,
  );
}

const ratio = median(besides.map((measured) => measured.worstGap / measured.medianGap));
const cost = median(besides.map((measured, round) => measured.ttft / alone[round]! - 1));
const rows: Row[] = [
  [
    `prefill: running stream's worst gap / median gap while a ${promptTokens}-token prompt is read (${threads} threads)`,
    `${fmt(ratio, 2)}x (worst ${besides.map((measured) => fmt(measured.worstGap, 0)).join(", ")} ms; median ${besides.map((measured) => fmt(measured.medianGap)).join(", ")} ms; tokens during: ${besides.map((measured) => measured.tokensDuring).join(", ")})`,
    "< 4x",
    ratio < 4 ? "yes" : "NO",
  ],
  [
    `prefill: TTFT of a ${promptTokens}-token prompt beside a decoding stream vs alone`,
    `${cost >= 0 ? "+" : ""}${fmt(cost * 100, 1)}% (${besides.map((measured) => fmt(measured.ttft, 0)).join(", ")} vs ${alone.map((value) => fmt(value, 0)).join(", ")} ms)`,
    "< +10%",
    cost < 0.1 ? "yes" : "NO",
  ],
];

await engine.dispose();
await disposeVocabularies();
if (values.json) console.log(JSON.stringify({ rows }));
else
  for (const [metric, measured, goal, met] of rows)
    console.log(`${metric}: ${measured} (target ${goal}: ${met})`);
