/**
 * `npx tsx bench/web-search.ts [--json] [--rounds N]`: what web search costs in our own code,
 * against the local stand-in (test/support/web-stand-in.ts) so no network is involved.
 * - SearXNG provider: time around `search()` minus the time the stand-in spent answering (the
 *   provider's own time): our request building, HTTP client, bounded read, JSON parse, clean-up.
 * - Page fetcher: readability's extraction alone on a typical news page (about 100 KB), a whole
 *   `fetchPage` of the same page over loopback (SSRF checks, one connection, body read,
 *   extraction), and extraction of a 2 MB page at the size limit (the worst case).
 * - The search-answer prompt for 5 fetched pages within the default budget, and citation parsing.
 * - A search turn's added latency before the first token, through the app API on the real engine:
 *   scripted fixture models (one calls `web_search`, one answers), the stand-in SearXNG answering
 *   at once; time to the first answer token with search on minus with it off, minus the
 *   provider's own time. What is left is the first model call (the tool call), our tool (fetching
 *   and extracting the top pages over loopback, the template) and reading the longer prompt.
 * Cheap (under a minute); run-all's `websearch` phase.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { Engine } from "../src/core/engine.js";
import { fetchPage, readablePage } from "../src/tools/web/fetch-page.js";
import { buildSearchAnswerPrompt, parseCitations } from "../src/tools/web/search-answer.js";
import { SearxngProvider } from "../src/tools/web/searxng-provider.js";
import type { WebSearchSetup } from "../src/tools/web/web-tools.js";
import { makeScriptedModel } from "../test/fixtures/models.js";
import { startTestServer, type TestServer } from "../test/integration/harness.js";
import { startWebStandIn, typicalPageHtml, type WebStandIn } from "../test/support/web-stand-in.js";

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
  const extraction = await time(() => readablePage(html, "bench.example", 10_000));
  rows.push([
    `web fetch: readability extraction of a typical ${kb} KB page on the page worker p50 / p95`,
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
  await readablePage(huge, "bench.example", 10_000);
  rows.push([
    "web fetch: readability extraction of a 2 MB page (the size limit), on the page worker",
    msText(performance.now() - hugeStarted),
    "-",
    "-",
  ]);

  const results = Array.from({ length: 5 }, (_, n) => ({
    title: `Result ${n + 1}`,
    url: `https://site${n}.example/`,
    snippet: "snippet",
  }));
  const pageText = (await readablePage(html, "bench.example", 10_000)).text.repeat(4);
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
  rows.push(...(await searchTurnLatency(web, Math.min(rounds, 10))));
} finally {
  await web.close();
}

/**
 * Times, from sending a message, to its first answer token, with web search on and off, each
 * `turns` times (after one warm-up of each), on an in-process server: see the header.
 */
async function searchTurnLatency(web: WebStandIn, turns: number): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), "qiusuo-bench-search-"));
  makeScriptedModel(join(dir, "searcher.gguf"), {
    script: [
      "<tool_call>",
      '\n{"name": "web_search", "arguments": {"query": "Chang\'e 6"}}',
      "\n</tool_call>",
    ],
  });
  makeScriptedModel(join(dir, "answer.gguf"), { script: ["The probe returned samples", " [citation:1]."] });
  // A scripted model says the same whatever it is asked: the call after the tool result goes to "answer".
  const engine: Engine = {
    listModels: () => server.router.listModels(),
    chat: (request, signal) =>
      server.router.chat(
        request.messages.at(-1)?.role === "tool" ? { ...request, model: "answer" } : request,
        signal,
      ),
    provenance: (model, options) => server.router.provenance!(model, options),
    dispose: async () => {},
  };
  const setup: WebSearchSetup = {
    provider: new SearxngProvider({ baseUrl: web.url }),
    allowPrivate: ["127.0.0.1/32"],
    budgetChars: 6_000,
  };
  const server: TestServer = await startTestServer({
    models: [{ file: join(dir, "searcher.gguf") }, { file: join(dir, "answer.gguf") }],
    engine: { contextSize: 16_384 },
    app: { engine, webSearch: setup },
  });
  const url = server.url;
  /** One message in a new conversation: ms to the first answer token, and to the tool's result. */
  const turn = async (webSearch: boolean) => {
    const created = await fetch(`${url}/api/conversations`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ settings: { webSearch } }),
    });
    const { id } = (await created.json()) as { id: string };
    const searchesBefore = web.searchServerMs.length;
    const started = performance.now();
    const response = await fetch(`${url}/api/conversations/${id}/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        parentId: null,
        content: "What did Chang'e 6 bring back?",
        model: webSearch ? "searcher" : "answer",
      }),
    });
    const decoder = new TextDecoder();
    let text = "";
    let firstToken: number | undefined;
    let toolCall: number | undefined;
    let toolResult: number | undefined;
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      text += decoder.decode(chunk, { stream: true });
      const now = performance.now() - started;
      if (toolCall === undefined && text.includes("event: tool-call")) toolCall = now;
      if (toolResult === undefined && text.includes("event: tool-result")) toolResult = now;
      if (firstToken === undefined && /event: delta\ndata: \{"content"/.test(text)) firstToken = now;
    }
    const providerMs = web.searchServerMs.slice(searchesBefore).reduce((sum, ms) => sum + ms, 0);
    const done = /event: done\ndata: (.+)/.exec(text)?.[1];
    const promptTokens = done
      ? (JSON.parse(done) as { usage?: { prompt_tokens?: number } }).usage?.prompt_tokens
      : 0;
    return {
      firstToken: firstToken!,
      toolCall: toolCall ?? 0,
      tool: (toolResult ?? 0) - (toolCall ?? 0) - providerMs,
      providerMs,
      promptTokens: promptTokens ?? 0,
    };
  };
  try {
    await turn(false);
    await turn(true);
    const off: number[] = [];
    const on: number[] = [];
    const tool: number[] = [];
    const provider: number[] = [];
    const callStep: number[] = [];
    let promptTokens = 0;
    for (let round = 0; round < turns; round++) {
      off.push((await turn(false)).firstToken);
      const searched = await turn(true);
      on.push(searched.firstToken - searched.providerMs);
      tool.push(searched.tool);
      provider.push(searched.providerMs);
      callStep.push(searched.toolCall);
      promptTokens = searched.promptTokens;
    }
    const added = percentile(on, 50) - percentile(off, 50);
    return [
      [
        `search turn: time to first token, search off / on (provider's own time excluded), p50 of ${turns}`,
        `${msText(percentile(off, 50))} / ${msText(percentile(on, 50))}`,
        "-",
        "-",
      ],
      [
        "search turn: added latency before the first token (on minus off, provider excluded), p50",
        msText(added),
        "-",
        "-",
      ],
      [
        "search turn: of which the web_search tool (3 pages fetched and extracted, template), p50; the provider's own",
        `${msText(percentile(tool, 50))}; ${msText(percentile(provider, 50))}`,
        "-",
        "-",
      ],
      [
        "search turn: of which the model's tool-call step (request to the tool-call event), p50",
        msText(percentile(callStep, 50)),
        "-",
        "-",
      ],
      [
        "search turn: the rest is the model reading the results (prompt tokens of both calls)",
        `${msText(added - percentile(tool, 50) - percentile(callStep, 50))} (${promptTokens} tokens)`,
        "-",
        "-",
      ],
    ];
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (values.json) console.log(JSON.stringify({ rows }));
else
  for (const row of rows) console.log(`${row[0]}: ${row[1]}${row[2] === "-" ? "" : ` (target ${row[2]})`}`);
