// pullModel against test/integration/hf-mirror.ts, a local stand-in for Hugging Face: a "hub" that
// answers /resolve/ with a redirect carrying x-linked-etag / x-linked-size (as huggingface.co does)
// and a "CDN" on another port that serves the bytes with Range support, and the faults a real
// download meets: a dropped connection, a server that ignores Range, a wrong checksum, a full disk,
// two pulls of one file at once.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, beforeEach, describe, test } from "node:test";

import { createProgressBar } from "../../src/cli/progress-bar.js";
import { ConfigError, loadServeConfig, resolveModelCatalog } from "../../src/config/config.js";
import { MODEL_CATALOG, resolveModelReference } from "../../src/engines/local/model-catalog.js";
import {
  InvalidModelNameError,
  modelPathInDataDir,
  safeModelFileName,
} from "../../src/engines/local/model-paths.js";
import { ModelPullError, pullModel } from "../../src/engines/local/model-pull.js";
import type { PullModelOptions, PullProgress } from "../../src/engines/local/model-pull.js";
import { sha256Hex, tinyModelGguf } from "../unit/gguf-bytes.js";
import { HuggingFaceMirror } from "./hf-mirror.js";
import type { MirrorFile } from "./hf-mirror.js";

let hub: HuggingFaceMirror;
let dataDir: string;

before(async () => {
  hub = await HuggingFaceMirror.start();
});
after(async () => {
  await hub.stop();
});
beforeEach(async () => {
  hub.reset();
  dataDir = await mkdtemp(join(tmpdir(), "qiusuo-pull-"));
});
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

function serve(key: string, file: MirrorFile): string {
  return hub.serve(key, file);
}

/** pullModel through the mirror, resuming after 10 ms instead of a second. */
function pull(reference: string, options: Partial<PullModelOptions> = {}) {
  return pullModel({ reference, dataDir, huggingFaceEndpoint: hub.endpoint, resumeDelayMs: 10, ...options });
}

function listen(server: ReturnType<typeof createServer>): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)),
  );
}

