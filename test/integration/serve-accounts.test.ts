// `qiusuo serve` as users run it, with the store in its data dir: keys made with `qiusuo keys
// create` work, hit their limits and are refused after `qiusuo keys revoke` while the server
// runs; and a server killed with SIGKILL mid-reply restarts with every finished message intact
// and the cut-off reply marked interrupted.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { ensureFixtureModels, makeScriptedModel } from "../fixtures/models.js";
import { runQiusuo, startServe, stopServe, waitForOutput } from "./cli-process.js";
import { AppClient, parseNamedEvents, postJson, readUntil, waitFor } from "./harness.js";

/** Runs a one-shot command that must succeed; returns its stdout. */
function qiusuo(args: string[], input?: string): string {
  const result = runQiusuo(args, input === undefined ? {} : { input });
  assert.equal(result.status, 0, `qiusuo ${args.join(" ")}: ${result.stderr}`);
  return result.stdout;
}

/** `qiusuo serve` with the store in its data dir and no model download, once /health is ready. */
const serve = (args: string[], options: { ready?: boolean } = {}) =>
  startServe(args, { env: { QIUSUO_NO_PULL: "1" }, ready: options.ready ?? true });

describe("qiusuo serve with accounts", () => {
  let dataDir: string;
  const fixtures = ensureFixtureModels();
  before(() => {
    dataDir = mkdtempSync(path.join(tmpdir(), "qiusuo-serve-accounts-"));
  });
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it("serves keys made by `qiusuo keys create`, limits them, and refuses them once revoked", async () => {
    qiusuo(
      ["users", "add", "alice", "--admin", "--password-stdin", "--data-dir", dataDir],
      "a long password\n",
    );
    const key = qiusuo([
      "keys",
      "create",
      "--user",
      "alice",
      "--name",
      "ci",
      "--rpm",
      "2",
      "--data-dir",
      dataDir,
    ]).trim();
    const quota = qiusuo([
      "keys",
      "create",
      "--user",
      "alice",
      "--name",
      "tiny",
      "--quota-tokens",
      "5",
      "--data-dir",
      dataDir,
    ]).trim();
    assert.match(key, /^sk-[0-9a-f]{64}$/);
    const server = await serve(["--model", fixtures.scripted, "--data-dir", dataDir]);
    try {
      await waitForOutput(server, /(Accounts mode)/);
      const chat = (apiKey?: string) =>
        postJson(
          `${server.url}/v1/chat/completions`,
          { model: "deepseek-chat", messages: [{ role: "user", content: "hi" }] },
          apiKey ? { authorization: `Bearer ${apiKey}` } : {},
        );
      assert.equal((await chat()).status, 401);
      const ok = await chat(key);
      assert.equal(ok.status, 200, ok.text);
      assert.equal(ok.json.choices[0].message.content, "The answer is 42");
      assert.equal((await chat(key)).status, 200);
      const limited = await chat(key);
      assert.equal(limited.status, 429);
      assert.ok(Number(limited.headers.get("retry-after")) >= 1);

      assert.equal((await chat(quota)).status, 200);
      const broke = await chat(quota);
      assert.equal(broke.status, 402);
      assert.equal(broke.json.error.code, "quota_exhausted");

      qiusuo(["keys", "revoke", "ci", "--data-dir", dataDir]);
      const revoked = await chat(key);
      assert.equal(revoked.status, 401);
      assert.equal(revoked.json.error.code, "api_key_revoked");
    } finally {
      await stopServe(server.child);
    }
  });
});

