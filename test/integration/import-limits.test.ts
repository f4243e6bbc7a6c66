// The worst imports of each kind through POST /api/import on the real server: /health is polled
// every 100 ms from a worker thread while each runs, and no poll may wait more than 250 ms. Each
// import ends in a 200 or a typed 4xx (`import_too_large` names the limit), and the
// conversations stored before it are still there, message for message.
//
// Reading the file is sliced (protocol/archive hands the loop back every 20 ms). Two stalls
// remain outside it, kept here as TODO tests that report their longest wait: Fastify's JSON.parse
// of the body (about 20 ms a MB of ChatGPT nodes, so ~0.6 s at the 32 MB body limit) and the
// store writing the messages (~0.1 ms each, one transaction without a turn of the loop).
import assert from "node:assert/strict";
import { after, before, describe, it, type TestContext } from "node:test";
import { IMPORT_LIMITS } from "../../src/protocol/archive/index.js";
import { startHealthPoller, type HealthPollReport } from "./health-poller.js";
import { postJson, startTestServer, type TestServer } from "./harness.js";

const MAX_POLL_WAIT_MS = 250;

/**
 * POSTs `text` to /api/import while polling /health. The body is serialised by the caller
 * before polling starts: the test client shares this process's event loop with the server.
 */
async function importWhilePolling(url: string, text: string) {
  const poller = await startHealthPoller(url, 100);
  let response: Awaited<ReturnType<typeof postJson>>;
  try {
    response = await postJson(`${url}/api/import`, text);
  } finally {
    polls = await poller.stop();
  }
  return response;
}

/** What the poller saw during the last import; checked last, after what was stored. */
let polls: HealthPollReport | undefined;

/** Checks the last import's polls, and reports the longest wait as a diagnostic of test `test`. */
function assertLoopWasFree(test: TestContext): void {
  assert.ok(polls);
  test.diagnostic(`longest /health wait ${Math.round(polls.maxWaitMs)} ms over ${polls.polls} polls`);
  assert.equal(polls.failures, 0, "every /health poll was answered");
  assert.ok(
    polls.maxWaitMs <= MAX_POLL_WAIT_MS,
    `a /health poll waited ${Math.round(polls.maxWaitMs)} ms (limit ${MAX_POLL_WAIT_MS} ms)`,
  );
}

const userText = (text: string) => ({
  author: { role: "user" },
  content: { content_type: "text", parts: [text] },
  create_time: 1_700_000_000,
});

/** ChatGPT conversations of `nodes` nodes each: message-less nodes in a chain, then one user message. */
function chatgptChains(conversations: number, nodes: number): string {
  return JSON.stringify(
    Array.from({ length: conversations }, (_, conversation) => {
      const mapping: Record<string, unknown> = {};
      for (let index = 0; index < nodes; index++) {
        const id = `c${conversation}n${index}`;
        mapping[id] = {
          id,
          parent: index === 0 ? null : `c${conversation}n${index - 1}`,
          children: index === nodes - 1 ? [] : [`c${conversation}n${index + 1}`],
          message: index === nodes - 1 ? userText(`chain ${conversation}`) : null,
        };
      }
      return { title: `Chain ${conversation}`, create_time: 1_700_000_000, mapping };
    }),
  );
}

/** A DeepSeek conversation of `nodes` nodes under a root, one in `every` with text (a turn), the rest web results only. */
function deepseekExport(nodes: number, every: number): string {
  const mapping: Record<string, unknown> = {
    root: { id: "root", parent: null, children: ["1"], message: null },
  };
  for (let index = 1; index < nodes; index++) {
    const turn = index % every === 0;
    mapping[String(index)] = {
      id: String(index),
      parent: index === 1 ? "root" : String(index - 1),
      children: index === nodes - 1 ? [] : [String(index + 1)],
      message: {
        model: "deepseek-chat",
        inserted_at: "2025-03-30T04:49:37.018000+08:00",
        files: [],
        fragments: turn
          ? [{ type: (index / every) % 2 === 1 ? "REQUEST" : "RESPONSE", content: `turn ${index}` }]
          : [{ type: "SEARCH", results: [{ url: "https://example.com", title: "a result" }] }],
      },
    };
  }
  return JSON.stringify([
    {
      id: "long",
      title: "A long search",
      inserted_at: "2025-03-30T04:49:36.505000+08:00",
      updated_at: "2025-03-30T04:50:29.156000+08:00",
      mapping,
    },
  ]);
}

/** A qiusuo export whose conversations hold `sizes[i]` messages in a chain, `text` in each. */
function qiusuoExport(sizes: number[], text = "message"): string {
  return JSON.stringify({
    format: "qiusuo",
    version: 1,
    exportedAt: 1_700_000_000_000,
    conversations: sizes.map((size, conversation) => ({
      title: `Export ${conversation}`,
      createdAt: 1_700_000_000_000,
      updatedAt: 1_700_000_000_000,
      messages: Array.from({ length: size }, (_, index) => ({
        id: `m${index}`,
        parentId: index === 0 ? null : `m${index - 1}`,
        role: index % 2 === 0 ? "user" : "assistant",
        content: `${text} ${index}`,
        createdAt: 1_700_000_000_000 + index,
      })),
    })),
  });
}

