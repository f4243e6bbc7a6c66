import assert from "node:assert/strict";
import http from "node:http";
import { after, before, describe, it } from "node:test";
import { startTestServer, type TestServer } from "./harness.js";

/** fetch() will not let a test set Host, so the raw client is used. */
function get(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers }, (response) => {
        let body = "";
        response.on("data", (chunk) => (body += chunk));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
      })
      .on("error", reject);
  });
}

describe("on loopback, Host and Origin are checked", () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  it("serves localhost names", async () => {
    for (const host of ["localhost:8080", "127.0.0.1", "[::1]:9"]) {
      assert.equal((await get(`${server.url}/v1/models`, { host })).status, 200, host);
    }
    assert.equal((await get(`${server.url}/v1/models`, { origin: "http://localhost:5173" })).status, 200);
  });

  it("refuses a rebinding host name and a foreign web origin", async () => {
    const rebound = await get(`${server.url}/v1/models`, { host: "attacker.example:8080" });
    assert.equal(rebound.status, 403);
    assert.equal(JSON.parse(rebound.body).error.code, "forbidden_host");
    const foreign = await get(`${server.url}/v1/models`, { origin: "https://attacker.example" });
    assert.equal(foreign.status, 403);
    assert.equal((await get(`${server.url}/v1/models`, { origin: "null" })).status, 403);
  });
});
