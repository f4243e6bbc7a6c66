import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ConfigError, loadServeConfig } from "../../src/config/config.js";
import { AppClient, type TestServer, postJson, postStream, readSse, startTestServer } from "./harness.js";

/** Reads Prometheus text into `name{labels}` -> value, labels in the order the registry writes them. */
function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][\w:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    assert.ok(match, `not a Prometheus sample line: ${JSON.stringify(line)}`);
    samples.set(match[1]!, Number(match[2]));
  }
  return samples;
}

async function scrape(server: TestServer) {
  const response = await fetch(`${server.url}/metrics`);
  assert.equal(response.status, 200);
  const text = await response.text();
  return { response, text, samples: parseMetrics(text) };
}

function value(samples: Map<string, number>, key: string): number {
  const found = samples.get(key);
  assert.notEqual(found, undefined, `no sample ${key}`);
  return found!;
}

describe("GET /metrics", () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ models: ["scripted"] });
  });
  after(() => server.close());

  it("counts requests, tokens and latencies exactly, with gauges read at scrape time", async () => {
    // Long enough that the second request reuses whole 64-token units of the first one's prompt.
    const messages = [{ role: "user", content: "What is the answer? ".repeat(10) }];
    const first = await postJson(`${server.url}/v1/chat/completions`, { model: "scripted", messages });
    const second = await postJson(`${server.url}/v1/chat/completions`, {
      model: "deepseek-reasoner",
      messages,
    });
    const streamed = await postStream(`${server.url}/v1/chat/completions`, {
      model: "scripted",
      messages: [{ role: "user", content: "Q" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const events = await readSse(streamed);
    const streamedUsage = (events.at(-2) as Record<string, any>).usage;
    for (const reply of [first, second]) assert.equal(reply.status, 200);
    const usages = [first.json.usage, second.json.usage, streamedUsage];
    for (const usage of usages) assert.equal(usage.completion_tokens, 4);

    const { response, text, samples } = await scrape(server);
    assert.match(response.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    assert.match(text, /^# HELP qiusuo_requests_total /m);
    assert.match(text, /^# TYPE qiusuo_time_to_first_token_seconds histogram$/m);

    const model = '{model="scripted"}';
    assert.equal(value(samples, 'qiusuo_requests_total{model="scripted",outcome="stop"}'), 3);
    assert.equal(value(samples, `qiusuo_completion_tokens_total${model}`), 3 * 4);
    assert.equal(value(samples, `qiusuo_reasoning_tokens_total${model}`), 3 * 3);
    const promptTokens = usages.reduce((sum, usage) => sum + usage.prompt_tokens, 0);
    assert.equal(value(samples, `qiusuo_prompt_tokens_total${model}`), promptTokens);
    // The series is exact; the API rounds hits down to DeepSeek's 64-token units.
    const reportedHits = usages.reduce((sum, usage) => sum + usage.prompt_cache_hit_tokens, 0);
    const hits = value(samples, `qiusuo_prompt_cache_hit_tokens_total${model}`);
    assert.ok(second.json.usage.prompt_cache_hit_tokens >= 128, "the repeated prompt was reused");
    assert.ok(hits >= reportedHits && hits < reportedHits + 64 * usages.length, `${hits} vs ${reportedHits}`);

    // One first token and three more per request: four tokens each.
    assert.equal(value(samples, `qiusuo_time_to_first_token_seconds_count${model}`), 3);
    assert.equal(value(samples, `qiusuo_time_to_first_token_seconds_bucket{le="60",model="scripted"}`), 3);
    assert.equal(value(samples, `qiusuo_inter_token_latency_seconds_count${model}`), 3 * 3);
    assert.ok(samples.has(`qiusuo_inter_token_latency_seconds_bucket{le="0.001",model="scripted"}`));

    assert.equal(value(samples, "qiusuo_busy_sequences"), 0);
    assert.equal(value(samples, "qiusuo_queued_requests"), 0);
    assert.equal(value(samples, "qiusuo_requests_waiting_for_model"), 0);
    assert.equal(value(samples, "qiusuo_loaded_models"), 1);
    assert.ok(value(samples, "process_resident_memory_bytes") > 0);
    assert.ok(value(samples, 'qiusuo_llama_memory_bytes{device="cpu"}') > 0);
  });

  it("counts a request the model refuses as an error, with no tokens", async () => {
    const before = (await scrape(server)).samples;
    const refused = await postJson(`${server.url}/v1/chat/completions`, {
      model: "scripted",
      messages: [{ role: "user", content: "x".repeat(2000) }], // more than the 512-token context
    });
    assert.equal(refused.status, 400);
    const { samples } = await scrape(server);
    assert.equal(value(samples, 'qiusuo_requests_total{model="scripted",outcome="error"}'), 1);
    for (const series of ["qiusuo_completion_tokens_total", "qiusuo_prompt_tokens_total"]) {
      const key = `${series}{model="scripted"}`;
      assert.equal(value(samples, key), value(before, key));
    }
  });

  it("does not count requests for models that do not exist", async () => {
    const missing = await postJson(`${server.url}/v1/chat/completions`, {
      model: "no-such-model",
      messages: [{ role: "user", content: "Q" }],
    });
    assert.equal(missing.status, 400);
    const { text } = await scrape(server);
    assert.doesNotMatch(text, /no-such-model/);
  });
});

describe("GET /metrics in accounts mode", () => {
  let server: TestServer;
  let adminKey: string;
  let userKey: string;
  before(async () => {
    server = await startTestServer({ accounts: true, preload: false });
    const admin = await server.store.users.create({ name: "ops", role: "admin", password: "ops password" });
    const user = await server.store.users.create({ name: "bob", role: "user", password: "bob password" });
    adminKey = (await server.store.apiKeys.create({ userId: admin.id, name: "prometheus" })).plaintext;
    userKey = (await server.store.apiKeys.create({ userId: user.id, name: "bob" })).plaintext;
  });
  after(() => server.close());

  const get = (headers: Record<string, string> = {}) => fetch(`${server.url}/metrics`, { headers });

  it("refuses a scrape without a key with 401 in DeepSeek's envelope", async () => {
    const response = await get();
    assert.equal(response.status, 401);
    const body = (await response.json()) as any;
    assert.equal(body.error.code, "missing_api_key");
    assert.equal(body.error.type, "authentication_error");
  });

  it("refuses a key that is not an admin's with 403", async () => {
    const response = await get({ authorization: `Bearer ${userKey}` });
    assert.equal(response.status, 403);
    assert.equal(((await response.json()) as any).error.code, "admin_only");
  });

  it("serves an admin's key, as Prometheus's authorization setting sends it", async () => {
    const response = await get({ authorization: `Bearer ${adminKey}` });
    assert.equal(response.status, 200);
    assert.match(await response.text(), /^# HELP qiusuo_requests_total /m);
  });

  it("serves an admin's app session, and refuses another user's", async () => {
    const admin = new AppClient(server.url);
    await admin.login("ops", "ops password");
    const adminScrape = await admin.request("GET", "/metrics");
    assert.equal(adminScrape.status, 200);
    assert.match(adminScrape.text, /qiusuo_loaded_models/);
    const bob = new AppClient(server.url);
    await bob.login("bob", "bob password");
    assert.equal((await bob.request("GET", "/metrics")).status, 403);
  });

  it("serves anyone with --metrics public", async () => {
    const open = await startTestServer({ accounts: true, preload: false, app: { metricsAccess: "public" } });
    try {
      const response = await fetch(`${open.url}/metrics`);
      assert.equal(response.status, 200);
      assert.match(await response.text(), /qiusuo_loaded_models/);
    } finally {
      await open.close();
    }
  });
});

describe("who may read /metrics, as configured", () => {
  const env = { HOME: "/nonexistent" };

  it("is admin by default, public with --metrics public or QIUSUO_METRICS=public", () => {
    assert.equal(loadServeConfig({}, env).metrics, "admin");
    assert.equal(loadServeConfig({}, { ...env, QIUSUO_METRICS: "public" }).metrics, "public");
    assert.equal(
      loadServeConfig({ metrics: "admin" }, { ...env, QIUSUO_METRICS: "public" }).metrics,
      "admin",
    );
  });

  it("names the flag and the variable for any other value", () => {
    assert.throws(
      () => loadServeConfig({ metrics: "open" }, env),
      (error: unknown) =>
        error instanceof ConfigError && /metrics \(--metrics or QIUSUO_METRICS\)/.test(error.message),
    );
  });
});
