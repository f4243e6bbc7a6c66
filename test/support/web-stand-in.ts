/**
 * A local stand-in for the web, for the web-search tests and bench/web-search.ts: one HTTP server
 * on 127.0.0.1 that speaks SearXNG's JSON API (GET /search, with a 403 mode as when `json` is not
 * in `search.formats`, and a hanging mode), Brave's (/res/v1/web/search) and Tavily's (POST
 * /search), and serves pages: a real article among navigation and ads, redirect chains, a page
 * that never ends, a huge page, a typical news page (for the bench), a PDF, gzip and GBK bodies.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { gzipSync } from "node:zlib";

export const BRAVE_KEY = "brave-test-key";
export const TAVILY_KEY = "tvly-test-key";

/** How /search behaves: SearXNG's documented JSON, its 403, no answer, or engines that all failed. */
export type SearchMode = "json" | "forbidden" | "hang" | "engines-failed" | "huge";

export interface WebStandIn {
  /** `http://127.0.0.1:PORT` */
  url: string;
  port: number;
  searchMode: SearchMode;
  /** The query strings /search received, newest last. */
  searches: URLSearchParams[];
  /** Milliseconds the server spent answering each /search (the provider's own time). */
  searchServerMs: number[];
  close(): Promise<void>;
}

/** The article the pages carry: what readability must keep. */
export const ARTICLE_SENTENCE =
  "The Chang'e 6 probe returned the first samples from the far side of the Moon.";
export const ARTICLE_SENTENCE_ZH = "嫦娥六号首次从月球背面带回了样品。";
/** Text outside the article that readability must drop. */
export const NAV_TEXT = "Home Sections Subscribe";
export const AD_TEXT = "Buy cheap flights now";

export function articleHtml(title = "Chang'e 6 returns", paragraphs = 6): string {
  const body = Array.from(
    { length: paragraphs },
    (_, n) =>
      `<p>${ARTICLE_SENTENCE} Paragraph ${n + 1} explains the mission in more detail, with dates, ` +
      `the landing site in the Apollo basin and what scientists expect to learn. ${ARTICLE_SENTENCE_ZH}</p>`,
  ).join("\n");
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title} | Space News</title>
<meta property="og:site_name" content="Space News"></head><body>
<header><nav><a href="/">Home</a> <a href="/s">Sections</a> <a href="/sub">Subscribe</a></nav></header>
<aside class="sidebar advertisement"><a href="/ad">${AD_TEXT}</a></aside>
<main><article><h1>${title}</h1><p class="byline">By Li Wei</p>
${body}
<ul><li>Launch: May 2024</li><li>Return: June 2024</li></ul>
<pre>line one
  indented line two</pre>
