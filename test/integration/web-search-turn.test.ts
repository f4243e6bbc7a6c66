// Web search (联网搜索) in an app turn, over real HTTP: the stand-in SearXNG and its pages
// (test/support/web-stand-in.ts), scripted fixture models that call `web_search` / `fetch_url` and
// answer with `[citation:1]`, the real engine and store. A scripted model says the same thing
// whatever it is asked, so the server's engine sends each follow-up call (the request ending in
// tool results) to the model this test names for it.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, describe, it } from "node:test";
import type { ChatRequest } from "../../src/core/chat.js";
import type { Engine } from "../../src/core/engine.js";
import { readablePage } from "../../src/tools/web/fetch-page.js";
import { parseCitations } from "../../src/tools/web/search-answer.js";
import { SearxngProvider } from "../../src/tools/web/searxng-provider.js";
import type { WebSearchSetup } from "../../src/tools/web/web-tools.js";
import { openStore, type Store } from "../../src/store/store.js";
import type { McpHub } from "../../src/tools/mcp/mcp-hub.js";
import type { Tool } from "../../src/tools/tool.js";
import { makeScriptedModel } from "../fixtures/models.js";
import { ARTICLE_SENTENCE, startWebStandIn, type WebStandIn } from "../support/web-stand-in.js";
import { AppClient, startTestServer, type TestServer } from "./harness.js";
import { testEngines } from "./store-engines.js";

const QUESTION = "What did Chang'e 6 bring back?";
const ANSWER_SCRIPT = ["The probe brought back far-side samples", " [citation:1]."];
const TWO_SOURCES_SCRIPT = ["It returned samples [citation:1]", " as the notes say [citation:4]."];

/** A scripted model's `<tool_call>` of `name` with `args`. */
const callScript = (name: string, args: Record<string, string>) => [
  "<tool_call>",
  `\n{"name": "${name}", "arguments": {${Object.entries(args)
    .map(([key, value]) => `"${key}": ${JSON.stringify(value)}`)
    .join(", ")}}}`,
  "\n</tool_call>",
];

