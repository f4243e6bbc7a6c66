// Tools from MCP servers, against a real MCP server built with the SDK (test/support/
// mcp-test-server.ts), run as a child process over stdio and served over streamable HTTP: the
// admin routes (non-admins 403, secrets masked, bad input a typed 4xx) over SQLite and
// PostgreSQL, the hub's tools calling through, a hanging, crashing, missing or babbling server
// as an error result (and the next call working), no child process left after close, and whole
// app turns through runTurn with scripted fixture models calling the server's `add` tool.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runTurn } from "../../src/chat/turn.js";
import type { TurnEvent } from "../../src/chat/turn-events.js";
import type { ChatRequest } from "../../src/core/chat.js";
import type { Engine } from "../../src/core/engine.js";
import { MASKED_VALUE } from "../../src/protocol/app/mcp.js";
import type { McpServer, McpTransport, NewMcpServer } from "../../src/store/mcp-servers.js";
import { openStore, type Store } from "../../src/store/store.js";
import { McpHub } from "../../src/tools/mcp/mcp-hub.js";
import type { Tool, ToolContext } from "../../src/tools/tool.js";
import { makeScriptedModel } from "../fixtures/models.js";
import { MCP_TEST_SERVER_SCRIPT, startMcpHttpServer } from "../support/mcp-test-server.js";
import { AppClient, postJson, startTestServer, waitFor, type TestServer } from "./harness.js";
import { testEngines } from "./store-engines.js";

const ADMIN_PASSWORD = "the admin's password";
const USER_PASSWORD = "the user's password";

/** The test server over stdio, as an admin registers it (`node --import tsx <script>`). */
const STDIO: Extract<McpTransport, { type: "stdio" }> = {
  type: "stdio",
  command: process.execPath,
  args: ["--import", "tsx", MCP_TEST_SERVER_SCRIPT],
  env: { TEST_TOKEN: "s3cret-token" },
  cwd: process.cwd(),
};

/** A tool call's context with a fresh signal and a minute to run. */
function context(overrides: Partial<ToolContext> = {}): ToolContext {
  return {
    userId: "u",
    conversationId: "c",
    signal: new AbortController().signal,
    deadline: Date.now() + 60_000,
    ...overrides,
  };
}

function named(tools: readonly Tool[], name: string): Tool {
  const tool = tools.find((candidate) => candidate.definition.name === name);
  assert.ok(tool, `${name} among ${tools.map((candidate) => candidate.definition.name).join(", ")}`);
  return tool;
}

/** Whether a process is alive (signal 0 checks without sending anything). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The stdio test servers running as children of this process. */
function children(): number[] {
  const listing = execFileSync("ps", ["-o", "pid=,args=", "--ppid", String(process.pid)], {
    encoding: "utf8",
  });
  return listing
    .split("\n")
    .filter((line) => line.includes(MCP_TEST_SERVER_SCRIPT))
    .map((line) => Number.parseInt(line.trim(), 10));
}

const databases = testEngines("mcp");
after(async () => {
  for (const database of databases) await database.cleanup();
});

