// The chat app's API on the real server and engine (the scripted fixture model always answers
// "<think>let me think</think>The answer is 42"): conversations, the streamed reply and what is
// saved of it, branches by regenerate and edit, files in DeepSeek's template, stop, search in
// Chinese, export and import, the models page routes.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { makeScriptedModel } from "../fixtures/models.js";
import {
  AppClient,
  parseNamedEvents,
  readUntil,
  startTestServer,
  waitFor,
  type TestServer,
} from "./harness.js";

describe("chat app API", () => {
  let server: TestServer;
  let client: AppClient;
  before(async () => {
    server = await startTestServer();
    client = new AppClient(server.url);
  });
  after(() => server.close());

  async function newConversation(body: Record<string, unknown> = {}) {
    const created = await client.request("POST", "/api/conversations", body);
    assert.equal(created.status, 201, created.text);
    return created.json as { id: string; title: string; settings: Record<string, unknown> };
  }

  it("streams a reply as named events and saves both messages with usage and provenance", async () => {
    const conversation = await newConversation();
    assert.equal(conversation.title, "New chat");
    const { status, events } = await client.send(conversation.id, {
      parentId: null,
      content: "我们今天讨论量子计算的基本原理\nsecond line",
      thinking: true,
    });
    assert.equal(status, 200);
    assert.deepEqual(
      events.map((event) => event.event),
      ["user", "assistant", "delta", "delta", "done"],
    );
    const [user, assistant, , , done] = events;
    assert.equal(user!.data.role, "user");
    assert.equal(assistant!.data.status, "streaming");
    assert.equal(assistant!.data.parentId, user!.data.id);
    const text = events
      .filter((event) => event.event === "delta")
      .map((event) => event.data.content ?? "")
      .join("");
    assert.equal(text, "The answer is 42");
    assert.equal(done!.data.status, "complete");
    assert.equal(done!.data.content, "The answer is 42");
    assert.equal(done!.data.reasoning, "let me think");
    assert.equal(done!.data.usage.completion_tokens, 4);
    assert.equal(done!.data.usage.completion_tokens_details.reasoning_tokens, 3);
    assert.equal(typeof done!.data.usage.reasoningMs, "number");
    assert.match(done!.data.provenance.modelSha256, /^[0-9a-f]{64}$/);
    assert.match(done!.data.provenance.templateSha256, /^[0-9a-f]{64}$/);
    assert.equal(typeof done!.data.provenance.seed, "number");
    assert.equal(done!.data.settings.thinking, true);

    const stored = await client.request("GET", `/api/conversations/${conversation.id}`);
    assert.equal(stored.status, 200);
    assert.equal(stored.json.conversation.title, "我们今天讨论量子计算的基本原理");
    assert.equal(stored.json.conversation.currentLeafId, done!.data.id);
    assert.deepEqual(
      stored.json.messages.map((message: any) => [message.role, message.content, message.status]),
      [
        ["user", "我们今天讨论量子计算的基本原理\nsecond line", "complete"],
        ["assistant", "The answer is 42", "complete"],
      ],
    );
    // The app's requests are in the usage ledger too, without a key.
    const usage = await client.request("GET", "/api/usage?groupBy=key");
    assert.equal(usage.json.data[0].group, null);
    assert.ok(usage.json.data[0].requests >= 1);
  });

  it("finds a conversation by a Chinese word inside a sentence, and by English words", async () => {
    const conversation = await newConversation({ title: "Physics notes" });
    await client.send(conversation.id, { parentId: null, content: "请解释一下薛定谔方程在化学中的应用" });
    const chinese = await client.request("GET", `/api/search?q=${encodeURIComponent("方程")}`);
    assert.equal(chinese.status, 200);
    assert.ok(
      chinese.json.data.some((hit: any) => hit.conversationId === conversation.id && hit.messageId !== null),
      JSON.stringify(chinese.json),
    );
    const english = await client.request("GET", "/api/search?q=physics");
    assert.ok(english.json.data.some((hit: any) => hit.conversationId === conversation.id));
    const reply = await client.request("GET", "/api/search?q=answer%2042");
    assert.ok(reply.json.data.some((hit: any) => hit.conversationId === conversation.id));
    const none = await client.request("GET", `/api/search?q=${encodeURIComponent("相对论")}`);
    assert.equal(none.json.data.filter((hit: any) => hit.conversationId === conversation.id).length, 0);
    assert.equal((await client.request("GET", "/api/search?q=")).status, 422);
  });

  it("regenerates and edits into branches, and switches between them", async () => {
    const conversation = await newConversation();
    const first = await client.send(conversation.id, { parentId: null, content: "first question" });
    const userId = first.events[0]!.data.id as string;
    const replyId = first.events[1]!.data.id as string;

    const again = await client.send(
      conversation.id,
      {},
      `/api/conversations/${conversation.id}/messages/${replyId}/regenerate`,
    );
    assert.deepEqual(
      again.events.map((event) => event.event),
      ["assistant", "delta", "delta", "done"],
    );
    const sibling = again.events.at(-1)!.data;
    assert.equal(sibling.parentId, userId);
    assert.notEqual(sibling.id, replyId);

    // Editing the question: a new user message beside the first one.
    const edited = await client.send(conversation.id, { parentId: null, content: "edited question" });
    const editedId = edited.events[0]!.data.id as string;
    let stored = await client.request("GET", `/api/conversations/${conversation.id}`);
    assert.equal(stored.json.messages.length, 5);
    assert.equal(stored.json.messages.filter((message: any) => message.parentId === null).length, 2);
    assert.equal(stored.json.conversation.currentLeafId, edited.events.at(-1)!.data.id);

    // Switching to the first question shows its newest reply (the regenerated one).
    const switched = await client.request("PUT", `/api/conversations/${conversation.id}/current`, {
      messageId: userId,
    });
    assert.equal(switched.status, 200);
    assert.equal(switched.json.currentLeafId, sibling.id);
    stored = await client.request("GET", `/api/conversations/${conversation.id}`);
    assert.equal(stored.json.conversation.currentLeafId, sibling.id);
    assert.ok(editedId);

    // A reply to a message of another conversation is refused, and nothing is stored.
    const other = await newConversation();
    const wrongParent = await client.request("POST", `/api/conversations/${other.id}/messages`, {
      parentId: userId,
      content: "x",
    });
    assert.equal(wrongParent.status, 400);
    assert.equal(wrongParent.json.error.code, "message_parent_invalid");
    const regenerateUser = await client.request(
      "POST",
      `/api/conversations/${conversation.id}/messages/${userId}/regenerate`,
      {},
    );
    assert.equal(regenerateUser.status, 404);
  });

  it("puts attached files into the prompt with DeepSeek's file template", async () => {
    const plain = await newConversation();
    const without = await client.send(plain.id, { parentId: null, content: "summarise" });
    const withFile = await newConversation();
    const fileText = "alpha beta gamma delta epsilon zeta eta theta iota kappa";
    const attached = await client.send(withFile.id, {
      parentId: null,
      content: "summarise",
      files: [{ name: "notes.md", text: fileText }],
    });
    const promptTokens = (events: typeof without.events) => events.at(-1)!.data.usage.prompt_tokens as number;
    // The template and the file's text reach the model: the prompt grows by at least the file's words.
    assert.ok(
      promptTokens(attached.events) >= promptTokens(without.events) + fileText.split(" ").length,
      `${promptTokens(attached.events)} vs ${promptTokens(without.events)}`,
    );
    const stored = await client.request("GET", `/api/conversations/${withFile.id}`);
    assert.equal(stored.json.messages[0].content, "summarise");
    assert.deepEqual(stored.json.messages[0].settings.files, [{ name: "notes.md", text: fileText }]);

    const tooMany = await client.request("POST", `/api/conversations/${withFile.id}/messages`, {
      parentId: null,
      content: "x",
      files: Array.from({ length: 11 }, (_, index) => ({ name: `${index}.txt`, text: "x" })),
    });
    assert.equal(tooMany.status, 422);
    assert.equal(tooMany.json.error.param, "files");
  });

  it("renames, lists newest first with a cursor, and deletes", async () => {
    const fresh = new AppClient(server.url);
    const a = await newConversation({ title: "A" });
    const b = await newConversation({ title: "B" });
    const renamed = await fresh.request("PATCH", `/api/conversations/${a.id}`, {
      title: "A renamed",
      settings: { systemPrompt: "Be brief.", temperature: 0.3 },
    });
    assert.equal(renamed.status, 200);
    assert.equal(renamed.json.title, "A renamed");
    assert.deepEqual(renamed.json.settings, { systemPrompt: "Be brief.", temperature: 0.3 });
    const page = await fresh.request("GET", "/api/conversations?limit=1");
    assert.equal(page.json.data.length, 1);
    assert.equal(page.json.data[0].id, a.id, "the renamed one is the newest");
    const next = await fresh.request("GET", `/api/conversations?limit=1&cursor=${page.json.nextCursor}`);
    assert.equal(next.json.data[0].id, b.id);
    assert.equal((await fresh.request("GET", "/api/conversations?cursor=bogus")).status, 400);
    assert.equal((await fresh.request("PATCH", `/api/conversations/${a.id}`, { title: 5 })).status, 400);
    assert.equal((await fresh.request("DELETE", `/api/conversations/${b.id}`)).status, 200);
    assert.equal((await fresh.request("GET", `/api/conversations/${b.id}`)).status, 404);
    assert.equal((await fresh.request("DELETE", `/api/conversations/${b.id}`)).status, 404);
  });

  it("exports every conversation and imports it back, and imports a ChatGPT export", async () => {
    const exported = await client.request("GET", "/api/export");
    assert.equal(exported.status, 200);
    assert.match(exported.headers.get("content-disposition") ?? "", /attachment; filename="qiusuo-export-/);
    assert.equal(exported.json.format, "qiusuo");
    const count = exported.json.conversations.length as number;
    assert.ok(count >= 3);

    const target = await startTestServer({ preload: false });
    try {
      const other = new AppClient(target.url);
      const imported = await other.request("POST", "/api/import", exported.json);
      assert.equal(imported.status, 200, imported.text);
      assert.deepEqual(imported.json, { imported: count, format: "qiusuo" });
      const list = await other.request("GET", "/api/conversations?limit=200");
      assert.equal(list.json.data.length, count);
      const chinese = await other.request("GET", `/api/search?q=${encodeURIComponent("量子")}`);
      assert.equal(chinese.json.data.length >= 1, true);

      const chatgpt = [
        {
          title: "From ChatGPT",
          create_time: 1_700_000_000,
          update_time: 1_700_000_100,
          current_node: "b",
          mapping: {
            root: { id: "root", message: null, parent: null, children: ["a"] },
            a: {
              id: "a",
              parent: "root",
              children: ["b"],
              message: {
                author: { role: "user" },
                content: { content_type: "text", parts: ["hello there"] },
                create_time: 1_700_000_001,
              },
            },
            b: {
              id: "b",
              parent: "a",
              children: [],
              message: {
                author: { role: "assistant" },
                content: { content_type: "text", parts: ["general kenobi"] },
                create_time: 1_700_000_002,
              },
            },
          },
        },
      ];
      const fromChatgpt = await other.request("POST", "/api/import", chatgpt);
      assert.deepEqual(fromChatgpt.json, { imported: 1, format: "chatgpt" });
      const found = await other.request("GET", "/api/search?q=kenobi");
      assert.equal(found.json.data[0].title, "From ChatGPT");
      const junk = await other.request("POST", "/api/import", { hello: "world" });
      assert.equal(junk.status, 400);
      assert.match(junk.json.error.message, /ChatGPT|DeepSeek|qiusuo/);
    } finally {
      await target.close();
    }
  });

  it("lists models with their file facts, loads and unloads them, and reports a failed pull", async () => {
    const models = await client.request("GET", "/api/models");
    const scripted = models.json.data.find((model: any) => model.id === "scripted");
    assert.equal(scripted.quantization, "F32");
    assert.equal(scripted.architecture, "llama");
    assert.ok(scripted.sizeBytes > 0 && scripted.parameters > 0);

    const unloaded = await client.request("POST", "/api/models/scripted/unload");
    assert.equal(unloaded.status, 200, unloaded.text);
    assert.equal(unloaded.json.model.state, "available");
    const loaded = await client.request("POST", "/api/models/scripted/load");
    assert.equal(loaded.json.model.state, "ready");
    assert.equal((await client.request("POST", "/api/models/nope/load")).status, 400);

    const unknown = await client.request("POST", "/api/models/pull", { model: "no-such-model:1b" });
    assert.equal(unknown.status, 422);
    assert.equal(unknown.json.error.code, "unknown_model_reference");
    // A catalog alias that cannot be fetched (no network in tests) ends the stream with an error.
    const offline = await client.request("POST", "/api/models/pull", { model: "hf:nobody/nothing/x.gguf" });
    assert.equal(offline.status, 200);
    const events = parseNamedEvents(offline.text);
    assert.equal(events.at(-1)!.event, "error");
    assert.equal(events.at(-1)!.data.error.code, "pull_failed");
  });
});

describe("chat app API: stopping a reply", () => {
  it("keeps the part written before the stop, marked interrupted", async () => {
    // A model whose reply is 1,500 tokens long, so the stop lands mid-reply.
    const dir = mkdtempSync(join(tmpdir(), "qiusuo-long-"));
    const script = Array.from({ length: 1500 }, (_, index) => ` w${index}`);
    makeScriptedModel(join(dir, "long.gguf"), { script });
    const server = await startTestServer({
      models: [{ file: join(dir, "long.gguf") }],
      engine: { contextSize: 2048 },
    });
    try {
      const client = new AppClient(server.url);
      const conversation = (await client.request("POST", "/api/conversations", {})).json;
      const controller = new AbortController();
      const response = await fetch(`${server.url}/api/conversations/${conversation.id}/messages`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ parentId: null, content: "write a lot" }),
        signal: controller.signal,
      });
      // Read until some of the reply has arrived, then leave, as the stop button does.
      const reader = response.body!.getReader();
      const text = await readUntil(
        reader,
        (text) => parseNamedEvents(text).filter((event) => event.event === "delta").length >= 5,
      );
      controller.abort();
      const replyId = parseNamedEvents(text).find((event) => event.event === "assistant")!.data.id;
      let reply: any;
      await waitFor(async () => {
        const stored = await client.request("GET", `/api/conversations/${conversation.id}`);
        reply = stored.json.messages.find((message: any) => message.id === replyId);
        return reply.status !== "streaming";
      }, "the stopped reply is saved as no longer streaming");
      assert.equal(reply.status, "interrupted");
      const full = script.join("").trimStart(); // a reply starts without the leading space
      assert.ok(reply.content.length >= "w0 w1 w2 w3 w4".length, reply.content);
      assert.ok(reply.content.length < full.length, "the reply stopped early");
      assert.ok(
        full.startsWith(reply.content),
        `what was kept is what was streamed: ${reply.content.slice(0, 80)}`,
      );
      // The conversation goes on from the interrupted reply.
      const next = await client.send(conversation.id, { parentId: replyId, content: "go on" });
      assert.equal(next.status, 200);
    } finally {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
