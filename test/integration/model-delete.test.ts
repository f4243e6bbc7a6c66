// Deleting a model from the app (DELETE /api/models/:id) on the real server: the file, its
// sidecars and its prefix cache go; a loaded or busy model, a file from outside the data dir and
// ids that try to name a path are refused; only admins may delete.
import assert from "node:assert/strict";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { ModelManager } from "../../src/core/engine.js";
import { DiskPrefixCache } from "../../src/engines/local/disk-prefix-cache.js";
import { LocalModelManager } from "../../src/engines/local/model-manager.js";
import { ensureFixtureModels } from "../fixtures/models.js";
import { AppClient, postJson, startTestServer, waitFor, type TestServer } from "./harness.js";

/** A server whose model manager keeps its models in `dataDir`, as `qiusuo serve` does. */
async function startWithDataDir(files: string[], dataDir: string) {
  const made: { manager?: LocalModelManager } = {};
  const models: ModelManager = {
    pull: (reference, onProgress) => made.manager!.pull(reference, onProgress),
    load: (model) => made.manager!.load(model),
    unload: (model) => made.manager!.unload(model),
    remove: (model) => made.manager!.remove(model),
  };
  const server = await startTestServer({
    models: files.map((file) => ({ file })),
    engine: { cacheDir: path.join(dataDir, "cache") },
    app: { models },
  });
  made.manager = new LocalModelManager(server.engine, { dataDir });
  return server;
}

describe("deleting a model from the app", () => {
  const fixtures = ensureFixtureModels();
  const dataDir = mkdtempSync(path.join(tmpdir(), "qiusuo-delete-"));
  const outside = mkdtempSync(path.join(tmpdir(), "qiusuo-own-files-"));
  const models = path.join(dataDir, "models");
  const file = (name: string) => path.join(models, `${name}.gguf`);
  const app = () => new AppClient(server.url);
  const listed = async () =>
    ((await app().request("GET", "/api/models")).json.data as Array<{ id: string }>).map((model) => model.id);
  let server: TestServer;

  before(async () => {
    mkdirSync(models, { recursive: true });
    copyFileSync(fixtures.scripted, file("scripted"));
    copyFileSync(fixtures.tiny, file("tiny"));
    copyFileSync(fixtures.tiny, path.join(outside, "yours.gguf"));
    server = await startWithDataDir(
      [file("scripted"), file("tiny"), path.join(outside, "yours.gguf")],
      dataDir,
    );
  });
  after(async () => {
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });

  it("deletes a model that is not loaded: gone from the list, the disk and its cache", async () => {
    assert.equal((await app().request("POST", "/api/models/tiny/load")).status, 200);
    await waitFor(() => existsSync(`${file("tiny")}.sha256`), "the digest beside the file");
    assert.equal((await app().request("POST", "/api/models/tiny/unload")).status, 200);
    writeFileSync(`${file("tiny")}.partial`, "an interrupted download");
    const tinyCache = path.join(dataDir, "cache", await DiskPrefixCache.modelKey(file("tiny"), 1));
    const scriptedCache = path.join(dataDir, "cache", await DiskPrefixCache.modelKey(file("scripted"), 1));
    assert.ok(
      existsSync(tinyCache) && existsSync(scriptedCache),
      readdirSync(path.join(dataDir, "cache")).join(),
    );

    const deleted = await app().request("DELETE", "/api/models/tiny");
    assert.equal(deleted.status, 200, deleted.text);
    assert.deepEqual(deleted.json, { ok: true });
    assert.ok(!(await listed()).includes("tiny"));
    assert.deepEqual(readdirSync(models).sort(), ["scripted.gguf", "scripted.gguf.sha256"]);
    assert.ok(!existsSync(tinyCache), "the prefix cache folder is gone");
    assert.ok(existsSync(scriptedCache), "another model's cache stays");

    const asked = await postJson(`${server.url}/v1/chat/completions`, {
      model: "tiny",
      messages: [{ role: "user", content: "hi" }],
    });
    assert.equal(asked.status, 400);
    assert.equal(asked.json.error.code, "model_not_found");
    assert.equal((await app().request("DELETE", "/api/models/tiny")).status, 404);
  });

  it("refuses a loaded model with 409 until it is unloaded", async () => {
    const refused = await app().request("DELETE", "/api/models/scripted");
    assert.equal(refused.status, 409, refused.text);
    assert.equal(refused.json.error.code, "model_in_use");
    assert.match(refused.json.error.message, /is loaded; unload it first/);
    assert.ok(existsSync(file("scripted")));
    const reply = await postJson(`${server.url}/v1/chat/completions`, {
      model: "scripted",
      messages: [{ role: "user", content: "still there?" }],
    });
    assert.equal(reply.status, 200, "a refused delete leaves the model serving");
  });

  it("refuses a model being downloaded; a failed pull is forgotten with its partial file", async () => {
    server.engine.setPending("pulled", "loading", "downloading pulled: 40%");
    writeFileSync(`${file("pulled")}.partial`, "forty percent");
    const busy = await app().request("DELETE", "/api/models/pulled");
    assert.equal(busy.status, 409);
    assert.match(busy.json.error.message, /downloading pulled: 40%/);

    server.engine.setPending("pulled", "missing", "The model pulled could not be downloaded.");
    assert.equal((await app().request("DELETE", "/api/models/pulled")).status, 200);
    assert.ok(!(await listed()).includes("pulled"));
    assert.ok(!existsSync(`${file("pulled")}.partial`));
  });

  it("never deletes a file the server was given from outside its data dir", async () => {
    const refused = await app().request("DELETE", "/api/models/yours");
    assert.equal(refused.status, 409);
    assert.equal(refused.json.error.code, "model_outside_data_dir");
    assert.ok(refused.json.error.message.includes(path.join(outside, "yours.gguf")));
    assert.ok(existsSync(path.join(outside, "yours.gguf")));
    assert.ok((await listed()).includes("yours"));
  });

  it("answers 404 to ids that are not a registered model, whatever path they spell", async () => {
    writeFileSync(path.join(dataDir, "secret.gguf"), "not a model");
    for (const id of [
      "..%2Fsecret",
      "..%2Fsecret.gguf",
      "..%2F..%2F..%2Fetc%2Fpasswd",
      "%2Fetc%2Fpasswd",
      "scripted.gguf",
      "..%2Fmodels%2Fscripted",
      "%2E%2E",
      "deepseek-chat",
    ]) {
      const answer = await app().request("DELETE", `/api/models/${id}`);
      assert.equal(answer.status, 404, `${id}: ${answer.text}`);
    }
    assert.ok(existsSync(path.join(dataDir, "secret.gguf")));
    assert.ok(existsSync(file("scripted")));
  });
});

describe("deleting a model in accounts mode", () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ accounts: true, preload: false });
  });
  after(() => server.close());

  it("is for admins only: 403 for a user", async () => {
    await server.store.users.create({ name: "uma", password: "uma's password" });
    const user = new AppClient(server.url);
    await user.login("uma", "uma's password");
    const refused = await user.request("DELETE", "/api/models/scripted");
    assert.equal(refused.status, 403);
    assert.equal(refused.json.error.code, "admin_only");
    assert.ok(existsSync(server.fixtures.scripted));
  });
});
