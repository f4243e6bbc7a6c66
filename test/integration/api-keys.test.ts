// API keys on the real server: 401 without a valid key in accounts mode, 402 past a quota, 429
// past a rate or concurrency limit, revocation effective at once, limits that hold across two
// server instances sharing one database, and a usage-ledger row per request. Runs on SQLite and,
// when QIUSUO_TEST_DATABASE_URL is set, PostgreSQL.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { openStore, type Store } from "../../src/store/store.js";
import { postJson, startTestServer, type TestServer } from "./harness.js";
import { testEngines } from "./store-engines.js";

const chatBody = { model: "deepseek-chat", messages: [{ role: "user", content: "hi" }] };

for (const engine of testEngines("api keys")) {
  describe(`API keys and limits (${engine.name})`, () => {
    after(() => engine.cleanup());

    /** Two servers (two instances) on one fresh database, in accounts mode, with alice's keys. */
    async function twoInstances() {
      const options = await engine.fresh();
      const stores: Store[] = [await openStore(options), await openStore(options)];
      await stores[0]!.users.create({ name: "alice", role: "admin", password: "correct horse" });
      const servers: TestServer[] = [];
      for (const store of stores) servers.push(await startTestServer({ store, accounts: true }));
      const alice = (await stores[0]!.users.findByName("alice"))!;
      return {
        servers,
        store: stores[0]!,
        aliceId: alice.id,
        async close() {
          for (const server of servers) await server.close();
          for (const store of stores) await store.close();
        },
      };
    }

    const chat = (server: TestServer, key?: string, body: unknown = chatBody) =>
      postJson(`${server.url}/v1/chat/completions`, body, key ? { authorization: `Bearer ${key}` } : {});

    it("refuses requests without a valid key, serves a good one, and honours revocation at once", async () => {
      const { servers, store, aliceId, close } = await twoInstances();
      try {
        const [a, b] = servers as [TestServer, TestServer];
        const missing = await chat(a);
        assert.equal(missing.status, 401);
        assert.equal(missing.json.error.type, "authentication_error");
        assert.equal(missing.json.error.code, "missing_api_key");
        const invalid = await chat(a, "sk-0123456789abcdef");
        assert.equal(invalid.status, 401);
        assert.match(invalid.json.error.message, /\*\*\*\*cdef is invalid/);

        const { key, plaintext } = await store.apiKeys.create({ userId: aliceId, name: "laptop" });
        const ok = await chat(a, plaintext);
        assert.equal(ok.status, 200, ok.text);
        assert.equal(ok.json.choices[0].message.content, "The answer is 42");
        const models = await fetch(`${b.url}/v1/models`, {
          headers: { authorization: `Bearer ${plaintext}` },
        });
        assert.equal(models.status, 200);

        // Anthropic's routes take the same key as x-api-key, and refuse in Anthropic's shape.
        const anthropic = await postJson(
          `${b.url}/anthropic/v1/messages`,
          { model: "deepseek-chat", max_tokens: 20, messages: [{ role: "user", content: "hi" }] },
          { "x-api-key": plaintext },
        );
        assert.equal(anthropic.status, 200, anthropic.text);
        const anthropicRefused = await postJson(`${b.url}/anthropic/v1/messages`, { model: "x" });
        assert.equal(anthropicRefused.status, 401);
        assert.equal(anthropicRefused.json.error.type, "authentication_error");

        await store.apiKeys.revoke(key.id);
        for (const server of [a, b]) {
          const revoked = await chat(server, plaintext);
          assert.equal(revoked.status, 401);
          assert.equal(revoked.json.error.code, "api_key_revoked");
        }
      } finally {
        await close();
      }
    });

    it("holds a requests-per-minute limit across two instances, with Retry-After", async () => {
      const { servers, store, aliceId, close } = await twoInstances();
      try {
        const [a, b] = servers as [TestServer, TestServer];
        const { plaintext } = await store.apiKeys.create({ userId: aliceId, name: "rpm", rpm: 2 });
        assert.equal((await chat(a, plaintext)).status, 200);
        assert.equal((await chat(b, plaintext)).status, 200);
        for (const server of [a, b]) {
          const limited = await chat(server, plaintext);
          assert.equal(limited.status, 429, limited.text);
          assert.equal(limited.json.error.type, "rate_limit_error");
          assert.match(limited.json.error.message, /2 requests per minute/);
          const retryAfter = Number(limited.headers.get("retry-after"));
          assert.ok(retryAfter >= 1 && retryAfter <= 60, `retry-after ${limited.headers.get("retry-after")}`);
        }
      } finally {
        await close();
      }
    });

    it("limits concurrent requests, counting those running on another instance", async () => {
      const { servers, store, aliceId, close } = await twoInstances();
      try {
        const [a] = servers as [TestServer, TestServer];
        const { key, plaintext } = await store.apiKeys.create({
          userId: aliceId,
          name: "one-at-a-time",
          maxConcurrent: 1,
        });
        // A request admitted elsewhere and still running (another instance's, through the same table).
        const elsewhere = await store.keyAdmissions.admit(key.id);
        assert.equal(elsewhere.admitted, true);
        const limited = await chat(a, plaintext);
        assert.equal(limited.status, 429);
        assert.match(limited.json.error.message, /1 concurrent requests/);
        assert.equal(limited.headers.get("retry-after"), "1");
        if (elsewhere.admitted) await store.keyAdmissions.finish(elsewhere.requestId, 10);
        assert.equal((await chat(a, plaintext)).status, 200);
      } finally {
        await close();
      }
    });

    it("answers 402 past a token or request quota, and /user/balance says so", async () => {
      const { servers, store, aliceId, close } = await twoInstances();
      try {
        const [a, b] = servers as [TestServer, TestServer];
        const tokens = await store.apiKeys.create({ userId: aliceId, name: "tokens", quotaTokens: 20 });
        const headers = { authorization: `Bearer ${tokens.plaintext}` };
        const before: any = await (await fetch(`${a.url}/user/balance`, { headers })).json();
        assert.equal(before.is_available, true);
        assert.equal(before.token_quota.remaining_tokens, 20);
        // The quota is checked on admission: the first request may overshoot it, as DeepSeek's balance can.
        const first = await chat(a, tokens.plaintext);
        assert.equal(first.status, 200);
        const used = first.json.usage.total_tokens as number;
        assert.ok(used > 20);
        for (const server of [a, b]) {
          const refused = await chat(server, tokens.plaintext);
          assert.equal(refused.status, 402, refused.text);
          assert.equal(refused.json.error.code, "quota_exhausted");
          assert.match(refused.json.error.message, /Insufficient Balance/);
        }
        const afterwards: any = await (await fetch(`${b.url}/user/balance`, { headers })).json();
        assert.equal(afterwards.is_available, false);
        assert.equal(afterwards.balance_infos[0].total_balance, "0.00");
        assert.equal(afterwards.token_quota.used_tokens, used);
        assert.equal(afterwards.token_quota.remaining_tokens, 0);

        const requests = await store.apiKeys.create({ userId: aliceId, name: "requests", quotaRequests: 1 });
        assert.equal((await chat(b, requests.plaintext)).status, 200);
        assert.equal((await chat(a, requests.plaintext)).status, 402);
      } finally {
        await close();
      }
    });

    it("limits tokens per minute from what finished requests used", async () => {
      const { servers, store, aliceId, close } = await twoInstances();
      try {
        const [a, b] = servers as [TestServer, TestServer];
        const { plaintext } = await store.apiKeys.create({ userId: aliceId, name: "tpm", tpm: 20 });
        assert.equal((await chat(a, plaintext)).status, 200); // about 24 tokens
        const limited = await chat(b, plaintext);
        assert.equal(limited.status, 429);
        assert.match(limited.json.error.message, /20 tokens per minute/);
      } finally {
        await close();
      }
    });

    it("records a ledger row per request, failed ones included, summed per key and user", async () => {
      const { servers, store, aliceId, close } = await twoInstances();
      try {
        const [a, b] = servers as [TestServer, TestServer];
        const { key, plaintext } = await store.apiKeys.create({ userId: aliceId, name: "ledger" });
        const ok = await chat(a, plaintext);
        const streamed = await postJson(
          `${b.url}/chat/completions`,
          { ...chatBody, stream: true, stream_options: { include_usage: true } },
          { authorization: `Bearer ${plaintext}` },
        );
        assert.equal(streamed.status, 200);
        const bad = await chat(a, plaintext, { model: "deepseek-chat" });
        assert.equal(bad.status, 400);
        const unknownModel = await chat(b, plaintext, { ...chatBody, model: "nope" });
        assert.equal(unknownModel.status, 400);

        const rows = await store.db
          .selectFrom("usage")
          .selectAll()
          .where("api_key_id", "=", key.id)
          .orderBy("created_at")
          .execute();
        assert.deepEqual(
          rows.map((row) => row.status),
          ["ok", "ok", "missing_field", "model_not_found"],
        );
        assert.equal(Number(rows[0]!.prompt_tokens), ok.json.usage.prompt_tokens);
        assert.equal(Number(rows[0]!.completion_tokens), ok.json.usage.completion_tokens);
        assert.equal(Number(rows[0]!.reasoning_tokens), 3);
        assert.equal(rows[0]!.model, "deepseek-chat");
        const [byKey] = await store.usage.summary("key", { userId: aliceId });
        assert.equal(byKey!.requests, 4);
        assert.equal(byKey!.totalTokens, 2 * ok.json.usage.total_tokens);
        const refreshed = await store.apiKeys.findById(key.id);
        assert.equal(refreshed!.usedRequests, 4);
      } finally {
        await close();
      }
    });
  });
}

describe("API keys in local mode", () => {
  it("serves requests without a key or with a placeholder, but honours a known key's revocation", async () => {
    const server = await startTestServer();
    try {
      const chat = (key?: string) =>
        postJson(
          `${server.url}/v1/chat/completions`,
          chatBody,
          key ? { authorization: `Bearer ${key}` } : {},
        );
      assert.equal(server.auth.mode, "local");
      assert.equal((await chat()).status, 200);
      assert.equal((await chat("sk-local-placeholder")).status, 200);
      const local = (await server.store.users.findByName("local"))!;
      const { key, plaintext } = await server.store.apiKeys.create({
        userId: local.id,
        name: "script",
        rpm: 1,
      });
      assert.equal((await chat(plaintext)).status, 200);
      assert.equal((await chat(plaintext)).status, 429);
      await server.store.apiKeys.revoke(key.id);
      assert.equal((await chat(plaintext)).status, 401);
      const rows = await server.store.usage.summary("key");
      assert.deepEqual(
        rows.map((row) => [row.group, row.requests]),
        [
          [key.id, 1],
          [null, 2],
        ],
      );
    } finally {
      await server.close();
    }
  });
});