async function assertPullError(
  promise: Promise<unknown>,
  code: string,
  pattern: RegExp,
): Promise<ModelPullError> {
  let caught: unknown;
  await assert.rejects(promise, (error: unknown) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof ModelPullError, `expected ModelPullError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.match(caught.message, pattern);
  return caught;
}

async function modelFiles(): Promise<string[]> {
  try {
    return (await readdir(join(dataDir, "models"))).sort();
  } catch {
    return [];
  }
}

describe("pullModel", () => {
  test("downloads a model with progress, verifies it and keeps it", async () => {
    const body = tinyModelGguf(1 << 16);
    const reference = serve("test-owner/tiny-GGUF/tiny-Q8_0.gguf", { body });
    const progress: PullProgress[] = [];
    const result = await pullModel({
      reference,
      dataDir,
      huggingFaceEndpoint: hub.endpoint,
      onProgress: (update) => progress.push(update),
    });

    assert.equal(result.path, join(dataDir, "models", "tiny-Q8_0.gguf"));
    assert.equal(result.bytes, body.length);
    assert.equal(result.sha256, sha256Hex(body));
    assert.equal(result.alreadyPresent, false);
    assert.deepEqual(await readFile(result.path), body);
    assert.deepEqual(await modelFiles(), ["tiny-Q8_0.gguf", "tiny-Q8_0.gguf.sha256"]);

    assert.ok(progress.length >= 2, "progress is reported at the start and the end");
    assert.equal(progress[0]?.downloadedBytes, 0);
    assert.deepEqual(
      progress.map((update) => update.totalBytes),
      progress.map(() => body.length),
    );
    for (let index = 1; index < progress.length; index++) {
      assert.ok((progress[index]?.downloadedBytes ?? 0) >= (progress[index - 1]?.downloadedBytes ?? 0));
    }
    assert.equal(progress.at(-1)?.downloadedBytes, body.length);

    // The hub was asked once and redirected to the CDN, which served the bytes.
    assert.deepEqual(
      hub.requests.map((request) => request.server),
      ["hub", "cdn"],
    );

    // A second pull finds the verified file and fetches nothing.
    hub.requests.length = 0;
    const again = await pullModel({ reference, dataDir, huggingFaceEndpoint: hub.endpoint });
    assert.equal(again.alreadyPresent, true);
    assert.equal(again.sha256, sha256Hex(body));
    assert.equal(hub.requests.length, 0);
  });

  test("a connection that drops mid-file is resumed with a Range request, not restarted", async () => {
    const body = tinyModelGguf(1 << 18);
    const key = "test-owner/tiny-GGUF/resume.gguf";
    const reference = serve(key, { body, dropAfterBytes: 300_000 });
    const progress: PullProgress[] = [];
    const result = await pull(reference, { onProgress: (update) => progress.push(update) });

    assert.equal(result.sha256, sha256Hex(body));
    assert.deepEqual(await readFile(result.path), body);
    assert.ok(!existsSync(`${result.path}.partial`));
    const [first, second, ...more] = hub.cdnRequests(key);
    assert.deepEqual(more, []);
    assert.equal(first?.range, undefined);
    const resumedFrom = Number(/^bytes=(\d+)-$/.exec(second?.range ?? "")?.[1]);
    assert.ok(resumedFrom > 0 && resumedFrom <= 300_000, `resumed from ${second?.range}`);
    assert.equal(second?.status, 206);
    assert.equal(second?.sentBytes, body.length - resumedFrom, "only the missing bytes were sent again");
    // Progress never went back to zero.
    const afterDrop = progress.findIndex(
      (update, index) => index > 0 && update.downloadedBytes === resumedFrom,
    );
    assert.ok(afterDrop > 0);
    assert.ok(progress.slice(afterDrop).every((update) => update.downloadedBytes >= resumedFrom));
  });

  test("a connection that keeps dropping without progress gives up and keeps the partial", async () => {
    const body = tinyModelGguf(1 << 18);
    const key = "test-owner/tiny-GGUF/flaky.gguf";
    // The first answer drops after 100,000 bytes, the next five at once.
    const reference = serve(key, { body, dropAfterBytes: [100_000, 0, 0, 0, 0, 0] });
    await assertPullError(
      pull(reference),
      "model_pull_interrupted",
      /interrupted after \d+ of \d+ bytes.*Run the same pull again to resume/,
    );
    const partialPath = join(dataDir, "models", "flaky.gguf.partial");
    const partialSize = (await stat(partialPath)).size;
    assert.ok(partialSize > 0 && partialSize <= 100_000, `partial has ${partialSize} bytes`);
    assert.equal(hub.cdnRequests(key).length, 6, "the first try and four resumes after it");
    assert.ok(!existsSync(join(dataDir, "models", "flaky.gguf")));
    assert.ok(!existsSync(`${partialPath}.lock`));

    // The network is back: the next pull picks up where the last one stopped.
    hub.serve(key, { body });
    hub.requests.length = 0;
    const result = await pull(reference);
    assert.equal(result.sha256, sha256Hex(body));
    assert.deepEqual(
      hub.cdnRequests(key).map((request) => request.range),
      [`bytes=${partialSize}-`],
    );
  });

  test("starts over when the server ignores the Range header", async () => {
    const body = tinyModelGguf(1 << 16);
    const reference = serve("test-owner/tiny-GGUF/norange.gguf", { body, ignoreRange: true });
    await mkdirModels();
    // A stale partial whose bytes are wrong: a server that ignores ranges must not be appended to it.
    await writeFile(join(dataDir, "models", "norange.gguf.partial"), Buffer.alloc(1000, 0xee));
    const result = await pull(reference);
    assert.equal(result.sha256, sha256Hex(body));
    assert.deepEqual(await readFile(result.path), body);
  });

  test("a drop on a server that ignores Range restarts the file cleanly from byte 0", async () => {
    const body = tinyModelGguf(1 << 18);
    const key = "test-owner/tiny-GGUF/norange-drop.gguf";
    const reference = serve(key, { body, ignoreRange: true, dropAfterBytes: 200_000 });
    const result = await pull(reference);
    assert.equal(result.sha256, sha256Hex(body));
    assert.deepEqual(await readFile(result.path), body);
    const [first, second] = hub.cdnRequests(key);
    assert.equal(first?.sentBytes, 200_000);
    assert.match(second?.range ?? "", /^bytes=\d+-$/, "it asked to resume");
    assert.equal(second?.status, 200, "and got the whole file");
    assert.equal(second?.sentBytes, body.length);
  });

  test("completes from a partial that already holds every byte", async () => {
    const body = tinyModelGguf(1 << 12);
    const reference = serve("test-owner/tiny-GGUF/complete.gguf", { body });
    await mkdirModels();
    await writeFile(join(dataDir, "models", "complete.gguf.partial"), body);
    const result = await pullModel({ reference, dataDir, huggingFaceEndpoint: hub.endpoint });
    assert.equal(result.sha256, sha256Hex(body));
    assert.equal(hub.requests.find((request) => request.server === "cdn")?.range, `bytes=${body.length}-`);
  });

  test("refuses a file whose SHA-256 does not match and leaves nothing behind", async () => {
    const body = tinyModelGguf();
    const reference = serve("test-owner/tiny-GGUF/tampered.gguf", {
      body,
      linkedEtag: sha256Hex(Buffer.from("other")),
    });
    await assertPullError(
      pull(reference),
      "model_checksum_mismatch",
      /has SHA-256 [0-9a-f]{64} but [0-9a-f]{64} was expected: .*tampered with\. It was deleted; run the pull again/,
    );
    assert.deepEqual(await modelFiles(), [], "no file, no .partial, no lock");
  });

  test("a catalog alias whose pinned SHA-256 differs from the file served is refused and removed", async () => {
    const body = tinyModelGguf(1 << 12);
    const model = MODEL_CATALOG.find((entry) => entry.alias === "deepseek-r1:1.5b")!;
    // The mirror publishes the served file's own digest; the pin is what decides.
    serve(`${model.repo}/${model.file}`, { body });
    const pinned = { ...model, size: body.length, sha256: sha256Hex(Buffer.from("the real file")) };
    await assertPullError(
      pull(model.alias, { catalogOverrides: [pinned] }),
      "model_checksum_mismatch",
      new RegExp(`deepseek-r1:1\\.5b has SHA-256 ${sha256Hex(body)} but ${pinned.sha256} was expected`),
    );
    assert.deepEqual(await modelFiles(), []);
    const result = await pull(model.alias, { catalogOverrides: [{ ...pinned, sha256: sha256Hex(body) }] });
    assert.equal(result.path, join(dataDir, "models", model.file));
  });

  test("ignores an etag that is not a SHA-256", async () => {
    const body = tinyModelGguf();
    const reference = serve("test-owner/tiny-GGUF/no-digest.gguf", { body, linkedEtag: null });
    const result = await pullModel({ reference, dataDir, huggingFaceEndpoint: hub.endpoint });
    assert.equal(result.sha256, sha256Hex(body));
  });

  test("a catalog model whose upstream size changed is refused before a byte is written", async () => {
    const model = MODEL_CATALOG.find((entry) => entry.alias === "qwen2.5:0.5b");
    assert.ok(model !== undefined);
    serve(`${model.repo}/${model.file}`, { body: tinyModelGguf() });
    await assertPullError(
      pullModel({ reference: model.alias, dataDir, huggingFaceEndpoint: hub.endpoint }),
      "model_size_mismatch",
      /offers qwen2\.5:0\.5b with \d+ bytes but the catalog expects 491400032/,
    );
    assert.deepEqual(await modelFiles(), []);
  });

  test("refuses a downloaded file that is not a valid GGUF", async () => {
    const valid = tinyModelGguf(1 << 12);
    const body = valid.subarray(0, valid.length - 100); // its tensor runs past the end
    const reference = serve("test-owner/tiny-GGUF/truncated.gguf", { body });
    const error = await assertPullError(
      pullModel({ reference, dataDir, huggingFaceEndpoint: hub.endpoint }),
      "model_invalid_file",
      /not a usable model: tensor 'token_embd\.weight' ends at byte \d+ but the file has \d+ bytes/,
    );
    assert.ok(!error.message.includes(dataDir), "messages carry no local paths");
    assert.deepEqual(await modelFiles(), []);
  });

  test("a missing file is a clear not-found error", async () => {
    await assertPullError(
      pullModel({
        reference: "hf:test-owner/tiny-GGUF/missing.gguf",
        dataDir,
        huggingFaceEndpoint: hub.endpoint,
      }),
      "model_not_found",
      /test-owner\/tiny-GGUF\/missing\.gguf was not found at .* \(HTTP 404\)/,
    );
    assert.deepEqual(await modelFiles(), []);
  });

  test("a gated repository says so and asks for a token; the token never reaches the CDN", async () => {
    const gated = serve("test-owner/gated-GGUF/gated.gguf", { body: tinyModelGguf(), hubStatus: 401 });
    await assertPullError(
      pullModel({ reference: gated, dataDir, huggingFaceEndpoint: hub.endpoint }),
      "model_access_denied",
      /HTTP 401.*gated or private.*HF_TOKEN/,
    );

    const body = tinyModelGguf();
    const open = serve("test-owner/tiny-GGUF/token.gguf", { body });
    await pullModel({
      reference: open,
      dataDir,
      huggingFaceEndpoint: hub.endpoint,
      headers: { Authorization: "Bearer hf_secret" },
    });
    const lastTwo = hub.requests.slice(-2);
    assert.deepEqual(
      lastTwo.map((request) => [request.server, request.authorization]),
      [
        ["hub", "Bearer hf_secret"],
        ["cdn", undefined],
      ],
    );
  });

  test("an unreachable endpoint is a clear error", async () => {
    await assertPullError(
      pullModel({ reference: "deepseek-r1:1.5b", dataDir, huggingFaceEndpoint: "http://127.0.0.1:1" }),
      "model_unreachable",
      /^Could not reach http:\/\/127\.0\.0\.1:1 \(.+\)\. Check the network, set a mirror with QIUSUO_HF_ENDPOINT, or pass --model \/path\/to\/model\.gguf$/,
    );
    // A port that was just closed: the socket error's own words are in the message.
    const closed = createServer();
    const port = await listen(closed);
    await new Promise((resolve) => closed.close(resolve));
    await assertPullError(
      pullModel({ reference: "qwen2.5:0.5b", dataDir, huggingFaceEndpoint: `http://127.0.0.1:${port}` }),
      "model_unreachable",
      /ECONNREFUSED/,
    );
    assert.deepEqual(await modelFiles(), []);
  });

  test("aborting keeps the partial download for the next pull", { timeout: 10_000 }, async () => {
    const body = tinyModelGguf(1 << 16);
    const reference = serve("test-owner/tiny-GGUF/abort.gguf", { body, stallAfterBytes: 100_000 });
    const partialPath = join(dataDir, "models", "abort.gguf.partial");
    const controller = new AbortController();
    // The server stalls after 100,000 bytes; stop the pull once they are on disk.
    const watcher = setInterval(() => {
      void stat(partialPath).then(
        (stats) => stats.size >= 100_000 && controller.abort(),
        () => undefined,
      );
    }, 10);
    try {
      await assertPullError(
        pull(reference, { signal: controller.signal }),
        "model_pull_aborted",
        /was stopped after 100000 bytes\. Run the same pull again to resume/,
      );
    } finally {
      clearInterval(watcher);
    }
    assert.equal((await stat(partialPath)).size, 100_000);
    const result = await pullModel({ reference, dataDir, huggingFaceEndpoint: hub.endpoint });
    assert.equal(result.sha256, sha256Hex(body));
    assert.equal(hub.requests.at(-1)?.range, "bytes=100000-");
  });

  test("two pulls of one file in this process share one download", async () => {
    const body = tinyModelGguf(1 << 17);
    const key = "test-owner/tiny-GGUF/joined.gguf";
    const reference = serve(key, { body, bytesPerSecond: 1_000_000 });
    const first: PullProgress[] = [];
    const second: PullProgress[] = [];
    const one = pull(reference, { onProgress: (update) => first.push(update) });
    await waitUntil(() => first.length > 0);
    const two = pull(reference, { onProgress: (update) => second.push(update) });
    const [a, b] = await Promise.all([one, two]);
    assert.deepEqual(a, b);
    assert.equal(a.sha256, sha256Hex(body));
    assert.equal(hub.cdnRequests(key).length, 1, "one download");
    assert.equal(hub.sentBytes(key), body.length);
    assert.equal(second.at(-1)?.downloadedBytes, body.length, "the second pull saw the progress too");

    // One of two pulls is stopped: the other still gets the file.
    await rm(a.path);
    hub.requests.length = 0;
    const controller = new AbortController();
    const stopped = pull(reference, { signal: controller.signal });
    const kept = pull(reference);
    await waitUntil(() => hub.cdnRequests(key).length > 0);
    controller.abort();
    await assertPullError(stopped, "model_pull_aborted", /was stopped/);
    assert.equal((await kept).sha256, sha256Hex(body));
    assert.equal(hub.cdnRequests(key).length, 1);
  });

  test("a pull waits for the same download in another process, then finds its file", async () => {
    const body = tinyModelGguf(1 << 12);
    const key = "test-owner/tiny-GGUF/busy.gguf";
    const reference = serve(key, { body });
    await mkdirModels();
    const lockPath = join(dataDir, "models", "busy.gguf.partial.lock");
    // The parent process (alive, not this one) holds the lock and is "downloading".
    await writeFile(lockPath, String(process.ppid));
    await writeFile(join(dataDir, "models", "busy.gguf.partial"), body.subarray(0, 1000));
    const progress: PullProgress[] = [];
    const waiting = pull(reference, { onProgress: (update) => progress.push(update) });
    await waitUntil(() => progress.length >= 2);
    assert.equal(progress[0]?.downloadedBytes, 1000, "the other process's progress, from its partial");
    assert.equal(hub.requests.length, 0, "nothing fetched while the other process downloads");
    // It finishes: its file appears and its lock goes.
    await writeFile(join(dataDir, "models", "busy.gguf"), body);
    await rm(join(dataDir, "models", "busy.gguf.partial"));
    await rm(lockPath);
    const result = await waiting;
    assert.equal(result.alreadyPresent, true);
    assert.equal(result.sha256, sha256Hex(body));
    assert.equal(hub.requests.length, 0);

    // A lock left by a process that is gone is taken over.
    await rm(result.path);
    await writeFile(lockPath, "999999999");
    const taken = await pull(reference);
    assert.equal(taken.alreadyPresent, false);
    assert.ok(!existsSync(lockPath));
  });

  test("a pull waiting for another process can be stopped", async () => {
    const reference = serve("test-owner/tiny-GGUF/waiting.gguf", { body: tinyModelGguf() });
    await mkdirModels();
    await writeFile(join(dataDir, "models", "waiting.gguf.partial.lock"), String(process.ppid));
    const controller = new AbortController();
    const waiting = pull(reference, { signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    await assertPullError(waiting, "model_pull_aborted", /was stopped/);
    assert.equal(
      await readFile(join(dataDir, "models", "waiting.gguf.partial.lock"), "utf8"),
      String(process.ppid),
    );
  });

  test("path traversal in references is refused before any request", async () => {
    const hostile = [
      "hf:a/b/../../x.gguf",
      "../x",
      "../x.gguf",
      "hf:../b/x.gguf",
      "hf:a/../x.gguf",
      "hf:a/b/x.gguf/../../../../etc/passwd",
      "hf:a/b/%2e%2e/x.gguf",
      "hf:a/b/..\\..\\x.gguf",
      "hf:a/b/x\u0000.gguf",
      "hf:a/b/.hidden.gguf",
      "hf:a/b//x.gguf",
      "hf:a/b",
      "hf:a/b/model.bin",
      "/etc/passwd",
      "C:\\models\\x.gguf",
      "llama3:8b",
    ];
    for (const reference of hostile) {
      await assert.rejects(
        pullModel({ reference, dataDir, huggingFaceEndpoint: hub.endpoint }),
        (error: unknown) => error instanceof InvalidModelNameError && error.code === "invalid_model_name",
        reference,
      );
    }
    assert.equal(hub.requests.length, 0);
    assert.deepEqual(await modelFiles(), []);
  });
});

