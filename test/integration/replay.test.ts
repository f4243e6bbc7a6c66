// Replay and system_fingerprint: stored local replies re-run on the same weights, template, prompt,
// settings and seed come out identical token for token (greedy and seeded sampling on the CPU);
// a changed model file and an upstream reply are refused; `qiusuo replay` does the same from the
// built CLI; every chat completion carries a fingerprint of the weights that answered.
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { ChatEvent } from "../../src/core/chat.js";
import type { Engine, ModelInfo, ModelProvenance } from "../../src/core/engine.js";
import { replicaFingerprint } from "../../src/core/fingerprint.js";
import { openStore } from "../../src/store/store.js";
import { ensureFixtureModels } from "../fixtures/models.js";
import { cli, runQiusuo } from "./cli-process.js";
import { AppClient, postJson, readSse, startTestServer, type TestServer } from "./harness.js";

/** Sends a message in a new conversation of `model` and returns the finished reply. */
async function reply(client: AppClient, model: string, content: string, temperature?: number) {
  const created = await client.request("POST", "/api/conversations", {
    settings: { model, ...(temperature === undefined ? {} : { temperature }) },
  });
  assert.equal(created.status, 201, created.text);
  const sent = await client.send(created.json.id, { parentId: null, content });
  const done = sent.events.find((event) => event.event === "done");
  assert.ok(done, JSON.stringify(sent.events));
  return { conversationId: created.json.id as string, reply: done.data };
}

function replay(client: AppClient, conversationId: string, messageId: string) {
  return client.request("POST", `/api/conversations/${conversationId}/messages/${messageId}/replay`);
}

