import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, describe, it } from "node:test";
import { fitContextSize } from "../../src/engines/local/context-fit.js";
import { getRuntime } from "../../src/engines/local/llama-runtime.js";
import { ensureFixtureModels } from "../fixtures/models.js";
import { type TestServer, postJson, postStream, startTestServer, waitFor } from "./harness.js";

const question = [{ role: "user", content: "What is the answer?" }];

async function health(server: TestServer) {
  const response = await fetch(`${server.url}/health`);
  const body = (await response.json()) as Record<string, any>;
  const states = Object.fromEntries(
    (body.models as Array<Record<string, any>>).map((model) => [model.id, model.state]),
  );
  return { status: response.status, body, states };
}

async function askScripted(server: TestServer, model = "scripted") {
  const reply = await postJson(`${server.url}/v1/chat/completions`, { model, messages: question });
  assert.equal(reply.status, 200, reply.text);
  assert.equal(reply.json.choices[0].message.content, "The answer is 42");
  return reply;
}

/** Greedy, the tiny model never picks end-of-generation: it runs to `maxTokens`. */
async function askTiny(server: TestServer, maxTokens = 4) {
  const reply = await postJson(`${server.url}/v1/chat/completions`, {
    model: "tiny",
    messages: question,
    max_tokens: maxTokens,
    temperature: 0,
  });
  assert.equal(reply.status, 200, reply.text);
  assert.equal(reply.json.usage.completion_tokens, maxTokens);
  return reply;
}

