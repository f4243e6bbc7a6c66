// `qiusuo serve` with upstream pools, as users run it (the built CLI; `npm run build` first) in
// front of real upstreams: llama.cpp's llama-server and a `qiusuo serve` worker on the fixtures.
// With only `--upstream` it is a pure gateway that downloads nothing; a pool that cannot be
// reached does not stop it starting; `--config` brings allow-lists, aliases and the default model;
// the upstream key from QIUSUO_UPSTREAM_<NAME>_KEY is sent and never shown; a bad flag is a clear
// config error.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { ensureFixtureModels } from "../fixtures/models.js";
import { postJson } from "./harness.js";
import { runQiusuo, startServe, stopServe, waitForHealth, type ServeProcess } from "./cli-process.js";
import { startLlamaServer, startQiusuoWorker, type UpstreamServer } from "./upstream-servers.js";

const fixtures = ensureFixtureModels();
const KEY = "sk-upstream-9f3c1e77-secret";
const WRONG_KEY = "sk-upstream-wrong-4b2d8a01";

const QUESTION = [{ role: "user", content: "What is six times seven?" }];

describe("qiusuo serve with upstream pools", { timeout: 300_000 }, () => {
  const dirs: string[] = [];
  const serves: ServeProcess[] = [];
  let llama: UpstreamServer;

  /** `qiusuo serve ARGS` on its own empty data dir; stopped after the tests. */
  async function serve(args: string[], env: Record<string, string> = {}): Promise<ServeProcess> {
    const dataDir = mkdtempSync(path.join(tmpdir(), "qiusuo-cli-upstreams-"));
    dirs.push(dataDir);
    const server = await startServe(["--data-dir", dataDir, ...args], { env });
    serves.push(server);
    return server;
  }

  async function stop(server: ServeProcess): Promise<void> {
    assert.equal(await stopServe(server.child), 0, server.output());
  }

  before(async () => {
    llama = await startLlamaServer({ model: fixtures.scripted, alias: "scripted", ctx: 1024 });
  });

  after(async () => {
    await Promise.all(serves.map((server) => stopServe(server.child)));
    await llama?.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it("with only --upstream it is a pure gateway: no download, the pool's models, DeepSeek's names", async () => {
    // No QIUSUO_NO_PULL: it is the upstream alone that stops the default model's download
    // (which would fail fast against a dead mirror, and print "pulling").
    const server = await serve(["--upstream", `ls=${llama.url}`], {
      QIUSUO_HF_ENDPOINT: "http://127.0.0.1:9",
    });
    const health = await waitForHealth(server.url, 200);
    assert.equal(health.status, "ok");
    assert.deepEqual(
      health.pools.map((pool: { name: string; state: string }) => [pool.name, pool.state]),
      [["ls", "ok"]],
    );
    assert.equal(health.pools[0].replicas[0].url, llama.url);
    assert.equal(health.models[0].id, "ls/scripted");
    assert.equal(health.models[0].pool, "ls");

    const models = (await (await fetch(`${server.url}/v1/models`)).json()) as { data: Array<{ id: string }> };
    const ids = models.data.map((model) => model.id);
    assert.ok(ids.includes("ls/scripted"), ids.join(", "));
    assert.ok(ids.includes("deepseek-chat"), ids.join(", "));

    const answer = await postJson(`${server.url}/v1/chat/completions`, {
      model: "deepseek-chat",
      messages: QUESTION,
      temperature: 0,
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.json));
    const message = answer.json.choices[0].message;
    // llama-server sends the scripted model's <think> block inside `content`: it comes apart.
    assert.equal(message.content, "The answer is 42");
    assert.equal(message.reasoning_content, "let me think");

    const output = server.output();
    assert.match(output, /upstream ls: 1 replica\(s\); its models are served as ls\/<model>/);
    assert.doesNotMatch(output, /pulling|No model is configured|download/i);
    await stop(server);
  });

  it("starts with a pool that cannot be reached, and /health says which and why", async () => {
    const server = await serve(["--upstream", "dead=http://127.0.0.1:9"], { QIUSUO_NO_PULL: "1" });
    const health = await waitForHealth(server.url, 503);
    assert.equal(health.status, "unavailable");
    const pool = health.pools[0];
    assert.equal(pool.name, "dead");
    assert.equal(pool.state, "down");
    assert.deepEqual(health.degraded, ["dead"]);
    assert.match(
      pool.reason,
      /No replica of dead is in service \(http:\/\/127\.0\.0\.1:9: .*cannot be reached/,
    );
    assert.match(health.reason, /dead: No replica of dead is in service/);
    // Still serving: a request for the pool's models is a clear error, not a hang or a crash.
    const refused = await postJson(`${server.url}/v1/chat/completions`, {
      model: "deepseek-chat",
      messages: QUESTION,
    });
    assert.equal(refused.status, 503, refused.text);
    assert.equal(refused.json.error.code, "upstream_unavailable");
    assert.match(refused.json.error.message, /'deepseek-chat' cannot be served now: No replica of dead/);
    await stop(server);
  });

  describe("--config with a pool, an allow-list, an alias and the default model", () => {
    let worker: UpstreamServer;
    before(async () => {
      // A qiusuo worker serving two models; the allow-list lets one through.
      worker = await startQiusuoWorker({
        model: fixtures.scripted,
        args: ["--model", fixtures.tiny, "--ctx-size", "512"],
      });
    });
    after(async () => {
      await worker?.stop();
    });

    it("answers by the alias and as DeepSeek's default, and hides the model outside the list", async () => {
      const listed = (await (await fetch(`${worker.url}/v1/models`)).json()) as {
        data: Array<{ id: string }>;
      };
      assert.ok(
        listed.data.some((model) => model.id === "tiny"),
        "the worker serves tiny",
      );
      const dir = mkdtempSync(path.join(tmpdir(), "qiusuo-cli-upstreams-config-"));
      dirs.push(dir);
      const file = path.join(dir, "qiusuo.json");
      writeFileSync(
        file,
        JSON.stringify({
          upstreams: { q: { urls: [worker.url], models: ["scripted"], discoverySeconds: 600 } },
          aliases: { fast: "q/scripted" },
          defaultModel: "fast",
        }),
      );
      const server = await serve(["--config", file], { QIUSUO_NO_PULL: "1" });
      await waitForHealth(server.url, 200);

      const models = (await (await fetch(`${server.url}/v1/models`)).json()) as {
        data: Array<{ id: string }>;
      };
      const ids = models.data.map((model) => model.id);
      assert.equal(ids[0], "q/scripted");
      assert.ok(ids.includes("fast"), `the admin's alias is listed: ${ids.join(", ")}`);
      assert.ok(!ids.includes("q/tiny") && !ids.includes("tiny"), ids.join(", "));
      const app = (await (await fetch(`${server.url}/api/models`)).json()) as {
        data: Array<{ id: string; aliases: string[]; pool?: string }>;
      };
      assert.deepEqual(
        app.data.map((model) => [model.id, model.pool, model.aliases]),
        [["q/scripted", "q", ["fast"]]],
      );

      for (const model of ["fast", "deepseek-chat"]) {
        const answer = await postJson(`${server.url}/v1/chat/completions`, { model, messages: QUESTION });
        assert.equal(answer.status, 200, `${model}: ${JSON.stringify(answer.json)}`);
        assert.equal(answer.json.choices[0].message.content, "The answer is 42", model);
      }
      for (const model of ["q/tiny", "tiny"]) {
        const refused = await postJson(`${server.url}/v1/chat/completions`, { model, messages: QUESTION });
        assert.equal(refused.status, 400, `${model}: ${JSON.stringify(refused.json)}`);
        assert.equal(refused.json.error.code, "model_not_found", model);
      }
      await stop(server);
    });
  });

  describe("the upstream key", () => {
    let guarded: UpstreamServer;
    before(async () => {
      guarded = await startLlamaServer({
        model: fixtures.scripted,
        alias: "scripted",
        ctx: 1024,
        extraArgs: ["--api-key", KEY],
      });
    });
    after(async () => {
      await guarded?.stop();
    });

    /** Everything the gateway shows anyone: its output, /health, /metrics, the app's pools. */
    async function shown(server: ServeProcess, extra: string[] = []): Promise<string> {
      const pages = await Promise.all(
        ["/health", "/metrics", "/api/upstreams", "/api/models", "/v1/models"].map(async (route) => {
          const response = await fetch(`${server.url}${route}`);
          return `${route} ${response.status}\n${await response.text()}`;
        }),
      );
      return [server.output(), ...pages, ...extra].join("\n");
    }

    it("is sent from QIUSUO_UPSTREAM_LS_KEY and appears nowhere", async () => {
      const unauthorised = await fetch(`${guarded.url}/v1/models`);
      await unauthorised.body?.cancel();
      assert.equal(unauthorised.status, 401, "llama-server refuses requests without the key");

      const server = await serve(["--upstream", `ls=${guarded.url}`, "--log-level", "debug"], {
        QIUSUO_NO_PULL: "1",
        QIUSUO_UPSTREAM_LS_KEY: KEY,
      });
      await waitForHealth(server.url, 200);
      const answer = await postJson(`${server.url}/v1/chat/completions`, {
        model: "ls/scripted",
        messages: QUESTION,
      });
      assert.equal(answer.status, 200, JSON.stringify(answer.json));
      assert.equal(answer.json.choices[0].message.content, "The answer is 42");
      const upstreams = (await (await fetch(`${server.url}/api/upstreams`)).json()) as {
        data: Array<{ replicas: Array<{ state: string }> }>;
      };
      assert.equal(upstreams.data[0]?.replicas[0]?.state, "healthy");
      const everything = await shown(server, [JSON.stringify(answer.json)]);
      assert.ok(!everything.includes(KEY), "the key leaked");
      await stop(server);
      assert.ok(!server.output().includes(KEY), "the key leaked at shutdown");
    });

    it("a wrong key: the pool is down, requests fail clearly, and neither key is shown", async () => {
      const server = await serve(["--upstream", `ls=${guarded.url}`], {
        QIUSUO_NO_PULL: "1",
        QIUSUO_UPSTREAM_LS_KEY: WRONG_KEY,
      });
      const health = await waitForHealth(server.url, 503);
      assert.equal(health.pools[0].state, "down");
      assert.match(health.pools[0].reason, /401|unauthori[sz]ed|key/i);
      const refused = await postJson(`${server.url}/v1/chat/completions`, {
        model: "deepseek-chat",
        messages: QUESTION,
      });
      assert.ok(refused.status >= 400, String(refused.status));
      const everything = await shown(server, [JSON.stringify(refused.json)]);
      assert.ok(!everything.includes(WRONG_KEY), "the wrong key leaked");
      assert.ok(!everything.includes(KEY), "the right key leaked");
      await stop(server);
    });
  });

  it("a bad --upstream value exits with a config error naming the flag", () => {
    for (const [value, problem] of [
      ["nourl", /--upstream nourl\): expected NAME=URL\[,URL\.\.\.\]/],
      ["ls=ftp://example.com", /--upstream.*expected an http:\/\/ or https:\/\/ URL/],
      ["ls=http://user:pw@example.com", /--upstream.*QIUSUO_UPSTREAM_<NAME>_KEY/],
    ] as const) {
      const dataDir = mkdtempSync(path.join(tmpdir(), "qiusuo-cli-upstreams-bad-"));
      dirs.push(dataDir);
      const result = runQiusuo(["serve", "--port", "0", "--data-dir", dataDir, "--upstream", value], {
        env: { QIUSUO_NO_PULL: "1" },
      });
      assert.notEqual(result.status, 0, `${value}: ${result.stdout}${result.stderr}`);
      assert.match(result.stderr, problem, value);
      assert.doesNotMatch(result.stdout, /listening on/, value);
      assert.ok(!`${result.stdout}${result.stderr}`.includes(":pw@"), "the URL's password is echoed");
    }
  });
});
