// The admin panel's API (/api/admin) on the real server, engine and databases (SQLite, and
// PostgreSQL when QIUSUO_TEST_DATABASE_URL is set): users (create, role, disable, enable, password
// reset, the last-admin guard), everyone's API keys, and usage per day from the ledger that real
// chat requests wrote. Every admin route refuses non-admins.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { openStore, type Store } from "../../src/store/store.js";
import { AppClient, postJson, startTestServer, type TestServer } from "./harness.js";
import { testEngines } from "./store-engines.js";

/** Every admin route, with a body an admin could send; a new route must be added here. */
const ADMIN_ROUTES: Array<[method: string, path: string, body?: unknown]> = [
  ["GET", "/api/admin/users"],
  ["POST", "/api/admin/users", { name: "mallory", password: "a long password" }],
  ["PATCH", "/api/admin/users/:id", { role: "admin" }],
  ["PUT", "/api/admin/users/:id/password", { password: "a long password" }],
  ["GET", "/api/admin/keys"],
  ["POST", "/api/admin/keys", { userId: ":id", name: "stolen" }],
  ["DELETE", "/api/admin/keys/:id"],
  ["GET", "/api/admin/usage"],
  ["GET", "/api/admin/usage/daily"],
  ["GET", "/api/admin/mcp-servers"],
  ["POST", "/api/admin/mcp-servers", { name: "evil", transport: { type: "stdio", command: "sh" } }],
  ["PATCH", "/api/admin/mcp-servers/:id", { enabled: true }],
  ["DELETE", "/api/admin/mcp-servers/:id"],
  ["POST", "/api/admin/mcp-servers/:id/test"],
];

const ADMIN_PASSWORD = "the admin's password";
const DAY_MS = 24 * 60 * 60 * 1000;

const engines = testEngines("admin panel");
after(async () => {
  for (const engine of engines) await engine.cleanup();
});

