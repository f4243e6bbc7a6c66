// PII redaction before a remote pool, end to end through a real upstream: llama.cpp's own
// llama-server, started with `--log-prompts-dir`, writes every prompt it receives to a file.
// A pool with `redact: true` must send it placeholders and never the values (the same server
// behind a pool without redaction shows the log would have caught them), and the reply must come
// back restored: the scripted model emits `[EMAIL_1]` split over tokens, and the user reads the
// address. The app records the counts by kind in the reply's provenance.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { upstreamPoolSchema } from "../../src/config/config.js";
import { RemoteEngine } from "../../src/engines/remote/remote-engine.js";
import { makeScriptedModel } from "../fixtures/models.js";
import { AppClient, startTestServer, waitFor, type TestServer } from "./harness.js";
import { startLlamaServer, type UpstreamServer } from "./upstream-servers.js";

const EMAIL = "alice.wang@example.com";
const CARD = "4111 1111 1111 1111";
const CN_ID = "11010519491231002X";
const PHONE = "138-0013-8000";
const IBAN = "DE89 3704 0044 0532 0130 00";
const VALUES = [EMAIL, CARD, "4111111111111111", CN_ID, PHONE, "13800138000", IBAN, "DE89370400440532013000"];
const MESSAGE =
  `请把发票发到${EMAIL}，卡号${CARD}，身份证${CN_ID}，电话${PHONE}，IBAN ${IBAN}。` +
  " Order 2024061512345678 is not a card.";

/** The scripted reply: placeholders cut over tokens, one the session never issued. */
const SCRIPT = ["已发送到", "[EM", "AIL_1]", "，卡", "[CARD_", "1]", "，", "[PHONE_1]", "；[EMAIL_7] 不变"];
const RESTORED = `已发送到${EMAIL}，卡${CARD}，${PHONE}；[EMAIL_7] 不变`;

describe("redaction before a real upstream", { timeout: 180_000 }, () => {
  let dir: string;
  let promptsDir: string;
  let upstream: UpstreamServer;
  let server: TestServer;

  /** Every prompt llama-server has logged so far. */
  const prompts = () =>
    readdirSync(promptsDir)
      .sort()
      .map((file) => readFileSync(path.join(promptsDir, file), "utf8"));

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "qiusuo-redaction-"));
    promptsDir = path.join(dir, "prompts");
    const model = path.join(dir, "echo.gguf");
    makeScriptedModel(model, { script: SCRIPT });
    upstream = await startLlamaServer({
      model,
      alias: "echo",
      ctx: 2048,
      extraArgs: ["--log-prompts-dir", promptsDir],
    });
    const pool = (redact: boolean) =>
      upstreamPoolSchema.parse({
        urls: [`${upstream.url}/v1`],
        healthSeconds: 0,
        discoverySeconds: 600,
        redact,
      });
    const safe = new RemoteEngine({ name: "safe", config: pool(true) });
    const plain = new RemoteEngine({ name: "plain", config: pool(false) });
    await Promise.all([safe.start(), plain.start()]);
    server = await startTestServer({
      models: ["scripted"],
      upstreams: [
        { name: "safe", engine: safe },
        { name: "plain", engine: plain },
      ],
    });
  });

  after(async () => {
    await server?.close();
    await upstream?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("sends placeholders, never the values, and streams the reply restored", async () => {
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused" });
    const before = prompts().length;
    const stream = await client.chat.completions.create({
      model: "safe/echo",
      messages: [
        { role: "system", content: `Escalations go to ${EMAIL}.` },
        { role: "user", content: MESSAGE },
      ],
      temperature: 0,
      stream: true,
    });
    let content = "";
    let deltas = 0;
    for await (const chunk of stream) {
      const text = chunk.choices[0]?.delta.content;
      if (text) {
        content += text;
        deltas++;
      }
    }
    assert.equal(content, RESTORED);
    assert.ok(deltas > 1, "the reply streamed in pieces");

    const received = prompts().slice(before).join("\n");
    assert.ok(received.length > 0, "llama-server logged the prompt");
    for (const value of VALUES) assert.ok(!received.includes(value), `the upstream saw ${value}`);
    assert.match(received, /Escalations go to \[EMAIL_1\]\./);
    assert.ok(
      received.includes(
        "请把发票发到[EMAIL_1]，卡号[CARD_1]，身份证[CN_ID_1]，电话[PHONE_1]，IBAN [IBAN_1]。",
      ),
      received,
    );
    assert.ok(received.includes("Order 2024061512345678 is not a card."), "not a card: sent as it is");
  });

  it("sends the same text as it is to a pool without redaction (the log would show a leak)", async () => {
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused" });
    const before = prompts().length;
    const answer = await client.chat.completions.create({
      model: "plain/echo",
      messages: [{ role: "user", content: MESSAGE }],
      temperature: 0,
    });
    assert.equal(answer.choices[0]!.message.content, SCRIPT.join(""), "nothing to restore");
    assert.ok(prompts().slice(before).join("\n").includes(EMAIL));
  });

  it("redacts a completion prompt too", async () => {
    const before = prompts().length;
    const response = await fetch(`${server.url}/beta/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: "safe/echo",
        prompt: `To: ${EMAIL}\nBody:`,
        max_tokens: 12,
        temperature: 0,
      }),
    });
    const body = (await response.json()) as { choices: Array<{ text: string }> };
    assert.equal(response.status, 200, JSON.stringify(body));
    assert.ok(body.choices[0]!.text.includes(EMAIL), body.choices[0]!.text);
    const received = prompts().slice(before).join("\n");
    assert.ok(received.includes("To: [EMAIL_1]") && !received.includes(EMAIL), received);
  });

  it("records the counts by kind, never the values, in the app reply's provenance", async () => {
    const app = new AppClient(server.url);
    const created = await app.request("POST", "/api/conversations", {});
    assert.equal(created.status, 201, created.text);
    const sent = await app.send(created.json.id, { parentId: null, content: MESSAGE, model: "safe/echo" });
    const done = sent.events.find((event) => event.event === "done");
    assert.ok(done, JSON.stringify(sent.events));
    assert.equal(done.data.content, RESTORED, "the app shows the restored reply");
    let provenance: any;
    await waitFor(async () => {
      const stored = await app.request("GET", `/api/conversations/${created.json.id}`);
      provenance = stored.json.messages.find(
        (message: { id: string }) => message.id === done.data.id,
      )?.provenance;
      return provenance?.redactions !== undefined;
    }, "the redaction counts to be recorded");
    assert.deepEqual(provenance.redactions, { card: 1, cn_id: 1, phone: 1, email: 1, iban: 1 });
    assert.equal(provenance.servedBy.pool, "safe");
    const stored = JSON.stringify(provenance);
    for (const value of VALUES) assert.ok(!stored.includes(value));
  });
});
