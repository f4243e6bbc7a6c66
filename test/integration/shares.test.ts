// Share links over real HTTP, in accounts mode, with replies written by the real engine (the
// scripted fixture model): made by the owner, read by anyone without a session, a snapshot up to
// the chosen message, the sharer's name only when asked, revoked links and unknown tokens
// answered alike, and another user's conversation and links out of reach. Runs on SQLite and,
// when QIUSUO_TEST_DATABASE_URL is set, PostgreSQL.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { openStore, type Store } from "../../src/store/store.js";
import { AppClient, startTestServer, type TestServer } from "./harness.js";
import { testEngines } from "./store-engines.js";

const TOKEN = /^[A-Za-z0-9_-]{32}$/;

for (const engine of testEngines("shares")) {
  describe(`share links (${engine.name})`, () => {
    let store: Store;
    let server: TestServer;
    let alice: AppClient;
    let bob: AppClient;

    before(async () => {
      store = await openStore(await engine.fresh());
      await store.users.create({ name: "alice", password: "alice's password" });
      await store.users.create({ name: "bob", password: "bob's password" });
      server = await startTestServer({ store, accounts: true });
      alice = new AppClient(server.url);
      bob = new AppClient(server.url);
      await alice.login("alice", "alice's password");
      await bob.login("bob", "bob's password");
    });
    after(async () => {
      await server?.close();
      await store?.close();
      await engine.cleanup();
    });

    /** A conversation of alice's with one exchange the engine answered; its user and reply messages. */
    async function exchange(content = "What is the answer?") {
      const created = await alice.request("POST", "/api/conversations", {});
      assert.equal(created.status, 201, created.text);
      const id: string = created.json.id;
      const sent = await alice.send(id, { parentId: null, content, thinking: true });
      assert.equal(sent.status, 200);
      const question = sent.events.find((event) => event.event === "user")!.data;
      const reply = sent.events.find((event) => event.event === "done")!.data;
      assert.equal(reply.content, "The answer is 42");
      return { id, question, reply };
    }

    const share = (client: AppClient, conversationId: string, body?: unknown) =>
      client.request("POST", `/api/conversations/${conversationId}/shares`, body);
    const read = async (token: string) => {
      const response = await fetch(`${server.url}/api/shared/${token}`);
      const text = await response.text();
      return { status: response.status, headers: response.headers, text, json: JSON.parse(text) };
    };

    it("makes a link anyone can read without a session, showing only the conversation", async () => {
      const { id, question, reply } = await exchange();
      const made = await share(alice, id);
      assert.equal(made.status, 201, made.text);
      assert.match(made.json.token, TOKEN);
      assert.equal(made.json.path, `/s/${made.json.token}`);
      assert.equal(made.json.conversationId, id);
      assert.equal(made.json.messageId, reply.id, "the default is the last message of the branch shown");
      assert.equal(made.json.showName, false);
      assert.equal(made.json.messageCount, 2);

      const shared = await read(made.json.token);
      assert.equal(shared.status, 200, shared.text);
      assert.equal(shared.headers.get("x-robots-tag"), "noindex, nofollow");
      assert.equal(shared.headers.get("referrer-policy"), "no-referrer");
      assert.equal(shared.headers.get("cache-control"), "no-store");
      assert.deepEqual(shared.json, {
        title: "What is the answer?",
        author: null,
        createdAt: made.json.createdAt,
        messages: [
          {
            role: "user",
            content: "What is the answer?",
            reasoning: null,
            reasoningMs: null,
            files: [],
            images: [],
          },
          {
            role: "assistant",
            content: "The answer is 42",
            reasoning: reply.reasoning,
            reasoningMs: reply.usage.reasoningMs ?? null,
            files: [],
            images: [],
          },
        ],
      });
      assert.ok(reply.reasoning, "the scripted model reasoned");
      // Nothing of the owner's: no ids, no name, no model, its file or provenance.
      const aliceId = (await store.users.findByName("alice"))!.id;
      for (const secret of [
        id,
        aliceId,
        question.id,
        reply.id,
        "alice",
        reply.model,
        "scripted",
        "provenance",
      ])
        assert.ok(!shared.text.includes(secret), `the shared page holds ${secret}`);

      // The app's page for the link loads without a session and is kept out of search engines.
      const page = await fetch(`${server.url}/s/${made.json.token}`);
      assert.equal(page.status, 200);
      assert.equal(page.headers.get("x-robots-tag"), "noindex, nofollow");
      assert.equal(page.headers.get("referrer-policy"), "no-referrer");
    });

    it("is a snapshot: later messages and other branches never show, and an earlier message can be chosen", async () => {
      const { id, question, reply } = await exchange("First question");
      const whole = await share(alice, id);
      const upToQuestion = await share(alice, id, { messageId: question.id });
      assert.equal(upToQuestion.status, 201, upToQuestion.text);
      assert.equal(upToQuestion.json.messageCount, 1);

      // The conversation goes on, and the first question is edited into a new branch.
      const next = await alice.send(id, { parentId: reply.id, content: "Second question" });
      assert.equal(next.status, 200);
      const edited = await alice.send(id, { parentId: null, content: "Edited first question" });
      assert.equal(edited.status, 200);
      assert.equal(
        (await alice.request("PATCH", `/api/conversations/${id}`, { title: "Renamed" })).status,
        200,
      );

      const snapshot = await read(whole.json.token);
      assert.equal(snapshot.json.title, "First question");
      assert.deepEqual(
        snapshot.json.messages.map((message: { content: string }) => message.content),
        ["First question", "The answer is 42"],
      );
      const earlier = await read(upToQuestion.json.token);
      assert.deepEqual(
        earlier.json.messages.map((message: { content: string }) => message.content),
        ["First question"],
      );
      // A new link shows the branch shown now, which is the edited one.
      const now = await share(alice, id);
      assert.deepEqual(
        (await read(now.json.token)).json.messages.map((message: { content: string }) => message.content),
        ["Edited first question", "The answer is 42"],
      );
    });

    it("shows the sharer's name only when asked, and copies file names but not their text", async () => {
      const created = await alice.request("POST", "/api/conversations", {});
      const sent = await alice.send(created.json.id, {
        parentId: null,
        content: "Summarise the notes",
        files: [{ name: "notes.txt", text: "private file text" }],
      });
      assert.equal(sent.status, 200);
      const named = await share(alice, created.json.id, { showName: true });
      assert.equal(named.json.showName, true);
      const shared = await read(named.json.token);
      assert.equal(shared.json.author, "alice");
      assert.deepEqual(shared.json.messages[0].files, [{ name: "notes.txt" }]);
      assert.ok(!shared.text.includes("private file text"));
      const anonymous = await share(alice, created.json.id, { showName: false });
      const hidden = await read(anonymous.json.token);
      assert.equal(hidden.json.author, null);
      assert.ok(!hidden.text.includes("alice"));
    });

    it("answers a revoked link exactly as one never made", async () => {
      const { id } = await exchange();
      const made = await share(alice, id);
      assert.equal((await read(made.json.token)).status, 200);
      const revoked = await alice.request("DELETE", `/api/shares/${made.json.token}`);
      assert.deepEqual([revoked.status, revoked.json], [200, { ok: true }]);
      const gone = await read(made.json.token);
      assert.equal(gone.status, 404);
      assert.deepEqual(gone.json, {
        error: {
          message: "This link does not exist or was revoked.",
          type: "invalid_request_error",
          param: null,
          code: "share_not_found",
        },
      });
      const unknown = await read("A".repeat(32));
      assert.deepEqual([unknown.status, unknown.text], [404, gone.text]);
      for (const odd of ["short", "x".repeat(90), `${"A".repeat(31)}~`, "%E4%B8%AD", "%00"]) {
        const answer = await read(odd);
        assert.deepEqual([answer.status, answer.text], [404, gone.text], odd);
      }
      // Revoking it again is the same 404 too.
      assert.equal((await alice.request("DELETE", `/api/shares/${made.json.token}`)).status, 404);
    });

    it("lists the owner's links and revokes them per conversation and all at once", async () => {
      const owner = new AppClient(server.url);
      await store.users.create({ name: "carol", password: "carol's password" });
      await owner.login("carol", "carol's password");
      const first = (await owner.request("POST", "/api/conversations", {})).json.id;
      const second = (await owner.request("POST", "/api/conversations", {})).json.id;
      for (const id of [first, second]) {
        assert.equal((await owner.send(id, { parentId: null, content: `hello ${id}` })).status, 200);
      }
      const a1 = (await share(owner, first)).json;
      const a2 = (await share(owner, first, { showName: true })).json;
      const b1 = (await share(owner, second)).json;

      const all = await owner.request("GET", "/api/shares");
      assert.deepEqual(
        all.json.data.map((link: { token: string }) => link.token).sort(),
        [a1.token, a2.token, b1.token].sort(),
      );
      const ofFirst = await owner.request("GET", `/api/conversations/${first}/shares`);
      assert.deepEqual(
        ofFirst.json.data.map((link: { token: string }) => link.token).sort(),
        [a1.token, a2.token].sort(),
      );

      const revokedFirst = await owner.request("DELETE", `/api/conversations/${first}/shares`);
      assert.deepEqual(revokedFirst.json, { revoked: 2 });
      assert.equal((await read(a1.token)).status, 404);
      assert.equal((await read(a2.token)).status, 404);
      assert.equal((await read(b1.token)).status, 200);

      const again = (await share(owner, first)).json;
      const revokedAll = await owner.request("DELETE", "/api/shares");
      assert.deepEqual(revokedAll.json, { revoked: 2 });
      assert.equal((await read(b1.token)).status, 404);
      assert.equal((await read(again.token)).status, 404);
      assert.deepEqual((await owner.request("GET", "/api/shares")).json, { data: [] });
    });

    it("deletes a conversation's links with the conversation", async () => {
      const { id } = await exchange();
      const made = await share(alice, id);
      assert.equal((await alice.request("DELETE", `/api/conversations/${id}`)).status, 200);
      assert.equal((await read(made.json.token)).status, 404);
      const listed = await alice.request("GET", "/api/shares");
      assert.ok(!listed.json.data.some((link: { token: string }) => link.token === made.json.token));
    });

    it("keeps another user out: 404 to share, list or revoke alice's", async () => {
      const { id } = await exchange();
      const made = await share(alice, id);
      const missing = await bob.request("POST", "/api/conversations/no-such-id/shares", {});

      const shared = await share(bob, id);
      assert.equal(shared.status, 404);
      assert.deepEqual(shared.json.error, {
        ...missing.json.error,
        message: missing.json.error.message.replace("no-such-id", id),
      });
      const listed = await bob.request("GET", `/api/conversations/${id}/shares`);
      assert.equal(listed.status, 404);
      assert.equal((await bob.request("DELETE", `/api/conversations/${id}/shares`)).status, 404);
      const revoked = await bob.request("DELETE", `/api/shares/${made.json.token}`);
      assert.equal(revoked.status, 404);
      assert.equal(revoked.json.error.code, "share_not_found");
      assert.deepEqual((await bob.request("GET", "/api/shares")).json, { data: [] });
      assert.deepEqual(await bob.request("DELETE", "/api/shares").then((answer) => answer.json), {
        revoked: 0,
      });
      assert.equal((await read(made.json.token)).status, 200, "bob's attempts left alice's link alone");
      // Without a session only the public read works, and writes need the CSRF token.
      const stranger = new AppClient(server.url);
      assert.equal((await stranger.request("GET", "/api/shares")).status, 401);
      assert.equal((await share(stranger, id)).status, 401);
      assert.equal(
        (await alice.request("POST", `/api/conversations/${id}/shares`, {}, { csrf: false })).status,
        403,
      );
    });

    it("makes tokens of 192 random bits, never the same twice", async () => {
      const { id } = await exchange();
      const tokens: string[] = [];
      for (let count = 0; count < 40; count++) tokens.push((await share(alice, id)).json.token);
      assert.equal(new Set(tokens).size, tokens.length);
      for (const token of tokens) {
        assert.match(token, TOKEN);
        assert.equal(Buffer.from(token, "base64url").length, 24);
      }
      // Characters spread over the whole base64url alphabet: about 6 bits of entropy each.
      const counts = new Map<string, number>();
      for (const character of tokens.join("")) counts.set(character, (counts.get(character) ?? 0) + 1);
      const total = tokens.length * 32;
      const entropy = [...counts.values()].reduce((sum, n) => sum - (n / total) * Math.log2(n / total), 0);
      assert.ok(entropy > 5.6, `entropy per character ${entropy.toFixed(2)} bits`);
    });

    it("refuses bad bodies with 400 and unknown messages with 404", async () => {
      const { id } = await exchange();
      const badType = await share(alice, id, { messageId: 42 });
      assert.equal(badType.status, 400);
      assert.equal(badType.json.error.param, "messageId");
      const badFlag = await share(alice, id, { showName: "yes" });
      assert.equal(badFlag.status, 400);
      assert.equal(badFlag.json.error.param, "showName");
      const notObject = await share(alice, id, [1, 2]);
      assert.equal(notObject.status, 400);
      const text = await share(alice, id, "{not an object");
      assert.equal(text.status, 400);
      assert.equal(text.json.error.type, "invalid_request_error");
      const unknownField = await share(alice, id, { show_name: true });
      assert.ok([400, 422].includes(unknownField.status), unknownField.text);
      const unknownMessage = await share(alice, id, { messageId: "no-such-message" });
      assert.equal(unknownMessage.status, 404);
      assert.equal(unknownMessage.json.error.param, "messageId");
      const empty = await alice.request("POST", "/api/conversations", {});
      const nothing = await share(alice, empty.json.id);
      assert.equal(nothing.status, 400);
      assert.equal(nothing.json.error.code, "share_empty");
    });
  });
}
