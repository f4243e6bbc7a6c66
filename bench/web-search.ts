/**
 * `npx tsx bench/web-search.ts [--json] [--rounds N]`: what web search costs in our own code,
 * against the local stand-in (test/support/web-stand-in.ts) so no network is involved.
 * - SearXNG provider: time around `search()` minus the time the stand-in spent answering (the
 *   provider's own time): our request building, HTTP client, bounded read, JSON parse, clean-up.
 * - Page fetcher: readability's extraction alone on a typical news page (about 100 KB), a whole
 *   `fetchPage` of the same page over loopback (SSRF checks, one connection, body read,
 *   extraction), and extraction of a 2 MB page at the size limit (the worst case).
 * - The search-answer prompt for 5 fetched pages within the default budget, and citation parsing.
 * Cheap (a few seconds); run-all's `websearch` phase.
 */
import { parseArgs } from "node:util";
import { fetchPage } from "../src/tools/web/fetch-page.js";
import { extractReadableText } from "../src/tools/web/readable-text.js";
import { buildSearchAnswerPrompt, parseCitations } from "../src/tools/web/search-answer.js";
import { SearxngProvider } from "../src/tools/web/searxng-provider.js";
import { startWebStandIn, typicalPageHtml } from "../test/support/web-stand-in.js";

type Row = [metric: string, measured: string, target: string, met: string];

const { values } = parseArgs({
  options: { json: { type: "boolean", default: false }, rounds: { type: "string", default: "50" } },
});
const rounds = Number(values.rounds);

const percentile = (samples: number[], p: number) => {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
};
const msText = (value: number) => `${value.toFixed(2)} ms`;

/** `rounds` timings of `body`, after 3 warm-up runs. */
async function time(body: () => Promise<unknown> | unknown): Promise<number[]> {
  for (let warm = 0; warm < 3; warm++) await body();
  const samples: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const started = performance.now();
    await body();
    samples.push(performance.now() - started);
  }
  return samples;
}

const web = await startWebStandIn();
const rows: Row[] = [];
try {
  const provider = new SearxngProvider({ baseUrl: web.url });
  web.searchServerMs.length = 0;
  const totals = await time(() => provider.search("嫦娥六号 samples", { limit: 10, language: "zh-CN" }));
  const own = web.searchServerMs.slice(-rounds);
  const added = totals.map((total, round) => total - own[round]!);
  rows.push([
    "web search: SearXNG provider, our added latency p50 / p95 (provider's own time excluded)",
    `${msText(percentile(added, 50))} / ${msText(percentile(added, 95))}`,
    "< 5 ms p50",
    percentile(added, 50) < 5 ? "yes" : "NO",
  ]);

  const html = typicalPageHtml();
  const kb = (Buffer.byteLength(html) / 1024).toFixed(0);
  const extraction = await time(() => extractReadableText(html));
  rows.push([
    `web fetch: readability extraction of a typical ${kb} KB page p50 / p95`,
    `${msText(percentile(extraction, 50))} / ${msText(percentile(extraction, 95))}`,
    "< 100 ms p50",
    percentile(extraction, 50) < 100 ? "yes" : "NO",
  ]);
  const fetches = await time(() => fetchPage(`${web.url}/typical`, { allowPrivate: ["127.0.0.1/32"] }));
  rows.push([
    `web fetch: whole fetchPage of the same page over loopback (guard, connect, read, extract) p50 / p95`,
    `${msText(percentile(fetches, 50))} / ${msText(percentile(fetches, 95))}`,
    "-",
    "-",
  ]);
  const hugeHtml = `<html><body><article>${`<p>${"word ".repeat(40)}</p>\n`.repeat(10_000)}</article></body></html>`;
  const huge = hugeHtml.slice(0, 2 * 1024 * 1024);
  const hugeStarted = performance.now();
  extractReadableText(huge);
  rows.push([
    "web fetch: readability extraction of a 2 MB page (the size limit)",
    msText(performance.now() - hugeStarted),
    "-",
    "-",
  ]);

  const results = Array.from({ length: 5 }, (_, n) => ({
    title: `Result ${n + 1}`,
    url: `https://site${n}.example/`,
    snippet: "snippet",
  }));
  const pageText = extractReadableText(html).text.repeat(4);
  const pages = new Map(
    results.map((result) => [
      result.url,
      { url: result.url, title: result.title, text: pageText, truncated: false },
    ]),
  );
  const answer = `${"嫦娥六号于2024年6月25日返回[citation:2]。".repeat(50)}[citation: 1][citation:3, 4]`;
  const assembly = await time(() => {
    const { sources } = buildSearchAnswerPrompt({ question: "嫦娥六号什么时候返回？", results, pages });
    parseCitations(answer, sources);
  });
  rows.push([
    "web search: prompt from 5 fetched pages (24,000-char budget) and citation parsing p50",
    msText(percentile(assembly, 50)),
    "< 5 ms",
    percentile(assembly, 50) < 5 ? "yes" : "NO",
  ]);
} finally {
  await web.close();
}

if (values.json) console.log(JSON.stringify({ rows }));
else
  for (const row of rows) console.log(`${row[0]}: ${row[1]}${row[2] === "-" ? "" : ` (target ${row[2]})`}`);
