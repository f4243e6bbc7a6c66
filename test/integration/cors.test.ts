// Browser clients on origins an admin allows (`--allow-origin`, like Ollama's OLLAMA_ORIGINS):
// extensions and web apps on another host get CORS headers and preflight answers and pass the
// loopback origin check; every other origin is refused as before, and no cookie crosses origins.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ConfigError, loadServeConfig } from "../../src/config/config.js";
import { originMatcher } from "../../src/server/host-guard.js";
import { startTestServer, type TestServer } from "./harness.js";

const EXTENSION = "chrome-extension://abcdefghijklmnop";

describe("allowed web origins", () => {
  let server: TestServer;
  let plain: TestServer;
  before(async () => {
    server = await startTestServer({
      app: { allowOrigins: ["chrome-extension://*", "https://notes.example.com"] },
    });
    plain = await startTestServer();
  });
  after(async () => {
    await server.close();
    await plain.close();
  });

  it("answers a preflight from an allowed origin, and the request after it", async () => {
    const preflight = await fetch(`${server.url}/api/chat`, {
      method: "OPTIONS",
      headers: {
        origin: EXTENSION,
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type,authorization",
      },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get("access-control-allow-origin"), EXTENSION);
    assert.match(preflight.headers.get("access-control-allow-methods") ?? "", /POST/);
    assert.match(preflight.headers.get("access-control-allow-headers") ?? "", /authorization/i);
    assert.equal(preflight.headers.get("access-control-allow-credentials"), null);

    for (const [path, body] of [
      ["/api/chat", { model: "scripted", messages: [{ role: "user", content: "hi" }], stream: false }],
      ["/v1/chat/completions", { model: "scripted", messages: [{ role: "user", content: "hi" }] }],
    ] as const) {
      const response = await fetch(server.url + path, {
        method: "POST",
        headers: { origin: "https://notes.example.com", "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      assert.equal(response.status, 200, `${path}: ${await response.clone().text()}`);
      assert.equal(response.headers.get("access-control-allow-origin"), "https://notes.example.com");
      await response.body?.cancel();
    }
  });

  it("refuses other origins as before, with no CORS headers", async () => {
    for (const target of [server, plain]) {
      const response = await fetch(`${target.url}/api/tags`, {
        headers: { origin: "https://evil.example.net" },
      });
      assert.equal(response.status, 403);
      assert.equal(response.headers.get("access-control-allow-origin"), null);
      assert.match(
        ((await response.json()) as { error: { message: string } }).error.message,
        /--allow-origin/,
      );
    }
    // Without --allow-origin an extension is refused, as it was.
    const refused = await fetch(`${plain.url}/api/tags`, { headers: { origin: EXTENSION } });
    assert.equal(refused.status, 403);
    // A look-alike of an allowed origin is not allowed.
    const lookAlike = await fetch(`${server.url}/api/tags`, {
      headers: { origin: "https://notes.example.com.evil.net" },
    });
    assert.equal(lookAlike.status, 403);
  });

  it("matches exact origins, * in the host, and * for any", () => {
    const allowed = originMatcher(["chrome-extension://*", "https://*.example.com", "app://obsidian.md"]);
    assert.ok(allowed("chrome-extension://abc"));
    assert.ok(allowed("https://a.example.com"));
    assert.ok(allowed("APP://OBSIDIAN.MD"));
    assert.ok(!allowed("https://example.com.evil.net"));
    assert.ok(!allowed("https://a.example.com.evil.net"));
    assert.ok(!allowed("http://a.example.com"));
    assert.ok(!allowed("moz-extension://abc"));
    assert.ok(originMatcher(["*"])("https://anything.test"));
    assert.ok(!originMatcher([])("https://anything.test"));
  });

  it("comes from --allow-origin, QIUSUO_ALLOW_ORIGINS or the config file, and a bad one is named", () => {
    assert.deepEqual(loadServeConfig({ allowOrigin: ["chrome-extension://*"] }, {}).allowOrigins, [
      "chrome-extension://*",
    ]);
    assert.deepEqual(
      loadServeConfig({}, { QIUSUO_ALLOW_ORIGINS: "app://obsidian.md, https://x.example.com" }).allowOrigins,
      ["app://obsidian.md", "https://x.example.com"],
    );
    const file = join(mkdtempSync(join(tmpdir(), "qiusuo-cors-")), "config.json");
    writeFileSync(file, JSON.stringify({ allowOrigins: ["https://*.example.com"] }));
    assert.deepEqual(loadServeConfig({ config: file }, {}).allowOrigins, ["https://*.example.com"]);
    assert.throws(
      () => loadServeConfig({ allowOrigin: ["not an origin/path"] }, {}),
      (error: unknown) =>
        error instanceof ConfigError &&
        /allowOrigins\[0\] \(--allow-origin or QIUSUO_ALLOW_ORIGINS\)/.test(error.message),
    );
  });
});
