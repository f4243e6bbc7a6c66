// Conversations, message trees, streaming saves, search and export/import, over every database
// engine (store-engines.ts): SQLite always, PostgreSQL when QIUSUO_TEST_DATABASE_URL is set.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import type { ConversationImport, Message, SearchHit } from "../../src/store/conversations.js";
import { holdsEveryTerm, indexText, queryTerms, snippet } from "../../src/store/search-text.js";
import { openStore } from "../../src/store/store.js";
import { StoreError } from "../../src/store/store-error.js";
import { testEngines } from "./store-engines.js";

const engines = testEngines("conversation store suite");
after(async () => {
  for (const engine of engines) await engine.cleanup();
});

for (const engine of engines) {
  describe(`conversations on ${engine.name}`, () => {
    /** An empty store with users ada and bo, closed when the test ends. */
    async function setUp(context: { after(fn: () => Promise<void>): void }) {
      const store = await openStore(await engine.fresh());
      context.after(() => store.close());
      const ada = await store.users.create({ name: "ada" });
      const bo = await store.users.create({ name: "bo" });
      return { store, ada: ada.id, bo: bo.id };
    }

    it("stores titles, messages and replies that hold NUL characters (random models emit them)", async (t) => {
      const { store, ada } = await setUp(t);
      // PostgreSQL's text cannot hold NUL: it is stored as U+FFFD there, and as it is on SQLite.
      const stored = (text: string | null | undefined) => text?.replaceAll("\uFFFD", "\0") ?? null;
      const conversation = await store.conversations.create(ada, { title: "nul\0title" });
      assert.equal(stored(conversation.title), "nul\0title");
      const question = await store.conversations.addMessage(ada, conversation.id, {
        parentId: null,
        role: "user",
        content: "a\0b findme",
      });
      const reply = await store.conversations.startReply(ada, conversation.id, question!.id, { model: "m" });
      assert.equal(
        await store.conversations.saveReplyProgress(reply!.id, { reasoning: "r\0", content: "c\0" }),
        true,
      );
      await store.conversations.finishReply(reply!.id, {
        status: "complete",
        content: "done\0\0 here",
        reasoning: "why\0",
      });
      const messages = (await store.conversations.messages(ada, conversation.id))!;
      assert.deepEqual(
        messages.map((message) => [stored(message.content), stored(message.reasoning)]),
        [
          ["a\0b findme", null],
          ["done\0\0 here", "why\0"],
        ],
      );
      assert.equal((await store.conversations.search(ada, "findme", { limit: 5 })).length, 1);
      await store.conversations.update(ada, conversation.id, { title: "again\0" });
      assert.equal(stored((await store.conversations.get(ada, conversation.id))?.title), "again\0");
    });

    it("creates, gets, updates, lists with a stable cursor and deletes with the messages", async (t) => {
      const { store, ada } = await setUp(t);
      const first = await store.conversations.create(ada);
      assert.equal(first.title, "New chat");
      assert.deepEqual(first.settings, {});
      assert.equal(first.currentLeafId, null);
      assert.equal(typeof first.createdAt, "number");

      const made = [first];
      for (let index = 1; index < 7; index++) {
        made.push(
          await store.conversations.create(ada, { title: `chat ${index}`, settings: { model: "m" } }),
        );
      }
      const updated = await store.conversations.update(ada, first.id, {
        title: "renamed",
        settings: { systemPrompt: "be brief", temperature: 0.3 },
      });
      assert.equal(updated?.title, "renamed");
      assert.deepEqual((await store.conversations.get(ada, first.id))?.settings, {
        systemPrompt: "be brief",
        temperature: 0.3,
      });

      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page = await store.conversations.list(ada, { limit: 3, cursor });
        assert.ok(page.data.length <= 3);
        seen.push(...page.data.map((conversation) => conversation.id));
        cursor = page.nextCursor;
        pages++;
      } while (cursor);
      assert.equal(pages, 3);
      assert.equal(seen[0], first.id, "the updated conversation is the newest");
      assert.deepEqual(
        [...seen].sort(),
        made.map((conversation) => conversation.id).sort(),
        "each exactly once",
      );
      const all = (await store.conversations.list(ada, { limit: 50 })).data;
      for (let index = 1; index < all.length; index++) {
        assert.ok(all[index - 1]!.updatedAt >= all[index]!.updatedAt, "newest updatedAt first");
      }
      await assert.rejects(
        store.conversations.list(ada, { limit: 3, cursor: "not-a-cursor" }),
        (error) => error instanceof StoreError && error.code === "cursor_invalid",
      );

      const message = await store.conversations.addMessage(ada, first.id, {
        parentId: null,
        role: "user",
        content: "hello",
      });
      assert.ok(message);
      assert.equal(await store.conversations.delete(ada, first.id), true);
      assert.equal(await store.conversations.get(ada, first.id), undefined);
      assert.equal(await store.conversations.delete(ada, first.id), false);
      const left = await store.db.selectFrom("messages").select("id").execute();
      assert.deepEqual(left, [], "messages go with their conversation");
    });

    it("keeps a message tree with branches and switches the branch shown", async (t) => {
      const { store, ada } = await setUp(t);
      const conversation = await store.conversations.create(ada);
      const say = (parentId: string | null, role: "user" | "assistant", content: string) =>
        store.conversations.addMessage(ada, conversation.id, { parentId, role, content }).then((message) => {
          assert.ok(message);
          return message;
        });
      const question = await say(null, "user", "What is 2+2?");
      const answer = await say(question.id, "assistant", "4");
      const followUp = await say(answer.id, "user", "And 3+3?");
      const secondAnswer = await say(followUp.id, "assistant", "6");
      const regenerated = await say(question.id, "assistant", "Four.");
      assert.equal((await store.conversations.get(ada, conversation.id))?.currentLeafId, regenerated.id);

      const messages = await store.conversations.messages(ada, conversation.id);
      assert.deepEqual(
        messages?.map((message) => message.id),
        [question.id, answer.id, followUp.id, secondAnswer.id, regenerated.id],
        "every branch, oldest first",
      );
      assert.deepEqual(
        messages?.map((message) => message.parentId),
        [null, question.id, answer.id, followUp.id, question.id],
      );
      for (const message of messages ?? []) assert.equal(message.status, "complete");

      const switched = await store.conversations.setCurrent(ada, conversation.id, answer.id);
      assert.equal(switched?.currentLeafId, secondAnswer.id, "the newest leaf under the message");
      const back = await store.conversations.setCurrent(ada, conversation.id, question.id);
      assert.equal(back?.currentLeafId, regenerated.id, "the latest child at each step");
      assert.equal((await store.conversations.get(ada, conversation.id))?.currentLeafId, regenerated.id);

      const other = await store.conversations.create(ada);
      const foreign = await store.conversations.addMessage(ada, other.id, {
        parentId: null,
        role: "user",
        content: "x",
      });
      await assert.rejects(
        store.conversations.addMessage(ada, conversation.id, {
          parentId: foreign!.id,
          role: "user",
          content: "y",
        }),
        (error) => error instanceof StoreError && error.code === "message_parent_invalid",
      );
      await assert.rejects(
        store.conversations.addMessage(ada, conversation.id, {
          parentId: "missing",
          role: "user",
          content: "y",
        }),
        (error) => error instanceof StoreError && error.code === "message_parent_invalid",
      );
      assert.equal(await store.conversations.setCurrent(ada, conversation.id, foreign!.id), undefined);
    });

    it("titles a new chat from its first user message and bumps updatedAt", async (t) => {
      const { store, ada } = await setUp(t);
      const conversation = await store.conversations.create(ada);
      await store.conversations.addMessage(ada, conversation.id, {
        parentId: null,
        role: "system",
        content: "You are terse.",
      });
      assert.equal((await store.conversations.get(ada, conversation.id))?.title, "New chat");
      const long = `  ${"量子".repeat(40)}  \nsecond line`;
      const message = await store.conversations.addMessage(ada, conversation.id, {
        parentId: null,
        role: "user",
        content: long,
      });
      const titled = await store.conversations.get(ada, conversation.id);
      assert.equal(titled?.title, "量子".repeat(30));
      assert.equal(titled?.updatedAt, message?.createdAt);
      assert.ok(titled!.updatedAt > conversation.updatedAt);
      await store.conversations.addMessage(ada, conversation.id, {
        parentId: message!.id,
        role: "user",
        content: "Another title?",
      });
      assert.equal(
        (await store.conversations.get(ada, conversation.id))?.title,
        "量子".repeat(30),
        "only once",
      );

      const named = await store.conversations.create(ada, { title: "Mine" });
      await store.conversations.addMessage(ada, named.id, { parentId: null, role: "user", content: "hi" });
      assert.equal((await store.conversations.get(ada, named.id))?.title, "Mine", "a chosen title stays");
    });

    it("saves a streaming reply as it grows and finishes it", async (t) => {
      const { store, ada } = await setUp(t);
      const conversation = await store.conversations.create(ada);
      const question = await store.conversations.addMessage(ada, conversation.id, {
        parentId: null,
        role: "user",
        content: "Explain tides",
      });
      const reply = await store.conversations.startReply(ada, conversation.id, question!.id, {
        model: "qwen",
        settings: { thinking: true },
        provenance: { modelFile: "q.gguf", seed: 7 },
      });
      assert.equal(reply?.status, "streaming");
      assert.equal(reply?.content, "");
      assert.equal((await store.conversations.get(ada, conversation.id))?.currentLeafId, reply?.id);

      assert.equal(
        await store.conversations.saveReplyProgress(reply!.id, { reasoning: "The moon", content: "" }),
        true,
      );
      assert.equal(
        await store.conversations.saveReplyProgress(reply!.id, {
          reasoning: "The moon pulls",
          content: "Tides",
        }),
        true,
      );
      const midway = (await store.conversations.messages(ada, conversation.id))?.at(-1);
      assert.deepEqual(
        [midway?.status, midway?.reasoning, midway?.content],
        ["streaming", "The moon pulls", "Tides"],
      );

      const usage = { prompt_tokens: 5, completion_tokens: 9, reasoningMs: 120 };
      const done = await store.conversations.finishReply(reply!.id, {
        status: "complete",
        content: "Tides come from the moon.",
        reasoning: "The moon pulls the sea",
        usage,
      });
      assert.equal(done?.status, "complete");
      assert.deepEqual(done?.usage, usage);
      assert.deepEqual(done?.provenance, { modelFile: "q.gguf", seed: 7 });
      assert.equal(done?.model, "qwen");
      assert.equal(await store.conversations.saveReplyProgress(reply!.id, { content: "late" }), false);
      assert.equal(
        await store.conversations.finishReply(reply!.id, { status: "interrupted", content: "x" }),
        undefined,
      );
      assert.equal(
        (await store.conversations.messages(ada, conversation.id))?.at(-1)?.content,
        "Tides come from the moon.",
      );
      assert.equal((await store.conversations.search(ada, "moon", { limit: 5 }))[0]?.messageId, reply!.id);
    });

    it("marks replies left streaming by a crash as interrupted, keeping their text", async (t) => {
      const options = await engine.fresh();
      const crashed = await openStore(options);
      const ada = (await crashed.users.create({ name: "ada" })).id;
      const conversation = await crashed.conversations.create(ada);
      const question = await crashed.conversations.addMessage(ada, conversation.id, {
        parentId: null,
        role: "user",
        content: "Write a poem",
      });
      const first = await crashed.conversations.startReply(ada, conversation.id, question!.id, {
        model: "m",
      });
      const second = await crashed.conversations.startReply(ada, conversation.id, question!.id, {
        model: "m",
      });
      await crashed.conversations.saveReplyProgress(first!.id, { content: "Roses are red, violets" });
      // The process dies here: nothing finishes the replies.
      await crashed.close();

      const store = await openStore(options);
      t.after(() => store.close());
      assert.equal(await store.conversations.markInterrupted(), 2);
      assert.equal(await store.conversations.markInterrupted(), 0, "nothing left streaming");
      const messages = await store.conversations.messages(ada, conversation.id);
      const byId = new Map(messages?.map((message) => [message.id, message]));
      assert.equal(byId.get(first!.id)?.status, "interrupted");
      assert.equal(byId.get(first!.id)?.content, "Roses are red, violets");
      assert.equal(byId.get(second!.id)?.status, "interrupted");
      assert.equal(byId.get(question!.id)?.status, "complete");
      assert.equal((await store.conversations.search(ada, "violets", { limit: 5 }))[0]?.messageId, first!.id);
      const finished = await store.conversations.finishReply(first!.id, {
        status: "interrupted",
        content: "Roses",
      });
      assert.equal(finished?.content, "Roses", "an interrupted reply can still be finished");
    });

    it("keeps users apart: another user's ids behave as missing ones", async (t) => {
      const { store, ada, bo } = await setUp(t);
      const conversation = await store.conversations.create(ada, { title: "Ada's secret plan" });
      const message = await store.conversations.addMessage(ada, conversation.id, {
        parentId: null,
        role: "user",
        content: "我的秘密计划 secret",
      });
      const boOwn = await store.conversations.create(bo);

      assert.equal(await store.conversations.get(bo, conversation.id), undefined);
      assert.equal(await store.conversations.update(bo, conversation.id, { title: "mine" }), undefined);
      assert.equal(await store.conversations.messages(bo, conversation.id), undefined);
      assert.equal(
        await store.conversations.addMessage(bo, conversation.id, {
          parentId: null,
          role: "user",
          content: "hi",
        }),
        undefined,
      );
      assert.equal(
        await store.conversations.startReply(bo, conversation.id, message!.id, { model: "m" }),
        undefined,
      );
      assert.equal(await store.conversations.setCurrent(bo, conversation.id, message!.id), undefined);
      await assert.rejects(
        store.conversations.addMessage(bo, boOwn.id, { parentId: message!.id, role: "user", content: "x" }),
        (error) => error instanceof StoreError && error.code === "message_parent_invalid",
        "another user's message is no parent",
      );
      assert.equal(await store.conversations.delete(bo, conversation.id), false);
      assert.deepEqual(
        (await store.conversations.list(bo, { limit: 10 })).data.map((entry) => entry.id),
        [boOwn.id],
      );
      for (const query of ["secret", "秘密", "plan"]) {
        assert.deepEqual(await store.conversations.search(bo, query, { limit: 10 }), [], query);
        assert.ok((await store.conversations.search(ada, query, { limit: 10 })).length > 0, query);
      }
      assert.deepEqual(
        (await store.conversations.exportAll(bo)).map((entry) => entry.id),
        [boOwn.id],
      );

      const untouched = await store.conversations.get(ada, conversation.id);
      assert.equal(untouched?.title, "Ada's secret plan");
      assert.equal(untouched?.currentLeafId, message!.id);
      assert.equal((await store.conversations.messages(ada, conversation.id))?.length, 1);
    });

    it("finds Chinese inside sentences and English words in any case, titles too", async (t) => {
      const { store, ada } = await setUp(t);
      const physics = await store.conversations.create(ada, { title: "物理笔记" });
      const hit = await store.conversations.addMessage(ada, physics.id, {
        parentId: null,
        role: "user",
        content: "我们今天讨论量子计算的基本原理，以及它和经典计算的区别。",
      });
      const cooking = await store.conversations.create(ada, { title: "Dinner" });
      const english = await store.conversations.addMessage(ada, cooking.id, {
        parentId: null,
        role: "user",
        content: "How long should I ROAST a Chicken at 200°C?",
      });

      const only = async (query: string) =>
        (await store.conversations.search(ada, query, { limit: 10 })).map((result) => result.messageId);
      assert.deepEqual(await only("量子计算"), [hit!.id]);
      assert.deepEqual(await only("原理"), [hit!.id]);
      assert.deepEqual(await only("量"), [hit!.id], "a single character");
      assert.deepEqual(await only("roast chicken"), [english!.id]);
      assert.deepEqual(await only("ＲＯＡＳＴ"), [english!.id], "full-width letters");
      assert.deepEqual(await only("chick"), [], "whole words only");
      assert.deepEqual(await only("量子 chicken"), [], "every term must match");
      assert.deepEqual(await only("化学"), []);
      assert.deepEqual(await only("  ,,, "), [], "a query without words finds nothing");

      const [result] = await store.conversations.search(ada, "量子计算", { limit: 10 });
      assert.equal(result?.conversationId, physics.id);
      assert.equal(result?.title, "物理笔记");
      assert.ok(result?.snippet.includes("量子计算"), result?.snippet);

      const titles = await store.conversations.search(ada, "笔记", { limit: 10 });
      assert.deepEqual(titles, [
        { conversationId: physics.id, title: "物理笔记", messageId: null, snippet: "物理笔记" },
      ]);
      assert.deepEqual(
        (await store.conversations.search(ada, "dinner", { limit: 10 })).map((entry) => entry.conversationId),
        [cooking.id],
      );

      await store.conversations.update(ada, cooking.id, { title: "Supper" });
      assert.deepEqual(
        await store.conversations.search(ada, "dinner", { limit: 10 }),
        [],
        "old title forgotten",
      );
      assert.equal((await store.conversations.search(ada, "supper", { limit: 10 }))[0]?.messageId, null);

      await store.conversations.delete(ada, physics.id);
      assert.deepEqual(await only("量子计算"), [], "deleted messages leave the index");
      assert.deepEqual(await only("笔记"), [], "deleted titles leave the index");
      assert.deepEqual(await only("chicken"), [english!.id]);
    });

    it("limits search results and puts the newest first", async (t) => {
      const { store, ada } = await setUp(t);
      const conversation = await store.conversations.create(ada, { title: "Notes" });
      let parentId: string | null = null;
      const ids: string[] = [];
      for (let index = 0; index < 5; index++) {
        const message: Message | undefined = await store.conversations.addMessage(ada, conversation.id, {
          parentId,
          role: "user",
          content: `round ${index} about tea`,
        });
        parentId = message!.id;
        ids.push(message!.id);
      }
      const results = await store.conversations.search(ada, "tea", { limit: 3 });
      assert.deepEqual(
        results.map((result) => result.messageId),
        ids.slice(-3).reverse(),
      );
    });

    it("exports and imports again with the same tree, roles and timestamps", async (t) => {
      const { store, ada, bo } = await setUp(t);
      const conversation = await store.conversations.create(ada, {
        settings: { model: "m", temperature: 1 },
      });
      const root = await store.conversations.addMessage(ada, conversation.id, {
        parentId: null,
        role: "user",
        content: "Translate 求索",
      });
      const a1 = await store.conversations.addMessage(ada, conversation.id, {
        parentId: root!.id,
        role: "assistant",
        content: "To seek",
        reasoning: "Qu Yuan",
        model: "m",
        usage: { prompt_tokens: 3 },
      });
      await store.conversations.addMessage(ada, conversation.id, {
        parentId: root!.id,
        role: "assistant",
        content: "Seeking",
      });
      await store.conversations.setCurrent(ada, conversation.id, a1!.id);
      const exported = await store.conversations.exportAll(ada);
      assert.equal(exported.length, 1);

      const imports: ConversationImport[] = exported.map((entry) => ({ ...entry }));
      assert.equal(await store.conversations.importConversations(bo, imports), 1);
      const [copy] = await store.conversations.exportAll(bo);
      const [original] = exported;
      assert.ok(copy && original);
      assert.notEqual(copy.id, original.id);
      assert.deepEqual(
        [copy.title, copy.settings, copy.createdAt, copy.updatedAt],
        [original.title, original.settings, original.createdAt, original.updatedAt],
      );
      const shape = (entry: typeof original) => {
        const index = new Map(entry.messages.map((message, position) => [message.id, position]));
        return {
          messages: entry.messages.map((message) => ({
            parent: message.parentId === null ? null : index.get(message.parentId),
            role: message.role,
            content: message.content,
            reasoning: message.reasoning,
            usage: message.usage,
            createdAt: message.createdAt,
          })),
          leaf: entry.currentLeafId === null ? null : index.get(entry.currentLeafId),
        };
      };
      assert.deepEqual(shape(copy), shape(original));
      assert.ok(
        copy.messages.every((message) => !original.messages.some((other) => other.id === message.id)),
      );
      assert.equal((await store.conversations.search(bo, "求索", { limit: 5 }))[0]?.conversationId, copy.id);

      const broken: ConversationImport = {
        title: "broken",
        createdAt: 1,
        updatedAt: 1,
        messages: [{ id: "b", parentId: "a", role: "user", content: "orphan", createdAt: 1 }],
      };
      await assert.rejects(
        store.conversations.importConversations(bo, [imports[0]!, broken]),
        (error) => error instanceof StoreError && error.code === "message_parent_invalid",
      );
      assert.equal((await store.conversations.exportAll(bo)).length, 1, "a failed import adds nothing");
    });
  });
}