describe("replay of stored replies", () => {
  let server: TestServer;
  let client: AppClient;
  before(async () => {
    server = await startTestServer({ models: ["scripted", "tiny"] });
    client = new AppClient(server.url);
  });
  after(() => server.close());

  it("replays a scripted reply identically", async () => {
    const { conversationId, reply: stored } = await reply(client, "scripted", "hello");
    const result = await replay(client, conversationId, stored.id);
    assert.equal(result.status, 200, result.text);
    assert.equal(result.json.identical, true, result.text);
    assert.equal(result.json.modelSha256, stored.provenance.modelSha256);
    assert.ok(result.json.storedTokens > 0);
    assert.equal(result.json.storedTokens, result.json.replayedTokens);
    assert.equal(result.json.seed, stored.provenance.seed);
  });

  it("replays the random model greedily (temperature 0) identically", async () => {
    const { conversationId, reply: stored } = await reply(client, "tiny", "greedy please", 0);
    assert.equal(stored.settings.temperature, 0);
    const result = await replay(client, conversationId, stored.id);
    assert.equal(result.json.identical, true, result.text);
    assert.ok(result.json.generatedTokens.replayed > 0, result.text);
  });

  it("replays the random model sampled at temperature 1 with its seed identically", async () => {
    const { conversationId, reply: stored } = await reply(client, "tiny", "sample please", 1);
    assert.equal(stored.settings.temperature, 1);
    assert.equal(typeof stored.provenance.seed, "number");
    for (let run = 0; run < 2; run++) {
      const result = await replay(client, conversationId, stored.id);
      assert.equal(result.json.identical, true, result.text);
      assert.equal(result.json.generatedTokens.replayed, stored.usage.completion_tokens, result.text);
    }
  });

  it("records the seed a regenerated reply really used, and replays it identically", async () => {
    const { conversationId, reply: first } = await reply(client, "tiny", "regenerate me", 1);
    const regenerated = await client.send(
      conversationId,
      {},
      `/api/conversations/${conversationId}/messages/${first.id}/regenerate`,
    );
    const done = regenerated.events.find((event) => event.event === "done");
    assert.ok(done, JSON.stringify(regenerated.events));
    const second = done.data;
    assert.notEqual(second.id, first.id);
    assert.equal(typeof second.provenance.seed, "number", "a regenerated reply records its own seed");
    assert.notEqual(second.provenance.seed, first.provenance.seed, "a fresh seed, not the first reply's");
    assert.match(second.provenance.startedAt, /^\d{4}-\d\d-\d\dT/);
    const result = await replay(client, conversationId, second.id);
    assert.equal(result.json.identical, true, result.text);
    assert.equal(result.json.seed, second.provenance.seed);
  });

  it("reports a difference with the first differing token when the output is not the same", async () => {
    const { conversationId, reply: stored } = await reply(client, "tiny", "tamper with me", 1);
    // A wrong seed on record (as when a regenerate stored its parent's): sampling goes elsewhere.
    // A short reply of the random model can come out the same under a few seeds; one of 20 won't.
    let result: Awaited<ReturnType<typeof replay>> | undefined;
    for (let offset = 1; offset <= 20; offset++) {
      await server.store.conversations.recordProvenance(stored.id, {
        ...stored.provenance,
        seed: stored.provenance.seed + offset * 7919,
      });
      result = await replay(client, conversationId, stored.id);
      if (result.json?.identical !== true) break;
    }
    assert.ok(result);
    assert.equal(result.status, 200, result.text);
    assert.equal(result.json.identical, false, result.text);
    const { tokenIndex, stored: before, replayed } = result.json.difference;
    assert.equal(typeof tokenIndex, "number");
    assert.ok(tokenIndex < result.json.storedTokens, result.text);
    assert.notEqual(before, replayed);
  });

  it("is owner-only: another user's reply is a 404", async () => {
    const { conversationId, reply: stored } = await reply(client, "scripted", "mine");
    const missing = await replay(client, conversationId, "no-such-message");
    assert.equal(missing.status, 404);
    const wrong = await replay(client, "no-such-conversation", stored.id);
    assert.equal(wrong.status, 404);
  });

  it("gives every chat completion a system_fingerprint, stable per model and different between models", async () => {
    const complete = async (model: string) => {
      const response = await postJson(`${server.url}/v1/chat/completions`, {
        model,
        messages: [{ role: "user", content: "hi" }],
        max_tokens: 4,
      });
      assert.equal(response.status, 200);
      return response.json.system_fingerprint as string;
    };
    const first = await complete("scripted");
    assert.match(first, /^fp_[0-9a-f]{10}$/);
    assert.equal(await complete("scripted"), first);
    const tiny = await complete("tiny");
    assert.match(tiny, /^fp_[0-9a-f]{10}$/);
    assert.notEqual(tiny, first);

    const stream = await fetch(`${server.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "scripted", messages: [{ role: "user", content: "hi" }], stream: true }),
    });
    const chunks = (await readSse(stream)).filter((chunk) => chunk !== "[DONE]");
    assert.ok(chunks.length > 2);
    for (const chunk of chunks) assert.equal(chunk.system_fingerprint, first);

    const completion = await postJson(`${server.url}/beta/completions`, {
      model: "scripted",
      prompt: "hi",
      max_tokens: 2,
    });
    assert.equal(completion.status, 200, completion.text);
    assert.equal(completion.json.system_fingerprint, first, "FIM and plain completions carry it too");
  });
});

describe("replay refusals", () => {
  let dir: string;
  let server: TestServer;
  let client: AppClient;
  const upstream = fakeUpstream();
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "qiusuo-replay-"));
    await fs.copyFile(ensureFixtureModels().tiny, path.join(dir, "swapped.gguf"));
    server = await startTestServer({
      models: [{ file: path.join(dir, "swapped.gguf") }],
      upstreams: [{ name: "pool", engine: upstream }],
    });
    client = new AppClient(server.url);
  });
  after(async () => {
    await server.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("refuses a reply whose model file has changed, naming both hashes", async () => {
    const { conversationId, reply: stored } = await reply(client, "swapped", "before the swap", 0);
    const storedSha = stored.provenance.modelSha256 as string;
    assert.match(storedSha, /^[0-9a-f]{64}$/);
    // Another fixture under the same name (a later mtime, so the digest is computed again).
    await new Promise((resolve) => setTimeout(resolve, 20));
    await fs.copyFile(ensureFixtureModels().scripted, path.join(dir, "swapped.gguf"));
    const result = await replay(client, conversationId, stored.id);
    assert.equal(result.status, 409, result.text);
    assert.equal(result.json.error.code, "replay_model_changed");
    assert.match(
      result.json.error.message,
      /the model file has changed: stored sha [0-9a-f]{64}, now [0-9a-f]{64}/i,
    );
    assert.ok(result.json.error.message.includes(storedSha));
  });

  it("refuses an upstream reply: replay is for local weights", async () => {
    const { conversationId, reply: stored } = await reply(client, "pool/m", "remote question");
    assert.equal(stored.provenance.pool, "pool");
    const result = await replay(client, conversationId, stored.id);
    assert.equal(result.status, 409, result.text);
    assert.equal(result.json.error.code, "replay_upstream");
    assert.match(result.json.error.message, /local weights/);
  });

  it("gives upstream chunks the pool's fingerprint until the finish names the replica", async () => {
    const stream = await fetch(`${server.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "pool/m", messages: [{ role: "user", content: "hi" }], stream: true }),
    });
    const chunks = (await readSse(stream)).filter((chunk) => chunk !== "[DONE]");
    const last = chunks.at(-1)!;
    assert.ok(last.choices[0].finish_reason);
    assert.equal(last.system_fingerprint, replicaFingerprint(SERVED_BY));
    for (const chunk of chunks.slice(0, -1)) {
      assert.match(chunk.system_fingerprint, /^fp_[0-9a-f]{10}$/);
      assert.notEqual(chunk.system_fingerprint, last.system_fingerprint);
    }
    const body = await postJson(`${server.url}/v1/chat/completions`, {
      model: "pool/m",
      messages: [{ role: "user", content: "hi" }],
    });
    assert.equal(body.json.system_fingerprint, replicaFingerprint(SERVED_BY));
  });
});