for (const database of databases)
  describe(`MCP servers over the admin routes (${database.name})`, () => {
    let store: Store;
    let server: TestServer;
    let admin: AppClient;
    let user: AppClient;
    let hub: McpHub;
    before(async () => {
      store = await openStore(await database.fresh());
      hub = new McpHub(store.mcpServers);
      await store.users.create({ name: "root", role: "admin", password: ADMIN_PASSWORD });
      await store.users.create({ name: "bob", password: USER_PASSWORD });
      server = await startTestServer({ accounts: true, store, app: { mcp: hub } });
      admin = new AppClient(server.url);
      await admin.login("root", ADMIN_PASSWORD);
      user = new AppClient(server.url);
      await user.login("bob", USER_PASSWORD);
    });
    after(async () => {
      await server?.close();
      await hub?.close();
      await store?.close();
    });

    it("lets only admins register, test, change and delete servers; users see tools, never secrets", async () => {
      const body = { name: "test", description: "Adds numbers", transport: STDIO };
      const refused = await user.request("POST", "/api/admin/mcp-servers", body);
      assert.equal(refused.status, 403, refused.text);
      assert.equal(refused.json.error.code, "admin_only");
      assert.deepEqual(await store.mcpServers.list(), []);

      const created = await admin.request("POST", "/api/admin/mcp-servers", body);
      assert.equal(created.status, 201, created.text);
      const id = created.json.id as string;
      assert.equal(created.json.enabled, true);
      assert.deepEqual(created.json.transport.env, { TEST_TOKEN: MASKED_VALUE }, "secrets are masked");
      assert.equal(created.json.transport.command, process.execPath);
      assert.equal((await store.mcpServers.get(id))!.transport.type, "stdio");

      const taken = await admin.request("POST", "/api/admin/mcp-servers", body);
      assert.equal(taken.status, 409, taken.text);
      assert.equal(taken.json.error.code, "mcp_server_exists");

      for (const path of [`/api/admin/mcp-servers/${id}/test`]) {
        assert.equal((await user.request("POST", path)).status, 403);
      }
      const tested = await admin.request("POST", `/api/admin/mcp-servers/${id}/test`);
      assert.equal(tested.status, 200, tested.text);
      assert.equal(tested.json.ok, true, tested.text);
      const add = tested.json.server.tools.find((tool: any) => tool.name === "add");
      assert.deepEqual(add, { name: "add", description: "Adds two numbers", askFirst: true });
      // The test kept the server running (it is enabled); the hub stops it at close.
      const [pid] = await hub.pids();
      assert.ok(pid !== undefined && alive(pid));

      const listed = await user.request("GET", "/api/mcp/servers");
      assert.equal(listed.status, 200);
      assert.equal(listed.json.servers.length, 1);
      const seen = listed.json.servers[0];
      assert.deepEqual(Object.keys(seen).sort(), ["description", "id", "name", "tools"]);
      assert.ok(!listed.text.includes("s3cret") && !listed.text.includes(MCP_TEST_SERVER_SCRIPT));
      assert.deepEqual(
        seen.tools.map((tool: any) => tool.name),
        ["add", "echo", "fail", "picture", "grow", "slow", "crash"],
      );

      // Ask-first off for `add`; the env kept though sent back masked.
      const patched = await admin.request("PATCH", `/api/admin/mcp-servers/${id}`, {
        toolSettings: { add: { askFirst: false } },
        transport: { ...STDIO, env: { TEST_TOKEN: MASKED_VALUE, OTHER: "x" } },
      });
      assert.equal(patched.status, 200, patched.text);
      const stored = (await store.mcpServers.get(id))!;
      assert.deepEqual(stored.transport.type === "stdio" && stored.transport.env, {
        TEST_TOKEN: "s3cret-token",
        OTHER: "x",
      });
      assert.equal(patched.json.tools.find((tool: any) => tool.name === "add").askFirst, false);
      await waitFor(() => !alive(pid), "a changed server's old process stops");
      assert.equal(
        (await user.request("PATCH", `/api/admin/mcp-servers/${id}`, { enabled: false })).status,
        403,
      );

      // Disabled: users no longer see it, and its tools are offered to no one.
      assert.equal(
        (await admin.request("PATCH", `/api/admin/mcp-servers/${id}`, { enabled: false })).status,
        200,
      );
      assert.deepEqual((await user.request("GET", "/api/mcp/servers")).json.servers, []);
      assert.equal(
        (await user.request("GET", "/api/admin/mcp-servers")).status,
        403,
        "the admin list is for admins",
      );
      assert.equal((await user.request("DELETE", `/api/admin/mcp-servers/${id}`)).status, 403);
      assert.equal((await admin.request("DELETE", `/api/admin/mcp-servers/${id}`)).status, 204);
      const gone = await admin.request("DELETE", `/api/admin/mcp-servers/${id}`);
      assert.equal(gone.status, 404);
      assert.equal(gone.json.error.code, "mcp_server_not_found");
      assert.equal((await admin.request("POST", `/api/admin/mcp-servers/${id}/test`)).status, 404);
    });

    it("refuses bad registrations with a typed 4xx naming the field", async () => {
      const bad: Array<[unknown, number, string]> = [
        [{ name: "has space", transport: STDIO }, 422, "name"],
        [{ name: "x".repeat(33), transport: STDIO }, 422, "name"],
        [{ name: "ok", transport: { type: "stdio" } }, 400, "transport.command"],
        [{ name: "ok", transport: { type: "pipe", command: "x" } }, 400, "transport.type"],
        [{ name: "ok", transport: { type: "http", url: "ftp://example.com/" } }, 422, "transport.url"],
        [
          { name: "ok", transport: { type: "http", url: "http://x/", headers: { a: "1\r\nb: 2" } } },
          422,
          "transport.headers",
        ],
        [{ name: "ok", transport: { ...STDIO, env: { "1BAD": "x" } } }, 422, "transport.env.1BAD"],
        [
          { name: "ok", transport: STDIO, toolSettings: { add: { askFirst: "no" } } },
          400,
          "toolSettings.add.askFirst",
        ],
        [{ name: "ok", transport: STDIO, extra: 1 }, 422, ""],
      ];
      for (const [body, status, param] of bad) {
        const answer = await admin.request("POST", "/api/admin/mcp-servers", body);
        assert.equal(answer.status, status, `${JSON.stringify(body)}: ${answer.text}`);
        assert.equal(answer.json.error.param ?? "", param, answer.text);
      }
      const unknown = await admin.request("PATCH", "/api/admin/mcp-servers/nope", { enabled: true });
      assert.equal(unknown.status, 404);
      assert.deepEqual(await store.mcpServers.list(), []);
    });

    it("reports a server that cannot start as a failed test, with the reason", async () => {
      const created = await admin.request("POST", "/api/admin/mcp-servers", {
        name: "missing",
        transport: { type: "stdio", command: "/nonexistent/mcp-server" },
      });
      const tested = await admin.request("POST", `/api/admin/mcp-servers/${created.json.id}/test`);
      assert.equal(tested.status, 200, tested.text);
      assert.equal(tested.json.ok, false);
      assert.match(tested.json.error, /"missing" cannot be started: its command was not found/);
      await admin.request("DELETE", `/api/admin/mcp-servers/${created.json.id}`);
    });
  });

