import assert from "node:assert/strict";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { postJson, startTestServer } from "./harness.js";

/** A system prompt long enough to span several 64-token cache units (one token per byte here). */
const SYSTEM = "You are a careful assistant. ".repeat(12);

const turn1 = {
  model: "scripted",
  messages: [
    { role: "system", content: SYSTEM },
    { role: "user", content: "First?" },
  ],
};
const turn2 = {
  model: "scripted",
  messages: [
    ...turn1.messages,
    { role: "assistant", content: "The answer is 42" },
    { role: "user", content: "Second?" },
  ],
};

const unitsOf64 = (tokens: number) => Math.floor(tokens / 64) * 64;

function assertAccounting(usage: Record<string, number>): void {
  assert.equal(usage.prompt_cache_hit_tokens! % 64, 0, "hits come in units of 64");
  assert.equal(usage.prompt_cache_hit_tokens! + usage.prompt_cache_miss_tokens!, usage.prompt_tokens);
}

describe("context cache", () => {
  let dir: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "qiusuo-cache-"));
  });
  after(() => fs.rm(dir, { recursive: true, force: true }));

  it("reports exact cache hits in memory: a repeat, and the next turn of a chat", async () => {
    const server = await startTestServer();
    try {
      const first = (await postJson(`${server.url}/v1/chat/completions`, turn1)).json;
      assert.equal(first.usage.prompt_cache_hit_tokens, 0);
      assertAccounting(first.usage);
      const repeat = (await postJson(`${server.url}/v1/chat/completions`, turn1)).json;
      // All but the last prompt token is reused (its logits are needed again).
      assert.equal(repeat.usage.prompt_cache_hit_tokens, unitsOf64(first.usage.prompt_tokens - 1));
      assertAccounting(repeat.usage);
      const second = (await postJson(`${server.url}/v1/chat/completions`, turn2)).json;
      // Turn 1's whole prompt is a prefix of turn 2's.
      assert.equal(second.usage.prompt_cache_hit_tokens, unitsOf64(first.usage.prompt_tokens));
      assertAccounting(second.usage);
      assert.equal(second.choices[0].message.content, "The answer is 42");
    } finally {
      await server.close();
    }
  });

  it("restores the prefix from disk after a restart", async () => {
    const cacheDir = path.join(dir, "restart");
    const before = await startTestServer({ engine: { cacheDir } });
    const cold = (await postJson(`${before.url}/v1/chat/completions`, turn1)).json;
    await before.close();
    assert.equal(cold.usage.prompt_cache_hit_tokens, 0);

    const after = await startTestServer({ engine: { cacheDir } });
    try {
      const warm = (await postJson(`${after.url}/v1/chat/completions`, turn1)).json;
      assert.equal(warm.usage.prompt_cache_hit_tokens, unitsOf64(cold.usage.prompt_tokens - 1));
      assertAccounting(warm.usage);
      assert.deepEqual(warm.choices[0].message, cold.choices[0].message);
      const next = (await postJson(`${after.url}/v1/chat/completions`, turn2)).json;
      assert.equal(next.usage.prompt_cache_hit_tokens, unitsOf64(cold.usage.prompt_tokens));
    } finally {
      await after.close();
    }
  });

  it("evicts the least recently used states to stay under its size cap", async () => {
    const cacheDir = path.join(dir, "evict");
    // Measure one state's size, then allow room for two.
    const probe = await startTestServer({ engine: { cacheDir: path.join(dir, "probe") } });
    await postJson(`${probe.url}/v1/chat/completions`, turn1);
    await probe.close();
    const probeFiles = await listStates(path.join(dir, "probe"));
    assert.equal(probeFiles.length, 1);
    const stateBytes = probeFiles[0]!.size;

    const server = await startTestServer({
      engine: { cacheDir, cacheMaxBytes: Math.floor(stateBytes * 2.5) },
    });
    try {
      for (const topic of ["apples", "bridges", "comets", "deserts"]) {
        await postJson(`${server.url}/v1/chat/completions`, {
          model: "scripted",
          messages: [
            { role: "system", content: `${topic}: ${SYSTEM}` },
            { role: "user", content: "Q" },
          ],
        });
      }
      await server.close();
      const files = await listStates(cacheDir);
      const total = files.reduce((sum, file) => sum + file.size, 0);
      assert.ok(total <= stateBytes * 2.5, `cache holds ${total} bytes, cap ${stateBytes * 2.5}`);
      assert.equal(files.length, 2);
    } catch (error) {
      await server.close().catch(() => undefined);
      throw error;
    }
  });

  it("never mixes two conversations that take turns on one sequence", async () => {
    const tinyChat = (system: string, ...turns: string[]) => ({
      model: "tiny",
      temperature: 0,
      max_tokens: 16,
      messages: [
        { role: "system", content: system },
        ...turns.map((content, index) => ({ role: index % 2 === 0 ? "user" : "assistant", content })),
      ],
    });
    const shared = await startTestServer({ models: ["tiny"], engine: { parallel: 1 } });
    const answer = async (url: string, body: unknown) =>
      (await postJson(`${url}/v1/chat/completions`, body)).json.choices[0].message.content as string;
    let interleaved: string[];
    try {
      const a1 = await answer(shared.url, tinyChat("Conversation A", "hello from A"));
      const b1 = await answer(shared.url, tinyChat("Conversation B, another topic", "hello from B"));
      const a2 = await answer(shared.url, tinyChat("Conversation A", "hello from A", a1, "more A"));
      const b2 = await answer(
        shared.url,
        tinyChat("Conversation B, another topic", "hello from B", b1, "more B"),
      );
      interleaved = [a1, b1, a2, b2];
    } finally {
      await shared.close();
    }
    // Each conversation alone on a fresh server must give the same answers.
    const [a1, b1, a2, b2] = interleaved;
    for (const [body, expected] of [
      [tinyChat("Conversation A", "hello from A", a1!, "more A"), a2],
      [tinyChat("Conversation B, another topic", "hello from B", b1!, "more B"), b2],
    ] as const) {
      const fresh = await startTestServer({ models: ["tiny"], engine: { parallel: 1 } });
      try {
        assert.equal(await answer(fresh.url, body), expected);
      } finally {
        await fresh.close();
      }
    }
  });
});

async function listStates(dir: string): Promise<Array<{ name: string; size: number }>> {
  const files: Array<{ name: string; size: number }> = [];
  for (const folder of await fs.readdir(dir)) {
    for (const name of await fs.readdir(path.join(dir, folder))) {
      if (name.endsWith(".kv"))
        files.push({ name, size: (await fs.stat(path.join(dir, folder, name))).size });
    }
  }
  return files;
}