describe("qiusuo replay (the built CLI)", () => {
  let dataDir: string;
  before(async () => {
    await fs.access(cli).catch(() => {
      throw new Error("run `npm run build` first: the CLI tests use dist/");
    });
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "qiusuo-replay-cli-"));
    await fs.mkdir(path.join(dataDir, "models"));
    await fs.copyFile(ensureFixtureModels().tiny, path.join(dataDir, "models", "tiny.gguf"));
  });
  after(() => fs.rm(dataDir, { recursive: true, force: true }));

  it("re-runs a stored reply from the data dir and says it is identical; refuses unknown ids", async () => {
    const store = await openStore({ dataDir });
    let messageId: string;
    const server = await startTestServer({
      models: [{ file: path.join(dataDir, "models", "tiny.gguf") }],
      store,
    });
    try {
      const client = new AppClient(server.url);
      const { reply: stored } = await reply(client, "tiny", "replay me from the terminal", 1);
      messageId = stored.id;
    } finally {
      await server.close();
      await store.close();
    }
    const result = runQiusuo(["replay", messageId, "--data-dir", dataDir]);
    assert.equal(result.status, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /identical, token for token/);
    assert.match(result.stdout, /weights +sha256 [0-9a-f]{64}/);

    const json = runQiusuo(["replay", messageId, "--data-dir", dataDir, "--json"]);
    assert.equal(json.status, 0, json.stderr);
    const report = JSON.parse(json.stdout);
    assert.equal(report.identical, true);
    assert.equal(report.runtime.threads, 1, "the reply's recorded thread count is used");

    const missing = runQiusuo(["replay", "no-such-message", "--data-dir", dataDir]);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /There is no message 'no-such-message'/);
  });
});

const SERVED_BY = {
  pool: "pool",
  replica: "http://replica.invalid:8000",
  upstreamModel: "m",
  systemFingerprint: "fp_up",
};

/** An upstream pool's engine as the router sees it: one model that always answers the same. */
function fakeUpstream(): Engine {
  const model: ModelInfo = { id: "pool/m", created: 0, ownedBy: "pool", state: "ready", pool: "pool" };
  return {
    listModels: () => [model],
    async chat(): Promise<AsyncIterable<ChatEvent>> {
      return (async function* (): AsyncGenerator<ChatEvent> {
        yield { type: "text-delta", text: "from afar" };
        yield {
          type: "finish",
          finishReason: "stop",
          usage: { promptTokens: 3, promptCacheHitTokens: 0, completionTokens: 2, reasoningTokens: 0 },
          servedBy: SERVED_BY,
        };
      })();
    },
    async provenance(): Promise<ModelProvenance> {
      return {
        model: "pool/m",
        modelFile: "",
        modelSha256: null,
        templateSha256: null,
        pool: "pool",
        upstreamModel: "m",
      };
    },
    async dispose() {},
  };
}
