// pullModel against a local stand-in for Hugging Face: a "hub" that answers /resolve/ with a redirect
// carrying x-linked-etag / x-linked-size (as huggingface.co does) and a "CDN" on another port that
// serves the bytes with Range support and can drop or stall a connection mid-body.

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, beforeEach, describe, test } from "node:test";

import { createProgressBar } from "../../src/cli/progress-bar.js";
import { MODEL_CATALOG, resolveModelReference } from "../../src/engines/local/model-catalog.js";
import {
  InvalidModelNameError,
  modelPathInDataDir,
  safeModelFileName,
} from "../../src/engines/local/model-paths.js";
import { ModelPullError, pullModel } from "../../src/engines/local/model-pull.js";
import type { PullProgress } from "../../src/engines/local/model-pull.js";
import { sha256Hex, tinyModelGguf } from "../unit/gguf-bytes.js";

interface ServedFile {
  body: Buffer;
  /** The hub's answer instead of a redirect (404, 401...). */
  hubStatus?: number;
  /** Sent as x-linked-etag; default the body's SHA-256, null to send none. */
  linkedEtag?: string | null;
  /** The CDN's first response stops after this many body bytes and the socket is destroyed. */
  dropAfterBytes?: number;
  /** The CDN's first response sends this many bytes and then nothing more. */
  stallAfterBytes?: number;
  /** The CDN answers every request with the whole file, as a server without Range support does. */
  ignoreRange?: boolean;
}

interface LoggedRequest {
  server: "hub" | "cdn";
  path: string;
  range: string | undefined;
  authorization: string | undefined;
}

class FakeHuggingFace {
  readonly files = new Map<string, ServedFile>();
  readonly requests: LoggedRequest[] = [];
  private readonly interrupted = new Set<string>();
  private hub!: Server;
  private cdn!: Server;
  endpoint = "";
  private cdnOrigin = "";

  async start(): Promise<void> {
    this.hub = createServer((request, response) => this.serveHub(request, response));
    this.cdn = createServer((request, response) => this.serveCdn(request, response));
    this.endpoint = `http://127.0.0.1:${await listen(this.hub)}`;
    this.cdnOrigin = `http://127.0.0.1:${await listen(this.cdn)}`;
  }

  async stop(): Promise<void> {
    for (const server of [this.hub, this.cdn]) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  }

  reset(): void {
    this.files.clear();
    this.requests.length = 0;
    this.interrupted.clear();
  }

  private log(server: "hub" | "cdn", request: IncomingMessage): void {
    this.requests.push({
      server,
      path: request.url ?? "",
      range: request.headers.range,
      authorization: request.headers.authorization,
    });
  }

  private serveHub(request: IncomingMessage, response: ServerResponse): void {
    this.log("hub", request);
    const match = /^\/([^/]+)\/([^/]+)\/resolve\/main\/(.+)$/.exec(request.url ?? "");
    const key = match === null ? undefined : `${match[1]}/${match[2]}/${decodeURIComponent(match[3] ?? "")}`;
    const file = key === undefined ? undefined : this.files.get(key);
    if (key === undefined || file === undefined) {
      response.writeHead(404, { "x-error-code": "EntryNotFound" }).end("Entry not found");
      return;
    }
    if (file.hubStatus !== undefined) {
      response.writeHead(file.hubStatus).end("denied");
      return;
    }
    const headers: Record<string, string> = {
      location: `${this.cdnOrigin}/cdn/${encodeURIComponent(key)}?signature=abc`,
      "x-linked-size": String(file.body.length),
      // The hub's own etag for an LFS file is the digest too; a CDN's is something else.
      etag: '"not-a-sha256"',
    };
    const linked = file.linkedEtag === undefined ? sha256Hex(file.body) : file.linkedEtag;
    if (linked !== null) headers["x-linked-etag"] = `"${linked}"`;
    response.writeHead(302, headers).end();
  }

