// Reranking end to end on a random-weight Qwen3-Reranker-shaped fixture: the local engine through
// node-llama-cpp's ranking context, and an upstream pool in front of llama.cpp's own llama-server
// started with --rerank on the same file. Random weights give noise scores, so the tests check the
// shape, the order, determinism, and that the scores are the ones the model computes (node-llama-cpp
// on the same tokens; llama-server's own answer), not their meaning.
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { upstreamPoolSchema } from "../../src/config/config.js";
import { getRuntime } from "../../src/engines/local/llama-runtime.js";
import { RemoteEngine } from "../../src/engines/remote/remote-engine.js";
import { MAX_RERANK_CHARACTERS, MAX_RERANK_DOCUMENTS } from "../../src/protocol/rerank.js";
import { ensureFixtureModels, ensureRerankerModel, QWEN3_RERANK_TEMPLATE } from "../fixtures/models.js";
import { postJson, postStream, startTestServer, waitFor, type TestServer } from "./harness.js";
import { startLlamaServer, type UpstreamServer } from "./upstream-servers.js";

const reranker = ensureRerankerModel();
const RERANKER = "reranker";
const QUERY = "what is the capital of france";
const DOCUMENTS = [
  "the cat sat on the mat",
  "paris is the capital of france",
  "hello world",
  "berlin is the capital of germany",
  "",
  "the answer is 42",
];

interface RerankResult {
  index: number;
  relevance_score: number;
  document?: { text: string };
}

/** Scores by document index, from a response's results. */
function scoresByIndex(results: RerankResult[]): number[] {
  const scores: number[] = [];
  for (const result of results) scores[result.index] = result.relevance_score;
  return scores;
}

async function modelList(url: string): Promise<Array<{ id: string; reranker?: boolean }>> {
  const response = await fetch(url);
  assert.equal(response.status, 200, url);
  return ((await response.json()) as { data: Array<{ id: string; reranker?: boolean }> }).data;
}

function assertCloseScores(actual: number[], expected: number[], tolerance: number): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((score, index) =>
    assert.ok(
      Math.abs(score - expected[index]!) <= tolerance,
      `document ${index}: ${score} against ${expected[index]}`,
    ),
  );
}

