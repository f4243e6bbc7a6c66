import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { existsSync } from "node:fs";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, it } from "node:test";
import { loadServeConfig } from "../../src/config/config.js";
import { ensureFixtureModels } from "../fixtures/models.js";
import { cli, runQiusuo, startServe, stopServe, waitForHealth, waitForOutput } from "./cli-process.js";
import { postJson, startTestServer } from "./harness.js";

describe("the qiusuo command", () => {
  let dataDir: string;
  const fixtures = ensureFixtureModels();
  before(async () => {
    assert.ok(existsSync(cli), "run `npm run build` first (npm test does)");
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "qiusuo-cli-"));
  });
  after(() => fs.rm(dataDir, { recursive: true, force: true }));

  it("--help names every API the server speaks, and each path it names is served", async () => {
    const help = runQiusuo(["--help"]).stdout;
    for (const command of ["serve", "pull", "run", "ls", "rm", "users", "keys", "audit", "replay"]) {
      assert.match(help, new RegExp(`^  ${command} `, "m"), command);
      assert.equal(runQiusuo([command, "--help"]).status, 0, `${command} --help`);
    }
    assert.doesNotMatch(help, /\blater\b/);
    const paths = [...help.matchAll(/(?<=\s|, )(\/(?:v1|api|anthropic|beta)\/[a-z0-9/]+)/g)].map(
      (match) => match[1]!,
    );
    for (const expected of [
      "/v1/responses",
      "/api/chat",
      "/v1/rerank",
      "/anthropic/v1/messages",
      "/api/pull",
    ]) {
      assert.ok(paths.includes(expected), `${expected} in ${paths.join(" ")}`);
    }
    // Every path the help names answers something other than "no such route".
    const server = await startTestServer();
    try {
      for (const route of paths) {
        const method = /\/(models|tags)$/.test(route) ? "GET" : "POST";
        const response = await fetch(server.url + route, {
          method,
          headers: { "content-type": "application/json" },
          body: method === "POST" ? "{}" : undefined,
        });
        const body = await response.text();
        assert.ok(response.status !== 404 || !/route|not found/i.test(body), `${method} ${route}: ${body}`);
      }
    } finally {
      await server.close();
    }
  });

  it("serve --help states the defaults the server runs with", () => {
    const help = runQiusuo(["serve", "--help"]).stdout.replace(/\s+/g, " ");
    const config = loadServeConfig({}, { HOME: os.tmpdir() });
    const defaults: Record<string, string | number> = {
      "--host": config.host,
      "--port": config.port,
      "--parallel": config.parallel,
      "--idle-unload": config.idleUnloadSeconds,
      "--max-loaded-models": config.maxLoadedModels,
      "--cache-size": config.cacheSizeMb,
      "--keep-alive": config.keepAliveSeconds,
      "--request-timeout": config.requestTimeoutSeconds,
      "--gpu": config.gpu,
      "--metrics": config.metrics,
    };
    for (const [flag, value] of Object.entries(defaults)) {
      const stated = new RegExp(`${flag} <[^>]+> [^(]*\\(default ([^,)]+)`).exec(help)?.[1];
      assert.equal(stated, String(value), `${flag} in: ${help}`);
    }
  });

  it("serve --model PATH prints its URL, becomes healthy and answers with the script", async () => {
    const server = await startServe(["--model", fixtures.scripted, "--data-dir", dataDir]);
    const { child, url } = server;
    try {
      await waitForHealth(url, 200);
      // The startup line and --help (checked above) give the same number of sequences.
      const sequences = await waitForOutput(server, /is ready \(context \d+ tokens × (\d+) sequence/);
      assert.equal(Number(sequences), loadServeConfig({}, { HOME: os.tmpdir() }).parallel);
      const { json } = await postJson(`${url}/v1/chat/completions`, {
        model: "deepseek-reasoner",
        messages: [{ role: "user", content: "Q" }],
      });
      assert.equal(json.choices[0].message.content, "The answer is 42");
      assert.equal(json.choices[0].message.reasoning_content, "let me think");
    } finally {
      assert.equal(await stopServe(child), 0, "SIGTERM shuts down cleanly");
    }
  });

  it("serve keeps its context cache on disk across a restart", async () => {
    const cacheData = await fs.mkdtemp(path.join(os.tmpdir(), "qiusuo-restart-"));
    const body = {
      model: "scripted",
      messages: [
        { role: "system", content: "Remember this long instruction. ".repeat(10) },
        { role: "user", content: "Q" },
      ],
    };
    try {
      const first = await startServe(["--model", fixtures.scripted, "--data-dir", cacheData]);
      await waitForHealth(first.url, 200);
      const cold = (await postJson(`${first.url}/v1/chat/completions`, body)).json;
      assert.equal(await stopServe(first.child), 0);
      assert.equal(cold.usage.prompt_cache_hit_tokens, 0);

      const second = await startServe(["--model", fixtures.scripted, "--data-dir", cacheData]);
      try {
        await waitForHealth(second.url, 200);
        const warm = (await postJson(`${second.url}/v1/chat/completions`, body)).json;
        assert.equal(
          warm.usage.prompt_cache_hit_tokens,
          Math.floor((cold.usage.prompt_tokens - 1) / 64) * 64,
        );
        assert.ok(warm.usage.prompt_cache_hit_tokens > 0);
      } finally {
        await stopServe(second.child);
      }
    } finally {
      await fs.rm(cacheData, { recursive: true, force: true });
    }
  });

  it("offline with no model: starts anyway and says how to fix it, in the terminal, /health and API errors", async () => {
    const emptyDir = await fs.mkdtemp(path.join(os.tmpdir(), "qiusuo-offline-"));
    // A closed local port stands in for an unreachable Hugging Face.
    const { child, url, output } = await startServe(["--data-dir", emptyDir], {
      env: { QIUSUO_HF_ENDPOINT: "http://127.0.0.1:9" },
    });
    try {
      const health = await waitForHealth(url, 503);
      for (
        let attempt = 0;
        attempt < 100 && !/could not be downloaded/.test(JSON.stringify(health));
        attempt++
      ) {
        Object.assign(health, await (await fetch(`${url}/health`)).json());
        await sleep(50);
      }
      assert.equal(health.status, "unavailable");
      assert.match(health.reason, /could not be downloaded.*--model \/path\/to\/model\.gguf/s);
      const { status, json } = await postJson(`${url}/v1/chat/completions`, {
        model: "deepseek-chat",
        messages: [{ role: "user", content: "Q" }],
      });
      assert.equal(status, 503);
      assert.match(json.error.message, /could not be downloaded.*--model/s);
      assert.match(output(), /could not be downloaded/);
    } finally {
      await stopServe(child);
      await fs.rm(emptyDir, { recursive: true, force: true });
    }
  });

  it("refuses a truncated GGUF before llama.cpp sees it, and keeps serving", async () => {
    const bytes = await fs.readFile(fixtures.tiny);
    const truncated = path.join(dataDir, "truncated.gguf");
    await fs.writeFile(truncated, bytes.subarray(0, bytes.length - 1000));
    const { child, url } = await startServe(["--model", truncated, "--data-dir", dataDir]);
    try {
      const health = await waitForHealth(url, 503);
      for (let attempt = 0; attempt < 100 && health.models?.[0]?.state !== "failed"; attempt++) {
        Object.assign(health, await (await fetch(`${url}/health`)).json());
        await sleep(50);
      }
      assert.equal(health.models[0].state, "failed");
      assert.match(health.reason, /truncated\.gguf/);
      assert.match(health.reason, /truncated or crafted|past the end|file has/);
    } finally {
      assert.equal(await stopServe(child), 0);
    }
  });

  it("ls lists local models with size, quantization, context and architecture", async () => {
    await fs.mkdir(path.join(dataDir, "models"), { recursive: true });
    await fs.copyFile(fixtures.tiny, path.join(dataDir, "models", "tiny-model.gguf"));
    const result = spawnSync(process.execPath, [cli, "ls", "--data-dir", dataDir], { encoding: "utf8" });
    assert.equal(result.status, 0, result.stderr);
    const [header, row] = result.stdout.trim().split("\n");
    assert.match(header!, /NAME\s+SIZE\s+QUANT\s+CONTEXT\s+ARCH/);
    assert.match(row!, /^tiny-model\s+\d+\.\d KB\s+F32\s+4096\s+llama/);
  });

  it("run chats in the terminal, streaming, with the reasoning dimmed", async () => {
    const result = spawnSync(
      process.execPath,
      [cli, "run", fixtures.scripted, "--data-dir", dataDir, "--threads", "1", "--gpu", "off"],
      { input: "What is the answer?\n/bye\n", encoding: "utf8", timeout: 60_000 },
    );
    assert.equal(result.status, 0, result.stderr);
    const dim = "\x1b[2m";
    const reset = "\x1b[0m";
    assert.ok(
      result.stdout.includes(`${dim}Thinking...\nlet me think${reset}\n\nThe answer is 42`),
      JSON.stringify(result.stdout),
    );
  });

  it("pull downloads an hf: reference into the data dir with progress", async () => {
    const bytes = await fs.readFile(fixtures.tiny);
    const hub = http.createServer((request, response) => {
      if (request.url === "/owner/repo/resolve/main/pulled.gguf") {
        response.writeHead(200, {
          "content-length": bytes.length,
          "content-type": "application/octet-stream",
        });
        response.end(bytes);
      } else {
        response.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => hub.listen(0, "127.0.0.1", resolve));
    const { port } = hub.address() as AddressInfo;
    try {
      const child = spawn(
        process.execPath,
        [cli, "pull", "hf:owner/repo/pulled.gguf", "--data-dir", dataDir],
        {
          env: { ...process.env, QIUSUO_HF_ENDPOINT: `http://127.0.0.1:${port}` },
        },
      );
      let output = "";
      child.stdout.on("data", (chunk) => (output += chunk));
      child.stderr.on("data", (chunk) => (output += chunk));
      const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
      assert.equal(code, 0, output);
      assert.match(output, /100%/);
      const pulled = await fs.readFile(path.join(dataDir, "models", "pulled.gguf"));
      assert.ok(pulled.equals(bytes));
    } finally {
      hub.close();
    }
  });
});
