// The store suite, run over every database engine: SQLite always, PostgreSQL when
// QIUSUO_TEST_DATABASE_URL names a database (.ci/run starts one). Each test gets an empty database:
// a fresh data dir for SQLite, a fresh database for PostgreSQL.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { sql } from "kysely";
import { openStore, type Store } from "../../src/store/store.js";
import { StoreError } from "../../src/store/store-error.js";
import { postgresUrl, testEngines } from "./store-engines.js";

const engines = testEngines("store suite");
after(async () => {
  for (const engine of engines) await engine.cleanup();
});

it("runs PostgreSQL in CI", { skip: !process.env.CI && "not in CI" }, () => {
  assert.ok(postgresUrl, "CI must set QIUSUO_TEST_DATABASE_URL (.ci/run does)");
});

for (const engine of engines) {
  describe(`store on ${engine.name}`, () => {
    /** Opens an empty store, closed when the test ends. */
    async function emptyStore(context: { after(fn: () => Promise<void>): void }): Promise<Store> {
      const store = await openStore(await engine.fresh());
      context.after(() => store.close());
      return store;
    }

    it("migrates at open, and opening again changes nothing", async () => {
      const options = await engine.fresh();
      const first = await openStore(options);
      assert.equal(first.kind, engine.name);
      await first.users.create({ name: "ada" });
      await first.close();
      const second = await openStore(options);
      try {
        assert.deepEqual(
          (await second.users.list()).map((user) => user.name),
          ["ada"],
        );
        const applied = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(
          second.db,
        );
        assert.deepEqual(
          applied.rows.map((row) => row.name),
          [
            "0001-initial",
            "0002-key-requests",
            "0003-conversations",
            "0004-reply-owners",
            "0005-search-order",
            "0006-login-attempts",
            "0007-usage-source",
            "0008-responses",
            "0009-shares",
            "0010-projects",
            "0011-collections",
            "0012-mcp-servers",
          ],
        );
      } finally {
        await second.close();
      }
    });

    it("keeps data across close and reopen", async () => {
      const options = await engine.fresh();
      const store = await openStore(options);
      const user = await store.users.create({ name: "lin", password: "hunter2" });
      const { plaintext } = await store.apiKeys.create({ userId: user.id, name: "laptop" });
      await store.usage.record(usageOf(user.id, null, { model: "m" }));
      await store.close();

      const reopened = await openStore(options);
      try {
        assert.equal((await reopened.users.findByName("lin"))?.id, user.id);
        assert.ok(await reopened.users.verifyPassword("lin", "hunter2"));
        assert.equal((await reopened.apiKeys.findByPlaintext(plaintext))?.name, "laptop");
        assert.equal((await reopened.usage.summary("user"))[0]?.requests, 1);
      } finally {
        await reopened.close();
      }
    });

    it("creates users with unique names and verifies passwords", async (t) => {
      const store = await emptyStore(t);
      const admin = await store.users.create({ name: "root", role: "admin", password: "correct horse" });
      assert.equal(admin.role, "admin");
      assert.equal(admin.disabled, false);
      await assert.rejects(
        store.users.create({ name: "root", password: "other" }),
        (error) => error instanceof StoreError && error.code === "user_exists",
      );
      assert.equal(await store.users.count(), 1);

      assert.equal((await store.users.verifyPassword("root", "correct horse"))?.id, admin.id);
      assert.equal(await store.users.verifyPassword("root", "wrong horse"), undefined);
      assert.equal(await store.users.verifyPassword("nobody", "correct horse"), undefined);

      const row = await store.db.selectFrom("users").select("password_hash").executeTakeFirstOrThrow();
      assert.match(row.password_hash ?? "", /^scrypt\$/);
      assert.ok(!row.password_hash?.includes("correct horse"));

      const disabled = await store.users.disable("root");
      assert.equal(disabled.disabled, true);
      assert.equal(await store.users.verifyPassword("root", "correct horse"), undefined);
      assert.equal((await store.users.findById(admin.id))?.disabled, true);
      await assert.rejects(store.users.disable("nobody"), (error) => error instanceof StoreError);
    });

    it("stores only a hash of each API key, finds keys by plaintext and revokes them", async (t) => {
      const store = await emptyStore(t);
      const user = await store.users.create({ name: "key-owner" });
      const { key, plaintext } = await store.apiKeys.create({
        userId: user.id,
        name: "ci",
        rpm: 60,
        quotaTokens: 1_000_000,
      });
      assert.match(plaintext, /^sk-[0-9a-f]{64}$/);
      assert.ok(plaintext.startsWith(key.prefix));
      assert.deepEqual([key.rpm, key.tpm, key.quotaTokens, key.usedTokens], [60, null, 1_000_000, 0]);

      const rows = await store.db.selectFrom("api_keys").selectAll().execute();
      assert.ok(!JSON.stringify(rows).includes(plaintext.slice(key.prefix.length)), "plaintext is stored");

      assert.equal((await store.apiKeys.findByPlaintext(plaintext))?.id, key.id);
      assert.equal(await store.apiKeys.findByPlaintext(`${plaintext}0`), undefined);

      const second = await store.apiKeys.create({ userId: user.id, name: "ci" });
      await assert.rejects(
        store.apiKeys.revoke("ci"),
        (error) => error instanceof StoreError && error.code === "api_key_ambiguous",
      );
      assert.equal((await store.apiKeys.revoke(key.id))?.id, key.id);
      assert.equal(await store.apiKeys.revoke(key.id), undefined, "already revoked");
      assert.ok((await store.apiKeys.findByPlaintext(plaintext))?.revokedAt instanceof Date);
      assert.equal((await store.apiKeys.revoke("ci"))?.id, second.key.id, "now the name is unique");
      assert.deepEqual(await store.apiKeys.list({ userId: user.id }), []);
      assert.equal((await store.apiKeys.list({ userId: user.id, includeRevoked: true })).length, 2);
    });

    it("sums usage by user, key, model and day, and counts it on the key", async (t) => {
      const store = await emptyStore(t);
      const ada = await store.users.create({ name: "ada" });
      const bo = await store.users.create({ name: "bo" });
      const { key } = await store.apiKeys.create({ userId: ada.id, name: "k" });
      const day1 = new Date("2026-03-01T23:59:59.000Z");
      const day2 = new Date("2026-03-02T00:00:00.000Z");
      await store.usage.record(usageOf(ada.id, key.id, { model: "a", createdAt: day1, hit: 64, miss: 36 }));
      await store.usage.record(usageOf(ada.id, key.id, { model: "b", createdAt: day2, hit: 0, miss: 10 }));
      await store.usage.record(usageOf(ada.id, null, { model: "a", createdAt: day2, hit: 0, miss: 5 }));
      await store.usage.record(usageOf(bo.id, null, { model: "a", createdAt: day2, hit: 128, miss: 1 }));

      const byDay = await store.usage.summary("day", { userId: ada.id });
      assert.deepEqual(
        byDay.map((row) => [row.group, row.requests, row.promptTokens, row.promptCacheHitTokens]),
        [
          ["2026-03-01", 1, 100, 64],
          ["2026-03-02", 2, 15, 0],
        ],
      );
      const byModel = await store.usage.summary("model");
      assert.deepEqual(
        byModel.map((row) => [row.group, row.requests, row.promptCacheMissTokens, row.completionTokens]),
        [
          ["a", 3, 42, 30],
          ["b", 1, 10, 10],
        ],
      );
      const first = byModel[0];
      assert.ok(first);
      assert.equal(first.totalTokens, first.promptTokens + first.completionTokens);
      assert.equal(first.reasoningTokens, 9);
      assert.equal(first.latencyMs, 750);
      assert.equal(typeof first.requests, "number");

      const byKey = await store.usage.summary("key", { userId: ada.id });
      assert.deepEqual(
        byKey.map((row) => [row.group, row.requests]),
        [
          [key.id, 2],
          [null, 1],
        ],
        "keyless requests come last",
      );
      const byUser = await store.usage.summary("user", { since: day2 });
      assert.deepEqual(
        byUser.map((row) => [row.group, row.requests]).sort(),
        [
          [ada.id, 2],
          [bo.id, 1],
        ].sort(),
      );
      assert.deepEqual(await store.usage.summary("user", { until: day1 }), []);

      const counted = await store.apiKeys.findById(key.id);
      assert.deepEqual([counted?.usedRequests, counted?.usedTokens], [2, 100 + 10 + 10 + 10]);
    });

    it("keeps each user's keys and usage apart", async (t) => {
      const store = await emptyStore(t);
      const ada = await store.users.create({ name: "ada" });
      const bo = await store.users.create({ name: "bo" });
      const adaKey = await store.apiKeys.create({ userId: ada.id, name: "shared-name" });
      const boKey = await store.apiKeys.create({ userId: bo.id, name: "shared-name" });
      await store.usage.record(usageOf(ada.id, adaKey.key.id, { model: "a" }));
      await store.usage.record(usageOf(bo.id, boKey.key.id, { model: "a" }));

      assert.deepEqual(
        (await store.apiKeys.list({ userId: ada.id })).map((key) => key.id),
        [adaKey.key.id],
      );
      assert.equal((await store.apiKeys.list()).length, 2, "an admin sees every key");
      assert.equal(await store.apiKeys.revoke(boKey.key.id, { userId: ada.id }), undefined);
      assert.equal((await store.apiKeys.revoke("shared-name", { userId: ada.id }))?.id, adaKey.key.id);
      assert.equal((await store.apiKeys.findById(boKey.key.id))?.revokedAt, null);

      const adaUsage = await store.usage.summary("key", { userId: ada.id });
      assert.deepEqual(
        adaUsage.map((row) => row.group),
        [adaKey.key.id],
      );
      assert.deepEqual(await store.usage.summary("user", { userId: ada.id, apiKeyId: boKey.key.id }), []);
    });
  });
}

/** A usage row: 10 completion tokens (3 of them reasoning) and 250 ms unless told otherwise. */
function usageOf(
  userId: string,
  apiKeyId: string | null,
  options: { model: string; createdAt?: Date; hit?: number; miss?: number },
) {
  const hit = options.hit ?? 0;
  const miss = options.miss ?? 1;
  return {
    userId,
    apiKeyId,
    model: options.model,
    promptTokens: hit + miss,
    promptCacheHitTokens: hit,
    promptCacheMissTokens: miss,
    completionTokens: 10,
    reasoningTokens: 3,
    latencyMs: 250,
    status: "ok",
    createdAt: options.createdAt,
  };
}