describe("rerank on the local engine", { timeout: 180_000 }, () => {
  let server: TestServer;
  const rerank = (body: unknown, path = "/v1/rerank") => postJson(`${server.url}${path}`, body);

  before(async () => {
    server = await startTestServer({ models: ["scripted", { file: reranker }] });
  });
  after(async () => {
    await server?.close();
  });

  it("ranks every document, sorted by score, with usage, at all four paths", async () => {
    const response = await rerank({ model: RERANKER, query: QUERY, documents: DOCUMENTS });
    assert.equal(response.status, 200, response.text);
    const body = response.json;
    assert.match(body.id, /^rerank-/);
    assert.equal(body.model, RERANKER);
    assert.equal(body.object, "list");
    assert.ok(body.usage.prompt_tokens > DOCUMENTS.length * 50, "the template's tokens count for every pair");
    assert.equal(body.usage.total_tokens, body.usage.prompt_tokens);
    const results = body.results as RerankResult[];
    assert.deepEqual(
      results.map((result) => result.index).sort((a, b) => a - b),
      DOCUMENTS.map((_, index) => index),
    );
    for (const [position, result] of results.entries()) {
      assert.ok(result.relevance_score > 0 && result.relevance_score < 1);
      assert.equal(result.document, undefined);
      if (position > 0) assert.ok(results[position - 1]!.relevance_score >= result.relevance_score);
    }
    assert.ok(new Set(results.map((result) => result.relevance_score)).size > 1, "scores differ by document");

    for (const path of ["/rerank", "/reranking", "/v1/reranking"]) {
      const again = await rerank({ model: RERANKER, query: QUERY, documents: DOCUMENTS }, path);
      assert.equal(again.status, 200, `${path}: ${again.text}`);
      assert.deepEqual(again.json.results, results, `${path} gives the same, deterministic scores`);
    }
  });

  it("scores what node-llama-cpp's own rankAll scores on the same model and tokens", async () => {
    const ours = await rerank({ model: RERANKER, query: QUERY, documents: DOCUMENTS });
    // The space before each placeholder goes with the text, as llama.cpp's server tokenizes it.
    const template = QWEN3_RERANK_TEMPLATE.replace(" {query}", "{{query}}").replace(
      " {document}",
      "{{document}}",
    ) as `${string}{{query}}${string}{{document}}${string}`;
    const llama = await getRuntime({ gpu: "off", maxThreads: 1 });
    const model = await llama.loadModel({ modelPath: reranker });
    try {
      const context = await model.createRankingContext({
        contextSize: 512,
        batchSize: 512,
        threads: 1,
        template,
      });
      const theirs = await context.rankAll(
        ` ${QUERY}`,
        DOCUMENTS.map((document) => ` ${document}`),
      );
      assert.deepEqual(scoresByIndex(ours.json.results), theirs);
    } finally {
      await model.dispose();
    }
  });

  it("honours top_n and return_documents, takes {text} documents, and answers an empty list", async () => {
    const all = (await rerank({ model: RERANKER, query: QUERY, documents: DOCUMENTS })).json.results;
    const top = await rerank({
      model: RERANKER,
      query: QUERY,
      documents: DOCUMENTS.map((text) => ({ text })),
      top_n: 2,
      return_documents: true,
    });
    assert.equal(top.status, 200, top.text);
    assert.deepEqual(
      top.json.results,
      all
        .slice(0, 2)
        .map((result: RerankResult) => ({ ...result, document: { text: DOCUMENTS[result.index] } })),
    );
    for (const topN of [0, DOCUMENTS.length + 5]) {
      const whole = await rerank({ model: RERANKER, query: QUERY, documents: DOCUMENTS, top_n: topN });
      assert.deepEqual(whole.json.results, all, `top_n ${topN} means all`);
    }
    const empty = await rerank({ model: RERANKER, query: QUERY, documents: [] });
    assert.equal(empty.status, 200);
    assert.deepEqual(empty.json.results, []);
    assert.deepEqual(empty.json.usage, { prompt_tokens: 0, total_tokens: 0 });
  });

  it("answers bad input with a 4xx JSON error naming the field, never a 500", async () => {
    const cases: Array<[unknown, number, string, string | null]> = [
      [{ model: RERANKER, documents: DOCUMENTS }, 400, "missing_field", "query"],
      [{ model: RERANKER, query: QUERY }, 400, "missing_field", "documents"],
      [{ model: RERANKER, query: QUERY, documents: "one document" }, 400, "invalid_type", "documents"],
      [{ model: RERANKER, query: QUERY, documents: ["a", 7] }, 400, "invalid_type", "documents.1"],
      [
        { model: RERANKER, query: QUERY, documents: [{ title: "no text" }] },
        400,
        "invalid_type",
        "documents.0",
      ],
      [{ model: RERANKER, query: 5, documents: DOCUMENTS }, 400, "invalid_type", "query"],
      [{ model: RERANKER, query: QUERY, documents: DOCUMENTS, top_n: -1 }, 422, "invalid_value", "top_n"],
      [{ model: RERANKER, query: QUERY, documents: DOCUMENTS, top_n: 1.5 }, 400, "invalid_type", "top_n"],
      [
        { model: RERANKER, query: QUERY, documents: new Array(MAX_RERANK_DOCUMENTS + 1).fill("x") },
        400,
        "too_many_documents",
        "documents",
      ],
      [
        { model: RERANKER, query: QUERY, documents: ["x".repeat(MAX_RERANK_CHARACTERS)] },
        400,
        "documents_too_large",
        "documents",
      ],
      [
        { model: RERANKER, query: QUERY, documents: ["short", "word ".repeat(600)] },
        400,
        "context_length_exceeded",
        "documents.1",
      ],
      [{ model: "nope", query: QUERY, documents: DOCUMENTS }, 400, "model_not_found", "model"],
      ["{not json", 400, "invalid_json", null],
    ];
    for (const [body, status, code, param] of cases) {
      const response = await rerank(body);
      const what = `${JSON.stringify(body).slice(0, 80)} -> ${response.text.slice(0, 300)}`;
      assert.equal(response.status, status, what);
      assert.equal(response.json.error.code, code, what);
      assert.equal(response.json.error.param, param, what);
      assert.ok(response.json.error.message.length > 0);
    }
    const ok = await rerank({ model: RERANKER, query: QUERY, documents: DOCUMENTS.slice(0, 2) });
    assert.equal(ok.status, 200, "the server still ranks afterwards");
  });

  it("refuses a model that is not a reranker, and refuses to chat with the reranker", async () => {
    const notReranker = await rerank({ model: "scripted", query: QUERY, documents: DOCUMENTS });
    assert.equal(notReranker.status, 400);
    assert.equal(notReranker.json.error.code, "model_not_reranker");
    assert.match(notReranker.json.error.message, /not a reranker.*Use a reranker: reranker/);
    const alias = await rerank({ model: "deepseek-chat", query: QUERY, documents: [] });
    assert.equal(alias.json.error.code, "model_not_reranker", "even for an empty list");

    const chat = await postJson(`${server.url}/v1/chat/completions`, {
      model: RERANKER,
      messages: [{ role: "user", content: "hi" }],
    });
    assert.equal(chat.status, 400);
    assert.equal(chat.json.error.code, "model_is_reranker");
    assert.match(chat.json.error.message, /\/v1\/rerank.*scripted/);
  });

  it("lists the reranker as one in /v1/models and the app's models, and never makes it the default", async () => {
    const listed = await modelList(`${server.url}/v1/models`);
    assert.equal(listed.find((model) => model.id === RERANKER)?.reranker, true);
    assert.equal(listed.find((model) => model.id === "scripted")?.reranker, undefined);
    const app = await modelList(`${server.url}/api/models`);
    assert.equal(app.find((model) => model.id === RERANKER)?.reranker, true);

    // Registered first, the reranker still leaves deepseek-chat to the chat model.
    const rerankerFirst = await startTestServer({ models: [{ file: reranker }, "scripted"], preload: false });
    try {
      const list = await modelList(`${rerankerFirst.url}/v1/models`);
      assert.equal(list[0]?.id, "scripted");
      assert.equal(rerankerFirst.router.route("deepseek-chat").model, "scripted");
    } finally {
      await rerankerFirst.close();
    }
  });

  it("loads on first use, unloads and loads again like any model, /v1/models telling its state", async () => {
    const state = async () =>
      (await modelList(`${server.url}/v1/models`)).find((model) => model.id === RERANKER) as
        { status: string; context_length?: number } | undefined;
    await rerank({ model: RERANKER, query: QUERY, documents: DOCUMENTS.slice(0, 1) });
    const ready = await state();
    assert.equal(ready?.status, "ready");
    assert.equal(ready?.context_length, 512);
    await server.engine.unloadModel(RERANKER);
    assert.equal((await state())?.status, "available");
    assert.equal(server.engine.stats().loadedModels, 1, "only the chat model is in memory");
    const again = await rerank({ model: RERANKER, query: QUERY, documents: DOCUMENTS });
    assert.equal(again.status, 200);
    assert.equal((await state())?.status, "ready");
  });

  it("stops ranking when the client leaves, and frees the model for the next request", async () => {
    const aborted = server.engine.stats().abortedRequests;
    const controller = new AbortController();
    const many = Array.from({ length: 400 }, (_, index) => `document number ${index} about paris`);
    const started = postStream(
      `${server.url}/v1/rerank`,
      { model: RERANKER, query: QUERY, documents: many },
      controller.signal,
    ).catch(() => undefined);
    await waitFor(() => server.engine.stats().busySequences > 0, "the rerank started");
    controller.abort();
    await started;
    await waitFor(() => server.engine.stats().abortedRequests > aborted, "the rerank stopped", 5_000);
    const next = await rerank({ model: RERANKER, query: QUERY, documents: DOCUMENTS.slice(0, 3) });
    assert.equal(next.status, 200);
  });
});

