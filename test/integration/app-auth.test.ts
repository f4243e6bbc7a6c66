// Accounts mode on the real server: first-run setup through the one-time token, login with
// HttpOnly SameSite cookies, CSRF on cookie-authenticated writes, logout, disabled users; the
// refusal to serve a non-loopback address without an admin; and user isolation on every /api route.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { AuthStartError, prepareAuth } from "../../src/auth/auth-mode.js";
import { MAX_FAILURES } from "../../src/auth/login-throttle.js";
import { openStore } from "../../src/store/store.js";
import { AppClient, startTestServer, type TestServer } from "./harness.js";

describe("accounts mode: setup, login, sessions, CSRF", () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ accounts: true, preload: false });
  });
  after(() => server.close());

  it("makes the first admin only with the one-time setup token", async () => {
    const browser = new AppClient(server.url);
    const session = await browser.request("GET", "/api/session");
    assert.deepEqual(session.json, { mode: "accounts", user: null, setupRequired: true, csrfToken: null });
    assert.equal((await browser.request("GET", "/api/conversations")).status, 401);

    const token = server.auth.setupToken!;
    assert.ok(token.length >= 32);
    const wrong = await browser.request("POST", "/api/setup", {
      token: "x".repeat(token.length),
      name: "root",
      password: "long enough pw",
    });
    assert.equal(wrong.status, 403);
    assert.equal(wrong.json.error.code, "invalid_setup_token");
    const weak = await browser.request("POST", "/api/setup", { token, name: "root", password: "short" });
    assert.equal(weak.status, 422);

    const made = await browser.request("POST", "/api/setup", {
      token,
      name: "root",
      password: "long enough pw",
    });
    assert.equal(made.status, 200, made.text);
    assert.equal(made.json.user.role, "admin");
    const cookie = made.headers.get("set-cookie")!;
    assert.match(cookie, /^qiusuo_session=[A-Za-z0-9_-]{40,};/);
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Lax/);
    assert.equal((await browser.request("GET", "/api/conversations")).status, 200);

    const again = await new AppClient(server.url).request("POST", "/api/setup", {
      token,
      name: "second",
      password: "long enough pw",
    });
    assert.equal(again.status, 403);
    assert.equal(again.json.error.code, "setup_done");
    assert.equal((await server.store.users.list()).filter((user) => user.role === "admin").length, 1);
  });

  it("logs in, refuses writes without the CSRF token, and logs out", async () => {
    await server.store.users.create({ name: "carol", password: "carol's password" });
    const browser = new AppClient(server.url);
    const refused = await browser.request("POST", "/api/login", {
      name: "carol",
      password: "wrong password",
    });
    assert.equal(refused.status, 401);
    assert.equal(refused.json.error.code, "invalid_credentials");
    const unknown = await browser.request("POST", "/api/login", { name: "nobody", password: "whatever1" });
    assert.equal(unknown.status, 401);
    assert.equal(unknown.json.error.message, refused.json.error.message, "no hint which names exist");

    const login = await browser.login("carol", "carol's password");
    assert.equal(login.json.user.name, "carol");
    const session = await browser.request("GET", "/api/session");
    assert.equal(session.json.user.name, "carol");
    assert.equal(session.json.csrfToken, browser.csrfToken);

    const forged = await browser.request("POST", "/api/conversations", {}, { csrf: false });
    assert.equal(forged.status, 403);
    assert.equal(forged.json.error.code, "csrf_failed");
    const created = await browser.request("POST", "/api/conversations", {});
    assert.equal(created.status, 201);
    const key = await browser.request("POST", "/api/keys", { name: "from the app", rpm: 10 });
    assert.equal(key.status, 201);
    assert.match(key.json.plaintext, /^sk-[0-9a-f]{64}$/);
    assert.equal(key.json.key.rpm, 10);
    assert.equal((await browser.request("GET", "/api/keys")).json.data[0].prefix, key.json.key.prefix);
    const api = await fetch(`${server.url}/v1/models`, {
      headers: { authorization: `Bearer ${key.json.plaintext}` },
    });
    assert.equal(api.status, 200);
    assert.equal((await browser.request("DELETE", `/api/keys/${key.json.key.id}`)).status, 200);
    const revoked = await fetch(`${server.url}/v1/models`, {
      headers: { authorization: `Bearer ${key.json.plaintext}` },
    });
    assert.equal(revoked.status, 401);

    // The admin-only views.
    assert.equal((await browser.request("GET", "/api/admin/usage?groupBy=user")).status, 403);
    assert.equal((await browser.request("POST", "/api/models/scripted/unload")).status, 403);

    const logout = await browser.request("POST", "/api/logout");
    assert.equal(logout.status, 200);
    assert.equal((await browser.request("GET", "/api/conversations")).status, 401);
  });

  it("holds back password guessing with 429 and Retry-After", async () => {
    await server.store.users.create({ name: "erin", password: "erin's password" });
    const browser = new AppClient(server.url);
    for (let attempt = 0; attempt < MAX_FAILURES; attempt++) {
      const wrong = await browser.request("POST", "/api/login", {
        name: "erin",
        password: `guess ${attempt}`,
      });
      assert.equal(wrong.status, 401);
    }
    // Even the right password waits now: the guesser cannot tell it was right.
    const held = await browser.request("POST", "/api/login", { name: "erin", password: "erin's password" });
    assert.equal(held.status, 429);
    assert.equal(held.json.error.code, "too_many_login_attempts");
    assert.ok(Number(held.headers.get("retry-after")) > 0);
  });

  it("ends a disabled user's sessions", async () => {
    await server.store.users.create({ name: "dave", password: "dave's password" });
    const browser = new AppClient(server.url);
    await browser.login("dave", "dave's password");
    assert.equal((await browser.request("GET", "/api/conversations")).status, 200);
    await server.store.users.disable("dave");
    assert.equal((await browser.request("GET", "/api/conversations")).status, 401);
    assert.equal(
      (await browser.request("POST", "/api/login", { name: "dave", password: "dave's password" })).status,
      401,
    );
  });

  it("gives an admin every user's usage", async () => {
    const admin = new AppClient(server.url);
    await admin.login("root", "long enough pw");
    const byUser = await admin.request("GET", "/api/admin/usage?groupBy=user");
    assert.equal(byUser.status, 200);
    assert.ok(Array.isArray(byUser.json.data));
    const users = await admin.request("GET", "/api/admin/users");
    assert.deepEqual(users.json.data.map((user: any) => user.name).sort(), ["carol", "dave", "erin", "root"]);
    assert.equal((await admin.request("GET", "/api/admin/usage?groupBy=planet")).status, 422);
  });
});

