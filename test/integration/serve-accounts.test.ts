// `qiusuo serve` as users run it, with the store in its data dir: keys made with `qiusuo keys
// create` work, hit their limits and are refused after `qiusuo keys revoke` while the server
// runs; and a server killed with SIGKILL mid-reply restarts with every finished message intact
// and the cut-off reply marked interrupted.
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, it } from "node:test";
import { ensureFixtureModels, makeScriptedModel } from "../fixtures/models.js";
import { AppClient, parseNamedEvents, postJson } from "./harness.js";

const cli = path.resolve("dist/cli/main.js");

function qiusuo(args: string[], input?: string) {
  const result = spawnSync(process.execPath, [cli, ...args], {
    encoding: "utf8",
    env: { ...process.env, DATABASE_URL: "" },
    ...(input === undefined ? {} : { input }),
  });
  assert.equal(result.status, 0, `qiusuo ${args.join(" ")}: ${result.stderr}`);
  return result.stdout;
}

/** Starts `qiusuo serve`; waits for its URL, and for /health to answer 200 unless `ready` is false. */
async function startServe(args: string[], options: { ready?: boolean } = {}) {
  const child = spawn(
    process.execPath,
    [cli, "serve", "--port", "0", "--threads", "1", "--gpu", "off", ...args],
    {
      env: { ...process.env, DATABASE_URL: "", QIUSUO_NO_PULL: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let output = "";
  child.stdout!.on("data", (chunk) => (output += chunk));
  child.stderr!.on("data", (chunk) => (output += chunk));
  for (let attempt = 0; attempt < 600; attempt++) {
    const match = /listening on (http:\/\/[^\s]+)/.exec(output);
    if (match) {
      if (options.ready !== false) await waitForReady(match[1]!);
      return { child, url: match[1]!, output: () => output };
    }
    if (child.exitCode !== null) break;
    await sleep(50);
  }
  child.kill("SIGKILL");
  throw new Error(`serve did not start:\n${output}`);
}

/** Waits for the server's output to match `pattern`, and returns its first group. */
async function waitForOutput(server: { output: () => string }, pattern: RegExp): Promise<string> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const match = pattern.exec(server.output());
    if (match) return match[1]!;
    await sleep(50);
  }
  throw new Error(`the output never matched ${pattern}:\n${server.output()}`);
}

async function waitForReady(url: string): Promise<void> {
  for (let attempt = 0; attempt < 600; attempt++) {
    if ((await fetch(`${url}/health`)).status === 200) return;
    await sleep(50);
  }
  throw new Error("the server never became ready");
}

async function stop(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill(signal);
  await exited;
}

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
    const server = await startServe(["--model", fixtures.scripted, "--data-dir", dataDir]);
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
      await stop(server.child);
    }
  });
});

describe("qiusuo serve: first run in accounts mode", () => {
  it("prints a one-time setup link with --auth, and refuses a public address without an admin", async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), "qiusuo-first-run-"));
    try {
      const refused = spawnSync(
        process.execPath,
        [cli, "serve", "--host", "0.0.0.0", "--port", "0", "--data-dir", dataDir],
        {
          encoding: "utf8",
          env: { ...process.env, DATABASE_URL: "", QIUSUO_NO_PULL: "1" },
          timeout: 60_000,
        },
      );
      assert.equal(refused.status, 1);
      assert.match(refused.stderr, /Refusing to serve on 0\.0\.0\.0 without an admin account/);

      const server = await startServe(["--auth", "--data-dir", dataDir], { ready: false });
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
        await stop(server.child);
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
    let server = await startServe(["--model", model, "--data-dir", dataDir, "--ctx-size", "4096"]);
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
      let text = "";
      while (parseNamedEvents(text).filter((event) => event.event === "delta").length < 3) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      const events = parseNamedEvents(text);
      const question = events.find((event) => event.event === "user")!.data;
      const cutOff = events.find((event) => event.event === "assistant")!.data;
      // Kill once a streaming save has landed (they come every 500 ms), while the reply goes on.
      for (let attempt = 0; ; attempt++) {
        const saved = await client.request("GET", `/api/conversations/${conversation.id}`);
        const reply = saved.json.messages.find((message: any) => message.id === cutOff.id);
        assert.equal(reply.status, "streaming", "the reply must still be streaming when killed");
        if (reply.content.length > 0) break;
        assert.ok(attempt < 200, "no streaming save landed within 10 s");
        await sleep(50);
      }
      await stop(server.child, "SIGKILL");
      await reader.cancel().catch(() => {});

      server = await startServe(["--model", model, "--data-dir", dataDir, "--ctx-size", "4096"]);
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
      await stop(server.child);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