describe("the worst imports leave the event loop free and the stored conversations intact", () => {
  let server: TestServer;
  /** What was stored before the imports: every conversation with its messages. */
  let stored: Map<string, unknown>;

  async function snapshot(): Promise<Map<string, unknown>> {
    const response = await fetch(`${server.url}/api/conversations?limit=200`);
    const list = (await response.json()) as { data: Array<{ id: string }> };
    const entries = await Promise.all(
      list.data.map(async ({ id }) => {
        const conversation = await fetch(`${server.url}/api/conversations/${id}`).then((response) =>
          response.json(),
        );
        return [id, conversation] as const;
      }),
    );
    return new Map(entries);
  }

  /** Every conversation stored before is still there, the same; returns how many were added. */
  async function assertIntact(): Promise<number> {
    const now = await snapshot();
    for (const [id, before] of stored) assert.deepEqual(now.get(id), before, `conversation ${id}`);
    return now.size - stored.size;
  }

  before(async () => {
    server = await startTestServer({ preload: false });
    const seeded = await postJson(`${server.url}/api/import`, qiusuoExport([3, 5]));
    assert.equal(seeded.status, 200, seeded.text);
    const chatgpt = await postJson(`${server.url}/api/import`, chatgptChains(1, 10));
    assert.equal(chatgpt.status, 200, chatgpt.text);
    stored = await snapshot();
    assert.equal(stored.size, 3);
  });
  after(() => server.close());

  it("takes a 20,000-node ChatGPT chain of message-less nodes (1.5 MB; 12 s of blocked loop before linear flattening)", async (test) => {
    const response = await importWhilePolling(server.url, chatgptChains(1, 20_000));
    assert.equal(response.status, 200, response.text);
    assert.deepEqual(response.json, { imported: 1, format: "chatgpt" });
    assert.equal(await assertIntact(), 1);
    stored = await snapshot();
    assertLoopWasFree(test);
  });

  it("refuses a file past a limit with a typed 4xx naming it, storing nothing", async (test) => {
    const conversations = Array.from({ length: IMPORT_LIMITS.conversations + 1 }, () => ({
      create_time: 1,
      mapping: {},
    }));
    const response = await importWhilePolling(server.url, JSON.stringify(conversations));
    assert.equal(response.status, 422, response.text);
    assert.equal(response.json.error.code, "import_too_large");
    assert.match(response.json.error.message, /10001 conversations; an import takes at most 10000/);
    assert.equal(await assertIntact(), 0);
    assertLoopWasFree(test);
  });

  it("takes a DeepSeek export of 10,000 nodes, mostly web results, with 100 turns", async (test) => {
    const response = await importWhilePolling(server.url, deepseekExport(10_000, 100));
    assert.equal(response.status, 200, response.text);
    assert.deepEqual(response.json, { imported: 1, format: "deepseek" });
    assert.equal(await assertIntact(), 1);
    stored = await snapshot();
    assertLoopWasFree(test);
  });

  it("takes a qiusuo export of 300 messages and refuses one whose settings nest 100,000 levels", async (test) => {
    const response = await importWhilePolling(server.url, qiusuoExport([150, 100, 50]));
    assert.equal(response.status, 200, response.text);
    assert.deepEqual(response.json, { imported: 3, format: "qiusuo" });
    assert.equal(await assertIntact(), 3);
    stored = await snapshot();
    assertLoopWasFree(test);

    const deep = "[".repeat(100_000) + "]".repeat(100_000);
    const nested = qiusuoExport([2]).replace(
      '"content":"message 1"',
      `"content":"message 1","settings":{"deep":${deep}}`,
    );
    const refused = await importWhilePolling(server.url, nested);
    assert.equal(refused.status, 422, refused.text);
    assert.match(refused.json.error.message, /message 2 nests arrays and objects deeper than 64 levels/);
    assert.equal(await assertIntact(), 0);
    assertLoopWasFree(test);
  });

  it(
    "takes a 32 MB ChatGPT file (the body limit) of 4 chains of 93,000 nodes",
    { todo: "Fastify's JSON.parse of the body (src/server/app.ts) holds the loop ~0.6 s for 32 MB of nodes" },
    async (test) => {
      const text = chatgptChains(4, 93_000);
      assert.ok(text.length > 31 * 1024 * 1024 && text.length < 32 * 1024 * 1024, `${text.length} bytes`);
      const response = await importWhilePolling(server.url, text);
      assert.equal(response.status, 200, response.text);
      assert.equal(await assertIntact(), 4);
      stored = await snapshot();
      assertLoopWasFree(test);
    },
  );

  it(
    "stores a qiusuo export of 10,000 messages of 200 characters",
    { todo: "the store's importConversations (src/store/conversations.ts) holds the loop ~0.1 ms a message" },
    async (test) => {
      const response = await importWhilePolling(server.url, qiusuoExport([10_000], "x".repeat(200)));
      assert.equal(response.status, 200, response.text);
      assert.equal(await assertIntact(), 1);
      stored = await snapshot();
      assertLoopWasFree(test);
    },
  );
});
