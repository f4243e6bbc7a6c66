// Proof of no egress (docs/privacy.md): the built `qiusuo serve`, as users run it, inside a network
// namespace with no route (test/support/network-jail.ts), answers a full chat turn through the API,
// the app's API and the app in real Chromium (which runs in the same namespace), and not one
// outbound attempt is made: the guard preload (test/support/egress-guard.cjs) sees no connect, DNS
// query, UDP send, http(s) request or fetch to anything but loopback, and strace sees no connect or
// send to a non-loopback address or a DNS port, native code included. A failed attempt counts: in
// the namespace every attempt fails, so "it worked" alone would prove nothing. The controls show the
// watchers are not blind: the guard and strace catch every way out from a probe; a configured
// upstream is caught; the default first-run pull tries Hugging Face (or the configured mirror) and
// nothing else; QIUSUO_NO_PULL=1 tries nothing.
//
// Needs root (or CAP_SYS_ADMIN) for `unshare -n`. Elsewhere the file is skipped with the reason;
// on CI (CI set) or as root it fails instead, unless QIUSUO_SKIP_NETNS=1 off CI.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { chromium as playwright, type Browser } from "playwright-core";

import { DEFAULT_MODEL_ALIAS } from "../../src/config/config.js";
import { ensureFixtureModels } from "../fixtures/models.js";
import {
  chromiumInNamespace,
  namespaceProblem,
  openTunnel,
  outboundCalls,
  startJailed,
  STRACE_AVAILABLE,
  type GuardRecord,
  type JailedProcess,
  type Tunnel,
} from "../support/network-jail.js";
import { cleanEnv, cli } from "./cli-process.js";
import { AppClient, postJson, postStream, readSse, waitFor } from "./harness.js";

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((file) => existsSync(file));
/** Addresses no route reaches (the namespace has none anyway), for the controls. */
const UPSTREAM = { host: "10.255.255.1", port: 8000 };
const MIRROR = { host: "10.255.255.2", port: 8000 };
const ANSWER = "The answer is 42";

const unavailable = namespaceProblem();
const onCi = Boolean(process.env.CI);
const asRoot = process.getuid?.() === 0;
const skip =
  unavailable !== undefined && !onCi && (!asRoot || process.env.QIUSUO_SKIP_NETNS === "1")
    ? `no network namespace here (${unavailable}); CI runs this as root`
    : false;
if (STRACE_AVAILABLE === false && !skip) {
  console.log("# strace is not installed: only the guard preload watches (apt-get install strace)");
}

const fixtures = ensureFixtureModels();
let scratch: string;

before(async () => {
  if (skip) return;
  assert.equal(
    unavailable,
    undefined,
    `a network namespace is required as root and on CI (QIUSUO_SKIP_NETNS=1 skips it off CI): ${unavailable}`,
  );
  assert.ok(existsSync(cli), "run `npm run build` first (npm test does)");
  scratch = await fs.mkdtemp(path.join(os.tmpdir(), "qiusuo-no-egress-"));
});
after(async () => {
  if (scratch) await fs.rm(scratch, { recursive: true, force: true });
});

interface JailedServe extends JailedProcess {
  /** The server's URL inside the namespace (for Chromium, which runs there). */
  innerUrl: string;
  dataDir: string;
}

/** `qiusuo serve ARGS` in the namespace, under the guard and strace, with its own data dir. */
async function startJailedServe(args: string[], env: Record<string, string> = {}): Promise<JailedServe> {
  const dir = await fs.mkdtemp(path.join(scratch, "serve-"));
  const dataDir = path.join(dir, "data");
  const jail = startJailed(
    [process.execPath, cli, "serve", "--port", "0", "--threads", "1", "--data-dir", dataDir, ...args],
    { dir, env: { ...cleanEnv, ...env } },
  );
  let innerUrl = "";
  try {
    await waitFor(
      () => {
        innerUrl = /listening on (http:\/\/[^\s]+)/.exec(jail.output())?.[1] ?? "";
        if (!innerUrl && jail.child.exitCode !== null) throw new Error(`serve exited:\n${jail.output()}`);
        return innerUrl !== "";
      },
      () => `serve listens:\n${jail.output()}`,
      30_000,
    );
  } catch (error) {
    await jail.stop();
    throw error;
  }
  return { ...jail, innerUrl, dataDir };
}

/**
 * Keeps a server running a while longer before it is stopped, so that an attempt made a moment
 * after start (a pull that should not happen, a check for updates) has the time to show.
 */
function quietPeriod(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 1500));
}

/** The guard's records as `api host:port` (port omitted for DNS), for readable failures. */
function destinations(records: GuardRecord[]): string[] {
  return records.map((record) => `${record.api} ${record.host}${record.port ? `:${record.port}` : ""}`);
}

