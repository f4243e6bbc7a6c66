/**
 * `npx tsx bench/web.ts [--runs 5] [--messages 1000] [--tokens 600] [--rate 50] [--skip-build] [--json]`
 * (also the `web` phase of `npm run bench`, which runs it as a child process)
 *
 * The chat app's performance targets, measured in Chromium (Debian's, via playwright-core) against
 * the real server with a 1,000-message conversation imported through `POST /api/import`:
 * - open: navigation start to the last message's text on screen (the frame after it is in the
 *   DOM), for /c/:id in a fresh browser context each run (cold HTTP cache); target < 1 s.
 * - stream: the longest main-thread task (PerformanceObserver 'longtask') while a reply streams at
 *   exactly 50 tokens/s into that conversation; target: none over 50 ms. The stream comes from a
 *   same-origin pacing proxy (web-pacing-proxy.ts), not the engine, so the rate is exact and only
 *   the UI is measured; the rest of the API is the real server's.
 * - bundle: gzip size of index.html plus the scripts and styles it loads; target < 300 KB.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";
import type { Browser } from "playwright-core";
import { launchBrowser } from "../test/e2e/e2e-harness.js";
import { importConversations, longConversation } from "../test/e2e/sample-conversations.js";
import { AppClient, startTestServer } from "../test/integration/harness.js";
import { startPacingProxy, type PacedReply } from "./web-pacing-proxy.js";

export const WEB_TARGETS = { openMs: 1000, longTaskMs: 50, bundleGzipBytes: 300 * 1024 };

export interface WebBenchOptions {
  /** Messages in the conversation opened (default 1000). */
  messages?: number;
  /** Fresh-context opens measured (default 5). */
  runs?: number;
  /** Tokens in the streamed reply (default 600: 100 reasoning, then content). */
  streamTokens?: number;
  /** Token rate of the stream (default 50 per second). */
  tokensPerSecond?: number;
}

export interface WebBenchResult {
  messages: number;
  /** Navigation to the last message on screen, each run, ms. */
  openMs: number[];
  /** Navigation to the last message's math typeset by KaTeX (loaded lazily), each run, ms. */
  mathMs: number[];
  stream: { tokens: number; seconds: number; longTasksMs: number[]; loadLongTasks: number };
  bundle: { files: Array<{ file: string; bytes: number; gzipBytes: number }>; gzipBytes: number };
}

const WEB_DIR = new URL("../dist/web/", import.meta.url);

/** index.html and the scripts, styles and preloads it references: what a first visit downloads. */
export function initialBundle(): WebBenchResult["bundle"] {
  const html = readFileSync(new URL("index.html", WEB_DIR), "utf8");
  const referenced = [...html.matchAll(/(?:src|href)="\/(assets\/[^"]+\.(?:js|css))"/g)].map(
    (match) => match[1]!,
  );
  const files = ["index.html", ...new Set(referenced)].map((file) => {
    const bytes = readFileSync(new URL(file, WEB_DIR));
    return { file, bytes: bytes.length, gzipBytes: gzipSync(bytes).length };
  });
  return { files, gzipBytes: files.reduce((sum, file) => sum + file.gzipBytes, 0) };
}