/**
 * A corpus with every kind of text search cuts differently: Chinese sentences, kana and Hangul,
 * English in mixed case and full width, diacritics, Greek final sigma (which FTS5 folds into σ),
 * numbers. Every timestamp differs, so the order of hits is fully determined.
 */
function searchCorpus(): ConversationImport[] {
  const pieces = [
    "我们今天讨论量子计算的基本原理",
    "请解释薛定谔方程在化学中的应用",
    "杭州的西湖在春天很美",
    "如何用递归写二分查找",
    "量子力学和化学",
    "ひらがなとカタカナ",
    "한국어 검색 엔진",
    "The Quick brown FOX",
    "ＲＯＡＳＴ chicken at 200°C",
    "Ärger im Büro",
    "ΛΟΓΟΣ και ΜΥΘΟΣ",
    "λογοσ σ",
    "state-of-the-art compiler",
    "lattice orbit violin",
    "garden recipe harbor",
  ];
  let seed = 7;
  const next = () => (seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648);
  const pick = () => pieces[next() % pieces.length]!;
  return Array.from({ length: 40 }, (_, index) => {
    const start = 1_700_000_000_000 + index * 100;
    return {
      title: `${index % 5 === 0 ? pick() : "chat"} ${index}`,
      createdAt: start,
      updatedAt: start + 50 + (index % 7),
      messages: Array.from({ length: 6 }, (_, turn) => ({
        id: `m${turn}`,
        parentId: turn === 0 ? null : `m${turn - 1}`,
        role: turn % 2 === 0 ? ("user" as const) : ("assistant" as const),
        content: `${pick()}，${pick()} #${index}.${turn}`,
        createdAt: start + turn,
      })),
    };
  });
}

