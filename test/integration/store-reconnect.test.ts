// PostgreSQL ending the store's idle connections (a restart, a failover, pg_terminate_backend) must
// not take the process down: the pool drops them and the next query reconnects.
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { after, describe, it } from "node:test";
import pg from "pg";
import { openStore } from "../../src/store/store.js";
import { postgresEngine, postgresUrl } from "./store-engines.js";

describe("PostgreSQL store after the server ends its connections", { skip: !postgresUrl }, () => {
  const engine = postgresEngine(postgresUrl ?? "");
  after(() => engine.cleanup());

  it("keeps running and answers the next query", async () => {
    const options = await engine.fresh();
    const store = await openStore(options);
    const admin = new pg.Client({ connectionString: postgresUrl });
    await admin.connect();
    try {
      await store.users.create({ name: "before", password: "a long password" });
      const database = new URL(options.databaseUrl!).pathname.slice(1);
      const ended = await admin.query(
        "select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()",
        [database],
      );
      assert.ok(ended.rowCount! > 0, "the store held at least one idle connection");
      // The idle connections' 'error' events arrive now; without a listener the process dies here.
      await sleep(300);
      await store.users.create({ name: "after", password: "a long password" });
      assert.deepEqual((await store.users.list()).map((user) => user.name).sort(), ["after", "before"]);
    } finally {
      await admin.end();
      await store.close();
    }
  });
});
