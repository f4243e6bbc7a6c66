// GET /api/upstreams, the models page's view of the upstream pools: admins (and the local user)
// see each pool with its replicas' display URLs, states, requests in flight and last errors;
// other users get 403 like every admin route; a server without pools lists none.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { PoolHealthView } from "../../src/server/routes/health.js";
import { AppClient, startTestServer, type TestServer } from "./harness.js";

const POOLS: PoolHealthView[] = [
  {
    name: "fleet",
    healthy: 1,
    total: 2,
    queued: 3,
    models: 1,
    replicas: [
      { url: "http://10.0.0.1:8000/v1", state: "healthy", outstanding: 2 },
      { url: "http://10.0.0.2:8000/v1", state: "ejected", outstanding: 0, lastError: "connection refused" },
    ],
  },
  {
    name: "dead",
    healthy: 0,
    total: 1,
    queued: 0,
    models: 0,
    reason: "No replica of dead is in service",
    replicas: [{ url: "http://127.0.0.1:9/v1", state: "probing", outstanding: 0 }],
  },
];

describe("GET /api/upstreams", () => {
  let accounts: TestServer;
  let local: TestServer;
  let bare: TestServer;
  before(async () => {
    accounts = await startTestServer({ accounts: true, app: { pools: () => POOLS } });
    await accounts.store.users.create({ name: "root", password: "root's password", role: "admin" });
    await accounts.store.users.create({ name: "bob", password: "bob's password" });
    local = await startTestServer({
      app: { health: { listModels: () => local.router.listModels(), pools: () => POOLS } },
    });
    bare = await startTestServer();
  });
  after(async () => {
    await accounts?.close();
    await local?.close();
    await bare?.close();
  });

  it("lists each pool and its replicas for an admin", async () => {
    const admin = new AppClient(accounts.url);
    await admin.login("root", "root's password");
    const answer = await admin.request("GET", "/api/upstreams");
    assert.equal(answer.status, 200, answer.text);
    assert.deepEqual(answer.json.data, [
      {
        name: "fleet",
        state: "degraded",
        healthyReplicas: 1,
        totalReplicas: 2,
        queued: 3,
        models: 1,
        replicas: [
          { url: "http://10.0.0.1:8000/v1", state: "healthy", inFlight: 2 },
          { url: "http://10.0.0.2:8000/v1", state: "ejected", inFlight: 0, lastError: "connection refused" },
        ],
      },
      {
        name: "dead",
        state: "down",
        healthyReplicas: 0,
        totalReplicas: 1,
        queued: 0,
        models: 0,
        reason: "No replica of dead is in service",
        replicas: [{ url: "http://127.0.0.1:9/v1", state: "probing", inFlight: 0 }],
      },
    ]);
  });

  it("refuses other users with 403 and strangers with 401", async () => {
    const bob = new AppClient(accounts.url);
    await bob.login("bob", "bob's password");
    const refused = await bob.request("GET", "/api/upstreams");
    assert.equal(refused.status, 403);
    assert.equal(refused.json.error.code, "admin_only");
    assert.equal((await new AppClient(accounts.url).request("GET", "/api/upstreams")).status, 401);
  });

  it("serves the local user the pools /health shows, and a server without pools none", async () => {
    const fromHealth = await new AppClient(local.url).request("GET", "/api/upstreams");
    assert.equal(fromHealth.status, 200);
    assert.deepEqual(
      fromHealth.json.data.map((pool: { name: string }) => pool.name),
      ["fleet", "dead"],
    );
    const none = await new AppClient(bare.url).request("GET", "/api/upstreams");
    assert.equal(none.status, 200);
    assert.deepEqual(none.json.data, []);
  });
});
