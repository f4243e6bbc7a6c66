// The first run, end to end, as a user meets it: the built `qiusuo serve` with an empty data dir and
// no model pulls the default model from "Hugging Face" (test/integration/hf-mirror.ts, through
// QIUSUO_HF_ENDPOINT), shows the download in the terminal and in /health, checks the file's size and
// SHA-256, loads it and answers. The mirror serves the scripted fixture model under the default
// alias's real repository and file name; QIUSUO_MODEL_CATALOG re-pins that alias to the fixture's
// size and digest, as a site serving its own builds would. Then the faults, through the real
// commands: a connection that drops, a wrong checksum, Ctrl-C during `qiusuo pull` and a second
// pull, a pull while serve is pulling, and a full disk.

import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";

import { DEFAULT_MODEL_ALIAS } from "../../src/config/config.js";
import { findCatalogModel } from "../../src/engines/local/model-catalog.js";
import { ensureFixtureModels } from "../fixtures/models.js";
import { cleanEnv, cli, startServe, stopServe, waitForHealth, waitForOutput } from "./cli-process.js";
import type { ServeProcess } from "./cli-process.js";
import { postJson, waitFor } from "./harness.js";
import { HuggingFaceMirror, sha256Of } from "./hf-mirror.js";

const fixtures = ensureFixtureModels();
const body = readFileSync(fixtures.scripted);
const defaultModel = findCatalogModel(DEFAULT_MODEL_ALIAS)!;
/** Where the default model lives on the hub: `bartowski/DeepSeek-R1-Distill-Qwen-1.5B-GGUF/...`. */
const key = `${defaultModel.repo}/${defaultModel.file}`;
const escapedAlias = DEFAULT_MODEL_ALIAS.replace(/[.]/g, "\\.");

let mirror: HuggingFaceMirror;
let scratch: string;
let env: Record<string, string>;

before(async () => {
  assert.ok(existsSync(cli), "run `npm run build` first (npm test does)");
  mirror = await HuggingFaceMirror.start();
  scratch = await fs.mkdtemp(path.join(os.tmpdir(), "qiusuo-first-run-"));
  env = { QIUSUO_HF_ENDPOINT: mirror.endpoint, QIUSUO_MODEL_CATALOG: await writeCatalog(sha256Of(body)) };
});
after(async () => {
  await mirror.stop();
  await fs.rm(scratch, { recursive: true, force: true });
});

/** A QIUSUO_MODEL_CATALOG file pinning the default alias to the fixture's size and `sha256`. */
async function writeCatalog(sha256: string): Promise<string> {
  const file = path.join(scratch, `catalog-${sha256.slice(0, 8)}.json`);
  const entry = { alias: DEFAULT_MODEL_ALIAS, repo: defaultModel.repo, file: defaultModel.file };
  await fs.writeFile(file, JSON.stringify([{ ...entry, size: body.length, sha256 }]));
  return file;
}

async function freshDataDir(): Promise<string> {
  return fs.mkdtemp(path.join(scratch, "data-"));
}

function modelPath(dataDir: string): string {
  return path.join(dataDir, "models", defaultModel.file);
}

/** Polls /health until `done`, keeping every body seen. */
async function watchHealth(url: string, done: (body: Record<string, any>) => boolean) {
  const seen: Array<{ status: number; body: Record<string, any> }> = [];
  await waitFor(
    async () => {
      const response = await fetch(`${url}/health`);
      const health = (await response.json()) as Record<string, any>;
      seen.push({ status: response.status, body: health });
      return done(health);
    },
    () => `/health: ${JSON.stringify(seen.at(-1))}`,
    30_000,
  );
  return seen;
}

