// KV-cache quantization and flash attention (`--cache-type`, `--flash-attn`): configuration, the
// real engine on a scripted fixture whose attention heads q8_0/q4_0 blocks divide, /health, the
// disk cache keyed by cache type, the fingerprint, and `qiusuo serve` as users run it.
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { ConfigError, kvCacheOf, loadServeConfig } from "../../src/config/config.js";
import type { KvCacheSettings } from "../../src/core/kv-cache-settings.js";
import { systemFingerprint } from "../../src/core/fingerprint.js";
import { FixtureVocabulary } from "../fixtures/fixture-tokenizer.js";
import { DEFAULT_SCRIPT, ensureFixtureModels, makeScriptedModel } from "../fixtures/models.js";
import { runQiusuo, startServe, stopServe, waitForHealth, waitForOutput } from "./cli-process.js";
import { postJson, startTestServer } from "./harness.js";

const Q8: KvCacheSettings = { keyType: "q8_0", valueType: "q8_0", flashAttention: "on" };
const F16: KvCacheSettings = { keyType: "f16", valueType: "f16", flashAttention: "auto" };

/** Long enough for the disk cache (64 tokens at least; one token per byte here). */
const LONG_PROMPT = {
  model: "scripted",
  messages: [
    { role: "system", content: "Keep this long instruction in mind. ".repeat(10) },
    { role: "user", content: "Q" },
  ],
};

/**
 * The scripted fixture with its attention heads 96 wide: the default one's are 72 (its width is
 * the vocabulary size, 288, over 4 heads), which llama.cpp refuses for q8_0 and q4_0, whose blocks
 * hold 32 values. Extra control tokens, never in a prompt, widen the vocabulary to 384.
 */
async function makeBlockAlignedScripted(file: string): Promise<string> {
  let count = 0;
  const padding = () => Array.from({ length: count }, (_, index) => `<|kv_pad_${index}|>`);
  const paddedSize = () =>
    Math.ceil((new FixtureVocabulary({ extraSpecialTokens: padding() }).size + DEFAULT_SCRIPT.length) / 32) *
    32;
  while (paddedSize() % 128 !== 0) count++;
  const info = makeScriptedModel(file, { script: DEFAULT_SCRIPT, extraSpecialTokens: padding() });
  assert.equal(info.vocabularySize % 128, 0, "4 heads of a multiple of 32");
  return file;
}

async function ask(url: string, body: unknown = LONG_PROMPT) {
  const { status, json } = await postJson(`${url}/v1/chat/completions`, body);
  assert.equal(status, 200, JSON.stringify(json));
  return json;
}