</article></main>
<footer><p>Copyright Space News. All rights reserved.</p></footer>
<script>window.tracking = "should never be read";</script>
</body></html>`;
}

/** A page shaped like a news site's (about 100 KB): the article among menus, related links and inline script. */
export function typicalPageHtml(): string {
  const links = Array.from(
    { length: 400 },
    (_, n) => `<li><a href="/section/${n}">Section ${n}</a></li>`,
  ).join("");
  const script = `<script>${"var tracking = {a: 1, b: [1, 2, 3]};\n".repeat(1_500)}</script>`;
  return articleHtml("Chang'e 6 returns", 30).replace(
    "<footer>",
    `<nav><ul>${links}</ul></nav><aside><ul>${links}</ul></aside>${script}<footer>`,
  );
}

function searxngResults(base: string, query: string) {
  return {
    query,
    number_of_results: 5,
    results: [
      {
        url: `${base}/article`,
        title: "Chang'e 6 returns",
        content: "The probe returned samples from the far side.",
        engine: "bing",
        engines: ["bing", "duckduckgo"],
        score: 4.2,
        category: "general",
        publishedDate: "2024-06-25T08:00:00",
        positions: [1, 2],
      },
      {
        url: `${base}/plain`,
        title: "Mission notes",
        content: "x".repeat(5_000),
        engine: "duckduckgo",
        engines: ["duckduckgo"],
        score: 2,
        category: "general",
        publishedDate: null,
        positions: [2],
      },
      // Not http(s): never passed on.
      {
        url: "javascript:alert(1)",
        title: "bad",
        content: "",
        engine: "bing",
        score: 1,
        publishedDate: null,
      },
      {
        url: "ftp://files.example/x",
        title: "ftp",
        content: "",
        engine: "bing",
        score: 1,
        publishedDate: null,
      },
      // The same page twice.
      { url: `${base}/article`, title: "dup", content: "", engine: "brave", score: 1, publishedDate: null },
      {
        url: `${base}/zh`,
        title: "嫦娥六号返回",
        content: "嫦娥六号首次从月球背面带回了样品。",
        engine: "baidu",
        score: 1,
        category: "general",
        publishedDate: "not a date",
      },
    ],
    answers: [{ answer: "June 25, 2024", url: `${base}/article` }],
    corrections: [],
    infoboxes: [],
    suggestions: ["chang'e 6 samples"],
    unresponsive_engines: [["wikidata", "timeout"]],
  };
}

const send = (response: ServerResponse, status: number, type: string, body: string | Buffer, extra = {}) => {
  response.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body), ...extra });
  response.end(body);
};

/** Starts the stand-in on a free loopback port (or `host`, e.g. 127.0.0.2 for a second "host"). */
export async function startWebStandIn(host = "127.0.0.1"): Promise<WebStandIn> {
  const sockets = new Set<Socket>();
  const state: WebStandIn = {
    url: "",
    port: 0,
    searchMode: "json",
    searches: [],
    searchServerMs: [],
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? "/", state.url);
    const started = performance.now();
    if (url.pathname === "/search" && request.method === "POST") return tavily(request, response, state.url);
    if (url.pathname === "/search") {
      state.searches.push(url.searchParams);
      if (state.searchMode === "hang") return; // never answers
      if (state.searchMode === "forbidden") return send(response, 403, "text/html", "<h1>Forbidden</h1>");
      const query = url.searchParams.get("q") ?? "";
      let answer: object = searxngResults(state.url, query);
      if (state.searchMode === "engines-failed") {
        answer = {
          ...answer,
          results: [],
          unresponsive_engines: [
            ["google", "CAPTCHA"],
            ["bing", "timeout"],
          ],
        };
      }
      const body =
        state.searchMode === "huge"
          ? JSON.stringify({ ...answer, padding: "x".repeat(3 * 1024 * 1024) })
          : JSON.stringify(answer);
      send(response, 200, "application/json", body);
      state.searchServerMs.push(performance.now() - started);
      return;
    }
    if (url.pathname === "/res/v1/web/search") {
      if (request.headers["x-subscription-token"] !== BRAVE_KEY)
        return send(response, 401, "application/json", "{}");
      return send(
        response,
        200,
        "application/json",
        JSON.stringify({
          type: "search",
          query: { original: url.searchParams.get("q") },
          web: {
            type: "search",
            results: [
              {
                title: "Chang'e 6 returns",
                url: `${state.url}/article`,
                description: "The <strong>probe</strong> returned samples.",
                page_age: "2024-06-25T08:00:00",
              },
              { title: "bad", url: "data:text/html,hi", description: "" },
            ],
          },
        }),
      );
    }
    if (url.pathname === "/article") return send(response, 200, "text/html; charset=utf-8", articleHtml());
    if (url.pathname === "/typical")
      return send(response, 200, "text/html; charset=utf-8", typicalPageHtml());
    if (url.pathname === "/zh") {
      return send(response, 200, "text/html; charset=utf-8", articleHtml("嫦娥六号返回"));
    }
    if (url.pathname === "/plain") return send(response, 200, "text/plain", `  ${ARTICLE_SENTENCE}\n`);
    if (url.pathname === "/host") {
      return send(response, 200, "text/plain", `host=${request.headers.host}`);
    }
    if (url.pathname === "/gzip") {
      return send(response, 200, "text/html", gzipSync(articleHtml("Gzipped")), {
        "content-encoding": "gzip",
      });
    }
    if (url.pathname === "/gbk") {
      // "中文页面" in GBK, the charset named only by the page's <meta>.
      const gbk = Buffer.from([0xd6, 0xd0, 0xce, 0xc4, 0xd2, 0xb3, 0xc3, 0xe6]);
      const page = Buffer.concat([
        Buffer.from('<html><head><meta charset="gbk"><title>t</title></head><body><p>'),
        gbk,
        Buffer.from("</p></body></html>"),
      ]);
      return send(response, 200, "text/html", page);
    }
    if (url.pathname === "/pdf") return send(response, 200, "application/pdf", "%PDF-1.7\n");
    if (url.pathname === "/status/404") return send(response, 404, "text/html", "<p>not here</p>");
    if (url.pathname.startsWith("/redirect/")) {
      // /redirect/N answers 302 to /redirect/N-1, and /redirect/1 to the article: N redirects in all.
      const left = Number(url.pathname.split("/")[2]);
      const next = left <= 1 ? "/article" : `/redirect/${left - 1}`;
      response.writeHead(302, { location: next, "content-length": 0 });
      return response.end();
    }
    if (url.pathname === "/to") {
      response.writeHead(302, { location: url.searchParams.get("url") ?? "/", "content-length": 0 });
      return response.end();
    }
    if (url.pathname === "/drip") {
      // Never ends: a paragraph every 100 ms.
      response.writeHead(200, { "content-type": "text/html" });
      response.write(`<html><head><title>Drip</title></head><body><article><p>${ARTICLE_SENTENCE}</p>`);
      const timer = setInterval(() => response.write("<p>more, slowly.</p>"), 100);
      response.once("close", () => clearInterval(timer));
      return;
    }
    if (url.pathname === "/endless") {
      // Never ends, as fast as the client reads.
      response.writeHead(200, { "content-type": "text/plain" });
      const line = `${ARTICLE_SENTENCE}\n`.repeat(100);
      const pump = () => {
        while (response.write(line));
      };
      response.on("drain", pump);
      pump();
      return;
    }
    if (url.pathname === "/huge") {
      const paragraph = `<p>${ARTICLE_SENTENCE}</p>\n`;
      const page = `<html><head><title>Huge</title></head><body><article>${paragraph.repeat(100_000)}</article></body></html>`;
      return send(response, 200, "text/html", page);
    }
    if (url.pathname === "/nested") {
      // Half a megabyte of nested markup: what costs Readability seconds, unlike flat paragraphs.
      const block = `<div class="card"><div><span>${ARTICLE_SENTENCE}</span> <a href="/x">more</a></div><ul><li>one</li><li>two</li></ul></div>\n`;
      const page = `<html><head><title>Nested</title></head><body>${block.repeat(Math.ceil((512 * 1024) / block.length))}</body></html>`;
      return send(response, 200, "text/html", page);
    }
    if (url.pathname === "/stall") return; // headers never come
    send(response, 404, "text/plain", "no such page");
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, resolve);
  });
  state.port = (server.address() as AddressInfo).port;
  state.url = `http://${host}:${state.port}`;
  return state;
}

function tavily(request: IncomingMessage, response: ServerResponse, base: string): void {
  const chunks: Buffer[] = [];
  request.on("data", (chunk: Buffer) => chunks.push(chunk));
  request.on("end", () => {
    if (request.headers.authorization !== `Bearer ${TAVILY_KEY}`) {
      return send(response, 401, "application/json", JSON.stringify({ detail: { error: "Unauthorized" } }));
    }
    const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { query: string; max_results: number };
    send(
      response,
      200,
      "application/json",
      JSON.stringify({
        query: body.query,
        answer: null,
        results: [
          { title: "Chang'e 6 returns", url: `${base}/article`, content: "Samples returned.", score: 0.9 },
          {
            title: "Notes",
            url: `${base}/plain`,
            content: "Notes.",
            score: 0.5,
            published_date: "2024-06-26",
          },
        ].slice(0, body.max_results),
        response_time: 0.5,
      }),
    );
  });
}