describe("rerank in accounts mode", { timeout: 60_000 }, () => {
  it("needs an API key, and books the request's tokens to it", async () => {
    const server = await startTestServer({ models: [{ file: reranker }], accounts: true, preload: false });
    try {
      const body = { model: RERANKER, query: QUERY, documents: DOCUMENTS.slice(0, 2) };
      const missing = await postJson(`${server.url}/v1/rerank`, body);
      assert.equal(missing.status, 401);
      assert.equal(missing.json.error.code, "missing_api_key");
      const alice = await server.store.users.create({
        name: "alice",
        role: "admin",
        password: "correct horse",
      });
      const { key, plaintext } = await server.store.apiKeys.create({ userId: alice.id, name: "rag" });
      const ok = await postJson(`${server.url}/rerank`, body, { authorization: `Bearer ${plaintext}` });
      assert.equal(ok.status, 200, ok.text);
      const rows = await server.store.db
        .selectFrom("usage")
        .selectAll()
        .where("api_key_id", "=", key.id)
        .execute();
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.status, "ok");
      assert.equal(rows[0]!.model, RERANKER);
      assert.equal(Number(rows[0]!.prompt_tokens), ok.json.usage.prompt_tokens);
    } finally {
      await server.close();
    }
  });
});

/** A pool of one replica at `url`, with no background health checks. */
async function poolAt(name: string, url: string): Promise<RemoteEngine> {
  const pool = new RemoteEngine({
    name,
    config: upstreamPoolSchema.parse({ urls: [`${url}/v1`], healthSeconds: 0, discoverySeconds: 600 }),
  });
  await pool.start();
  return pool;
}

