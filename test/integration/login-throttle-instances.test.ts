// The login throttle across two server instances sharing one database: failures on either count
// on both, a burst of concurrent guesses spread over both gets no more tries than the limit, and
// a login on one forgives the name on the other. Runs on SQLite (one file, two connections) and,
// when QIUSUO_TEST_DATABASE_URL is set, PostgreSQL.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { MAX_FAILURES } from "../../src/auth/login-throttle.js";
import { openStore, type Store } from "../../src/store/store.js";
import { AppClient, startTestServer, type TestServer } from "./harness.js";
import { testEngines } from "./store-engines.js";

for (const engine of testEngines("login throttle across instances")) {
  describe(`login throttle across instances (${engine.name})`, () => {
    after(() => engine.cleanup());

    /** Two servers on one fresh database, in accounts mode, with erin and fred. */
    async function twoInstances() {
      const options = await engine.fresh();
      const stores: Store[] = [await openStore(options), await openStore(options)];
      await stores[0]!.users.create({ name: "erin", password: "erin's password" });
      await stores[0]!.users.create({ name: "fred", password: "fred's password" });
      const servers: TestServer[] = [];
      for (const store of stores)
        servers.push(await startTestServer({ store, accounts: true, preload: false }));
      return {
        servers: servers as [TestServer, TestServer],
        async close() {
          for (const server of servers) await server.close();
          for (const store of stores) await store.close();
        },
      };
    }

    const login = (server: TestServer, name: string, password: string) =>
      new AppClient(server.url).request("POST", "/api/login", { name, password });

    it("counts failures on either instance, and holds the name on both with 429 and Retry-After", async () => {
      const { servers, close } = await twoInstances();
      try {
        const [a, b] = servers;
        for (let attempt = 0; attempt < MAX_FAILURES; attempt++) {
          const wrong = await login(attempt % 2 === 0 ? a : b, "erin", `guess ${attempt}`);
          assert.equal(wrong.status, 401, wrong.text);
        }
        for (const server of [a, b]) {
          // Even the right password waits: the guesser cannot tell it was right.
          const held = await login(server, "erin", "erin's password");
          assert.equal(held.status, 429, held.text);
          assert.equal(held.json.error.code, "too_many_login_attempts");
          const retryAfter = Number(held.headers.get("retry-after"));
          assert.ok(retryAfter > 14 * 60 && retryAfter <= 15 * 60, `Retry-After ${retryAfter}`);
        }
        assert.equal((await login(b, "fred", "fred's password")).status, 200, "other names are not held");
      } finally {
        await close();
      }
    });

    it("gives a burst of concurrent guesses over both instances no more tries than the limit", async () => {
      const { servers, close } = await twoInstances();
      try {
        const answers = await Promise.all(
          Array.from({ length: 3 * MAX_FAILURES }, (_, attempt) =>
            login(servers[attempt % 2]!, "erin", `guess ${attempt}`),
          ),
        );
        const statuses = answers.map((answer) => answer.status);
        assert.equal(statuses.filter((status) => status === 401).length, MAX_FAILURES, String(statuses));
        assert.equal(statuses.filter((status) => status === 429).length, 2 * MAX_FAILURES, String(statuses));
      } finally {
        await close();
      }
    });

    it("forgets the name's failures on both instances after a login on one", async () => {
      const { servers, close } = await twoInstances();
      try {
        const [a, b] = servers;
        for (let attempt = 0; attempt < MAX_FAILURES - 1; attempt++) {
          assert.equal((await login(a, "erin", `guess ${attempt}`)).status, 401);
        }
        assert.equal((await login(b, "erin", "erin's password")).status, 200);
        // Unforgiven, these would be the tenth and eleventh failures, and the second held.
        assert.equal((await login(a, "erin", "again 1")).status, 401);
        assert.equal((await login(a, "erin", "again 2")).status, 401);
      } finally {
        await close();
      }
    });
  });
}
