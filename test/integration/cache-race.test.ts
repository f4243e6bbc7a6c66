// Requests sent the way agents and tool loops send them: the next one the instant the last reply
// ends, with no pause. Each must find its shared prefix in memory, with the disk cache on (its
// saves used to hold the sequence back from the pool, so the next request took an empty one).
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { postJson, startTestServer, type TestServer } from "./harness.js";

/** About 1,500 characters: several 64-token units in any tokenizer here. */
const SYSTEM = "You are a careful assistant who answers briefly and checks every step. ".repeat(21);

const unitsOf64 = (tokens: number) => Math.floor(tokens / 64) * 64;

type Message = { role: string; content: string; tool_call_id?: string };

describe("prefix cache hits on back-to-back requests", { timeout: 180_000 }, () => {
  let server: TestServer;
  let cacheDir: string;

  before(async () => {
    cacheDir = await fs.mkdtemp(path.join(os.tmpdir(), "qiusuo-race-"));
    server = await startTestServer({
      models: ["scripted"],
      engine: { parallel: 4, contextSize: 4096, cacheDir, cacheMaxBytes: 1024 * 1024 * 1024 },
    });
  });
  after(async () => {
    await server?.close();
    await fs.rm(cacheDir, { recursive: true, force: true });
  });

  async function ask(messages: Message[]) {
    const answer = await postJson(`${server.url}/v1/chat/completions`, {
      model: "scripted",
      messages,
      max_tokens: 1,
      temperature: 0,
    });
    assert.equal(answer.status, 200, answer.text);
    return answer.json.usage as { prompt_tokens: number; prompt_cache_hit_tokens: number };
  }

  // Every hit below comes from memory: none may have needed the disk cache.
  const restores = () => server.engine.stats().diskCacheRestores;

  it("hits the shared system prompt on the very next request, without a pause", async () => {
    const first = await ask([
      { role: "system", content: SYSTEM },
      { role: "user", content: "What is a prime number?" },
    ]);
    const second = await ask([
      { role: "system", content: SYSTEM },
      { role: "user", content: "Name a colour of the sky." },
    ]);
    assert.ok(first.prompt_tokens > 256);
    // The system prompt and the template's opening are shared: all of it in 64-token units.
    assert.ok(
      second.prompt_cache_hit_tokens >= unitsOf64(first.prompt_tokens) - 64,
      `hit ${second.prompt_cache_hit_tokens} of ${first.prompt_tokens}`,
    );
    assert.equal(restores(), 0);
  });

  it("hits every step of a 10-step tool loop", async () => {
    const messages: Message[] = [
      { role: "system", content: `${SYSTEM} Tool loop.` },
      { role: "user", content: "Look it up step by step." },
    ];
    let previous = 0;
    for (let step = 0; step < 10; step++) {
      const usage = await ask(messages);
      if (step > 0) {
        assert.ok(
          usage.prompt_cache_hit_tokens >= unitsOf64(previous) - 64,
          `step ${step}: hit ${usage.prompt_cache_hit_tokens} of the previous ${previous}`,
        );
      }
      previous = usage.prompt_tokens;
      messages.push(
        { role: "assistant", content: `Looking up part ${step}.` },
        { role: "user", content: `Result of part ${step}: ${"data ".repeat(8)}` },
      );
    }
    assert.equal(restores(), 0, "every step hit from memory");
  });

  it("hits every turn of 4 conversations sending back-to-back turns at once", async () => {
    const conversations: Message[][] = Array.from({ length: 4 }, (_, index) => [
      { role: "system", content: `Conversation ${index}. ${SYSTEM}` },
    ]);
    await Promise.all(
      conversations.map(async (messages, index) => {
        let previous = 0;
        for (let turn = 0; turn < 5; turn++) {
          messages.push({ role: "user", content: `Turn ${turn} of conversation ${index}?` });
          const usage = await ask(messages);
          if (turn > 0) {
            assert.ok(
              usage.prompt_cache_hit_tokens >= unitsOf64(previous) - 64,
              `conversation ${index}, turn ${turn}: hit ${usage.prompt_cache_hit_tokens} of ${previous}`,
            );
          }
          previous = usage.prompt_tokens;
          messages.push({ role: "assistant", content: "Noted." });
        }
      }),
    );
    assert.equal(restores(), 0, "every turn hit from memory");
  });

  it("still saves prefixes to disk for later requests and restarts", async () => {
    await server.close();
    const entries = (await fs.readdir(cacheDir, { recursive: true })).filter((name) =>
      String(name).endsWith(".kv"),
    );
    assert.ok(entries.length > 0, "the disk cache holds saved states after shutdown");
    server = await startTestServer({
      models: ["scripted"],
      engine: { parallel: 4, contextSize: 4096, cacheDir, cacheMaxBytes: 1024 * 1024 * 1024 },
    });
    const again = await ask([
      { role: "system", content: SYSTEM },
      { role: "user", content: "Name a colour of the sky." },
    ]);
    assert.ok(again.prompt_cache_hit_tokens >= 256, `hit ${again.prompt_cache_hit_tokens} after a restart`);
    assert.equal(restores(), 1, "after a restart the prefix comes from disk");
  });
});