const searchQueries = [
  "量子计算",
  "量",
  "化学",
  "原理 化学",
  "西湖 春天",
  "量子力学",
  "カタカナ",
  "검색",
  "quick fox",
  "QUICK",
  "roast",
  "ＣＨＩＣＫＥＮ",
  "ärger",
  "arger",
  "λογος",
  "λογοσ",
  "art",
  "lattice harbor",
  "chat",
  "12",
  "chick",
  "量子 chicken",
  "  ,,, ",
];

/** A hit as the same text on any engine: titles and contents instead of ids. */
interface PortableHit {
  title: string;
  message: string | null;
  snippet: string;
}

/** What search-text.ts says a search over `corpus` returns. */
function expectedHits(corpus: readonly ConversationImport[], query: string, limit: number): PortableHit[] {
  const terms = queryTerms(query);
  if (terms.length === 0) return [];
  const holds = (text: string) => holdsEveryTerm(indexText(text), terms);
  const titles = corpus
    .filter((conversation) => holds(conversation.title))
    .sort((a, b) => b.updatedAt - a.updatedAt)
    .map((conversation) => ({ title: conversation.title, message: null, snippet: conversation.title }));
  const messages = corpus
    .flatMap((conversation) => conversation.messages.map((message) => ({ conversation, message })))
    .filter(({ message }) => holds(message.content))
    .sort((a, b) => b.message.createdAt - a.message.createdAt)
    .map(({ conversation, message }) => ({
      title: conversation.title,
      message: message.content,
      snippet: snippet(message.content, query),
    }));
  return [...titles, ...messages].slice(0, limit);
}

