// How the server hands out the app: index.html on app URLs only, hashed assets cached for good,
// the security headers, and a plain message when the app was never built.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import Fastify from "fastify";
import { registerWebRoutes } from "../../src/server/routes/web.js";
import { startTestServer, type TestServer } from "../integration/harness.js";

let server: TestServer;
before(async () => (server = await startTestServer()));
after(async () => server?.close());

test("app URLs answer index.html with a strict CSP; API routes are never shadowed", async () => {
  for (const path of ["/", "/c/abc", "/settings/keys", "/login", "/setup"]) {
    const response = await fetch(server.url + path);
    assert.equal(response.status, 200, path);
    assert.match(response.headers.get("content-type") ?? "", /text\/html/);
    const csp = response.headers.get("content-security-policy") ?? "";
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(response.headers.get("x-content-type-options"), "nosniff");
    assert.equal(response.headers.get("referrer-policy"), "no-referrer");
    assert.match(await response.text(), /<div id="app">/);
  }
  // Still the API's JSON answers.
  assert.equal((await fetch(`${server.url}/models`)).headers.get("content-type")?.includes("json"), true);
  const missing = await fetch(`${server.url}/no/such/route`);
  assert.equal(missing.status, 404);
  assert.equal(((await missing.json()) as any).error.code, "not_found");
  assert.equal((await fetch(`${server.url}/v1/nothing`)).status, 404);
});

test("hashed assets are immutable; paths outside the build are not served", async () => {
  const assets = readdirSync(new URL("../../dist/web/assets/", import.meta.url));
  const script = assets.find((name) => name.endsWith(".js"))!;
  const response = await fetch(`${server.url}/assets/${script}`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get("cache-control") ?? "", /immutable/);
  assert.match(response.headers.get("content-type") ?? "", /javascript/);
  assert.equal((await fetch(`${server.url}/assets/..%2F..%2Fpackage.json`)).status, 404);
  assert.equal((await fetch(`${server.url}/assets/nope.js`)).status, 404);
});

test("without a build, / says how to build the app", async () => {
  const app = Fastify();
  registerWebRoutes(app, { webDir: mkdtempSync(join(tmpdir(), "qiusuo-noweb-")) });
  const response = await app.inject({ method: "GET", url: "/" });
  assert.equal(response.statusCode, 200);
  assert.match(response.body, /npm run build/);
  await app.close();
});