// A real full disk: a 1 MiB tmpfs mounted for these tests (it needs root, as in CI's container;
// elsewhere they are skipped), with the data dir on it.
describe("a full disk", () => {
  let mountPoint = "";
  let mounted = false;
  before(async () => {
    mountPoint = await mkdtemp(join(tmpdir(), "qiusuo-full-disk-"));
    try {
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mountPoint], { stdio: "ignore" });
      mounted = true;
    } catch {
      mounted = false;
    }
  });
  after(async () => {
    if (mounted) execFileSync("umount", [mountPoint]);
    await rm(mountPoint, { recursive: true, force: true });
  });

  test("a file larger than the free space is refused before a byte is written", async (context) => {
    if (!mounted) return context.skip("cannot mount a tmpfs here (needs root)");
    const body = tinyModelGguf(1 << 19); // 2 MiB
    const reference = serve("test-owner/tiny-GGUF/big.gguf", { body });
    const small = join(mountPoint, "precheck");
    await assertPullError(
      pull(reference, { dataDir: small }),
      "model_disk_full",
      /needs 2\.1 MB more but .* has only 1\.0 MB free\. Free some space/,
    );
    assert.deepEqual(await readdir(join(small, "models")), [], "no file, no .partial, no lock");
    await rm(small, { recursive: true });
  });

  test("the disk filling mid-file is a clear error, and no file looks complete", async (context) => {
    if (!mounted) return context.skip("cannot mount a tmpfs here (needs root)");
    const body = tinyModelGguf(1 << 19);
    const key = "test-owner/tiny-GGUF/fills.gguf";
    // No size anywhere, so nothing can be checked before writing: the write itself fails.
    const reference = serve(key, { body, hideSize: true });
    const full = join(mountPoint, "midway");
    const error = await assertPullError(
      pull(reference, { dataDir: full }),
      "model_disk_full",
      /^The disk is full: .* has no space left for hf:test-owner\/tiny-GGUF\/fills\.gguf\. The [\d.]+ MB downloaded so far are kept \(as a \.partial file\) to resume from; delete it to get the space back\. Free some space/,
    );
    assert.doesNotMatch(error.message, /ENOSPC/);
    assert.deepEqual(await readdir(join(full, "models")), ["fills.gguf.partial"], "no final file, no lock");
    const partialSize = (await stat(join(full, "models", "fills.gguf.partial"))).size;
    assert.ok(partialSize > 0 && partialSize < body.length);

    // Space is freed: the next pull resumes and the file is whole.
    execFileSync("mount", ["-o", "remount,size=4m", mountPoint]);
    hub.requests.length = 0;
    const result = await pull(reference, { dataDir: full });
    assert.equal(result.sha256, sha256Hex(body));
    assert.equal(hub.cdnRequests(key)[0]?.range, `bytes=${partialSize}-`);
  });
});