describe("McpHub against the stdio and HTTP test servers", () => {
  let store: Store;
  const dir = mkdtempSync(join(tmpdir(), "qiusuo-mcp-"));
  before(async () => {
    store = await openStore({ dataDir: dir });
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function register(server: Partial<NewMcpServer> & Pick<NewMcpServer, "name">): Promise<McpServer> {
    return store.mcpServers.create({ transport: { ...STDIO, env: {} }, ...server });
  }

  it("offers each tool as <server>__<tool>, calls through and returns text, isError and images", async () => {
    const registered = await register({ name: "calc", toolSettings: { add: { askFirst: false } } });
    const hub = new McpHub(store.mcpServers);
    try {
      const tools = await hub.toolsFor([registered.id, registered.id, "unknown-id"]);
      assert.deepEqual(
        tools.map((tool) => tool.definition.name),
        ["calc__add", "calc__echo", "calc__fail", "calc__picture", "calc__grow", "calc__slow", "calc__crash"],
      );
      const add = named(tools, "calc__add");
      assert.equal(add.askFirst, false);
      assert.equal(
        named(tools, "calc__echo").askFirst,
        true,
        "ask first is on unless an admin turned it off",
      );
      assert.deepEqual(add.definition.parameters.required, ["a", "b"]);
      assert.equal(add.definition.description, "Adds two numbers");
      assert.deepEqual(await add.run({ a: 2, b: 40 }, context()), { content: "42", isError: false });
      assert.deepEqual(await named(tools, "calc__echo").run({ text: "你好 <b>" }, context()), {
        content: "你好 <b>",
        isError: false,
      });
      assert.deepEqual(await named(tools, "calc__fail").run({}, context()), {
        content: "the disk is full",
        isError: true,
      });
      assert.deepEqual(await named(tools, "calc__picture").run({}, context()), {
        content: "A red dot:\n[image: image/png, 16 bytes, not shown]",
        isError: false,
      });
      const wrongArgs = await add.run({ a: "two" }, context());
      assert.equal(wrongArgs.isError, true, "the server's own validation is an error result");
      assert.equal((await add.run([1, 2], context())).isError, true);
      // The tool list is kept, so the next turn need not start the server to offer its tools.
      assert.equal((await store.mcpServers.get(registered.id))!.tools.length, 7);
    } finally {
      await hub.close();
    }
  });

  it("lists the tools again once the server says they changed", async () => {
    const registered = await register({ name: "growing" });
    const hub = new McpHub(store.mcpServers);
    try {
      const before = await hub.toolsFor([registered.id]);
      assert.ok(!before.some((tool) => tool.definition.name === "growing__extra"));
      assert.equal((await named(before, "growing__grow").run({}, context())).content, "grown");
      await waitFor(
        async () =>
          (await hub.toolsFor([registered.id])).some((tool) => tool.definition.name === "growing__extra"),
        "the new tool is offered",
      );
      const after = await hub.toolsFor([registered.id]);
      assert.deepEqual(await named(after, "growing__extra").run({}, context()), {
        content: "extra",
        isError: false,
      });
    } finally {
      await hub.close();
    }
  });

  it("times a hanging call out with a clear error, and the next call works", async () => {
    const registered = await register({ name: "hangs" });
    const hub = new McpHub(store.mcpServers, { callTimeoutMs: 1_000 });
    try {
      const tools = await hub.toolsFor([registered.id]);
      const started = Date.now();
      const hung = await named(tools, "hangs__slow").run({}, context());
      assert.deepEqual(hung, {
        content: 'The MCP server "hangs" did not answer within 1 s while running slow.',
        isError: true,
      });
      assert.ok(Date.now() - started < 5_000);
      assert.deepEqual(await named(tools, "hangs__add").run({ a: 1, b: 2 }, context()), {
        content: "3",
        isError: false,
      });
      // The turn's deadline bounds a call too, and its signal stops one.
      const nearDeadline = await named(tools, "hangs__slow").run({}, context({ deadline: Date.now() + 300 }));
      assert.match(nearDeadline.content, /did not answer within 0 s/);
      const stop = new AbortController();
      setTimeout(() => stop.abort(), 100);
      const stopped = await named(tools, "hangs__slow").run({}, context({ signal: stop.signal }));
      assert.deepEqual(stopped, { content: "The call to slow was stopped.", isError: true });
    } finally {
      await hub.close();
    }
  });

  it("turns a crash into an error result and starts the server again for the next call", async () => {
    const registered = await register({ name: "crashy" });
    const hub = new McpHub(store.mcpServers);
    try {
      const tools = await hub.toolsFor([registered.id]);
      assert.deepEqual(await named(tools, "crashy__add").run({ a: 1, b: 1 }, context()), {
        content: "2",
        isError: false,
      });
      const [first] = await hub.pids();
      const crashed = await named(tools, "crashy__crash").run({}, context());
      assert.equal(crashed.isError, true);
      assert.match(crashed.content, /^The MCP server "crashy" closed the connection while running crash/);
      await waitFor(() => !alive(first!), "the crashed process is gone");
      assert.deepEqual(await named(tools, "crashy__add").run({ a: 2, b: 2 }, context()), {
        content: "4",
        isError: false,
      });
      const [second] = await hub.pids();
      assert.ok(second !== undefined && second !== first, "a new process serves the next call");
      // Calls at the same time to a server not running start it once.
      await named(tools, "crashy__crash").run({}, context());
      const both = await Promise.all(
        [1, 2, 3].map((a) => named(tools, "crashy__add").run({ a, b: 0 }, context())),
      );
      assert.deepEqual(
        both.map((result) => result.content),
        ["1", "2", "3"],
      );
      assert.equal(children().length, 1, "one process, not one per call");
    } finally {
      await hub.close();
    }
  });

  it("gives a clear error for a command that does not exist or a server that answers nonsense", async () => {
    const missing = await register({
      name: "missing",
      transport: { type: "stdio", command: "/nonexistent/mcp-server", args: [], env: {}, cwd: null },
    });
    const babbling = await register({
      name: "babbling",
      transport: { ...STDIO, args: [...STDIO.args, "garbage"], env: {} },
    });
    const hub = new McpHub(store.mcpServers, { connectTimeoutMs: 2_000 });
    try {
      // Never listed and unreachable: nothing to offer, and the turn is not held up.
      assert.deepEqual(await hub.toolsFor([missing.id, babbling.id]), []);
      // Listed once, then gone: calling is an error result the model reads.
      await store.mcpServers.recordTools(missing.id, [{ name: "add", description: "", inputSchema: {} }]);
      const [add] = await hub.toolsFor([missing.id]);
      const result = await add!.run({}, context());
      assert.equal(result.isError, true);
      assert.match(
        result.content,
        /"missing" cannot be started: its command was not found \(spawn \/nonexistent/,
      );
      const nowhere = await hub.test({ ...missing, transport: { ...STDIO, cwd: "/nonexistent/dir" } });
      assert.deepEqual(nowhere, {
        ok: false,
        error:
          'The MCP server "missing" cannot be started: its working directory /nonexistent/dir does not exist.',
      });
      const tested = await hub.test((await store.mcpServers.get(babbling.id))!);
      assert.equal(tested.ok, false);
      assert.match(!tested.ok ? tested.error : "", /"babbling" did not answer within 2 s while connecting/);
      assert.deepEqual(await hub.pids(), [], "a server that never answered is not left running");
    } finally {
      await hub.close();
    }
  });

  it("starts no disabled server and leaves no child process after close", async () => {
    const disabled = await register({ name: "off", enabled: false });
    await store.mcpServers.recordTools(disabled.id, [{ name: "add", description: "", inputSchema: {} }]);
    const running = await register({ name: "on" });
    const hub = new McpHub(store.mcpServers);
    const tools = await hub.toolsFor([disabled.id, running.id]);
    assert.ok(tools.every((tool) => tool.definition.name.startsWith("on__")));
    // A call in flight when the hub closes ends as an error result, and its process goes.
    const slow = named(tools, "on__slow").run({}, context());
    await waitFor(async () => (await hub.pids()).length === 1, "the server runs");
    const [pid] = await hub.pids();
    await hub.close();
    assert.equal((await slow).isError, true);
    assert.equal(alive(pid!), false, `process ${pid} still runs after close`);
    const late = await named(tools, "on__add").run({ a: 1, b: 1 }, context());
    assert.match(late.content, /qiusuo is shutting down/);
    assert.deepEqual(await hub.pids(), []);
  });

  it("speaks streamable HTTP, sending the registered headers", async () => {
    const http = await startMcpHttpServer();
    const registered = await register({
      name: "remote",
      transport: { type: "http", url: http.url, headers: { Authorization: "Bearer remote-key" } },
    });
    const hub = new McpHub(store.mcpServers);
    try {
      const tools = await hub.toolsFor([registered.id]);
      assert.deepEqual(await named(tools, "remote__add").run({ a: 20, b: 22 }, context()), {
        content: "42",
        isError: false,
      });
      assert.ok(http.headers.length > 0);
      assert.ok(http.headers.every((headers) => headers.authorization === "Bearer remote-key"));
      // A server that refuses the key, then one that is gone: error results saying so.
      http.refuseWith(401);
      const refused = await hub.test(registered);
      assert.match(
        refused.ok ? "" : refused.error,
        /^The MCP server "remote" answered HTTP 401 while connecting/,
      );
      http.refuseWith(null);
      await hub.test(registered);
      await http.close();
      const gone = await named(tools, "remote__add").run({ a: 1, b: 1 }, context());
      assert.equal(gone.isError, true);
      assert.match(gone.content, /^The MCP server "remote" cannot be reached: /);
    } finally {
      await hub.close();
      await http.close();
    }
    const closed = await hub.test({
      ...registered,
      transport: { type: "http", url: http.url, headers: {} },
    });
    assert.equal(closed.ok, false, "a closed hub connects to nothing");
  });
});

describe("the server's own hub", () => {
  it("stops the servers it started when the server shuts down", async () => {
    const server = await startTestServer();
    const before = children();
    try {
      const created = await postJson(`${server.url}/api/admin/mcp-servers`, {
        name: "calc",
        transport: STDIO,
      });
      const tested = await postJson(`${server.url}/api/admin/mcp-servers/${created.json.id}/test`, {});
      assert.equal(tested.json.ok, true, tested.text);
    } finally {
      const started = children().filter((pid) => !before.includes(pid));
      assert.equal(started.length, 1, "the test started one server process");
      await server.close();
      assert.deepEqual(
        children().filter((pid) => started.includes(pid)),
        [],
        "no server process is left",
      );
      assert.equal(alive(started[0]!), false);
    }
  });
});

describe("an app turn calling an MCP tool", () => {
  const dir = mkdtempSync(join(tmpdir(), "qiusuo-mcp-turn-"));
  let server: TestServer;
  let hub: McpHub;
  before(async () => {
    makeScriptedModel(join(dir, "mcp-caller.gguf"), {
      script: ["<tool_call>", '\n{"name": "calc__add", "arguments": {"a": 2, "b": 3}}', "\n</tool_call>"],
    });
    makeScriptedModel(join(dir, "mcp-answer.gguf"), { script: ["2 + 3 = 5."] });
    server = await startTestServer({
      models: [{ file: join(dir, "mcp-caller.gguf") }, { file: join(dir, "mcp-answer.gguf") }],
      engine: { contextSize: 2048 },
    });
    hub = new McpHub(server.store.mcpServers);
  });
  after(async () => {
    await hub?.close();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs a turn with the server's tools; a request ending with a tool result goes to the answer model. */
  async function turn(askFirst: boolean) {
    const calc =
      (await server.store.mcpServers.list()).find((candidate) => candidate.name === "calc") ??
      (await server.store.mcpServers.create({ name: "calc", transport: { ...STDIO, env: {} } }));
    await server.store.mcpServers.update(calc.id, { toolSettings: { add: { askFirst } } });
    const requests: ChatRequest[] = [];
    const engine: Engine = {
      listModels: () => server.router.listModels(),
      chat: (request, signal) => {
        requests.push(request);
        const followUp = request.messages.at(-1)?.role === "tool";
        return server.router.chat(followUp ? { ...request, model: "mcp-answer" } : request, signal);
      },
      provenance: (model, options) => server.router.provenance!(model, options),
      dispose: async () => {},
    };
    const local = (await server.store.users.findByName("local"))!;
    const user = { id: local.id, name: local.name, role: local.role };
    const conversation = await server.store.conversations.create(user.id, {});
    const question = (await server.store.conversations.addMessage(user.id, conversation.id, {
      parentId: null,
      role: "user",
      content: "What is 2 + 3?",
    }))!;
    const events: TurnEvent[] = [];
    const stream = await runTurn({
      engine,
      store: server.store,
      user,
      conversation,
      branch: [question],
      generation: { model: "mcp-caller" },
      signal: new AbortController().signal,
      tools: await hub.toolsFor([calc.id]),
    });
    for await (const event of stream) events.push(event);
    return { events, requests };
  }

  it("runs the model's call to the MCP tool and answers from its result", async () => {
    const { events, requests } = await turn(false);
    const call = events.find((event) => event.type === "tool-call");
    assert.equal(call?.type === "tool-call" && call.name, "calc__add");
    const result = events.find((event) => event.type === "tool-result");
    assert.deepEqual(
      result?.type === "tool-result" && {
        name: result.name,
        content: result.content,
        isError: result.isError,
      },
      { name: "calc__add", content: "5", isError: false },
    );
    assert.equal(requests.length, 2);
    assert.equal(requests[1]!.messages.at(-1)?.content, "5", "the model reads the MCP result");
    assert.ok(requests[0]!.tools?.some((tool) => tool.name === "calc__add"));
    const finish = events.at(-1);
    assert.equal(finish?.type === "finish" && finish.reason, "stop");
    const text = events.map((event) => (event.type === "text" ? event.text : "")).join("");
    assert.match(text, /2 \+ 3 = 5\./);
  });

  it("runs nothing for an ask-first MCP tool and ends saying approval is needed", async () => {
    const { events, requests } = await turn(true);
    assert.ok(!events.some((event) => event.type === "tool-result"));
    const approval = events.find((event) => event.type === "approval-needed");
    assert.equal(approval?.type === "approval-needed" && approval.name, "calc__add");
    const finish = events.at(-1);
    assert.equal(finish?.type === "finish" && finish.reason, "approval-needed");
    assert.equal(requests.length, 1);
  });
});
