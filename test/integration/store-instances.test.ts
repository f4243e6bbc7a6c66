// Instances sharing one database: a starting (or sweeping) instance marks as interrupted only the
// streaming replies of instances that are gone, never those of one still running. On SQLite and,
// when QIUSUO_TEST_DATABASE_URL is set, PostgreSQL.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, describe, it } from "node:test";
import { STALE_INSTANCE_MS } from "../../src/store/instances.js";
import { openStore } from "../../src/store/store.js";
import { testEngines } from "./store-engines.js";

const engines = testEngines("instance store");
after(async () => {
  for (const engine of engines) await engine.cleanup();
});

for (const engine of engines) {
  describe(`instances and their streaming replies (${engine.name})`, () => {
    it("marks the replies of gone instances interrupted and leaves live ones streaming", async () => {
      const store = await openStore(await engine.fresh());
      try {
        const user = await store.users.create({ name: "ada" });
        const conversation = await store.conversations.create(user.id);
        const question = (await store.conversations.addMessage(user.id, conversation.id, {
          parentId: null,
          role: "user",
          content: "q",
        }))!;
        const now = Date.now();
        // This process: alive. A process on this host that has exited: gone.
        const self = await store.instances.register(now);
        const exited = spawnSync(process.execPath, ["-e", "process.pid"]).pid!;
        const exitedId = await store.instances.register(now);
        await store.db.updateTable("instances").set({ pid: exited }).where("id", "=", exitedId).execute();
        // Instances on other hosts: one silent too long, one heard from recently.
        const silentId = await store.instances.register(now);
        const recentId = await store.instances.register(now);
        await store.db
          .updateTable("instances")
          .set({ hostname: "elsewhere", last_seen_at: now - STALE_INSTANCE_MS - 1000 })
          .where("id", "=", silentId)
          .execute();
        await store.db
          .updateTable("instances")
          .set({ hostname: "elsewhere", last_seen_at: now - 1000 })
          .where("id", "=", recentId)
          .execute();

        const reply = async (owner?: string) =>
          (await store.conversations.startReply(user.id, conversation.id, question.id, {
            model: "m",
            ...(owner === undefined ? {} : { owner }),
          }))!.id;
        const replies = {
          self: await reply(self),
          exited: await reply(exitedId),
          silent: await reply(silentId),
          recent: await reply(recentId),
          unowned: await reply(),
        };
        for (const id of Object.values(replies)) {
          await store.conversations.saveReplyProgress(id, { content: "partial" });
        }

        const live = await store.instances.liveIds(now);
        assert.deepEqual([...live].sort(), [self, recentId].sort());
        assert.equal(await store.conversations.markInterrupted({ liveOwners: live }), 3);
        const statuses = new Map(
          (await store.conversations.messages(user.id, conversation.id))!.map((message) => [
            message.id,
            message.status,
          ]),
        );
        assert.equal(statuses.get(replies.self), "streaming");
        assert.equal(statuses.get(replies.recent), "streaming");
        assert.equal(statuses.get(replies.exited), "interrupted");
        assert.equal(statuses.get(replies.silent), "interrupted");
        assert.equal(statuses.get(replies.unowned), "interrupted");
        // The gone instances' rows are cleaned up; a live instance's reply still saves progress.
        assert.deepEqual(
          (await store.db.selectFrom("instances").select("id").execute()).map((row) => row.id).sort(),
          [self, recentId].sort(),
        );
        assert.equal(await store.conversations.saveReplyProgress(replies.self, { content: "more" }), true);

        // Once the live instance stops cleanly, its replies are fair game.
        await store.instances.remove(recentId);
        assert.equal(
          await store.conversations.markInterrupted({ liveOwners: await store.instances.liveIds() }),
          1,
        );
      } finally {
        await store.close();
      }
    });
  });
}