interface Finished {
  status: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/** `qiusuo ARGS...` as a child that the mirror in this process can answer (spawnSync would block it). */
function startQiusuo(args: string[], extraEnv: Record<string, string> = {}) {
  const child = spawn(process.execPath, [cli, ...args], {
    env: { ...cleanEnv, ...env, ...extraEnv },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  const finished = new Promise<Finished>((resolve) =>
    child.on("exit", (status, signal) => resolve({ status, signal, output })),
  );
  return { child, output: () => output, finished };
}

function chat(server: ServeProcess, model: string) {
  return postJson(`${server.url}/v1/chat/completions`, { model, messages: [{ role: "user", content: "Q" }] });
}

describe("the first run", () => {
  it("serve with no model pulls the default model with progress, verifies it, loads it and answers", async () => {
    mirror.reset();
    // Slow enough to watch, and the connection drops once on the way.
    mirror.serve(key, { body, bytesPerSecond: 800_000, dropAfterBytes: 700_000 });
    const dataDir = await freshDataDir();
    const server = await startServe(["--data-dir", dataDir], { env });
    try {
      const seen = await watchHealth(server.url, (health) => health.status === "ok");
      const percents = seen
        .filter((answer) => answer.status === 503 && answer.body.status === "loading")
        .map((answer) => new RegExp(`downloading ${escapedAlias}: (\\d+)%`).exec(answer.body.reason)?.[1])
        .filter((percent) => percent !== undefined)
        .map(Number);
      assert.ok(
        new Set(percents.filter((percent) => percent > 0 && percent < 100)).size >= 2,
        `/health showed the download moving: ${JSON.stringify(percents)}`,
      );
      for (let index = 1; index < percents.length; index++) {
        assert.ok(percents[index]! >= percents[index - 1]!, `never backwards: ${percents.join(" ")}`);
      }

      // The terminal: a line every 10% (its output is not a terminal), then the end.
      await waitForOutput(server, /is (ready) \(context/);
      const output = server.output();
      const lines = output.match(new RegExp(`^pulling ${escapedAlias} \\[[#-]+\\] \\d+%.*$`, "gm")) ?? [];
      assert.ok(lines.length >= 3, output);
      assert.match(output, new RegExp(`pulling ${escapedAlias}: downloaded`));

      // The file on disk is the one the mirror published, its digest kept beside it.
      assert.deepEqual(readFileSync(modelPath(dataDir)), body);
      assert.equal(readFileSync(`${modelPath(dataDir)}.sha256`, "utf8").slice(0, 64), sha256Of(body));
      assert.deepEqual((await fs.readdir(path.join(dataDir, "models"))).sort(), [
        defaultModel.file,
        `${defaultModel.file}.sha256`,
      ]);

      // The hub was asked, the CDN served the file, and the drop was resumed where it stopped.
      const [first, second, ...more] = mirror.cdnRequests(key);
      assert.deepEqual(more, []);
      assert.equal(first?.range, undefined);
      const resumedFrom = Number(/^bytes=(\d+)-$/.exec(second?.range ?? "")?.[1]);
      assert.ok(resumedFrom > 0, `resumed with ${second?.range}`);
      assert.equal(second?.sentBytes, body.length - resumedFrom);

      // And it answers, by the DeepSeek names and by its alias.
      const reasoner = await chat(server, "deepseek-reasoner");
      assert.equal(reasoner.status, 200, reasoner.text);
      assert.equal(reasoner.json.choices[0].message.content, "The answer is 42");
      assert.equal(reasoner.json.choices[0].message.reasoning_content, "let me think");
      const byAlias = await chat(server, DEFAULT_MODEL_ALIAS);
      assert.equal(byAlias.status, 200, byAlias.text);
    } finally {
      assert.equal(await stopServe(server.child), 0);
    }

    // The second run finds the verified model and fetches nothing.
    mirror.requests.length = 0;
    const again = await startServe(["--data-dir", dataDir], { env, ready: true });
    try {
      assert.equal((await chat(again, "deepseek-chat")).status, 200);
      assert.deepEqual(mirror.requests, []);
    } finally {
      await stopServe(again.child);
    }
  });

  it("a file whose SHA-256 is wrong is refused and removed, and /health and the terminal say so", async () => {
    mirror.reset();
    mirror.serve(key, { body });
    const dataDir = await freshDataDir();
    const pinned = sha256Of(Buffer.from("the file the catalog vouches for"));
    const server = await startServe(["--data-dir", dataDir], {
      env: { ...env, QIUSUO_MODEL_CATALOG: await writeCatalog(pinned) },
    });
    try {
      const seen = await watchHealth(server.url, (health) => health.status === "unavailable");
      const { reason } = seen.at(-1)!.body;
      assert.match(
        reason,
        new RegExp(
          `could not be downloaded: The download of ${escapedAlias} has SHA-256 ${sha256Of(body)} but ${pinned} was expected: .*It was deleted`,
        ),
      );
      assert.match(server.output(), /has SHA-256 [0-9a-f]{64} but [0-9a-f]{64} was expected/);
      assert.deepEqual(await fs.readdir(path.join(dataDir, "models")), [], "no file, no .partial, no lock");
      const refused = await chat(server, "deepseek-chat");
      assert.equal(refused.status, 503);
    } finally {
      await stopServe(server.child);
    }
  });

  it("Ctrl-C during `qiusuo pull` keeps what it got; the next pull resumes from there", async () => {
    mirror.reset();
    mirror.serve(key, { body, bytesPerSecond: 500_000 });
    const dataDir = await freshDataDir();
    const partial = `${modelPath(dataDir)}.partial`;
    const first = startQiusuo(["pull", DEFAULT_MODEL_ALIAS, "--data-dir", dataDir]);
    await waitFor(
      async () => ((await fs.stat(partial).catch(() => undefined))?.size ?? 0) > 300_000,
      "the download is under way",
    );
    first.child.kill("SIGINT");
    const stopped = await first.finished;
    assert.equal(stopped.status, 130, stopped.output);
    assert.match(stopped.output, /Interrupted; run the same command again to resume\./);
    const kept = (await fs.stat(partial)).size;
    assert.ok(kept > 300_000 && kept < body.length, `${kept} bytes kept`);
    assert.ok(!existsSync(`${partial}.lock`), "the lock is released");
    assert.ok(!existsSync(modelPath(dataDir)));

    mirror.serve(key, { body });
    mirror.requests.length = 0;
    const second = await startQiusuo(["pull", DEFAULT_MODEL_ALIAS, "--data-dir", dataDir]).finished;
    assert.equal(second.status, 0, second.output);
    assert.match(
      second.output,
      new RegExp(`saved .*${defaultModel.file} \\(2\\.1 MB, sha256 ${sha256Of(body)}\\)`),
    );
    assert.deepEqual(
      mirror.cdnRequests(key).map((request) => [request.range, request.status, request.sentBytes]),
      [[`bytes=${kept}-`, 206, body.length - kept]],
      "only the missing bytes were fetched",
    );
    assert.deepEqual(readFileSync(modelPath(dataDir)), body);
  });

  it("`qiusuo pull` while serve pulls the same model follows that download instead of starting another", async () => {
    mirror.reset();
    mirror.serve(key, { body, bytesPerSecond: 700_000 });
    const dataDir = await freshDataDir();
    const server = await startServe(["--data-dir", dataDir], { env });
    try {
      await waitFor(() => mirror.cdnRequests(key).length > 0, "serve is downloading");
      const pull = await startQiusuo(["pull", DEFAULT_MODEL_ALIAS, "--data-dir", dataDir]).finished;
      assert.equal(pull.status, 0, pull.output);
      assert.match(
        pull.output,
        new RegExp(`pulling ${escapedAlias} \\[[#-]+\\] \\d+%`),
        "it showed progress",
      );
      assert.match(pull.output, /saved /);
      await waitForHealth(server.url, 200);
      assert.equal(mirror.cdnRequests(key).length, 1, "one download");
      assert.equal(mirror.sentBytes(key), body.length);
      assert.equal((await chat(server, "deepseek-chat")).status, 200);
    } finally {
      await stopServe(server.child);
    }
  });

  it("a full disk is a clear error and leaves no file that looks complete", async (context) => {
    const mountPoint = await fs.mkdtemp(path.join(scratch, "tmpfs-"));
    try {
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mountPoint], { stdio: "ignore" });
    } catch {
      return context.skip("cannot mount a tmpfs here (needs root)");
    }
    try {
      mirror.reset();
      mirror.serve(key, { body });
      const result = await startQiusuo(["pull", DEFAULT_MODEL_ALIAS, "--data-dir", mountPoint]).finished;
      assert.equal(result.status, 1, result.output);
      assert.match(
        result.output,
        new RegExp(
          `error: ${escapedAlias} needs 2\\.1 MB more but .* has only 1\\.0 MB free\\. Free some space \\(or use a --data-dir on a larger disk\\) and run the pull again\\.`,
        ),
      );
      assert.deepEqual(await fs.readdir(path.join(mountPoint, "models")), []);
    } finally {
      execFileSync("umount", [mountPoint]);
    }
  });
});
