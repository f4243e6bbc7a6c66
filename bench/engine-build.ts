/**
 * `npx tsx bench/engine-build.ts [--json] [--rounds N] [--tokens N]`: node-llama-cpp's prebuilt CPU
 * binary beside the OpenMP build `qiusuo build-engine` compiles, on the small ASCII fixture: decode
 * tok/s at 1 and 2 threads, and how many threads the process went through while decoding (the
 * prebuilt binary starts its workers on every decode; OpenMP keeps them). Each figure is a child
 * process of its own (one runtime per process), rounds alternating the builds. Without a local
 * build (`npm run build:engine`), only the prebuilt rows are measured. `npm run bench` runs it as
 * its `enginebuild` phase.
 */
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { ENGINE_BUILD_CMAKE_OPTIONS } from "../src/engines/local/llama-runtime.js";
import { ensureSmallAsciiModel } from "../test/fixtures/models.js";
import { median } from "./common.js";

type Row = [metric: string, measured: string, target: string, met: string];
type Build = "prebuilt" | "local";
interface Measured {
  build: string;
  threads: number;
  tokPerSec: number;
  threadIds: number;
}

const { values } = parseArgs({
  options: {
    json: { type: "boolean", default: false },
    rounds: { type: "string", default: "3" },
    tokens: { type: "string", default: "200" },
    child: { type: "string" },
    threads: { type: "string", default: "1" },
  },
});
const tokens = Number(values.tokens);

if (values.child) {
  console.log(JSON.stringify(await measure(values.child as Build, Number(values.threads))));
  process.exit(0);
}

ensureSmallAsciiModel(); // made once here, not by four children at once
const runs = new Map<string, Measured[]>();
let local = true;
for (let round = 0; round < Number(values.rounds); round++) {
  for (const build of ["prebuilt", "local"] as const) {
    if (build === "local" && !local) continue;
    for (const threads of [1, 2]) {
      const result = runChild(build, threads);
      if (build === "local" && result.build !== "localBuild") {
        local = false; // no `npm run build:engine` here: getLlama fell back to the prebuilt binary
        break;
      }
      const key = `${build} ${threads}`;
      runs.set(key, [...(runs.get(key) ?? []), result]);
    }
  }
}

const figure = (build: Build, threads: number) => {
  const list = runs.get(`${build} ${threads}`);
  return (
    list && {
      tokPerSec: median(list.map((run) => run.tokPerSec)),
      threadIds: median(list.map((run) => run.threadIds)),
    }
  );
};
const rows: Row[] = [];
for (const build of ["prebuilt", "local"] as const) {
  const one = figure(build, 1);
  const two = figure(build, 2);
  if (!one || !two) continue;
  const name = build === "local" ? "OpenMP build (qiusuo build-engine)" : "prebuilt binary";
  rows.push([
    `engine build: ${name}, decode tok/s at 1 / 2 threads (small F32 fixture, ${tokens} tokens)`,
    `${one.tokPerSec.toFixed(1)} / ${two.tokPerSec.toFixed(1)} (2/1: ${(two.tokPerSec / one.tokPerSec).toFixed(2)}x)`,
    ">= 1.0x (more threads never slower)",
    two.tokPerSec >= one.tokPerSec ? "yes" : "NO",
  ]);
  rows.push([
    `engine build: ${name}, threads the process went through while decoding at 2 threads`,
    String(two.threadIds),
    "-",
    "-",
  ]);
}
if (!local) rows.push(["engine build: OpenMP build", "not built here (npm run build:engine)", "-", "-"]);
if (values.json) console.log(JSON.stringify({ rows }));
else for (const row of rows) console.log(row.join(" | "));

function runChild(build: Build, threads: number): Measured {
  const child = spawnSync(
    process.execPath,
    [
      ...["--import", "tsx", fileURLToPath(import.meta.url), "--child", build],
      ...["--threads", String(threads), "--tokens", String(tokens)],
    ],
    { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] },
  );
  if (child.status !== 0)
    throw new Error(`the ${build} run at ${threads} thread(s) exited with ${child.status}`);
  return JSON.parse(child.stdout.trim().split("\n").at(-1)!) as Measured;
}

/** One build at one thread count, in this process: decode `tokens` greedily, sampling /proc's thread list. */
async function measure(build: Build, threads: number): Promise<Measured> {
  const llama = await getLlama({
    gpu: false,
    build: "never",
    maxThreads: threads,
    logLevel: LlamaLogLevel.error,
    progressLogs: false,
    ...(build === "local" ? { cmakeOptions: { ...ENGINE_BUILD_CMAKE_OPTIONS } } : {}),
  });
  const model = await llama.loadModel({ modelPath: ensureSmallAsciiModel() });
  const context = await model.createContext({ contextSize: 1024, threads });
  const sequence = context.getSequence();
  const seen = new Set<string>();
  const watch = setInterval(() => {
    for (const id of readdirSync(`/proc/${process.pid}/task`)) seen.add(id);
  }, 2);
  let count = 0;
  let started = 0;
  for await (const _token of sequence.evaluate(model.tokenize("Once upon a time, there lived"), {
    temperature: 0,
  })) {
    if (count === 0) started = performance.now(); // decode only: from the first token on
    if (++count > tokens) break;
  }
  const tokPerSec = (tokens * 1000) / (performance.now() - started);
  clearInterval(watch);
  const result = { build: llama.buildType, threads, tokPerSec, threadIds: seen.size };
  await context.dispose();
  await model.dispose();
  await llama.dispose();
  return result;
}