describe("search on every engine", () => {
  it("returns the same hits in the same order on each, as search-text.ts defines them", async (t) => {
    const corpus = searchCorpus();
    const found = new Map<string, PortableHit[][]>();
    for (const engine of engines) {
      const store = await openStore(await engine.fresh());
      t.after(() => store.close());
      const ada = (await store.users.create({ name: "ada" })).id;
      const bo = (await store.users.create({ name: "bo" })).id;
      await store.conversations.importConversations(ada, corpus);
      // Another user's copy of the same text must never show up in ada's results.
      await store.conversations.importConversations(bo, corpus);
      const contents = new Map(
        (await store.conversations.exportAll(ada)).flatMap((conversation) =>
          conversation.messages.map((message) => [message.id, message.content] as const),
        ),
      );
      const portable = (hit: SearchHit): PortableHit => ({
        title: hit.title,
        message:
          hit.messageId === null ? null : (contents.get(hit.messageId) ?? `not ada's: ${hit.messageId}`),
        snippet: hit.snippet,
      });
      const results: PortableHit[][] = [];
      for (const query of searchQueries) {
        for (const limit of [1, 5, 50]) {
          results.push((await store.conversations.search(ada, query, { limit })).map(portable));
        }
      }
      found.set(engine.name, results);
    }

    const expected = searchQueries.flatMap((query) =>
      [1, 5, 50].map((limit) => expectedHits(corpus, query, limit)),
    );
    assert.ok(
      expected.filter((hits) => hits.length > 5).length >= 5,
      "several queries fill a page, so order and limit are compared",
    );
    for (const [name, results] of found) {
      results.forEach((hits, index) => {
        const query = searchQueries[Math.floor(index / 3)];
        assert.deepEqual(hits, expected[index], `${name}: ${query}, limit ${[1, 5, 50][index % 3]}`);
      });
    }
    const [first, ...others] = [...found.values()];
    for (const results of others) assert.deepEqual(results, first, "both engines agree");
  });
});