for (const engine of engines) {
  describe(`admin panel on ${engine.name}`, () => {
    let store: Store;
    let server: TestServer;
    let admin: AppClient;
    before(async () => {
      store = await openStore(await engine.fresh());
      await store.users.create({ name: "root", role: "admin", password: ADMIN_PASSWORD });
      server = await startTestServer({ accounts: true, store });
      admin = new AppClient(server.url);
      await admin.login("root", ADMIN_PASSWORD);
    });
    after(async () => {
      await server?.close();
      await store?.close();
    });

    /** A new user made through the panel, logged in in a browser of their own. */
    async function newUser(name: string, role: "admin" | "user" = "user") {
      const password = `${name}'s password`;
      const created = await admin.request("POST", "/api/admin/users", { name, password, role });
      assert.equal(created.status, 201, created.text);
      const browser = new AppClient(server.url);
      await browser.login(name, password);
      return { id: created.json.user.id as string, password, browser };
    }

    it("refuses every admin route to a non-admin (403) and to no session (401)", async () => {
      const bob = await newUser("bob");
      const anonymous = new AppClient(server.url);
      for (const [method, template, body] of ADMIN_ROUTES) {
        const path = template.replace(":id", bob.id);
        const sent = body === undefined ? undefined : JSON.parse(JSON.stringify(body).replace(":id", bob.id));
        const answer = await bob.browser.request(method, path, sent);
        assert.equal(answer.status, 403, `${method} ${path}: ${answer.text}`);
        assert.equal(answer.json.error.code, "admin_only", `${method} ${path}`);
        assert.equal((await anonymous.request(method, path, sent)).status, 401, `${method} ${path}`);
      }
      // Nothing those requests asked for happened.
      assert.equal((await store.users.findById(bob.id))?.role, "user");
      assert.equal(await store.users.findByName("mallory"), undefined);
      assert.deepEqual(await store.apiKeys.list({ userId: bob.id }), []);
      assert.deepEqual(await store.mcpServers.list(), []);
    });

    it("lists exactly the admin routes the server has", () => {
      const served = apiRoutes(server.app.printRoutes({ commonPrefix: false })).filter((route) =>
        route.includes(" /api/admin/"),
      );
      assert.deepEqual(
        served.sort(),
        ADMIN_ROUTES.map(([method, path]) => `${method} ${path}`).sort(),
        "a new admin route needs a probe in ADMIN_ROUTES",
      );
    });

    it("creates users and changes roles, but never leaves no active admin", async () => {
      const weak = await admin.request("POST", "/api/admin/users", { name: "carol", password: "short" });
      assert.equal(weak.status, 422);
      assert.equal(weak.json.error.param, "password");
      const badRole = await admin.request("POST", "/api/admin/users", {
        name: "carol",
        password: "long enough",
        role: "owner",
      });
      assert.equal(badRole.status, 422);
      assert.equal(badRole.json.error.param, "role");
      const carol = await newUser("carol");
      const taken = await admin.request("POST", "/api/admin/users", {
        name: "carol",
        password: "long enough",
      });
      assert.equal(taken.status, 422);
      assert.equal(taken.json.error.code, "user_exists");

      const root = (await admin.request("GET", "/api/admin/users")).json.data.find(
        (user: any) => user.name === "root",
      );
      // root is the only admin: neither demoted nor disabled, with a message that says why.
      for (const change of [{ role: "user" }, { disabled: true }]) {
        const refused = await admin.request("PATCH", `/api/admin/users/${root.id}`, change);
        assert.equal(refused.status, 409, JSON.stringify(change));
        assert.equal(refused.json.error.code, "last_admin");
        assert.match(refused.json.error.message, /last active admin/);
      }
      assert.equal((await store.users.findById(root.id))?.role, "admin");
      assert.equal((await store.users.findById(root.id))?.disabled, false);

      // With a second admin, root may step down; then carol is the last one.
      const promoted = await admin.request("PATCH", `/api/admin/users/${carol.id}`, { role: "admin" });
      assert.equal(promoted.status, 200, promoted.text);
      assert.equal(promoted.json.user.role, "admin");
      const carolAsAdmin = new AppClient(server.url);
      await carolAsAdmin.login("carol", carol.password);
      assert.equal(
        (await admin.request("PATCH", `/api/admin/users/${root.id}`, { role: "user" })).status,
        200,
      );
      assert.equal((await admin.request("GET", "/api/admin/users")).status, 403, "root is no admin now");
      assert.equal(
        (await carolAsAdmin.request("PATCH", `/api/admin/users/${carol.id}`, { disabled: true })).status,
        409,
      );
      assert.equal(
        (await carolAsAdmin.request("PATCH", `/api/admin/users/${root.id}`, { role: "admin" })).status,
        200,
      );
      assert.equal((await admin.request("GET", "/api/admin/users")).status, 200);

      for (const [body, status] of [
        [{}, 422],
        [{ role: "owner" }, 422],
        [{ disabled: "yes" }, 400],
        [{ role: "user", name: "x" }, 422],
      ] as const) {
        const refused = await admin.request("PATCH", `/api/admin/users/${carol.id}`, body);
        assert.equal(refused.status, status, `${JSON.stringify(body)}: ${refused.text}`);
        assert.ok(refused.json.error.message);
      }
      assert.equal(
        (await admin.request("PATCH", "/api/admin/users/no-such-user", { role: "user" })).json.error.code,
        "user_not_found",
      );
      assert.equal(
        (await admin.request("PATCH", "/api/admin/users/no-such-user", { role: "user" })).status,
        404,
      );
      assert.equal(
        (await admin.request("PATCH", `/api/admin/users/${carol.id}`, { role: "user" })).status,
        200,
      );
    });

    it("disabling a user ends their session and stops their key; a password reset ends sessions", async () => {
      const dora = await newUser("dora");
      const made = await admin.request("POST", "/api/admin/keys", { userId: dora.id, name: "dora's key" });
      assert.equal(made.status, 201, made.text);
      const chat = () =>
        postJson(
          `${server.url}/v1/chat/completions`,
          { model: "deepseek-chat", messages: [{ role: "user", content: "hi" }] },
          { authorization: `Bearer ${made.json.plaintext}` },
        );
      assert.equal((await chat()).status, 200);
      assert.equal((await dora.browser.request("GET", "/api/conversations")).status, 200);

      const disabled = await admin.request("PATCH", `/api/admin/users/${dora.id}`, { disabled: true });
      assert.equal(disabled.status, 200, disabled.text);
      assert.equal(disabled.json.user.disabled, true);
      assert.equal((await dora.browser.request("GET", "/api/conversations")).status, 401);
      const refusedKey = await chat();
      assert.equal(refusedKey.status, 401);
      assert.equal(refusedKey.json.error.code, "user_disabled");
      assert.match(refusedKey.json.error.message, /disabled/);
      const login = await new AppClient(server.url).request("POST", "/api/login", {
        name: "dora",
        password: dora.password,
      });
      assert.equal(login.status, 401);
      assert.equal(login.json.error.code, "user_disabled");
      assert.match(login.json.error.message, /disabled/);
      // A wrong password says nothing of the account's state.
      const guess = await new AppClient(server.url).request("POST", "/api/login", {
        name: "dora",
        password: "not her password",
      });
      assert.equal(guess.json.error.code, "invalid_credentials");
      const listed = (await admin.request("GET", "/api/admin/users")).json.data.find(
        (user: any) => user.id === dora.id,
      );
      assert.equal(listed.disabled, true);

      // Enabled again, the key works and she can log in; the ended session stays ended.
      assert.equal(
        (await admin.request("PATCH", `/api/admin/users/${dora.id}`, { disabled: false })).status,
        200,
      );
      assert.equal((await chat()).status, 200);
      assert.equal((await dora.browser.request("GET", "/api/conversations")).status, 401);
      await dora.browser.login("dora", dora.password);

      const reset = await admin.request("PUT", `/api/admin/users/${dora.id}/password`, {
        password: "a brand new password",
      });
      assert.equal(reset.status, 200, reset.text);
      assert.equal((await dora.browser.request("GET", "/api/conversations")).status, 401);
      assert.equal(
        (await dora.browser.request("POST", "/api/login", { name: "dora", password: dora.password })).status,
        401,
      );
      await dora.browser.login("dora", "a brand new password");
      assert.equal(
        (await admin.request("PUT", `/api/admin/users/${dora.id}/password`, { password: "short" })).status,
        422,
      );
      assert.equal(
        (await admin.request("PUT", "/api/admin/users/nobody/password", { password: "long enough" })).status,
        404,
      );
    });

    it("creates keys with limits for any user, lists them with their owner, and revokes them", async () => {
      const erin = await newUser("erin");
      const made = await admin.request("POST", "/api/admin/keys", {
        userId: erin.id,
        name: "limited",
        rpm: 5,
        tpm: 1000,
        maxConcurrent: 1,
        quotaTokens: 50_000,
        quotaRequests: 100,
      });
      assert.equal(made.status, 201, made.text);
      assert.match(made.json.plaintext, /^sk-[0-9a-f]{64}$/);
      assert.deepEqual(
        [
          made.json.key.rpm,
          made.json.key.tpm,
          made.json.key.maxConcurrent,
          made.json.key.quotaTokens,
          made.json.key.quotaRequests,
        ],
        [5, 1000, 1, 50_000, 100],
      );
      assert.equal(made.json.key.userName, "erin");
      // Erin sees the key as hers; the plaintext is shown once, never listed.
      const hers = await erin.browser.request("GET", "/api/keys");
      assert.deepEqual(
        hers.json.data.map((key: any) => key.id),
        [made.json.key.id],
      );
      const listed = await admin.request("GET", `/api/admin/keys?userId=${erin.id}`);
      assert.equal(listed.json.data.length, 1);
      assert.equal(listed.json.data[0].userName, "erin");
      assert.doesNotMatch(listed.text, new RegExp(made.json.plaintext));
      assert.ok(
        (await admin.request("GET", "/api/admin/keys")).json.data.some(
          (key: any) => key.id === made.json.key.id,
        ),
      );
      const users = (await admin.request("GET", "/api/admin/users")).json.data;
      assert.equal(users.find((user: any) => user.id === erin.id).activeKeys, 1);

      for (const [body, status] of [
        [{ userId: erin.id, name: "x", rpm: 0 }, 422],
        [{ userId: erin.id, name: "x", rpm: "many" }, 400],
        [{ userId: erin.id }, 400],
        [{ name: "x" }, 400],
      ] as const) {
        assert.equal(
          (await admin.request("POST", "/api/admin/keys", body)).status,
          status,
          JSON.stringify(body),
        );
      }
      const orphan = await admin.request("POST", "/api/admin/keys", { userId: "nobody", name: "x" });
      assert.equal(orphan.status, 404);
      assert.equal(orphan.json.error.code, "user_not_found");

      const api = () =>
        fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${made.json.plaintext}` } });
      assert.equal((await api()).status, 200);
      assert.equal((await admin.request("DELETE", `/api/admin/keys/${made.json.key.id}`)).status, 200);
      assert.equal((await api()).status, 401);
      assert.equal(
        (await admin.request("DELETE", `/api/admin/keys/${made.json.key.id}`)).status,
        200,
        "idempotent",
      );
      assert.equal((await admin.request("DELETE", "/api/admin/keys/nope")).status, 404);
      const revoked = (await admin.request("GET", `/api/admin/keys?userId=${erin.id}`)).json.data[0];
      assert.ok(revoked.revokedAt > 0);
    });

    it("sums usage per day as the ledger rows of real chat requests say", async () => {
      const fay = await newUser("fay");
      const gil = await newUser("gil");
      const key = (await admin.request("POST", "/api/admin/keys", { userId: fay.id, name: "fay's key" }))
        .json;
      for (let request = 0; request < 2; request++) {
        const answer = await postJson(
          `${server.url}/v1/chat/completions`,
          { model: "deepseek-chat", messages: [{ role: "user", content: `question ${request}` }] },
          { authorization: `Bearer ${key.plaintext}` },
        );
        assert.equal(answer.status, 200, answer.text);
      }
      const conversation = (await gil.browser.request("POST", "/api/conversations", {})).json;
      const sent = await gil.browser.send(conversation.id, { parentId: null, content: "hello" });
      assert.equal(sent.status, 200);
      // One older row, so the days differ.
      await store.usage.record({
        userId: gil.id,
        apiKeyId: null,
        model: "scripted",
        promptTokens: 10,
        promptCacheHitTokens: 0,
        promptCacheMissTokens: 10,
        completionTokens: 3,
        reasoningTokens: 0,
        latencyMs: 5,
        status: "ok",
        createdAt: new Date(Date.now() - 3 * DAY_MS),
      });

      const rows = await store.db
        .selectFrom("usage")
        .selectAll()
        .where("user_id", "in", [fay.id, gil.id])
        .execute();
      assert.equal(rows.length, 4);
      type LedgerRow = (typeof rows)[number];
      /** What the ledger says, summed in code: `${day} ${series}` -> [requests, total tokens]. */
      const expected = (seriesOf: (row: LedgerRow) => string | null, keep = (_row: LedgerRow) => true) => {
        const sums = new Map<string, [number, number]>();
        for (const row of rows.filter(keep)) {
          const at = `${new Date(Number(row.created_at)).toISOString().slice(0, 10)} ${seriesOf(row)}`;
          const [requests, tokens] = sums.get(at) ?? [0, 0];
          sums.set(at, [requests + 1, tokens + Number(row.prompt_tokens) + Number(row.completion_tokens)]);
        }
        return Object.fromEntries(sums);
      };
      const served = async (query: string) => {
        const answer = await admin.request("GET", `/api/admin/usage/daily?${query}`);
        assert.equal(answer.status, 200, answer.text);
        const days = answer.json.data.map((row: any) => row.day);
        assert.deepEqual(days, [...days].sort(), "days in order");
        return Object.fromEntries(
          answer.json.data.map((row: any) => [`${row.day} ${row.series}`, [row.requests, row.totalTokens]]),
        );
      };
      assert.ok(rows.every((row) => Number(row.prompt_tokens) > 0 && Number(row.completion_tokens) > 0));
      const isFay = (row: LedgerRow) => row.user_id === fay.id;
      const isGil = (row: LedgerRow) => row.user_id === gil.id;

      assert.deepEqual(
        await served(`series=user&userId=${fay.id}`),
        expected((row) => row.user_id, isFay),
      );
      // Other tests' users have rows too: fay's and gil's must match exactly.
      const byUser = await served("series=user");
      for (const [at, sums] of Object.entries(expected((row) => row.user_id)))
        assert.deepEqual(byUser[at], sums, at);
      assert.deepEqual(
        await served(`series=key&apiKeyId=${key.key.id}`),
        expected(
          (row) => row.api_key_id,
          (row) => row.api_key_id === key.key.id,
        ),
      );
      const gilByModel = await served(`series=model&userId=${gil.id}`);
      assert.deepEqual(
        gilByModel,
        expected((row) => row.model, isGil),
      );
      assert.equal(Object.keys(gilByModel).length, 2, "two days");
      // `since` cuts off the older day; no split gives one series (null) per day.
      const recent = await served(`since=${Date.now() - DAY_MS}&userId=${gil.id}`);
      assert.deepEqual(Object.keys(recent), [`${new Date().toISOString().slice(0, 10)} null`]);
      assert.equal((await admin.request("GET", "/api/admin/usage/daily?series=planet")).status, 422);
      assert.equal((await admin.request("GET", "/api/admin/usage/daily?since=yesterday")).status, 400);

      // The summary by user agrees, and the users list carries the same totals.
      const summary = await admin.request("GET", `/api/admin/usage?groupBy=user&userId=${fay.id}`);
      assert.deepEqual(
        summary.json.data.map((row: any) => [row.group, row.requests]),
        [[fay.id, 2]],
      );
      const listedFay = (await admin.request("GET", "/api/admin/users")).json.data.find(
        (user: any) => user.id === fay.id,
      );
      assert.equal(listedFay.requests, 2);
      assert.equal(listedFay.totalTokens, summary.json.data[0].totalTokens);
      assert.ok(listedFay.lastActiveAt >= Number(rows.find((row) => row.user_id === fay.id)!.created_at));
    });
  });
}

/** `METHOD /path` of every /api route in Fastify's route tree, as printRoutes draws it. */
function apiRoutes(tree: string): string[] {
  const stack: Array<{ depth: number; path: string }> = [];
  const routes: string[] = [];
  for (const line of tree.split("\n")) {
    const match = /^(.*?)── (\S+) \(([A-Z, ]+)\)/.exec(line);
    if (!match) continue;
    const depth = match[1]!.length;
    while (stack.length > 0 && stack.at(-1)!.depth >= depth) stack.pop();
    const parent = stack.at(-1)?.path ?? "";
    const path =
      parent.endsWith("/") || match[2]!.startsWith("/") ? parent + match[2] : `${parent}/${match[2]}`;
    stack.push({ depth, path });
    if (!path.startsWith("/api")) continue;
    for (const method of match[3]!.split(", ")) if (method !== "HEAD") routes.push(`${method} ${path}`);
  }
  return routes;
}
