// The worst imports of each kind through POST /api/import on the real server: /health is polled
// every 100 ms from a worker thread while each runs, and no poll may wait more than 250 ms. Each
// import ends in a 200 or a typed 4xx (`import_too_large` names the limit), and the
// conversations stored before it are still there, message for message.
//
// Each step shares the loop: the body is parsed on a worker thread and taken back in pieces
// (server/json-body-thread.ts; JSON.parse on the loop took ~0.6 s at the 32 MB body limit), the
// file is read in slices (protocol/archive hands the loop back every 20 ms), and the store
// yields between its inserts (~0.1 ms a message, ~1 s for 10,000 without a turn of the loop).
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

/** What JSON.parse says of `text`, which is not JSON. */
function jsonParseError(text: string): string {
  try {
    JSON.parse(text);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error("the text is JSON");
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

  it("takes a 32 MB ChatGPT file (the body limit) of 4 chains of 93,000 nodes", async (test) => {
    const text = chatgptChains(4, 93_000);
    assert.ok(text.length > 31 * 1024 * 1024 && text.length < 32 * 1024 * 1024, `${text.length} bytes`);
    const response = await importWhilePolling(server.url, text);
    assert.equal(response.status, 200, response.text);
    assert.deepEqual(response.json, { imported: 4, format: "chatgpt" });
    assert.equal(await assertIntact(), 4);
    stored = await snapshot();
    assertLoopWasFree(test);
  });

  it("stores a qiusuo export of 10,000 messages of 200 characters", async (test) => {
    const response = await importWhilePolling(server.url, qiusuoExport([10_000], "x".repeat(200)));
    assert.equal(response.status, 200, response.text);
    assert.deepEqual(response.json, { imported: 1, format: "qiusuo" });
    assert.equal(await assertIntact(), 1);
    stored = await snapshot();
    assertLoopWasFree(test);
  });

  it("keeps a conversation made during an import, and no read sees part of the import", async () => {
    let importDone = false;
    const importing = postJson(`${server.url}/api/import`, qiusuoExport([5_000], "y".repeat(200))).finally(
      () => (importDone = true),
    );
    // Reads while the file is parsed, read and written: a new conversation has all or none of its messages.
    const reads = (async () => {
      let count = 0;
      while (!importDone) {
        const list = (await (await fetch(`${server.url}/api/conversations?limit=200`)).json()) as {
          data: Array<{ id: string }>;
        };
        for (const { id } of list.data.filter(({ id }) => !stored.has(id))) {
          const conversation = (await (await fetch(`${server.url}/api/conversations/${id}`)).json()) as {
            messages: unknown[];
          };
          assert.ok(
            [0, 5_000].includes(conversation.messages.length),
            `${conversation.messages.length} messages`,
          );
        }
        count++;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return count;
    })();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const created = await postJson(`${server.url}/api/conversations`, { title: "Made during an import" });
    assert.equal(created.status, 201, created.text);
    const response = await importing;
    assert.equal(response.status, 200, response.text);
    assert.ok((await reads) > 1);
    assert.equal(await assertIntact(), 2);
    stored = await snapshot();
  });

  it("answers a body that is not JSON with 400, and one over 32 MiB with 413, as every route does", async (test) => {
    const truncated = qiusuoExport([2_000]).slice(0, -3);
    const response = await importWhilePolling(server.url, truncated);
    assert.equal(response.status, 400, response.text);
    assert.equal(response.json.error.code, "invalid_json");
    assert.equal(
      response.json.error.message,
      `The request body is not valid JSON: ${jsonParseError(truncated)}.`,
    );
    assert.equal(await assertIntact(), 0);
    assertLoopWasFree(test);

    const tooLarge = await postJson(`${server.url}/api/import`, " ".repeat(32 * 1024 * 1024 + 1));
    assert.equal(tooLarge.status, 413, tooLarge.text);
    assert.equal(tooLarge.json.error.code, "body_too_large");
  });
});
