import assert from "node:assert/strict";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { InvalidModelFileError } from "../../src/engines/local/gguf-file.js";
import { LocalEngine } from "../../src/engines/local/local-engine.js";
import { ensureFixtureModels } from "../fixtures/models.js";

/**
 * Rewrites the data offset of one tensor in a real, loadable GGUF, the way the file behind
 * CVE-2026-7482 pointed tensors past the end of the file to leak process memory.
 */
function craftOffset(bytes: Buffer, tensorName: string, offset: bigint): Buffer {
  const crafted = Buffer.from(bytes);
  const nameBytes = Buffer.from(tensorName, "utf8");
  // The tensor info is: u64 name length, name, u32 n_dims, u64 dims[n_dims], u32 type, u64 offset.
  const lengthPrefix = Buffer.alloc(8);
  lengthPrefix.writeBigUInt64LE(BigInt(nameBytes.length));
  const at = crafted.indexOf(Buffer.concat([lengthPrefix, nameBytes]));
  assert.ok(at > 0, `tensor ${tensorName} found`);
  const dimsAt = at + 8 + nameBytes.length;
  const dimensions = crafted.readUInt32LE(dimsAt);
  const offsetAt = dimsAt + 4 + dimensions * 8 + 4;
  crafted.writeBigUInt64LE(offset, offsetAt);
  return crafted;
}

describe("untrusted GGUF files never reach llama.cpp", () => {
  let dir: string;
  let engine: LocalEngine;
  let original: Buffer;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "qiusuo-gguf-"));
    original = await fs.readFile(ensureFixtureModels().tiny);
    engine = new LocalEngine({ contextSize: 256, parallel: 1, threads: 1, gpu: "off" });
  });
  after(async () => {
    await engine.dispose();
    await fs.rm(dir, { recursive: true, force: true });
  });

  async function refuses(name: string, bytes: Buffer, reason: RegExp): Promise<void> {
    const file = path.join(dir, `${name}.gguf`);
    await fs.writeFile(file, bytes);
    await assert.rejects(engine.addModelFile(file), (error: unknown) => {
      assert.ok(error instanceof InvalidModelFileError, String(error));
      assert.equal(error.code, "invalid_model_file");
      assert.match(error.message, new RegExp(`${name}\\.gguf`));
      assert.match(error.message, reason);
      return true;
    });
    const model = engine.listModels().find((candidate) => candidate.id === name);
    assert.equal(model?.state, "failed");
    assert.match(model?.reason ?? "", reason);
  }

  it("refuses a tensor whose offset points past the end of the file", async () => {
    await refuses(
      "past-the-end",
      craftOffset(original, "output.weight", 1n << 40n),
      /end|file has|beyond|past/i,
    );
  });

  it("refuses files truncated in the header and in the tensor data", async () => {
    await refuses("cut-header", original.subarray(0, 200), /truncated|end of the file|file has/i);
    await refuses("cut-data", original.subarray(0, original.length - 64), /truncated|end|file has/i);
  });

  it("refuses a file that is not GGUF at all", async () => {
    await refuses(
      "not-gguf",
      Buffer.from("<html>404 Not Found</html>".padEnd(4096, " ")),
      /starts with '<htm' instead of 'GGUF'/,
    );
  });

  it("loads the untouched file, so the refusals come from the tampering", async () => {
    const file = path.join(dir, "intact.gguf");
    await fs.writeFile(file, original);
    const model = await engine.addModelFile(file, [], { preload: true });
    assert.equal(model.state, "ready");
  });
});