const databases = testEngines("web search turn");
const dir = mkdtempSync(join(tmpdir(), "qiusuo-web-turn-"));
let web: WebStandIn;
before(async () => {
  web = await startWebStandIn();
  // Under tsx the page worker's first start compiles Readability and linkedom, seconds on a busy
  // machine (the built server's worker loads plain JavaScript): start it before the timed fetches.
  await readablePage("<p>warm</p>", "warm.example", 60_000);
  makeScriptedModel(join(dir, "searcher.gguf"), { script: callScript("web_search", { query: "Chang'e 6" }) });
  makeScriptedModel(join(dir, "fetcher.gguf"), {
    script: callScript("fetch_url", { url: `${web.url}/plain` }),
  });
  makeScriptedModel(join(dir, "dripper.gguf"), {
    script: callScript("fetch_url", { url: `${web.url}/drip` }),
  });
  const toMetadata = `${web.url}/to?url=${encodeURIComponent("http://169.254.169.254/latest/meta-data/")}`;
  makeScriptedModel(join(dir, "redirected.gguf"), { script: callScript("fetch_url", { url: toMetadata }) });
  makeScriptedModel(join(dir, "asker.gguf"), { script: callScript("delete_everything", { what: "all" }) });
  makeScriptedModel(join(dir, "answer.gguf"), { script: ANSWER_SCRIPT });
  makeScriptedModel(join(dir, "two-sources.gguf"), { script: TWO_SOURCES_SCRIPT });
});
after(async () => {
  await web?.close();
  for (const database of databases) await database.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const MODELS = ["searcher", "fetcher", "dripper", "redirected", "asker", "answer", "two-sources"];

for (const database of databases)
  describe(`web search in a turn (${database.name})`, () => {
    let store: Store;
    let server: TestServer;
    let client: AppClient;
    /** The model each follow-up call goes to, in order: the 1st after one tool result, ... */
    let followUps: string[];
    const requests: ChatRequest[] = [];
    const setup: WebSearchSetup = {
      allowPrivate: ["127.0.0.1/32"],
      budgetChars: 1_500,
      fetch: { timeoutMs: 1_500 },
    };
    /** The server's engine: the router, with follow-ups sent on as `followUps` says. */
    const engine: Engine = {
      listModels: () => server.router.listModels(),
      chat: (request, signal) => {
        requests.push(request);
        const results = request.messages.filter((message) => message.role === "tool").length;
        const model = results > 0 ? (followUps[results - 1] ?? "answer") : request.model;
        return server.router.chat({ ...request, model }, signal);
      },
      provenance: (model, options) => server.router.provenance!(model, options),
      dispose: async () => {},
    };

    before(async () => {
      store = await openStore(await database.fresh());
      setup.provider = new SearxngProvider({ baseUrl: web.url });
      server = await startTestServer({
        store,
        models: MODELS.map((name) => ({ file: join(dir, `${name}.gguf`) })),
        engine: { contextSize: 8192 },
        app: { engine, webSearch: setup },
      });
      client = new AppClient(server.url);
    });
    after(async () => {
      await server.close();
      await store.close();
    });
    beforeEach(() => {
      web.searchMode = "json";
      followUps = ["answer"];
      requests.length = 0;
      setup.provider = new SearxngProvider({ baseUrl: web.url });
    });

    /** A new conversation with `settings`, asked QUESTION of `model`. */
    async function ask(model: string, settings: object = { webSearch: true }) {
      const conversation = (await client.request("POST", "/api/conversations", { settings })).json;
      const sent = await client.send(conversation.id, { parentId: null, content: QUESTION, model });
      return { conversation, ...sent };
    }

    const names = (events: Array<{ event: string }>) =>
      events
        .map((event) => event.event)
        .filter((name, index, all) => name !== "delta" || all[index - 1] !== "delta");

    it("searches, fetches the top pages and answers citing [citation:1]; the sources survive a reload", async () => {
      const { conversation, status, events } = await ask("searcher");
      assert.equal(status, 200);
      assert.deepEqual(names(events), [
        "user",
        "assistant",
        "tool-call",
        "tool-result",
        "sources",
        "delta",
        "done",
      ]);
      // The model was offered both web tools, and searched for what it asked.
      assert.deepEqual(
        requests[0]!.tools.map((tool) => tool.name),
        ["web_search", "fetch_url"],
      );
      assert.equal(web.searches.at(-1)!.get("q"), "Chang'e 6");
      const call = events.find((event) => event.event === "tool-call")!.data;
      assert.equal(call.name, "web_search");
      // The result is DeepSeek's search template around the fetched pages, quoting the user.
      const result = events.find((event) => event.event === "tool-result")!.data;
      assert.equal(result.isError, false);
      assert.match(result.content, /^# The following contents are the search results/);
      assert.match(result.content, /\[webpage 1 begin\]\nTitle: Chang'e 6 returns/);
      assert.ok(result.content.includes(ARTICLE_SENTENCE), "the page's text, not only the snippet");
      assert.ok(result.content.endsWith(`# The user's message is:\n${QUESTION}`));
      const sources = events.find((event) => event.event === "sources")!.data;
      assert.equal(sources.toolCallId, call.id);
      assert.deepEqual(
        sources.sources.map((source: { index: number; url: string }) => [source.index, source.url]),
        [
          [1, `${web.url}/article`],
          [2, `${web.url}/plain`],
          [3, `${web.url}/zh`],
        ],
      );
      // The follow-up was given the result; the answer cites source 1.
      assert.deepEqual(requests[1]!.messages.at(-1), {
        role: "tool",
        content: result.content,
        toolCallId: call.id,
      });
      const done = events.at(-1)!.data;
      assert.equal(done.content, ANSWER_SCRIPT.join(""));

      // After a reload the reply carries its tool call, result and sources, and [citation:1] is the article.
      const detail = (await client.request("GET", `/api/conversations/${conversation.id}`)).json;
      const reply = detail.messages.find((message: { role: string }) => message.role === "assistant");
      assert.equal(reply.content, ANSWER_SCRIPT.join(""));
      const [step] = reply.provenance.turn.steps;
      assert.equal(step.name, "web_search");
      assert.equal(step.result.content, result.content);
      const stored = step.result.sources.map((source: { index: number; url: string; title: string }) => ({
        ...source,
        text: "",
      }));
      const { cited } = parseCitations(reply.content, stored);
      assert.deepEqual(
        cited.map((source) => source.url),
        [`${web.url}/article`],
      );
      assert.equal(cited[0]!.title, "Chang'e 6 returns | Space News");
      assert.ok(step.result.sources[0].passage.includes(ARTICLE_SENTENCE));
      // Replay re-runs one model call, so a reply made with tools is refused, not falsely compared.
      const replayed = await client.request(
        "POST",
        `/api/conversations/${conversation.id}/messages/${reply.id}/replay`,
      );
      assert.equal(replayed.status, 409, replayed.text);
      assert.equal(replayed.json.error.code, "replay_tools");
    });

    it("numbers sources once across the calls of a turn: a fetch after a search is source 4", async () => {
      followUps = ["fetcher", "two-sources"];
      // The search gives 3 results; the fetched page after it must not be another source 1.
      web.searchMode = "json";
      const { events } = await ask("searcher");
      const sources = events
        .filter((event) => event.event === "sources")
        .flatMap((event) => event.data.sources.map((source: { index: number }) => source.index));
      assert.deepEqual(sources, [1, 2, 3, 4]);
      const second = events.filter((event) => event.event === "tool-result")[1]!.data;
      assert.match(second.content, /^\[webpage 4 begin\]/);
      // The answer's two citations name two different pages.
      const done = events.at(-1)!.data;
      const stored = done.provenance.turn.steps.flatMap(
        (step: { result: { sources: Array<{ index: number; url: string; title: string }> } }) =>
          step.result.sources.map((source) => ({ ...source, text: "" })),
      );
      assert.deepEqual(
        parseCitations(done.content, stored).cited.map((source) => source.url),
        [`${web.url}/article`, `${web.url}/plain`],
      );
    });

    it("a search provider that is down: a clear message in the thread, and the turn ends", async () => {
      setup.provider = new SearxngProvider({ baseUrl: "http://127.0.0.1:9" });
      const { events } = await ask("searcher");
      const result = events.find((event) => event.event === "tool-result")!.data;
      assert.equal(result.isError, true);
      assert.match(
        result.content,
        /The search provider SearXNG at http:\/\/127\.0\.0\.1:9 could not be reached/,
      );
      assert.equal(events.at(-1)!.event, "done");
      assert.equal(events.at(-1)!.data.status, "complete");
    });

    it("a page that never ends is cut at the time limit, and the turn completes", async () => {
      const started = performance.now();
      const { events } = await ask("dripper");
      const result = events.find((event) => event.event === "tool-result")!.data;
      assert.equal(result.isError, false);
      assert.ok(result.content.includes(ARTICLE_SENTENCE));
      assert.match(result.content, /cut off at the size or time limit/);
      assert.equal(events.at(-1)!.event, "done");
      assert.ok(performance.now() - started < 10_000, "the fetch stopped at its 1.5 s limit");
    });

    it("a redirect to a private address is refused, and the model is told so", async () => {
      const { events } = await ask("redirected");
      const result = events.find((event) => event.event === "tool-result")!.data;
      assert.equal(result.isError, true);
      assert.match(result.content, /169\.254\.169\.254/);
      assert.equal(
        events.find((event) => event.event === "sources"),
        undefined,
      );
      assert.equal(events.at(-1)!.event, "done");
    });

    it("web search off: no tool is offered; on without a provider: a 503 before the message is kept", async () => {
      const { events } = await ask("answer", {});
      assert.equal(requests[0]!.tools.length, 0);
      assert.equal(
        events.some((event) => event.event === "tool-call"),
        false,
      );

      setup.provider = undefined;
      const { conversation, status, json } = await ask("searcher");
      assert.equal(status, 503);
      assert.equal(json.error.code, "web_search_not_configured");
      assert.equal(json.error.param, "settings.webSearch");
      const detail = (await client.request("GET", `/api/conversations/${conversation.id}`)).json;
      assert.equal(detail.messages.length, 0, "nothing was kept");
      assert.deepEqual((await client.request("GET", "/api/web-search")).json, {
        available: false,
        provider: null,
      });
    });

    it("keeps the tool settings with the conversation and refuses bad ones with a 400", async () => {
      const settings = { webSearch: true, collectionIds: ["c1"], mcpServerIds: ["m1", "m2"] };
      const created = (await client.request("POST", "/api/conversations", { settings })).json;
      const loaded = (await client.request("GET", `/api/conversations/${created.id}`)).json;
      assert.deepEqual(loaded.conversation.settings, settings);
      // A wrong type is a 400; a value out of range a 422, as everywhere in the API.
      for (const [bad, expected] of [
        [{ webSearch: "yes" }, 400],
        [{ collectionIds: "c1" }, 400],
        [{ collectionIds: ["a", "a"] }, 422],
        [{ mcpServerIds: Array.from({ length: 21 }, (_, index) => `m${index}`) }, 422],
        [{ collectionIds: [""] }, 422],
      ] as const) {
        const response = await client.request("PATCH", `/api/conversations/${created.id}`, { settings: bad });
        assert.equal(response.status, expected, JSON.stringify(bad));
        assert.equal(typeof response.json.error.message, "string");
      }
    });

    it("POST /api/web-search gives results, with the top pages' text when asked", async () => {
      assert.deepEqual((await client.request("GET", "/api/web-search")).json, {
        available: true,
        provider: "searxng",
      });
      const { status, json } = await client.request("POST", "/api/web-search", {
        query: "Chang'e 6",
        fetch: 1,
      });
      assert.equal(status, 200);
      assert.equal(json.results.length, 3);
      assert.equal(json.results[0].url, `${web.url}/article`);
      assert.ok(json.results[0].page.text.includes(ARTICLE_SENTENCE));
      assert.equal(json.results[1].page, undefined);
      assert.equal((await client.request("POST", "/api/web-search", { query: 1 })).status, 400);
      assert.equal((await client.request("POST", "/api/web-search", { query: "x", fetch: 99 })).status, 422);
      web.searchMode = "forbidden";
      const forbidden = await client.request("POST", "/api/web-search", { query: "x" });
      assert.equal(forbidden.status, 503);
      assert.equal(forbidden.json.error.code, "search_unavailable");
    });
  });

/** Ask-first tools, through the approval route: a fake tool stands in for an MCP server's. */
describe("approving or denying an ask-first tool call", () => {
  let server: TestServer;
  let client: AppClient;
  const runs: unknown[] = [];
  const dangerous: Tool = {
    definition: {
      name: "delete_everything",
      description: "Deletes things",
      parameters: { type: "object", properties: { what: { type: "string" } } },
      strict: false,
    },
    askFirst: true,
    run: async (args) => {
      runs.push(args);
      return { content: "Deleted.", isError: false };
    },
  };
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
  before(async () => {
    server = await startTestServer({
      models: MODELS.map((name) => ({ file: join(dir, `${name}.gguf`) })),
      engine: { contextSize: 4096 },
      // The fake tool joins every turn as an MCP server's tool would.
      app: { engine, mcp: { toolsFor: async () => [dangerous] } as Pick<McpHub, "toolsFor"> as McpHub },
    });
    client = new AppClient(server.url);
  });
  after(() => server.close());

  async function stopped() {
    const conversation = (
      await client.request("POST", "/api/conversations", { settings: { mcpServerIds: ["fake"] } })
    ).json;
    const { events } = await client.send(conversation.id, {
      parentId: null,
      content: "Clean up",
      model: "asker",
    });
    assert.deepEqual(
      events.map((event) => event.event),
      ["user", "assistant", "tool-call", "approval-needed", "done"],
    );
    const reply = events.at(-1)!.data;
    assert.equal(reply.toolCalls[0].function.name, "delete_everything");
    return { conversation, reply };
  }

  it("approving runs exactly that call and continues in a new reply under the stopped one", async () => {
    const { conversation, reply } = await stopped();
    assert.equal(runs.length, 0);
    const path = `/api/conversations/${conversation.id}/messages/${reply.id}/approval`;
    const { status, events } = await client.send(conversation.id, { approve: true }, path);
    assert.equal(status, 200);
    assert.deepEqual(runs, [{ what: "all" }]);
    const result = events.find((event) => event.event === "tool-result")!.data;
    assert.deepEqual([result.name, result.content, result.isError], ["delete_everything", "Deleted.", false]);
    const done = events.at(-1)!.data;
    assert.equal(done.parentId, reply.id);
    assert.equal(done.content, ANSWER_SCRIPT.join(""));
    assert.equal(done.provenance.turn.steps[0].approval, "approved");
    // Decided once: a second answer is a 409, and another conversation's reply a 404.
    const again = await client.request("POST", path, { approve: false });
    assert.equal(again.status, 409);
    assert.equal(again.json.error.code, "tool_call_decided");
    const other = await client.request("POST", `/api/conversations/nope/messages/${reply.id}/approval`, {
      approve: true,
    });
    assert.equal(other.status, 404);
  });

  it("denying runs nothing and tells the model the user refused", async () => {
    runs.length = 0;
    const { conversation, reply } = await stopped();
    const path = `/api/conversations/${conversation.id}/messages/${reply.id}/approval`;
    const { events } = await client.send(conversation.id, { approve: false }, path);
    assert.equal(runs.length, 0);
    const result = events.find((event) => event.event === "tool-result")!.data;
    assert.equal(result.isError, true);
    assert.match(result.content, /declined/);
    assert.equal(events.at(-1)!.event, "done");
    assert.equal(events.at(-1)!.data.provenance.turn.steps[0].approval, "denied");
    const bad = await client.request("POST", path, {});
    assert.equal(bad.status, 400);
  });
});

/** Scripts search with an API key, as they call the collections routes. */
describe("POST /api/web-search with an API key (accounts mode)", () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({
      accounts: true,
      app: {
        webSearch: { provider: new SearxngProvider({ baseUrl: web.url }), allowPrivate: ["127.0.0.1/32"] },
      },
    });
  });
  after(() => server.close());

  it("answers a bearer key without a CSRF token, and refuses no key or a wrong one with 401", async () => {
    web.searchMode = "json";
    const user = await server.store.users.create({ name: "script", password: "a long enough password" });
    const { plaintext } = await server.store.apiKeys.create({ userId: user.id, name: "search" });
    const search = (authorization?: string) =>
      fetch(`${server.url}/api/web-search`, {
        method: "POST",
        headers: { "content-type": "application/json", ...(authorization ? { authorization } : {}) },
        body: JSON.stringify({ query: "Chang'e 6" }),
      });
    const answered = await search(`Bearer ${plaintext}`);
    assert.equal(answered.status, 200);
    const body = (await answered.json()) as { results: Array<{ url: string }> };
    assert.equal(body.results[0]!.url, `${web.url}/article`);
    assert.equal((await search()).status, 401);
    assert.equal((await search("Bearer sk-wrong")).status, 401);
  });
});
