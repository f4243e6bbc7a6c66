import assert from "node:assert/strict";
import { createHook } from "node:async_hooks";
import { after, before, describe, it } from "node:test";
import { AppClient, postStream, startTestServer, type TestServer } from "./harness.js";

/**
 * Resources that run on libuv's thread pool. `qiusuo` gives the pool one thread, which llama.cpp's
 * decodes occupy (src/cli/qiusuo.cts), so a request that queues work there waits for a whole
 * decode (a prompt's read: hundreds of milliseconds) before it reaches the engine. Synchronous
 * crypto calls create RANDOMBYTESREQUEST jobs that never reach the pool, so they are not listed.
 */
const POOL_RESOURCES = new Set([
  "FSREQCALLBACK",
  "FSREQPROMISE",
  "GETADDRINFOREQWRAP",
  "GETNAMEINFOREQWRAP",
  "PBKDF2REQUEST",
  "SCRYPTREQUEST",
  "ZLIB",
]);

/** The pool resources `work` created, each with the stack that created it. */
async function poolWorkDuring(work: () => Promise<void>): Promise<string[]> {
  const queued: string[] = [];
  const hook = createHook({
    init(_id, type) {
      if (POOL_RESOURCES.has(type)) queued.push(`${type}\n${new Error().stack}`);
    },
  }).enable();
  try {
    await work();
  } finally {
    hook.disable();
  }
  return queued;
}

describe("a reply's path to the engine", () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ models: ["scripted"] });
  });
  after(async () => server.close());

  it("queues nothing on libuv's thread pool once the model has answered once", async () => {
    const ask = (stream: boolean) =>
      postStream(`${server.url}/v1/chat/completions`, {
        model: "scripted",
        messages: [{ role: "user", content: "hello" }],
        max_tokens: 4,
        stream,
      });
    const first = (await (await ask(false)).json()) as { object: string };
    assert.equal(first.object, "chat.completion"); // the first reply may read files once
    const queued = await poolWorkDuring(async () => {
      for (const stream of [false, true, false, true]) {
        const response = await ask(stream);
        assert.equal(response.status, 200);
        await response.text();
      }
    });
    assert.deepEqual(queued, []);
  });

  it("nor does a turn in the chat app, from the message to the saved reply", async () => {
    const client = new AppClient(server.url);
    const created = await client.request("POST", "/api/conversations", {});
    const { id } = created.json as { id: string };
    let parentId: string | null = null;
    const turn = async () => {
      const { status, events } = await client.send(id, { parentId, content: "hello", thinking: false });
      assert.equal(status, 200);
      const done = events.find((event) => event.event === "done");
      assert.equal(done?.data.status, "complete");
      parentId = done!.data.id as string;
    };
    await turn();
    const queued = await poolWorkDuring(async () => {
      await turn();
      await turn();
    });
    assert.deepEqual(queued, []);
  });
});