/** What strace saw leave, as `syscall address:port`. */
function outbound(jail: JailedProcess): string[] {
  return outboundCalls(jail.socketCalls()).map((call) => `${call.syscall} ${call.address}:${call.port}`);
}

describe("no egress: qiusuo in a network namespace with no route", { skip }, () => {
  it("the guard and strace catch every way out (the control for the watchers)", async () => {
    const dir = await fs.mkdtemp(path.join(scratch, "probe-"));
    const target = "10.255.255.1";
    // Every kind of attempt, each to its own port so each can be found; then one to loopback,
    // which is not egress. A worker thread and a child process must be caught too.
    const probe = `
      import net from "node:net"; import tls from "node:tls"; import http from "node:http";
      import https from "node:https"; import dns from "node:dns"; import dgram from "node:dgram";
      import { Worker } from "node:worker_threads"; import { spawnSync } from "node:child_process";
      const settled = (socket) => new Promise((resolve) => { socket.on("error", resolve); socket.on("connect", () => { socket.destroy(); resolve(); }); });
      const failed = (promise) => promise.then(() => {}, () => {});
      await settled(net.connect(8001, "${target}"));
      await settled(tls.connect(8002, "${target}"));
      await new Promise((resolve) => http.get("http://${target}:8003/").on("error", resolve));
      await new Promise((resolve) => https.get("https://${target}:8004/").on("error", resolve));
      await failed(fetch("http://${target}:8005/"));
      await failed(fetch("https://example.com/"));
      await new Promise((resolve) => dns.lookup("example.org", resolve));
      await failed(dns.promises.resolve4("example.net"));
      const udp = dgram.createSocket("udp4");
      await new Promise((resolve) => udp.send("x", 8006, "${target}", resolve));
      udp.close();
      await new Promise((resolve) => new Worker('fetch("http://${target}:8007/").catch(() => {})', { eval: true }).on("exit", resolve));
      spawnSync(process.execPath, ["-e", 'require("node:net").connect(8008, "${target}").on("error", () => {})']);
      await settled(net.connect(9, "127.0.0.1"));
      console.log("probe done");
    `;
    const jail = startJailed([process.execPath, "--input-type=module", "-e", probe], {
      dir,
      env: { ...cleanEnv },
    });
    await new Promise((resolve) => jail.child.once("exit", resolve));
    await jail.stop();
    assert.match(jail.output(), /probe done/, jail.output());

    const seen = new Set(destinations(jail.guardRecords()));
    for (const expected of [
      `net.Socket.connect ${target}:8001`,
      `tls.connect ${target}:8002`,
      `http.get ${target}:8003`,
      `net.Socket.connect ${target}:8003`,
      `https.get ${target}:8004`,
      `tls.connect ${target}:8004`,
      `fetch ${target}:8005`,
      // Below fetch: undici connects through net, which the guard watches on its own.
      `net.Socket.connect ${target}:8005`,
      "fetch example.com:443",
      "tls.connect example.com:443",
      "dns.lookup example.com",
      "dns.lookup example.org",
      "dns.promises.resolve4 example.net",
      `dgram.send ${target}:8006`,
      `fetch ${target}:8007`,
      `net.Socket.connect ${target}:8008`,
    ]) {
      assert.ok(seen.has(expected), `the guard saw ${expected}: ${[...seen].join(", ")}`);
    }
    const records = jail.guardRecords();
    const probePid = records.find((record) => record.port === 8001)!.pid;
    assert.ok(
      records.some((record) => record.port === 8007 && record.thread !== 0),
      "in the worker thread",
    );
    assert.ok(
      records.some((record) => record.port === 8008 && record.pid !== probePid),
      "in the child process",
    );
    assert.ok(!records.some((record) => record.host.startsWith("127.")), "loopback is not egress");

    if (STRACE_AVAILABLE) {
      const calls = outbound(jail);
      for (const port of [8001, 8002, 8005, 8006, 8007, 8008]) {
        assert.ok(
          calls.some((call) => call.endsWith(`${target}:${port}`)),
          `strace saw ${target}:${port}: ${calls.join(", ")}`,
        );
      }
      // The DNS queries went to the resolver, whatever it is.
      assert.ok(
        calls.some((call) => call.endsWith(":53")),
        `strace saw a DNS query: ${calls.join(", ")}`,
      );
      assert.ok(!calls.some((call) => call.includes(" 127.0.0.1:9")), "loopback is not egress");
    }
  });

  describe("a full chat turn through the API, the app's API and the app in Chromium", () => {
    let server: JailedServe;
    let tunnel: Tunnel;
    before(async () => {
      server = await startJailedServe(["--model", fixtures.scripted]);
      tunnel = await openTunnel(
        server.netns,
        Number(new URL(server.innerUrl).port),
        path.dirname(server.dataDir),
      );
      await waitFor(
        async () => (await fetch(`${tunnel.url}/health`)).status === 200,
        () => `/health answers 200:\n${server.output()}`,
        30_000,
      );
    });
    after(async () => {
      await tunnel?.close();
      await server?.stop();
    });

    it("DeepSeek's API answers, whole and streamed, and Anthropic's", async () => {
      const messages = [{ role: "user", content: "What is six times seven?" }];
      const whole = await postJson(`${tunnel.url}/v1/chat/completions`, { model: "deepseek-chat", messages });
      assert.equal(whole.status, 200, whole.text);
      assert.equal(whole.json.choices[0].message.content, ANSWER);

      const streamed = await postStream(`${tunnel.url}/chat/completions`, {
        model: "deepseek-reasoner",
        messages,
        stream: true,
      });
      assert.equal(streamed.status, 200);
      const chunks = await readSse(streamed);
      assert.equal(chunks.at(-1), "[DONE]");
      const text = chunks
        .filter((chunk) => chunk !== "[DONE]")
        .map((chunk) => chunk.choices[0]?.delta?.content ?? "")
        .join("");
      assert.equal(text, ANSWER);

      const anthropic = await postJson(`${tunnel.url}/anthropic/v1/messages`, {
        model: "deepseek-chat",
        max_tokens: 64,
        messages,
      });
      assert.equal(anthropic.status, 200, anthropic.text);
      assert.ok(
        anthropic.json.content.some((block: any) => block.type === "text" && block.text === ANSWER),
        anthropic.text,
      );
    });

    it("the app's API: a conversation, a message, the streamed reply, saved", async () => {
      const client = new AppClient(tunnel.url);
      const created = await client.request("POST", "/api/conversations", {});
      assert.equal(created.status, 201, created.text);
      const { status, events } = await client.send(created.json.id, {
        parentId: null,
        content: "What is six times seven?",
        thinking: true,
      });
      assert.equal(status, 200);
      const done = events.find((event) => event.event === "done");
      assert.equal(done?.data.status, "complete", JSON.stringify(events));
      assert.equal(done?.data.content, ANSWER);
      const saved = await client.request("GET", `/api/conversations/${created.json.id}`);
      assert.equal(saved.status, 200, saved.text);
      assert.match(saved.text, new RegExp(ANSWER));
    });

    it("the app in Chromium, itself in the namespace, asks for nothing but the server", async (t) => {
      if (!CHROMIUM) {
        assert.ok(!onCi, "Chromium is required on CI: apt-get install -y chromium");
        t.skip("Chromium is not installed");
        return;
      }
      const browser: Browser = await playwright.launch({
        executablePath: chromiumInNamespace(CHROMIUM, server.netns, path.dirname(server.dataDir)),
        headless: true,
        args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
      });
      try {
        const context = await browser.newContext({ locale: "en-US" });
        const page = await context.newPage();
        const requested: string[] = [];
        const failed: string[] = [];
        page.on("request", (request) => void requested.push(request.url()));
        page.on(
          "requestfailed",
          (request) => void failed.push(`${request.url()} ${request.failure()?.errorText}`),
        );
        // The server's address means something only inside the namespace: from here it is closed.
        await assert.rejects(fetch(`${server.innerUrl}/health`), "the server is not reachable from outside");
        await page.goto(server.innerUrl);
        const input = page.getByLabel("Message", { exact: true });
        await input.fill("What is six times seven?");
        await input.press("Enter");
        const reply = page.locator(".message.assistant[data-status=complete]").last();
        await reply.waitFor({ timeout: 20_000 });
        assert.match((await reply.locator(".markdown").textContent()) ?? "", new RegExp(ANSWER));

        const origin = new URL(server.innerUrl).origin;
        const elsewhere = requested.filter(
          (url) => new URL(url).origin !== origin && !/^(data|blob):/.test(url),
        );
        assert.deepEqual(elsewhere, [], "the page asked only its own server");
        assert.deepEqual(failed, []);
        assert.ok(
          requested.some((url) => url.includes("/api/conversations")),
          requested.join("\n"),
        );
        await context.close();
      } finally {
        await browser.close();
      }
    });

    it("and the server never tried to reach anything but loopback", async () => {
      // Stopped first, so that a shutdown that phoned home would be caught too.
      await tunnel.close();
      await server.stop();
      assert.deepEqual(destinations(server.guardRecords()), [], "the guard saw no attempt");
      assert.deepEqual(outbound(server), [], "strace saw no connect or send leave");
      assert.match(server.output(), /SIGTERM: shutting down/);
    });
  });

  it("the control: a configured upstream pool is an attempt, and both watchers see it", async () => {
    const upstream = `http://${UPSTREAM.host}:${UPSTREAM.port}`;
    const server = await startJailedServe(["--model", fixtures.scripted, "--upstream", `far=${upstream}`]);
    try {
      await waitFor(
        () =>
          server.guardRecords().some((record) => record.api === "net.Socket.connect") &&
          (!STRACE_AVAILABLE || outbound(server).length > 0),
        () => `the attempt to ${upstream} is seen:\n${server.output()}`,
        15_000,
      );
      await quietPeriod();
    } finally {
      await server.stop();
    }
    const seen = new Set(destinations(server.guardRecords()));
    assert.deepEqual(
      [...seen].sort(),
      [`fetch ${UPSTREAM.host}:${UPSTREAM.port}`, `net.Socket.connect ${UPSTREAM.host}:${UPSTREAM.port}`],
      "the pool's discovery, and nothing else",
    );
    if (STRACE_AVAILABLE) {
      assert.deepEqual(
        [...new Set(outbound(server).map((call) => call.replace(/^\w+ /, "")))],
        [`${UPSTREAM.host}:${UPSTREAM.port}`],
      );
    }
  });

  describe("the first run with no model", () => {
    it("pulls the default model from Hugging Face, says so, and tries nothing else", async () => {
      const server = await startJailedServe([]);
      try {
        await waitFor(
          () => /could not be downloaded/.test(server.output()),
          () => `the pull fails:\n${server.output()}`,
          20_000,
        );
        await quietPeriod();
      } finally {
        await server.stop();
      }
      const output = server.output();
      assert.match(
        output,
        new RegExp(`downloading the default model ${DEFAULT_MODEL_ALIAS.replace(".", "\\.")}`),
      );
      assert.match(output, /from https:\/\/huggingface\.co/);
      assert.match(output, /QIUSUO_NO_PULL=1/);
      const records = server.guardRecords();
      assert.ok(records.length > 0, "the pull was seen");
      assert.deepEqual([...new Set(records.map((record) => record.host))], ["huggingface.co"]);
      assert.ok(
        records.some((record) => record.api === "fetch" && record.url?.includes(`/resolve/main/`)),
        destinations(records).join(", "),
      );
      // Here the name cannot be resolved (the resolver is out of reach), so strace sees DNS queries;
      // where a local cache (nscd) resolves it, the HTTPS connect to its address too, and no more.
      if (STRACE_AVAILABLE) {
        const calls = outbound(server);
        assert.ok(calls.length > 0, "strace saw the pull");
        assert.deepEqual(
          calls.filter((call) => !call.endsWith(":53") && !call.endsWith(":443")),
          [],
        );
      }
    });

    it("with a mirror (QIUSUO_HF_ENDPOINT), tries that mirror and nothing else", async () => {
      const endpoint = `http://${MIRROR.host}:${MIRROR.port}`;
      const server = await startJailedServe([], { QIUSUO_HF_ENDPOINT: endpoint });
      try {
        await waitFor(
          () => /could not be downloaded/.test(server.output()),
          () => `the pull fails:\n${server.output()}`,
          20_000,
        );
        await quietPeriod();
      } finally {
        await server.stop();
      }
      assert.match(server.output(), new RegExp(`from ${endpoint.replace(/[.]/g, "\\.")}`));
      assert.deepEqual([...new Set(destinations(server.guardRecords()))].sort(), [
        `fetch ${MIRROR.host}:${MIRROR.port}`,
        `net.Socket.connect ${MIRROR.host}:${MIRROR.port}`,
      ]);
      if (STRACE_AVAILABLE) {
        assert.deepEqual(
          [...new Set(outbound(server).map((call) => call.replace(/^\w+ /, "")))],
          [`${MIRROR.host}:${MIRROR.port}`],
        );
      }
    });

    it("with QIUSUO_NO_PULL=1, tries nothing and says how to add a model", async () => {
      const server = await startJailedServe([], { QIUSUO_NO_PULL: "1" });
      let tunnel: Tunnel | undefined;
      try {
        tunnel = await openTunnel(
          server.netns,
          Number(new URL(server.innerUrl).port),
          path.dirname(server.dataDir),
        );
        // Asked for a chat, it says there is no model instead of fetching one.
        const chat = await postJson(`${tunnel.url}/v1/chat/completions`, {
          model: "deepseek-chat",
          messages: [{ role: "user", content: "hi" }],
        });
        assert.equal(chat.status, 400, chat.text);
        assert.equal(chat.json.error.code, "model_not_found");
        assert.match(chat.json.error.message, /--model/);
        await quietPeriod();
      } finally {
        await tunnel?.close();
        await server.stop();
      }
      assert.match(server.output(), /No model is configured\. Start with --model/);
      assert.deepEqual(destinations(server.guardRecords()), []);
      assert.deepEqual(outbound(server), []);
    });
  });
});