  private serveCdn(request: IncomingMessage, response: ServerResponse): void {
    this.log("cdn", request);
    const key = decodeURIComponent((request.url ?? "").replace(/^\/cdn\//, "").replace(/\?.*$/, ""));
    const file = this.files.get(key);
    if (file === undefined) {
      response.writeHead(404).end();
      return;
    }
    const { body } = file;
    let start = 0;
    const rangeMatch = /^bytes=(\d+)-$/.exec(request.headers.range ?? "");
    if (rangeMatch !== null && file.ignoreRange !== true) {
      start = Number(rangeMatch[1]);
      if (start >= body.length) {
        response.writeHead(416, { "content-range": `bytes */${body.length}` }).end();
        return;
      }
      response.writeHead(206, {
        "content-range": `bytes ${start}-${body.length - 1}/${body.length}`,
        "content-length": String(body.length - start),
        etag: '"cdn-etag"',
      });
    } else {
      response.writeHead(200, { "content-length": String(body.length), etag: '"cdn-etag"' });
    }
    const rest = body.subarray(start);
    const firstTime = !this.interrupted.has(key);
    if (firstTime && file.dropAfterBytes !== undefined) {
      this.interrupted.add(key);
      response.write(rest.subarray(0, file.dropAfterBytes), () => response.socket?.destroy());
      return;
    }
    if (firstTime && file.stallAfterBytes !== undefined) {
      this.interrupted.add(key);
      response.write(rest.subarray(0, file.stallAfterBytes)); // and never end
      return;
    }
    response.end(rest);
  }
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)),
  );
}

const hub = new FakeHuggingFace();
let dataDir: string;

before(async () => {
  await hub.start();
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

function serve(key: string, file: ServedFile): string {
  hub.files.set(key, file);
  return `hf:${key}`;
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

  test("resumes an interrupted download with a Range request", async () => {
    const body = tinyModelGguf(1 << 18);
    const reference = serve("test-owner/tiny-GGUF/resume.gguf", { body, dropAfterBytes: 300_000 });
    const partialPath = join(dataDir, "models", "resume.gguf.partial");

    await assertPullError(
      pullModel({ reference, dataDir, huggingFaceEndpoint: hub.endpoint }),
      "model_pull_failed",
      /interrupted after \d+ of \d+ bytes.*Run the same pull again to resume/,
    );
    const partialSize = (await stat(partialPath)).size;
    assert.ok(partialSize > 0 && partialSize < body.length, `partial has ${partialSize} bytes`);
    assert.ok(!existsSync(join(dataDir, "models", "resume.gguf")));

    hub.requests.length = 0;
    const progress: PullProgress[] = [];
    const result = await pullModel({
      reference,
      dataDir,
      huggingFaceEndpoint: hub.endpoint,
      onProgress: (update) => progress.push(update),
    });
    const cdnRequest = hub.requests.find((request) => request.server === "cdn");
    assert.equal(cdnRequest?.range, `bytes=${partialSize}-`);
    assert.equal(progress[0]?.downloadedBytes, partialSize, "progress counts the bytes already on disk");
    assert.equal(result.sha256, sha256Hex(body));
    assert.equal(result.bytes, body.length);
    assert.deepEqual(await readFile(result.path), body);
    assert.ok(!existsSync(partialPath));
  });

  test("starts over when the server ignores the Range header", async () => {
    const body = tinyModelGguf(1 << 16);
    const reference = serve("test-owner/tiny-GGUF/norange.gguf", { body, ignoreRange: true });
    await mkdirModels();
    // A stale partial whose bytes are wrong: a server that ignores ranges must not be appended to it.
    await writeFile(join(dataDir, "models", "norange.gguf.partial"), Buffer.alloc(1000, 0xee));
    const result = await pullModel({ reference, dataDir, huggingFaceEndpoint: hub.endpoint });
    assert.equal(result.sha256, sha256Hex(body));
    assert.deepEqual(await readFile(result.path), body);
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
      pullModel({ reference, dataDir, huggingFaceEndpoint: hub.endpoint }),
      "model_checksum_mismatch",
      /has SHA-256 [0-9a-f]{64} but [0-9a-f]{64} was expected/,
    );
    assert.deepEqual(await modelFiles(), []);
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
        pullModel({ reference, dataDir, huggingFaceEndpoint: hub.endpoint, signal: controller.signal }),
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

  test("a download already running in another process is not interleaved", async () => {
    const reference = serve("test-owner/tiny-GGUF/busy.gguf", { body: tinyModelGguf() });
    await mkdirModels();
    await writeFile(join(dataDir, "models", "busy.gguf.partial.lock"), String(process.ppid));
    await assertPullError(
      pullModel({ reference, dataDir, huggingFaceEndpoint: hub.endpoint }),
      "model_pull_busy",
      /already being downloaded by process \d+/,
    );
    // A lock left by a process that is gone is taken over.
    await writeFile(join(dataDir, "models", "busy.gguf.partial.lock"), "999999999");
    const result = await pullModel({ reference, dataDir, huggingFaceEndpoint: hub.endpoint });
    assert.equal(result.alreadyPresent, false);
    assert.ok(!existsSync(join(dataDir, "models", "busy.gguf.partial.lock")));
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

async function mkdirModels(): Promise<void> {
  await mkdir(join(dataDir, "models"), { recursive: true });
}