/** A Markdown reply of about `tokens` tokens (4 characters each), with code, a list, math and a table. */
export function streamedReply(tokens: number): PacedReply {
  const section = (index: number) =>
    [
      `## Step ${index + 1}\n\nWe keep a running total and check it against the bound $a_n \\le 2^n$ at every step, `,
      "so the loop below stays linear in the input and never allocates.\n\n",
      "```ts\n",
      `function step${index}(values: number[]): number {\n  let total = 0;\n`,
      "  for (const value of values) total += value * value;\n  return Math.sqrt(total);\n}\n```\n\n",
      "- the sum of squares is never negative\n- the square root is monotone\n- so the bound holds\n\n",
      "$$\\sum_{i=1}^{n} x_i^2 \\ge 0$$\n\n",
      "| n | total |\n| --- | --- |\n| 1 | 1 |\n| 2 | 5 |\n\n",
    ].join("");
  let text = "";
  for (let index = 0; text.length < (tokens - 100) * 4; index++) text += section(index);
  const split = (source: string, count: number) =>
    Array.from({ length: count }, (_, index) => source.slice(index * 4, index * 4 + 4)).filter(Boolean);
  const reasoning = "Let me think about the bound first, then write the loop and check each step. ".repeat(6);
  return { reasoning: split(reasoning, 100), content: split(text, tokens - 100) };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

async function measureOpen(browser: Browser, url: string, leafId: string) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  // A string, not a function: tsx would add __name() helpers that the page does not define.
  await page.addInitScript(`(() => {
    // Set in the frame after the element appears: the time it is on screen.
    const seen = (selector, key) => {
      const observer = new MutationObserver(() => {
        const element = document.querySelector(selector);
        if (!element || !element.textContent) return;
        observer.disconnect();
        requestAnimationFrame(() => setTimeout(() => (window[key] = performance.now())));
      });
      observer.observe(document, { subtree: true, childList: true, characterData: true });
    };
    seen('.message[data-message-id="${leafId}"] .markdown p', "benchShown");
    seen('.message[data-message-id="${leafId}"] .katex', "benchMath");
  })()`);
  await page.goto(url);
  await page.waitForFunction(() => {
    const marks = window as unknown as { benchShown?: number; benchMath?: number };
    return marks.benchShown !== undefined && marks.benchMath !== undefined;
  });
  const result = await page.evaluate(() => {
    const marks = window as unknown as { benchShown: number; benchMath: number };
    return { shown: marks.benchShown, math: marks.benchMath };
  });
  await context.close();
  return result;
}

async function measureStream(browser: Browser, url: string, reply: PacedReply) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.addInitScript(() => {
    const tasks: Array<{ start: number; duration: number }> = [];
    (window as unknown as { benchTasks: typeof tasks }).benchTasks = tasks;
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) tasks.push({ start: entry.startTime, duration: entry.duration });
    }).observe({ type: "longtask", buffered: true });
  });
  await page.goto(url);
  await page.locator(".message.assistant[data-status=complete]").last().waitFor();
  await page.getByRole("button", { name: "DeepThink" }).click();
  await page.getByLabel("Message", { exact: true }).fill("Prove the bound, step by step.");
  const started = await page.evaluate(() => performance.now());
  await page.keyboard.press("Enter");
  await page
    .locator(".message.assistant[data-status=complete][data-message-id^=paced-reply]")
    .waitFor({ timeout: 120_000 });
  const ended = await page.evaluate(() => performance.now());
  // Long-task entries are delivered after the task; give the observer a moment.
  await page.waitForTimeout(300);
  const tasks = await page.evaluate(
    () => (window as unknown as { benchTasks: Array<{ start: number; duration: number }> }).benchTasks,
  );
  await context.close();
  return {
    // The observer's own check: tasks it saw while the 1,000-message page loaded, before the stream.
    loadLongTasks: tasks.filter((task) => task.start < started).length,
    tokens: reply.reasoning.length + reply.content.length,
    seconds: (ended - started) / 1000,
    longTasksMs: tasks
      .filter((task) => task.start >= started && task.start <= ended)
      .map((task) => task.duration),
  };
}

export async function runWebBench(options: WebBenchOptions = {}): Promise<WebBenchResult> {
  const messages = options.messages ?? 1000;
  const runs = options.runs ?? 5;
  const server = await startTestServer();
  const browser = await launchBrowser();
  const reply = streamedReply(options.streamTokens ?? 600);
  const proxy = await startPacingProxy(server.url, reply, options.tokensPerSecond ?? 50);
  try {
    const client = new AppClient(server.url);
    const title = `A chat of ${messages} messages`;
    const id = (await importConversations(client, [longConversation(messages)])).get(title)!;
    const detail = await client.request("GET", `/api/conversations/${id}`);
    const leafId = detail.json.conversation.currentLeafId as string;
    const path = `/c/${encodeURIComponent(id)}`;
    await measureOpen(browser, server.url + path, leafId); // warms the server, not the browser
    const openMs: number[] = [];
    const mathMs: number[] = [];
    for (let run = 0; run < runs; run++) {
      const { shown, math } = await measureOpen(browser, server.url + path, leafId);
      openMs.push(shown);
      mathMs.push(math);
    }
    const stream = await measureStream(browser, proxy.url + path, reply);
    return { messages, openMs, mathMs, stream, bundle: initialBundle() };
  } finally {
    await proxy.close();
    await browser.close();
    await server.close();
  }
}