describe("model lifecycle", () => {
  const servers: TestServer[] = [];
  const start = async (options: Parameters<typeof startTestServer>[0]) => {
    const server = await startTestServer(options);
    servers.push(server);
    return server;
  };
  after(async () => {
    for (const server of servers) await server.close();
  });

  it("hashes a model's file in the background once it is loaded, before any reply asks", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "qiusuo-digest-"));
    try {
      const file = path.join(dir, "hashed.gguf");
      copyFileSync(ensureFixtureModels().scripted, file);
      const server = await start({ models: [{ file }] });
      assert.equal(server.engine.stats().generatedTokens, 0, "no reply has run");
      await waitFor(() => existsSync(`${file}.sha256`), "the digest is written beside the file");
      const expected = createHash("sha256").update(readFileSync(file)).digest("hex");
      assert.equal(readFileSync(`${file}.sha256`, "utf8"), `${expected}  hashed.gguf\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a model is available but not loaded before its first request, and ready after", async () => {
    const server = await start({ models: ["scripted", "tiny"], preload: false });
    const before = await health(server);
    assert.equal(before.status, 200, "an available default model is healthy: the next request loads it");
    assert.equal(before.body.status, "ok");
    assert.deepEqual(before.states, { scripted: "available", tiny: "available" });
    assert.equal(before.body.models[0].context_size, undefined);
    assert.equal(server.engine.stats().loadedModels, 0);
    const listed = (await (await fetch(`${server.url}/v1/models`)).json()) as Record<string, any>;
    assert.equal(listed.data.find((model: any) => model.id === "scripted").status, "available");

    await askScripted(server);
    const afterFirst = await health(server);
    assert.deepEqual(afterFirst.states, { scripted: "ready", tiny: "available" });
    assert.deepEqual(afterFirst.body.models[0], {
      id: "scripted",
      state: "ready",
      context_size: 512,
      cache_type_k: "f16",
      cache_type_v: "f16",
      flash_attention: true, // "auto" on the CPU
      busy_sequences: 0,
    });
    assert.equal(server.engine.stats().loadedModels, 1);
  });

  it("concurrent first requests share one load", async () => {
    const logs: string[] = [];
    const server = await start({ preload: false, engine: { log: (line) => logs.push(line) } });
    await Promise.all([askScripted(server), askScripted(server, "deepseek-chat"), askScripted(server)]);
    assert.equal(logs.filter((line) => /model scripted is ready/.test(line)).length, 1, logs.join("\n"));
  });

  it("unloads a model idle for --idle-unload seconds and reloads it on the next request", async () => {
    const logs: string[] = [];
    const server = await start({
      preload: false,
      engine: { idleUnloadSeconds: 0.3, log: (line) => logs.push(line) },
    });
    await askScripted(server);
    assert.equal((await health(server)).states.scripted, "ready");
    const generated = server.engine.stats().generatedTokens;

    await waitFor(async () => (await health(server)).states.scripted === "available", "the idle unload");
    const unloaded = await health(server);
    assert.equal(unloaded.status, 200);
    assert.equal(server.engine.stats().loadedModels, 0);
    assert.equal(server.engine.stats().generatedTokens, generated, "totals survive the unload");
    assert.ok(
      logs.some((line) => /model scripted unloaded: idle/.test(line)),
      logs.join("\n"),
    );

    await askScripted(server);
    assert.equal((await health(server)).states.scripted, "ready");
    assert.equal(logs.filter((line) => /model scripted is ready/.test(line)).length, 2);
  });

  it("keeps a model loaded while requests keep coming, whatever the idle time", async () => {
    const server = await start({ engine: { idleUnloadSeconds: 1 } });
    for (let round = 0; round < 6; round++) {
      await askScripted(server);
      await sleep(300); // 1.8 s in all: longer than the idle time, never idle for that long
    }
    assert.equal((await health(server)).states.scripted, "ready");
  });

  it("with --max-loaded-models 1, using another model unloads the idle one", async () => {
    const server = await start({ models: ["scripted", "tiny"], engine: { maxLoadedModels: 1 } });
    assert.deepEqual((await health(server)).states, { scripted: "ready", tiny: "available" });

    await askTiny(server);
    const swapped = await health(server);
    assert.equal(swapped.status, 200);
    assert.deepEqual(swapped.states, { scripted: "available", tiny: "ready" });
    assert.equal(server.engine.stats().loadedModels, 1);

    await askScripted(server, "deepseek-reasoner");
    assert.deepEqual((await health(server)).states, { scripted: "ready", tiny: "available" });
  });

  it("when the only slot is busy, a request for another model waits for it to free up", async () => {
    const server = await start({
      models: ["tiny", "scripted"],
      engine: { maxLoadedModels: 1, contextSize: 4096 },
    });
    const long = askTiny(server, 600);
    await waitFor(async () => server.engine.stats().busySequences === 1, "the tiny model to start");
    const waiting = askScripted(server);
    await waitFor(async () => server.engine.stats().waitingForModel === 1, "the request to wait");
    assert.equal((await health(server)).states.scripted, "available");
    await Promise.all([long, waiting]);
    assert.deepEqual((await health(server)).states, { tiny: "available", scripted: "ready" });
  });

  it("when the only slot stays busy, a request for another model gets a 503 with Retry-After", async () => {
    const server = await start({
      models: ["tiny", "scripted"],
      engine: { maxLoadedModels: 1, contextSize: 4096, loadWaitSeconds: 0.2 },
    });
    const controller = new AbortController();
    const stream = await postStream(
      `${server.url}/v1/chat/completions`,
      {
        model: "tiny",
        messages: question,
        max_tokens: 3000,
        temperature: 0,
        stream: true,
      },
      controller.signal,
    );
    const reader = stream.body!.getReader();
    await reader.read();
    await waitFor(async () => server.engine.stats().busySequences === 1, "the tiny model to start");

    const refused = await postJson(`${server.url}/v1/chat/completions`, {
      model: "scripted",
      messages: question,
    });
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get("retry-after"), "5");
    assert.equal(refused.json.error.code, "models_busy");
    assert.match(refused.json.error.message, /--max-loaded-models/);

    controller.abort();
    await reader.cancel().catch(() => {});
    await waitFor(async () => server.engine.stats().busySequences === 0, "the stream to stop");
    await askScripted(server);
  });

  it("/health is 503 with the reason while the default model downloads or is missing", async () => {
    const server = await start({ models: [] });
    const none = await health(server);
    assert.equal(none.status, 503);
    assert.match(none.body.reason, /No model is configured/);

    server.engine.setPending("pending", "loading", "downloading pending: 42%");
    const loading = await health(server);
    assert.equal(loading.status, 503);
    assert.equal(loading.body.status, "loading");
    assert.equal(loading.body.reason, "downloading pending: 42%");
    const asked = await postJson(`${server.url}/v1/chat/completions`, {
      model: "pending",
      messages: question,
    });
    assert.equal(asked.status, 503);
    assert.equal(asked.headers.get("retry-after"), "5");

    server.engine.setPending("pending", "missing", "The model pending could not be downloaded.");
    const missing = await health(server);
    assert.equal(missing.status, 503);
    assert.equal(missing.body.status, "unavailable");
    assert.deepEqual(missing.states, { pending: "missing" });
  });

  it("an automatic context size is the trained size (capped at 8192) when memory allows", async () => {
    const server = await start({ preload: true, engine: { contextSize: 0 } });
    assert.equal((await health(server)).body.models[0].context_size, 4096, "the fixtures train at 4096");
    await askScripted(server);
  });
});

describe("fitting the context to memory", () => {
  const fixtures = ensureFixtureModels();
  const llama = () => getRuntime({ gpu: "off", maxThreads: 1 });

  it("keeps an explicit size and picks the trained size when memory is plenty", async () => {
    assert.equal(
      (await fitContextSize(await llama(), fixtures.tiny, { requested: 300, parallel: 2 })).contextSize,
      300,
    );
    const auto = await fitContextSize(await llama(), fixtures.tiny, { requested: 0, parallel: 2 });
    assert.deepEqual(auto, { contextSize: 4096, trainContextSize: 4096 });
  });

  it("shrinks the context until the KV cache of every sequence fits, and says why", async () => {
    const ample = await fitContextSize(await llama(), fixtures.tiny, {
      requested: 0,
      parallel: 2,
      freeMemory: { ram: 64 * 1024 ** 2 },
    });
    assert.equal(ample.contextSize, 4096);
    const tight = await fitContextSize(await llama(), fixtures.tiny, {
      requested: 0,
      parallel: 2,
      freeMemory: { ram: 3 * 1000 ** 2 },
    });
    assert.ok(tight.contextSize >= 512 && tight.contextSize < 4096, String(tight.contextSize));
    assert.match(tight.shrunkBecause ?? "", /do not fit in free memory/);
    const fewer = await fitContextSize(await llama(), fixtures.tiny, {
      requested: 0,
      parallel: 4,
      freeMemory: { ram: 3 * 1000 ** 2 },
    });
    assert.ok(fewer.contextSize < tight.contextSize, "more sequences leave less context each");
  });

  it("refuses, naming the numbers, when not even a small context fits", async () => {
    await assert.rejects(
      fitContextSize(await llama(), fixtures.tiny, {
        requested: 0,
        parallel: 2,
        freeMemory: { ram: 100_000 },
      }),
      /Not enough free memory for tiny\.gguf.*--parallel/s,
    );
  });
});