describe("KV-cache type and flash attention", () => {
  let dir: string;
  let model: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "qiusuo-kvcache-"));
    model = await makeBlockAlignedScripted(path.join(dir, "scripted.gguf"));
  });
  after(() => fs.rm(dir, { recursive: true, force: true }));

  describe("configuration", () => {
    const env = { HOME: os.tmpdir() };

    it("defaults to f16 and auto, which is what qiusuo did before", () => {
      assert.deepEqual(kvCacheOf(loadServeConfig({}, env)), F16);
    });

    it("takes flags over the environment over the --config file, and -k/-v over --cache-type", async () => {
      const file = path.join(dir, "config.json");
      await fs.writeFile(file, JSON.stringify({ cacheType: "q4_0", flashAttn: "on" }));
      assert.deepEqual(kvCacheOf(loadServeConfig({ config: file }, env)), {
        keyType: "q4_0",
        valueType: "q4_0",
        flashAttention: "on",
      });
      assert.deepEqual(
        kvCacheOf(loadServeConfig({ config: file }, { ...env, QIUSUO_CACHE_TYPE: "q8_0" })).keyType,
        "q8_0",
      );
      assert.deepEqual(
        kvCacheOf(
          loadServeConfig(
            { config: file, cacheType: "f16", cacheTypeK: "q8_0", flashAttn: "auto" },
            { ...env, QIUSUO_CACHE_TYPE: "q8_0" },
          ),
        ),
        { keyType: "q8_0", valueType: "f16", flashAttention: "auto" },
      );
    });

    it("refuses an unknown type or setting, naming the flag and its variable", () => {
      const problems = (flags: Parameters<typeof loadServeConfig>[0]) => {
        try {
          loadServeConfig(flags, env);
        } catch (error) {
          assert.ok(error instanceof ConfigError);
          return error.problems.join("\n");
        }
        assert.fail("expected a ConfigError");
      };
      assert.match(
        problems({ cacheType: "q5_1" }),
        /cacheType \(--cache-type or QIUSUO_CACHE_TYPE\): .*'q5_1'/,
      );
      assert.match(problems({ cacheTypeV: "f32" }), /--cache-type-v or QIUSUO_CACHE_TYPE_V/);
      assert.match(problems({ flashAttn: "yes" }), /flashAttn \(--flash-attn or QIUSUO_FLASH_ATTN\)/);
    });

    it("refuses a quantized V cache with flash attention off, and allows a quantized K alone", () => {
      assert.throws(
        () => loadServeConfig({ cacheType: "q8_0", flashAttn: "off" }, env),
        (error: unknown) =>
          error instanceof ConfigError &&
          /--cache-type-v.*needs flash attention.*--flash-attn off/.test(error.message),
      );
      const config = loadServeConfig({ cacheTypeK: "q8_0", flashAttn: "off" }, env);
      assert.deepEqual(kvCacheOf(config), { keyType: "q8_0", valueType: "f16", flashAttention: "off" });
    });
  });

  it("q8_0 with flash attention answers the script as f16 does, and /health shows it", async () => {
    const replies: unknown[] = [];
    for (const kvCache of [F16, Q8, { ...Q8, keyType: "q4_0", valueType: "q4_0" } as const]) {
      const server = await startTestServer({ models: [{ file: model }], engine: { kvCache } });
      try {
        const reply = await ask(server.url);
        replies.push(reply.choices[0].message);
        const health = (await (await fetch(`${server.url}/health`)).json()) as any;
        assert.equal(health.models[0].cache_type_k, kvCache.keyType);
        assert.equal(health.models[0].cache_type_v, kvCache.valueType);
        // On the CPU "auto" is flash attention on, as llama.cpp decides it.
        assert.equal(health.models[0].flash_attention, true);
        assert.equal(health.models[0].context_size, 512);
        const details = (await (await fetch(`${server.url}/api/models`)).json()) as any;
        assert.equal(details.data[0].cacheTypeK, kvCache.keyType);
      } finally {
        await server.close();
      }
    }
    // Attention weights are zero in the scripted model, so a lossy cache cannot change its output.
    assert.deepEqual(replies[1], replies[0]);
    assert.deepEqual(replies[2], replies[0]);
    assert.equal((replies[0] as { content: string }).content, "The answer is 42");
  });

  it("a model whose heads the blocks do not divide is refused with the reason, not 'Failed to create context'", async () => {
    const { scripted } = ensureFixtureModels(); // heads of 72
    const server = await startTestServer({ models: ["scripted"], engine: { kvCache: Q8 }, preload: false });
    try {
      const { status, json } = await postJson(`${server.url}/v1/chat/completions`, LONG_PROMPT);
      assert.equal(status, 503);
      assert.match(json.error.message, /--cache-type-k q8_0 .*blocks of 32 .*head size of 72/);
      const health = (await (await fetch(`${server.url}/health`)).json()) as any;
      assert.equal(health.models[0].state, "failed");
      assert.ok(scripted);
    } finally {
      await server.close();
    }
  });

  it("a disk-cache state saved under f16 is never restored under q8_0: a miss, then its own hit", async () => {
    const cacheDir = path.join(dir, "disk-cache");
    const serve = (kvCache: KvCacheSettings) =>
      startTestServer({ models: [{ file: model }], engine: { cacheDir, kvCache } });
    const fill = await serve(F16);
    const cold = await ask(fill.url);
    await fill.close(); // saves the prompt's state to disk
    assert.equal(cold.usage.prompt_cache_hit_tokens, 0);
    const expectedHit = Math.floor((cold.usage.prompt_tokens - 1) / 64) * 64;
    assert.ok(expectedHit > 0);

    const quantized = await serve(Q8);
    const miss = await ask(quantized.url);
    await quantized.close();
    assert.equal(miss.usage.prompt_cache_hit_tokens, 0, "f16's state is not offered to a q8_0 context");
    assert.deepEqual(miss.choices[0].message, cold.choices[0].message);

    // Each keeps its own: f16 finds its state (so there was one to refuse), and q8_0 now its own.
    for (const kvCache of [F16, Q8]) {
      const server = await serve(kvCache);
      try {
        const warm = await ask(server.url);
        assert.equal(warm.usage.prompt_cache_hit_tokens, expectedHit, `${kvCache.keyType} hits its own`);
        assert.deepEqual(warm.choices[0].message, cold.choices[0].message);
      } finally {
        await server.close();
      }
    }
  });

  it("the fingerprint and the provenance runtime carry a quantized cache; f16 keeps the old fingerprint", async () => {
    const fingerprints: string[] = [];
    for (const kvCache of [F16, Q8]) {
      const server = await startTestServer({ models: [{ file: model }], engine: { kvCache } });
      try {
        const reply = await ask(server.url);
        const provenance = await server.engine.provenance("scripted");
        assert.equal(provenance.runtime?.cacheTypeK, kvCache.keyType);
        assert.equal(provenance.runtime?.cacheTypeV, kvCache.valueType);
        assert.equal(provenance.runtime?.flashAttention, true);
        assert.equal(reply.system_fingerprint, systemFingerprint(provenance));
        fingerprints.push(reply.system_fingerprint);
        if (kvCache === F16) {
          const { runtime: _runtime, ...withoutRuntime } = provenance;
          assert.equal(reply.system_fingerprint, systemFingerprint(withoutRuntime), "unchanged for f16");
        }
      } finally {
        await server.close();
      }
    }
    assert.notEqual(fingerprints[0], fingerprints[1]);
  });

  describe("qiusuo serve", () => {
    it("--help names the flags with their defaults", () => {
      const help = runQiusuo(["serve", "--help"]).stdout.replace(/\s+/g, " ");
      assert.match(help, /--cache-type <f16\|q8_0\|q4_0> [^(]*\(default f16\)/);
      assert.match(help, /--cache-type-k <f16\|q8_0\|q4_0>/);
      assert.match(help, /--cache-type-v <f16\|q8_0\|q4_0>/);
      assert.match(help, /--flash-attn <auto\|on\|off> [^(]*\(default auto\)/);
    });

    it("an invalid --cache-type stops it at start with the flag named", () => {
      const result = runQiusuo(["serve", "--model", model, "--port", "0", "--cache-type", "q3"]);
      assert.notEqual(result.status, 0);
      assert.match(result.stderr, /--cache-type or QIUSUO_CACHE_TYPE/);
    });

    it("with --config's cacheType q8_0 and flashAttn on: the startup line and /health say so", async () => {
      const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "qiusuo-kvserve-"));
      const config = path.join(dataDir, "config.json");
      await fs.writeFile(config, JSON.stringify({ cacheType: "q8_0", flashAttn: "on", contextSize: 1024 }));
      const server = await startServe(["--model", model, "--data-dir", dataDir, "--config", config]);
      try {
        const health = await waitForHealth(server.url, 200);
        const line = await waitForOutput(server, /(is ready \(context .*\))/);
        assert.match(line, /context 1024 tokens × \d+ sequence\(s\), KV cache q8_0, flash attention on/);
        assert.equal(health.models[0].cache_type_k, "q8_0");
        assert.equal(health.models[0].context_size, 1024);
        const reply = await ask(server.url);
        assert.equal(reply.choices[0].message.content, "The answer is 42");
      } finally {
        assert.equal(await stopServe(server.child), 0);
        await fs.rm(dataDir, { recursive: true, force: true });
      }
    });
  });
});