describe("rerank through an upstream pool of llama-server", { timeout: 180_000 }, () => {
  let upstream: UpstreamServer;
  let chatOnly: UpstreamServer;
  let server: TestServer;

  before(async () => {
    [upstream, chatOnly] = await Promise.all([
      startLlamaServer({ model: reranker, alias: RERANKER, extraArgs: ["--rerank", "--pooling", "rank"] }),
      startLlamaServer({ model: ensureFixtureModels().scripted, alias: "scripted" }),
    ]);
    server = await startTestServer({
      models: [{ file: reranker }],
      upstreams: [
        { name: "pool", engine: await poolAt("pool", upstream.url) },
        { name: "chat", engine: await poolAt("chat", chatOnly.url) },
      ],
    });
  });
  after(async () => {
    await server?.close();
    await Promise.all([upstream?.stop(), chatOnly?.stop()]);
  });

  it("answers with llama-server's own scores, mapped back by index, cut to top_n by us", async () => {
    const direct = await postJson(`${upstream.url}/v1/rerank`, {
      model: RERANKER,
      query: QUERY,
      documents: DOCUMENTS,
    });
    assert.equal(direct.status, 200, direct.text);
    const theirs = scoresByIndex(direct.json.results);

    const ours = await postJson(`${server.url}/v1/rerank`, {
      model: `pool/${RERANKER}`,
      query: QUERY,
      documents: DOCUMENTS,
    });
    assert.equal(ours.status, 200, ours.text);
    assert.deepEqual(scoresByIndex(ours.json.results), theirs);
    assert.deepEqual(
      ours.json.results.map((result: RerankResult) => result.index),
      direct.json.results.map((result: { index: number }) => result.index),
    );
    assert.equal(ours.json.usage.prompt_tokens, direct.json.usage.prompt_tokens);

    const top = await postJson(`${server.url}/rerank`, {
      model: `pool/${RERANKER}`,
      query: QUERY,
      documents: DOCUMENTS,
      top_n: 3,
      return_documents: true,
    });
    assert.deepEqual(
      top.json.results,
      ours.json.results
        .slice(0, 3)
        .map((result: RerankResult) => ({ ...result, document: { text: DOCUMENTS[result.index] } })),
    );
  });

  it("scores locally what llama-server scores, the space before each placeholder included", async () => {
    const upstreamScores = scoresByIndex(
      (
        await postJson(`${server.url}/v1/rerank`, {
          model: `pool/${RERANKER}`,
          query: QUERY,
          documents: DOCUMENTS,
        })
      ).json.results,
    );
    const local = await postJson(`${server.url}/v1/rerank`, {
      model: RERANKER,
      query: QUERY,
      documents: DOCUMENTS,
    });
    // Same tokens; the last digits differ with the batch each server evaluates in.
    assertCloseScores(scoresByIndex(local.json.results), upstreamScores, 1e-5);
  });

  it("answers a model the upstream cannot rank with a 400, and keeps its replica in service", async () => {
    for (let attempt = 0; attempt < 4; attempt++) {
      const refused = await postJson(`${server.url}/v1/rerank`, {
        model: "chat/scripted",
        query: QUERY,
        documents: DOCUMENTS,
      });
      assert.equal(refused.status, 400, refused.text);
      assert.equal(refused.json.error.code, "model_not_reranker");
      assert.match(refused.json.error.message, /does not support reranking/);
    }
    const chat = await postJson(`${server.url}/v1/chat/completions`, {
      model: "chat/scripted",
      messages: [{ role: "user", content: "hi" }],
    });
    assert.equal(chat.status, 200, chat.text);
  });

  it("passes an upstream's failure on as a 502 that quotes it, as for embeddings", async () => {
    // llama-server answers a pair longer than its batch with a 500 of its own.
    const tooLong = await postJson(`${server.url}/v1/rerank`, {
      model: `pool/${RERANKER}`,
      query: QUERY,
      documents: ["word ".repeat(2000)],
    });
    assert.equal(tooLong.status, 502, tooLong.text);
    assert.equal(tooLong.json.error.code, "upstream_error");
    assert.match(tooLong.json.error.message, /too large to process/);
  });
});