/** Rows of metric | measured | target | met?, as `npm run bench` prints them. */
export function webRows(result: WebBenchResult): Array<[string, string, string, string]> {
  const ms = (value: number) => `${Math.round(value)} ms`;
  const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
  const yes = (ok: boolean) => (ok ? "yes" : "NO");
  const open = median(result.openMs);
  const longest = Math.max(0, ...result.stream.longTasksMs);
  return [
    [
      `web: open a ${result.messages}-message chat (median of ${result.openMs.length})`,
      `${ms(open)} (worst ${ms(Math.max(...result.openMs))}; math typeset ${ms(median(result.mathMs))})`,
      `< ${ms(WEB_TARGETS.openMs)}`,
      yes(open < WEB_TARGETS.openMs),
    ],
    [
      `web: longest main-thread task, streaming ${result.stream.tokens} tokens at 50/s`,
      `${result.stream.longTasksMs.length === 0 ? "no task over 50 ms" : ms(longest)} (${result.stream.longTasksMs.length} long tasks in ${result.stream.seconds.toFixed(1)} s)`,
      `<= ${ms(WEB_TARGETS.longTaskMs)}`,
      yes(longest <= WEB_TARGETS.longTaskMs),
    ],
    [
      "web: initial bundle, gzipped",
      `${kb(result.bundle.gzipBytes)} (${result.bundle.files.map((file) => `${file.file.replace("assets/", "")} ${kb(file.gzipBytes)}`).join(", ")})`,
      `< ${kb(WEB_TARGETS.bundleGzipBytes)}`,
      yes(result.bundle.gzipBytes < WEB_TARGETS.bundleGzipBytes),
    ],
  ];
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      runs: { type: "string", default: "5" },
      messages: { type: "string", default: "1000" },
      tokens: { type: "string", default: "600" },
      rate: { type: "string", default: "50" },
      "skip-build": { type: "boolean", default: false },
      /** One JSON line {result, rows} instead of the table (for `npm run bench`). */
      json: { type: "boolean", default: false },
    },
  });
  if (!values["skip-build"]) {
    const repo = fileURLToPath(new URL("..", import.meta.url));
    const build = spawnSync("npm", ["run", "build:web", "--silent"], { cwd: repo, stdio: "inherit" });
    if (build.status !== 0) process.exit(1);
  }
  const result = await runWebBench({
    runs: Number(values.runs),
    messages: Number(values.messages),
    streamTokens: Number(values.tokens),
    tokensPerSecond: Number(values.rate),
  });
  if (values.json) {
    console.log(JSON.stringify({ result, rows: webRows(result) }));
    process.exit(0);
  }
  console.log(`opens (ms): ${result.openMs.map(Math.round).join(", ")}`);
  console.log(
    `long tasks while streaming (ms): ${result.stream.longTasksMs.map(Math.round).join(", ") || "none"}`,
  );
  console.log(`long tasks while the page loaded, before the stream: ${result.stream.loadLongTasks}`);
  const header: [string, string, string, string] = ["metric", "measured", "target", "met?"];
  const rows = [header, ...webRows(result)];
  const widths = header.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const line = (row: string[]) =>
    `| ${row.map((cell, column) => cell.padEnd(widths[column]!)).join(" | ")} |`;
  console.log(`\n${line(header)}\n|${widths.map((width) => "-".repeat(width + 2)).join("|")}|`);
  for (const row of rows.slice(1)) console.log(line(row));
}