describe("auth mode at start", () => {
  it("refuses a non-loopback address without an admin, and starts in accounts mode with one", async () => {
    const dir = mkdtempSync(join(tmpdir(), "qiusuo-auth-"));
    const store = await openStore({ dataDir: dir });
    try {
      await assert.rejects(prepareAuth(store, { host: "0.0.0.0", auth: false }), (error: unknown) => {
        assert.ok(error instanceof AuthStartError);
        assert.match(error.message, /qiusuo users add NAME --admin --password-stdin/);
        return true;
      });
      assert.equal((await prepareAuth(store, { host: "127.0.0.1", auth: false })).mode, "local");
      const withAuth = await prepareAuth(store, { host: "127.0.0.1", auth: true });
      assert.equal(withAuth.mode, "accounts");
      assert.ok(withAuth.setupToken);
      await store.users.create({ name: "admin", role: "admin", password: "an admin password" });
      const exposed = await prepareAuth(store, { host: "0.0.0.0", auth: false });
      assert.deepEqual(exposed, { mode: "accounts" });
      // Once an account with a password exists, loopback is accounts mode too.
      assert.equal((await prepareAuth(store, { host: "127.0.0.1", auth: false })).mode, "accounts");
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("user isolation on every /api route", () => {
  let server: TestServer;
  let alice: AppClient;
  let bob: AppClient;
  let aliceId: string;
  before(async () => {
    server = await startTestServer({ accounts: true });
    aliceId = (await server.store.users.create({ name: "alice", password: "alice's password" })).id;
    await server.store.users.create({ name: "bob", password: "bob's password" });
    alice = new AppClient(server.url);
    bob = new AppClient(server.url);
    await alice.login("alice", "alice's password");
    await bob.login("bob", "bob's password");
  });
  after(() => server.close());

  it("never lets bob read or change alice's conversations, messages, keys or usage", async () => {
    const conversation = (await alice.request("POST", "/api/conversations", { title: "alice secret 机密" }))
      .json;
    const sent = await alice.send(conversation.id, { parentId: null, content: "alice private words 私密" });
    const userMessage = sent.events[0]!.data;
    const reply = sent.events.at(-1)!.data;
    const key = (await alice.request("POST", "/api/keys", { name: "alice key" })).json.key;
    const project = (
      await alice.request("POST", "/api/projects", {
        name: "alice project 项目",
        instructions: "secret rules",
      })
    ).json;
    const projectFile = (
      await alice.request("POST", `/api/projects/${project.id}/files`, {
        files: [{ name: "plan.md", text: "alice plan" }],
      })
    ).json.data[0];
    const share = (await alice.request("POST", `/api/conversations/${conversation.id}/shares`, {})).json;
    const collection = (await alice.request("POST", "/api/collections", { name: "alice notes 笔记" })).json;
    const collectionFile = await server.store.collections.addFile(aliceId, collection.id, {
      name: "diary.md",
      size: 1,
      mimeType: "text/markdown",
    });
    const before = await alice.request("GET", `/api/conversations/${conversation.id}`);
    const projectBefore = await alice.request("GET", `/api/projects/${project.id}`);

    const probes: Array<[string, string, unknown?]> = [
      ["GET", `/api/conversations/${conversation.id}`],
      ["PATCH", `/api/conversations/${conversation.id}`, { title: "pwned" }],
      ["DELETE", `/api/conversations/${conversation.id}`],
      ["PUT", `/api/conversations/${conversation.id}/current`, { messageId: userMessage.id }],
      ["POST", `/api/conversations/${conversation.id}/messages`, { parentId: reply.id, content: "hi" }],
      ["POST", `/api/conversations/${conversation.id}/messages/${reply.id}/regenerate`, {}],
      ["POST", `/api/conversations/${conversation.id}/messages/${reply.id}/replay`],
      ["POST", `/api/conversations/${conversation.id}/messages/${reply.id}/approval`, { approve: true }],
      ["DELETE", `/api/keys/${key.id}`],
      ["GET", `/api/projects/${project.id}`],
      ["PATCH", `/api/projects/${project.id}`, { name: "pwned" }],
      ["DELETE", `/api/projects/${project.id}`],
      ["POST", `/api/projects/${project.id}/files`, { files: [{ name: "x.md", text: "x" }] }],
      ["DELETE", `/api/projects/${project.id}/files/${projectFile.id}`],
      ["POST", `/api/conversations/${conversation.id}/shares`, {}],
      ["GET", `/api/conversations/${conversation.id}/shares`],
      ["DELETE", `/api/conversations/${conversation.id}/shares`],
      ["DELETE", `/api/shares/${share.token}`],
      ["GET", `/api/conversations?project=${project.id}`],
      ["GET", `/api/search?q=alice&project=${project.id}`],
      ["GET", `/api/collections/${collection.id}`],
      ["PATCH", `/api/collections/${collection.id}`, { name: "pwned" }],
      ["DELETE", `/api/collections/${collection.id}`],
      ["POST", `/api/collections/${collection.id}/files`, "raw bytes"],
      ["GET", `/api/collections/${collection.id}/files/${collectionFile!.id}`],
      ["DELETE", `/api/collections/${collection.id}/files/${collectionFile!.id}`],
    ];
    for (const [method, path, body] of probes) {
      const response = await bob.request(method, path, body);
      assert.equal(response.status, 404, `${method} ${path}: ${response.text}`);
    }
    // Bob's own conversation cannot take alice's message as a parent.
    const bobs = (await bob.request("POST", "/api/conversations", {})).json;
    const grafted = await bob.request("POST", `/api/conversations/${bobs.id}/messages`, {
      parentId: reply.id,
      content: "graft",
    });
    assert.equal(grafted.status, 400);
    // Nor move into alice's project, or be created in it.
    const moved = await bob.request("PATCH", `/api/conversations/${bobs.id}`, { projectId: project.id });
    assert.equal(moved.status, 404, moved.text);
    const created = await bob.request("POST", "/api/conversations", { projectId: project.id });
    assert.equal(created.status, 404, created.text);
    // Revoking all of one's links touches only one's own.
    assert.equal((await bob.request("DELETE", "/api/shares")).status, 200);
    assert.equal((await fetch(`${server.url}/api/shared/${share.token}`)).status, 200);

    const lists: Array<[string, (json: any) => unknown[]]> = [
      ["/api/conversations", (json) => json.data.filter((item: any) => item.id === conversation.id)],
      [`/api/search?q=${encodeURIComponent("私密")}`, (json) => json.data],
      [`/api/search?q=${encodeURIComponent("机密")}`, (json) => json.data],
      ["/api/search?q=alice", (json) => json.data],
      ["/api/export", (json) => json.conversations.filter((item: any) => item.id === conversation.id)],
      ["/api/keys", (json) => json.data.filter((item: any) => item.id === key.id)],
      ["/api/usage?groupBy=day", (json) => json.data],
      ["/api/projects", (json) => json.data],
      ["/api/shares", (json) => json.data],
      ["/api/collections", (json) => json.collections],
    ];
    for (const [path, leaked] of lists) {
      const response = await bob.request("GET", path);
      assert.equal(response.status, 200, path);
      assert.deepEqual(leaked(response.json), [], `${path} leaks alice's data`);
    }
    const searched = await bob.request("POST", "/api/collections/search", {
      query: "alice",
      collectionIds: [collection.id],
    });
    assert.deepEqual(searched.json, { results: [] });
    assert.deepEqual((await bob.request("GET", "/api/instructions")).json.aboutUser, "");
    for (const path of [
      "/api/admin/usage?groupBy=user",
      "/api/admin/usage/daily",
      "/api/admin/users",
      "/api/admin/keys",
      "/api/upstreams",
      "/api/audits",
      "/api/audits/audit-20260101T000000Z-a-vs-b.html",
      "/api/admin/mcp-servers",
    ]) {
      assert.equal((await bob.request("GET", path)).status, 403, path);
    }
    for (const [method, path] of [
      ["POST", "/api/models/pull"],
      ["POST", "/api/models/scripted/load"],
      ["POST", "/api/models/scripted/unload"],
      ["DELETE", "/api/models/scripted"],
      ["POST", "/api/admin/users"],
      ["PATCH", `/api/admin/users/${aliceId}`],
      ["PUT", `/api/admin/users/${aliceId}/password`],
      ["POST", "/api/admin/keys"],
      ["DELETE", `/api/admin/keys/${key.id}`],
      ["POST", "/api/admin/mcp-servers"],
      ["PATCH", "/api/admin/mcp-servers/any"],
      ["DELETE", "/api/admin/mcp-servers/any"],
      ["POST", "/api/admin/mcp-servers/any/test"],
    ] as const) {
      assert.equal((await bob.request(method, path, { model: "qwen2.5:0.5b" })).status, 403, path);
    }
    // Ollama's routes take API keys, not sessions: pulling and deleting models is for admins.
    const bobKey = (await bob.request("POST", "/api/keys", { name: "bob key" })).json.plaintext;
    for (const [method, path] of [
      ["POST", "/api/pull"],
      ["DELETE", "/api/delete"],
    ] as const) {
      const response = await fetch(server.url + path, {
        method,
        headers: { authorization: `Bearer ${bobKey}`, "content-type": "application/json" },
        body: JSON.stringify({ model: "scripted" }),
      });
      assert.equal(response.status, 403, `${method} ${path}: ${await response.text()}`);
    }

    // Nothing of alice's changed, and she still sees all of it.
    const afterwards = await alice.request("GET", `/api/conversations/${conversation.id}`);
    assert.deepEqual(afterwards.json, before.json);
    assert.deepEqual((await alice.request("GET", `/api/projects/${project.id}`)).json, projectBefore.json);
    assert.equal((await alice.request("GET", `/api/collections/${collection.id}`)).json.files.length, 1);
    assert.equal(
      (await alice.request("GET", `/api/conversations/${conversation.id}/shares`)).json.data.length,
      1,
    );
    assert.equal((await alice.request("GET", "/api/keys")).json.data[0].revokedAt, null);
    assert.equal(
      (await alice.request("GET", `/api/search?q=${encodeURIComponent("私密")}`)).json.data.length,
      1,
    );
  });

  it("covers every /api route the server has", () => {
    // Each route below is probed above (or is public, or only lists the caller's own data).
    const covered = new Set([
      "GET /api/session",
      "POST /api/setup",
      "POST /api/login",
      "POST /api/logout",
      "GET /api/conversations",
      "POST /api/conversations",
      "GET /api/conversations/:id",
      "PATCH /api/conversations/:id",
      "DELETE /api/conversations/:id",
      "PUT /api/conversations/:id/current",
      "POST /api/conversations/:id/messages",
      "POST /api/conversations/:id/messages/:messageId/regenerate",
      "POST /api/conversations/:id/messages/:messageId/replay",
      "POST /api/conversations/:id/messages/:messageId/approval",
      // Web search: no stored data, only the configured provider (scripts may use an API key).
      "GET /api/web-search",
      "POST /api/web-search",
      "GET /api/search",
      "GET /api/export",
      "POST /api/import",
      "GET /api/keys",
      "POST /api/keys",
      "DELETE /api/keys/:id",
      "GET /api/usage",
      "GET /api/admin/usage",
      "GET /api/admin/users",
      "GET /api/models",
      "POST /api/models/pull",
      "POST /api/models/:id/load",
      "POST /api/models/:id/unload",
      "DELETE /api/models/:id",
      "GET /api/upstreams",
      "GET /api/audits",
      "GET /api/audits/:name",
      // Admin panel: 403 for bob above; app-admin.test.ts checks every /api/admin route too.
      "GET /api/admin/usage/daily",
      "POST /api/admin/users",
      "PATCH /api/admin/users/:id",
      "PUT /api/admin/users/:id/password",
      "GET /api/admin/keys",
      "POST /api/admin/keys",
      "DELETE /api/admin/keys/:id",
      "GET /api/admin/mcp-servers",
      "POST /api/admin/mcp-servers",
      "PATCH /api/admin/mcp-servers/:id",
      "DELETE /api/admin/mcp-servers/:id",
      "POST /api/admin/mcp-servers/:id/test",
      // MCP servers every user may switch on: the same list for all, without how they are reached.
      "GET /api/mcp/servers",
      // Projects and custom instructions (the caller's own).
      "GET /api/projects",
      "POST /api/projects",
      "GET /api/projects/:id",
      "PATCH /api/projects/:id",
      "DELETE /api/projects/:id",
      "POST /api/projects/:id/files",
      "DELETE /api/projects/:id/files/:fileId",
      "GET /api/instructions",
      "PUT /api/instructions",
      // Knowledge collections (the caller's own; scripts may use an API key).
      "GET /api/collections",
      "POST /api/collections",
      "POST /api/collections/search",
      "GET /api/collections/:id",
      "PATCH /api/collections/:id",
      "DELETE /api/collections/:id",
      "POST /api/collections/:id/files",
      "GET /api/collections/:id/files/:fileId",
      "DELETE /api/collections/:id/files/:fileId",
      // Share links; the public read needs only the unguessable token.
      "POST /api/conversations/:id/shares",
      "GET /api/conversations/:id/shares",
      "DELETE /api/conversations/:id/shares",
      "GET /api/shares",
      "DELETE /api/shares",
      "DELETE /api/shares/:token",
      "GET /api/shared/:token",
      // Ollama's API: API keys like /v1 (no session data); pull and delete are admin-only above.
      "GET /api/version",
      "GET /api/tags",
      "GET /api/ps",
      "POST /api/show",
      "POST /api/chat",
      "POST /api/generate",
      "POST /api/embed",
      "POST /api/embeddings",
      "POST /api/pull",
      "DELETE /api/delete",
    ]);
    const routes = apiRoutes(server.app.printRoutes({ commonPrefix: false }));
    assert.ok(routes.length > 10, server.app.printRoutes({ commonPrefix: false }));
    assert.deepEqual(
      routes.filter((route) => !covered.has(route)),
      [],
      "a new /api route needs an isolation probe",
    );
  });
});

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
    // A child continues its parent's text: "/" + "health", "api/embed" + "dings", "/:id" + "/load".
    const path = parent + match[2];
    stack.push({ depth, path });
    if (!path.startsWith("/api")) continue;
    for (const method of match[3]!.split(", ")) if (method !== "HEAD") routes.push(`${method} ${path}`);
  }
  return routes;
}