describe("rerank through an upstream that answers oddly", { timeout: 60_000 }, () => {
  let answer: () => unknown;
  const received: Array<Record<string, unknown>> = [];
  let upstream: Server;
  let server: TestServer;

  before(async () => {
    upstream = createServer((request, response) => {
      let text = "";
      request.on("data", (chunk: Buffer) => (text += chunk.toString()));
      request.on("end", () => {
        response.setHeader("content-type", "application/json");
        if (request.url === "/v1/models") {
          response.end(JSON.stringify({ object: "list", data: [{ id: "odd" }] }));
          return;
        }
        received.push({ path: request.url, ...(JSON.parse(text) as Record<string, unknown>) });
        response.end(JSON.stringify(answer()));
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    server = await startTestServer({
      models: [{ file: reranker }],
      preload: false,
      upstreams: [{ name: "odd", engine: await poolAt("odd", url) }],
    });
  });
  after(async () => {
    await server?.close();
    upstream?.closeAllConnections();
    await new Promise((resolve) => upstream?.close(resolve));
  });

  const rerank = (body: Record<string, unknown> = {}) =>
    postJson(`${server.url}/v1/rerank`, {
      model: "odd/odd",
      query: QUERY,
      documents: ["a", "b", "c"],
      ...body,
    });

  it("asks for every result as strings, and maps them back by index whatever their order", async () => {
    answer = () => ({
      results: [
        { index: 2, relevance_score: 0.5 },
        { index: 0, relevance_score: 0.9 },
        { index: 1, score: 0.1 },
      ],
      usage: { prompt_tokens: 12 },
    });
    const response = await rerank({ documents: ["a", { text: "b" }, "c"], top_n: 2, return_documents: true });
    assert.equal(response.status, 200, response.text);
    assert.deepEqual(received.at(-1), {
      path: "/v1/rerank",
      model: "odd",
      query: QUERY,
      documents: ["a", "b", "c"],
      top_n: 3,
    });
    assert.deepEqual(response.json.results, [
      { index: 0, relevance_score: 0.9, document: { text: "a" } },
      { index: 2, relevance_score: 0.5, document: { text: "c" } },
    ]);
    assert.deepEqual(response.json.usage, { prompt_tokens: 12, total_tokens: 12 });
  });

  it("answers results that do not cover every document once as a broken replica", async () => {
    const bad = [
      { results: [{ index: 0, relevance_score: 0.9 }] },
      {
        results: [
          { index: 0, relevance_score: 0.9 },
          { index: 0, relevance_score: 0.8 },
          { index: 1, relevance_score: 0.7 },
        ],
      },
      {
        results: [
          { index: 0, relevance_score: 0.9 },
          { index: 1, relevance_score: "high" },
          { index: 2, relevance_score: 0.7 },
        ],
      },
      { results: [{ index: 5, relevance_score: 0.9 }] },
      { data: [] },
    ];
    for (const [attempt, body] of bad.entries()) {
      answer = () => body;
      const response = await rerank();
      const what = `${JSON.stringify(body)} -> ${response.text}`;
      // A 502 naming the fault; after two (ejectAfterFailures) the pool takes the replica out.
      assert.equal(response.status, attempt < 2 ? 502 : 503, what);
      assert.match(response.json.error.message, /rerank result/, what);
    }
  });
});
