// `qiusuo rm` as users run it (the built CLI): it deletes a model with its sidecars and cache,
// refuses one a running `qiusuo serve` has loaded (unless --force), a download in progress, a
// file outside the data dir and names that try to leave it.
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
import { DiskPrefixCache } from "../../src/engines/local/disk-prefix-cache.js";
import { ensureFixtureModels } from "../fixtures/models.js";
import { runQiusuo, startServe, stopServe, type ServeProcess } from "./cli-process.js";

describe("qiusuo rm", () => {
  const fixtures = ensureFixtureModels();
  const dataDir = mkdtempSync(path.join(tmpdir(), "qiusuo-rm-"));
  const outside = mkdtempSync(path.join(tmpdir(), "qiusuo-rm-own-"));
  const models = path.join(dataDir, "models");
  const file = (name: string) => path.join(models, `${name}.gguf`);
  const rm = (...args: string[]) => runQiusuo(["rm", ...args, "--data-dir", dataDir]);
  let serve: ServeProcess | undefined;

  before(() => mkdirSync(models, { recursive: true }));
  after(async () => {
    if (serve) await stopServe(serve.child);
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });

  it("deletes a model with its checksum, partial download and prefix cache", async () => {
    copyFileSync(fixtures.tiny, file("tiny"));
    copyFileSync(fixtures.scripted, file("kept"));
    writeFileSync(`${file("tiny")}.sha256`, `${"0".repeat(64)}  tiny.gguf\n`);
    writeFileSync(`${file("tiny")}.partial`, "an interrupted download");
    const cacheKey = (await DiskPrefixCache.modelKey(file("tiny"), 1)).replace(/-s1$/, "");
    for (const sequences of [1, 4]) {
      mkdirSync(path.join(dataDir, "cache", `${cacheKey}-s${sequences}`), { recursive: true });
      writeFileSync(path.join(dataDir, "cache", `${cacheKey}-s${sequences}`, "64-abc.kv"), "state");
    }
    const otherCache = path.join(dataDir, "cache", await DiskPrefixCache.modelKey(file("kept"), 1));
    mkdirSync(otherCache);

    const result = rm("tiny");
    assert.equal(result.status, 0, result.stderr);
    assert.match(
      result.stdout,
      /^deleted tiny \(\d+\.\d MB\): tiny\.gguf, tiny\.gguf\.sha256, tiny\.gguf\.partial, /,
    );
    assert.deepEqual(readdirSync(models), ["kept.gguf"]);
    assert.deepEqual(readdirSync(path.join(dataDir, "cache")), [path.basename(otherCache)]);
    assert.doesNotMatch(runQiusuo(["ls", "--data-dir", dataDir]).stdout, /tiny/);

    const again = rm("tiny");
    assert.equal(again.status, 1);
    assert.match(again.stderr, /There is no model 'tiny' in .*`qiusuo ls` lists/);
  });

  it("refuses a model a running server has loaded; --force deletes it anyway", async () => {
    copyFileSync(fixtures.scripted, file("served"));
    serve = await startServe(["--data-dir", dataDir, "--model", "served"], { ready: true });
    const refused = rm("served");
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, new RegExp(`served is in use by process ${serve.child.pid} \\(.*serve`));
    assert.match(refused.stderr, /Unload it .* --force deletes it anyway/);
    assert.ok(existsSync(file("served")));

    const forced = rm("served", "--force");
    assert.equal(forced.status, 0, forced.stderr);
    assert.ok(!existsSync(file("served")));
    // The server keeps the copy it has loaded until it unloads it.
    const health = await fetch(`${serve.url}/health`);
    assert.equal(health.status, 200);
    await stopServe(serve.child);
    serve = undefined;
  });

  it("refuses a model while a pull of it runs", () => {
    writeFileSync(`${file("pulling")}.partial`, "half");
    writeFileSync(`${file("pulling")}.partial.lock`, String(process.pid));
    const refused = rm("pulling");
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, new RegExp(`being downloaded by process ${process.pid}`));
    assert.ok(existsSync(`${file("pulling")}.partial`));
    // A lock left by a process that is gone is no pull: the leftovers go.
    writeFileSync(`${file("pulling")}.partial.lock`, "2147483646");
    const cleaned = rm("pulling");
    assert.equal(cleaned.status, 0, cleaned.stderr);
    assert.equal(cleaned.stdout.trim(), "deleted pulling: pulling.gguf.partial, pulling.gguf.partial.lock");
  });

  it("never deletes a file outside the data dir, nor follows a name out of it", () => {
    const yours = path.join(outside, "yours.gguf");
    copyFileSync(fixtures.tiny, yours);
    writeFileSync(path.join(dataDir, "secret.gguf"), "not in the models folder");
    const refused = rm(yours);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /is not in qiusuo's models folder .* never a file of yours/);
    for (const name of ["../secret", "../secret.gguf", "../../../etc/passwd", "..", "/etc/passwd"]) {
      const answer = rm(name);
      assert.equal(answer.status, 1, `${name}: ${answer.stdout}`);
      assert.match(answer.stderr, /not allowed|is not in qiusuo's models folder|no model/, name);
    }
    assert.ok(existsSync(yours));
    assert.ok(existsSync(path.join(dataDir, "secret.gguf")));
  });
});