describe("model names and references", () => {
  test("catalog aliases resolve to real Hugging Face files through any endpoint", () => {
    const resolved = resolveModelReference("deepseek-r1:1.5b", {
      huggingFaceEndpoint: "https://hf-mirror.com/",
    });
    assert.equal(resolved.alias, "deepseek-r1:1.5b");
    assert.equal(resolved.repo, "bartowski/DeepSeek-R1-Distill-Qwen-1.5B-GGUF");
    assert.equal(
      resolved.url,
      "https://hf-mirror.com/bartowski/DeepSeek-R1-Distill-Qwen-1.5B-GGUF/resolve/main/DeepSeek-R1-Distill-Qwen-1.5B-Q4_K_M.gguf",
    );
    assert.equal(resolved.localFileName, "DeepSeek-R1-Distill-Qwen-1.5B-Q4_K_M.gguf");
    assert.equal(resolved.size, 1_117_320_800);
    assert.match(resolved.sha256 ?? "", /^[0-9a-f]{64}$/);
    assert.equal(resolveModelReference("deepseek-r1:1.5b").url.startsWith("https://huggingface.co/"), true);
    for (const model of MODEL_CATALOG) {
      assert.equal(resolveModelReference(model.alias).localFileName, model.file);
      assert.ok(model.sha256 === undefined || /^[0-9a-f]{64}$/.test(model.sha256));
    }
  });

  test("QIUSUO_MODEL_CATALOG adds aliases and re-pins built-in ones; a bad file names every problem", async () => {
    const catalogFile = join(dataDir, "catalog.json");
    const own = { alias: "team:small", repo: "Team/Small-GGUF", file: "q8/small-Q8_0.gguf", size: 10 };
    const repin = {
      alias: "deepseek-r1:1.5b",
      repo: "Mirror/R1-GGUF",
      file: "r1.gguf",
      sha256: "a".repeat(64),
    };
    await writeFile(catalogFile, JSON.stringify([own, repin]));
    const overrides = loadServeConfig({}, { HOME: dataDir, QIUSUO_MODEL_CATALOG: catalogFile }).modelCatalog;
    assert.deepEqual(resolveModelReference("Team:Small", { catalogOverrides: overrides }), {
      alias: "team:small",
      repo: "Team/Small-GGUF",
      file: "q8/small-Q8_0.gguf",
      url: "https://huggingface.co/Team/Small-GGUF/resolve/main/q8/small-Q8_0.gguf",
      localFileName: "small-Q8_0.gguf",
      size: 10,
    });
    const repinned = resolveModelReference("deepseek-r1:1.5b", { catalogOverrides: overrides });
    assert.equal(repinned.repo, "Mirror/R1-GGUF");
    assert.equal(repinned.sha256, "a".repeat(64));
    assert.equal(repinned.size, undefined, "the entry replaces the built-in one, size and all");
    assert.equal(resolveModelReference("qwen2.5:0.5b", { catalogOverrides: overrides }).size, 491_400_032);
    assert.deepEqual(resolveModelCatalog({ QIUSUO_MODEL_CATALOG: catalogFile }), overrides);

    // An entry is checked as an hf: reference is: no way out of the models directory.
    const escape = [{ alias: "evil", repo: "a/b", file: "../../x.gguf" }];
    assert.throws(() => resolveModelReference("evil", { catalogOverrides: escape }), InvalidModelNameError);

    await writeFile(
      catalogFile,
      JSON.stringify([{ alias: "Bad Alias", repo: "nope", file: "x.bin", sha256: "xyz" }]),
    );
    assert.throws(
      () => loadServeConfig({}, { HOME: dataDir, QIUSUO_MODEL_CATALOG: catalogFile, QIUSUO_PORT: "x" }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.deepEqual(error.problems, [
          "port (--port or QIUSUO_PORT): Expected number, received nan",
          "modelCatalog[0].alias (QIUSUO_MODEL_CATALOG): expected lower-case letters, digits and . _ : + -",
          "modelCatalog[0].repo (QIUSUO_MODEL_CATALOG): expected OWNER/NAME",
          "modelCatalog[0].file (QIUSUO_MODEL_CATALOG): expected a .gguf file",
          "modelCatalog[0].sha256 (QIUSUO_MODEL_CATALOG): expected 64 lower-case hex digits",
        ]);
        return true;
      },
    );
    assert.throws(
      () => resolveModelCatalog({ QIUSUO_MODEL_CATALOG: join(dataDir, "missing.json") }),
      /modelCatalog \(QIUSUO_MODEL_CATALOG\): cannot read .*missing\.json as JSON: ENOENT/,
    );
  });

  test("hf: references may name a file in a folder; the local name is its base name", () => {
    const resolved = resolveModelReference("hf:Owner/Repo-GGUF/Q4_K_M/model-Q4_K_M.gguf", {
      huggingFaceEndpoint: "http://127.0.0.1:9999",
    });
    assert.deepEqual(resolved, {
      repo: "Owner/Repo-GGUF",
      file: "Q4_K_M/model-Q4_K_M.gguf",
      url: "http://127.0.0.1:9999/Owner/Repo-GGUF/resolve/main/Q4_K_M/model-Q4_K_M.gguf",
      localFileName: "model-Q4_K_M.gguf",
    });
  });

  test("model file names never leave <dataDir>/models", () => {
    assert.equal(modelPathInDataDir("/data", "model.gguf"), join("/data", "models", "model.gguf"));
    assert.equal(
      safeModelFileName("DeepSeek-R1-Distill-Qwen-1.5B-Q4_K_M.gguf"),
      "DeepSeek-R1-Distill-Qwen-1.5B-Q4_K_M.gguf",
    );
    for (const name of [
      "",
      "..",
      "../x.gguf",
      "a/b.gguf",
      "a\\b.gguf",
      "/abs.gguf",
      "x\u0000.gguf",
      "x\n.gguf",
      ".gguf",
      ".hidden.gguf",
      "-rf.gguf",
      "model.bin",
      "deepseek-r1:1.5b",
      "con.gguf",
      " x.gguf",
      `${"a".repeat(300)}.gguf`,
    ]) {
      assert.throws(() => modelPathInDataDir("/data", name), InvalidModelNameError, JSON.stringify(name));
    }
  });

  test("the progress bar prints a line every 10% when not on a terminal", () => {
    const lines: string[] = [];
    const bar = createProgressBar("pulling tiny", { write: (text: string) => lines.push(text) });
    for (let bytes = 0; bytes <= 268_000_000; bytes += 1_000_000) {
      bar.update({ downloadedBytes: bytes, totalBytes: 268_000_000, bytesPerSecond: 12_100_000 });
    }
    bar.done("downloaded");
    assert.equal(lines.length, 12);
    assert.equal(lines[0], "pulling tiny [--------------------] 0% 0.0/268.0 MB 12.1 MB/s ETA 23s\n");
    assert.match(
      lines[5] ?? "",
      /^pulling tiny \[##########----------\] 50% 134\.0\/268\.0 MB 12\.1 MB\/s ETA 12s\n$/,
    );
    assert.equal(lines.at(-1), "pulling tiny: downloaded\n");
  });

  test("the progress bar redraws one line on a terminal", () => {
    const writes: string[] = [];
    const bar = createProgressBar("pulling", {
      write: (text: string) => writes.push(text),
      isTTY: true,
      columns: 100,
    });
    bar.update({ downloadedBytes: 50, totalBytes: 100, bytesPerSecond: 10 });
    bar.update({ downloadedBytes: 60, totalBytes: 100, bytesPerSecond: 10 }); // throttled
    bar.update({ downloadedBytes: 100, totalBytes: 100, bytesPerSecond: 10 }); // the end is always drawn
    bar.done("downloaded");
    assert.equal(writes.length, 3);
    assert.ok(writes[0]?.startsWith("\rpulling ["));
    assert.ok(writes[0]?.includes("50%"));
    assert.ok(writes[1]?.includes("100%"));
    assert.equal(writes[2], "\r\x1b[Kpulling: downloaded\n");
  });
});

async function waitUntil(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function mkdirModels(): Promise<void> {
  await mkdir(join(dataDir, "models"), { recursive: true });
}