describe("qiusuo serve: first run in accounts mode", () => {
  it("prints a one-time setup link with --auth, and refuses a public address without an admin", async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), "qiusuo-first-run-"));
    try {
      const refused = runQiusuo(["serve", "--host", "0.0.0.0", "--port", "0", "--data-dir", dataDir], {
        env: { QIUSUO_NO_PULL: "1" },
      });
      assert.equal(refused.status, 1);
      assert.match(refused.stderr, /Refusing to serve on 0\.0\.0\.0 without an admin account/);

      const server = await serve(["--auth", "--data-dir", dataDir], { ready: false });
      try {
        // The link is printed after the listening line, possibly in a later chunk of the pipe.
        const link = await waitForOutput(server, /(http:\/\/\S+\/setup\?token=[A-Za-z0-9_-]+)\n/);
        const session = await (await fetch(`${server.url}/api/session`)).json();
        assert.deepEqual(session, { mode: "accounts", user: null, setupRequired: true, csrfToken: null });
        const token = new URL(link).searchParams.get("token");
        const setup = await postJson(`${server.url}/api/setup`, {
          token,
          name: "admin",
          password: "a long password",
        });
        assert.equal(setup.status, 200, setup.text);
      } finally {
        await stopServe(server.child);
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe("durability", () => {
  it("keeps every finished message after kill -9 mid-reply, and marks the cut-off reply interrupted", async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), "qiusuo-durability-"));
    // A 3,000-token reply, so the kill lands mid-stream.
    const script = Array.from({ length: 3000 }, (_, index) => ` w${index}`);
    const model = path.join(dataDir, "long.gguf");
    makeScriptedModel(model, { script });
    let server = await serve(["--model", model, "--data-dir", dataDir, "--ctx-size", "4096"]);
    try {
      const client = new AppClient(server.url);
      const conversation = (await client.request("POST", "/api/conversations", {})).json;
      // Two finished turns first (as two branches, so each prompt stays short); each answer is
      // acknowledged by its `done` event.
      const parentId: string | null = null;
      const finished: Array<{ id: string; content: string }> = [];
      for (const content of ["first question", "第二个问题"]) {
        const turn = await client.send(conversation.id, { parentId, content });
        assert.equal(turn.status, 200, JSON.stringify(turn.json));
        const done = turn.events.at(-1)!;
        assert.equal(done.event, "done");
        finished.push(
          { id: turn.events[0]!.data.id, content },
          { id: done.data.id, content: done.data.content },
        );
      }

      // The third reply is cut off by SIGKILL once it is streaming.
      const response = await fetch(`${server.url}/api/conversations/${conversation.id}/messages`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ parentId, content: "third question" }),
      });
      const reader = response.body!.getReader();
      const text = await readUntil(
        reader,
        (text) => parseNamedEvents(text).filter((event) => event.event === "delta").length >= 3,
      );
      const events = parseNamedEvents(text);
      const question = events.find((event) => event.event === "user")!.data;
      const cutOff = events.find((event) => event.event === "assistant")!.data;
      // Kill once a streaming save has landed (they come every 500 ms), while the reply goes on.
      await waitFor(async () => {
        const saved = await client.request("GET", `/api/conversations/${conversation.id}`);
        const reply = saved.json.messages.find((message: any) => message.id === cutOff.id);
        assert.equal(reply.status, "streaming", "the reply must still be streaming when killed");
        return reply.content.length > 0;
      }, "a streaming save of the reply has landed");
      await stopServe(server.child, "SIGKILL");
      await reader.cancel().catch(() => {});

      server = await serve(["--model", model, "--data-dir", dataDir, "--ctx-size", "4096"]);
      const client2 = new AppClient(server.url);
      assert.match(server.output(), /1 reply\(s\) cut off by the last shutdown are marked interrupted/);
      const stored = await client2.request("GET", `/api/conversations/${conversation.id}`);
      const byId = new Map<string, any>(stored.json.messages.map((message: any) => [message.id, message]));
      for (const message of finished) {
        assert.equal(byId.get(message.id)?.content, message.content);
        assert.equal(byId.get(message.id)?.status, "complete");
      }
      assert.equal(byId.get(question.id)?.content, "third question", "the acknowledged question survives");
      const partial = byId.get(cutOff.id);
      assert.equal(partial.status, "interrupted");
      const full = script.join("").trimStart();
      assert.ok(full.startsWith(partial.content), partial.content.slice(0, 80));
      assert.ok(partial.content.length > 0, "the streamed part was saved");
      assert.ok(partial.content.length < full.length);
      assert.equal(stored.json.messages.length, 6);
    } finally {
      await stopServe(server.child);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
