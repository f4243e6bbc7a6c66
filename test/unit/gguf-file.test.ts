import assert from "node:assert/strict";
import { mkdtemp, open, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import { InvalidModelFileError, inspectGgufFile } from "../../src/engines/local/gguf-file.js";
import type { GgufFileSummary, InspectGgufOptions } from "../../src/engines/local/gguf-file.js";
import {
  GGML,
  VALID_KEY_VALUES,
  VALID_TENSORS,
  buildGguf,
  rawValue,
  seededRandom,
  validGguf,
} from "./gguf-bytes.js";
import type { KeyValueSpec, TensorSpec } from "./gguf-bytes.js";

let directory: string;
let fileCounter = 0;

before(async () => {
  directory = await mkdtemp(join(tmpdir(), "qiusuo-gguf-"));
});
after(async () => {
  await rm(directory, { recursive: true, force: true });
});

async function inspectBytes(bytes: Uint8Array, options?: InspectGgufOptions): Promise<GgufFileSummary> {
  const path = join(directory, `model-${fileCounter++}.gguf`);
  await writeFile(path, bytes);
  try {
    return await inspectGgufFile(path, options);
  } finally {
    await rm(path, { force: true });
  }
}

/** Asserts the bytes are refused with an InvalidModelFileError whose message matches `pattern`. */
async function assertRefused(
  bytes: Uint8Array,
  pattern: RegExp,
  options?: InspectGgufOptions,
): Promise<void> {
  await assert.rejects(inspectBytes(bytes, options), (error: unknown) => {
    assert.ok(error instanceof InvalidModelFileError, `expected InvalidModelFileError, got ${String(error)}`);
    assert.equal(error.code, "invalid_model_file");
    assert.match(error.message, pattern);
    assert.ok(!error.message.includes(directory), "the message must not carry the full path");
    return true;
  });
}

function withKeyValues(...extra: KeyValueSpec[]): Buffer {
  return buildGguf({ keyValues: [...VALID_KEY_VALUES, ...extra], tensors: VALID_TENSORS }).bytes;
}

function withTensors(tensors: TensorSpec[], dataBytes?: number): Buffer {
  return buildGguf({
    keyValues: VALID_KEY_VALUES,
    tensors,
    ...(dataBytes === undefined ? {} : { dataBytes }),
  }).bytes;
}

describe("inspectGgufFile accepts well-formed files", () => {
  test("a valid file gives the right summary", async () => {
    const built = validGguf();
    const summary = await inspectBytes(built.bytes);
    assert.equal(summary.version, 3);
    assert.equal(summary.tensorCount, 3);
    assert.equal(summary.metadataCount, VALID_KEY_VALUES.length);
    assert.equal(summary.architecture, "qwen2");
    assert.equal(summary.name, "Tiny Test Model");
    assert.equal(summary.contextLength, 4096);
    assert.equal(summary.fileType, 15);
    assert.equal(summary.quantization, "Q4_K_M");
    assert.equal(summary.parameterCount, 8 * 4 + 32 * 2 + 8);
    assert.deepEqual(summary.elementsByType, { F32: 40, Q8_0: 64 });
    assert.equal(summary.fileSize, built.bytes.length);
    assert.equal(summary.dataOffset, built.dataOffset);
    assert.equal(summary.alignment, 32);
    assert.equal(summary.chatTemplate, "{% for m in messages %}{{ m.content }}{% endfor %}");
    assert.match(summary.fileName, /^model-\d+\.gguf$/);

    const { metadata } = summary;
    assert.deepEqual(metadata.get("tokenizer.ggml.tokens"), {
      kind: "array-summary",
      elementType: "string",
      length: 100,
    });
    assert.deepEqual(metadata.get("tokenizer.ggml.scores"), {
      kind: "array-summary",
      elementType: "float32",
      length: 80,
    });
    assert.deepEqual(metadata.get("tokenizer.ggml.token_type"), [1, 2, 3]);
    assert.equal(metadata.get("qwen2.embedding_length"), 64);
    assert.equal(metadata.get("qwen2.rope.freq_base"), 1_000_000);
    assert.equal(metadata.get("qwen2.attention.layer_norm_rms_epsilon"), 1e-6);
    assert.equal(metadata.get("general.flag"), true);
    assert.equal(metadata.get("general.small"), -3);
    assert.equal(metadata.get("general.medium"), -300);
    assert.equal(metadata.get("general.unsigned_small"), 60_000);
    assert.equal(metadata.get("general.signed"), -70_000);
    assert.equal(metadata.get("general.big_signed"), -5);
    assert.equal(metadata.get("general.tiny"), 200);
  });

  test("version 2 is accepted", async () => {
    assert.equal((await inspectBytes(validGguf({ version: 2 }).bytes)).version, 2);
  });

  test("without general.file_type the type holding the most weights names the quantization", async () => {
    const bytes = buildGguf({
      keyValues: [{ key: "general.architecture", type: "string", value: "llama" }],
      tensors: [
        { name: "a.weight", dims: [8] },
        { name: "b.weight", dims: [8] },
        { name: "c.weight", dims: [8] },
        { name: "d.weight", dims: [256, 2], type: GGML.Q4_K },
      ],
    }).bytes;
    const summary = await inspectBytes(bytes);
    assert.equal(summary.quantization, "Q4_K");
    assert.equal(summary.contextLength, undefined);
    assert.equal(summary.fileType, undefined);
    assert.equal(summary.chatTemplate, undefined);
  });

  test("a custom power-of-two alignment is honoured", async () => {
    const bytes = buildGguf({
      alignment: 64,
      keyValues: [{ key: "general.alignment", type: "uint32", value: 64 }],
      tensors: VALID_TENSORS,
    }).bytes;
    const summary = await inspectBytes(bytes);
    assert.equal(summary.alignment, 64);
    assert.equal(summary.dataOffset % 64, 0);
  });

  test("a file without tensors (vocabulary only) is accepted", async () => {
    const summary = await inspectBytes(buildGguf({ keyValues: VALID_KEY_VALUES }).bytes);
    assert.equal(summary.tensorCount, 0);
    assert.equal(summary.parameterCount, 0);
  });

  test("a multi-gigabyte (sparse) file is checked without reading its data", async () => {
    const tensorBytes = 1024 * 1024 * 1024; // 1 GiB of F32
    const built = buildGguf({
      keyValues: VALID_KEY_VALUES,
      tensors: [{ name: "huge.weight", dims: [tensorBytes / 4] }],
      dataBytes: 0,
    });
    const path = join(directory, "sparse.gguf");
    const handle = await open(path, "w");
    await handle.write(built.bytes);
    await handle.truncate(built.dataOffset + tensorBytes); // sparse: no real disk use
    await handle.close();
    const started = Date.now();
    const summary = await inspectGgufFile(path);
    assert.equal(summary.parameterCount, tensorBytes / 4);
    assert.ok(Date.now() - started < 2000, "the check must not read the tensor data");
    await rm(path);
  });
});

describe("inspectGgufFile refuses broken or crafted files", () => {
  test("wrong magic", async () => {
    const bytes = validGguf({ magic: "GGML" }).bytes;
    await assertRefused(
      bytes,
      /model-\d+\.gguf is not a usable GGUF model: it starts with 'GGML' instead of 'GGUF'/,
    );
  });

  test("version 1 and version 4", async () => {
    await assertRefused(validGguf({ version: 1 }).bytes, /version 1/);
    await assertRefused(validGguf({ version: 4 }).bytes, /version 4; versions 2 and 3 are supported/);
    await assertRefused(validGguf({ version: 0x03000000 }).bytes, /big-endian/);
  });

  test("a missing file", async () => {
    await assert.rejects(inspectGgufFile(join(directory, "absent.gguf")), (error: unknown) => {
      assert.ok(error instanceof InvalidModelFileError);
      assert.match(error.message, /^absent\.gguf .*does not exist/);
      return true;
    });
  });

  test("truncated at every byte: always InvalidModelFileError, never another error or a hang", async () => {
    const { bytes } = validGguf();
    // One file rewritten in place keeps 1,000+ cases fast.
    const path = join(directory, "truncated.gguf");
    for (let length = 0; length < bytes.length; length++) {
      await writeFile(path, bytes.subarray(0, length));
      await assert.rejects(inspectGgufFile(path), (error: unknown) => {
        assert.ok(error instanceof InvalidModelFileError, `prefix ${length}: got ${String(error)}`);
        assert.match(error.message, /truncated or crafted/, `prefix ${length}: ${error.message}`);
        return true;
      });
    }
    await rm(path);
  });

  test("a huge string length", async () => {
    const huge = rawValue((writer) => writer.u32(8).u64(1n << 40n));
    await assertRefused(
      withKeyValues({ key: "general.description", raw: huge }),
      /length of metadata 'general\.description' is 1099511627776, more than the limit/,
    );
    // Within the limit but past the end of the file.
    const tooLong = rawValue((writer) => writer.u32(8).u64(1_000_000));
    await assertRefused(
      withKeyValues({ key: "general.description", raw: tooLong }),
      /needs 1000000 bytes .* truncated or crafted/,
    );
    // A huge key length.
    const writerBytes = Buffer.concat([
      validGguf({ keyValueCountOverride: 1n, tensorCountOverride: 0n }).bytes.subarray(0, 24),
    ]);
    const hugeKey = Buffer.alloc(8);
    hugeKey.writeBigUInt64LE(1n << 62n);
    await assertRefused(Buffer.concat([writerBytes, hugeKey]), /length of metadata key 0/);
  });

  test("a huge array length", async () => {
    const numbers = rawValue((writer) =>
      writer
        .u32(9)
        .u32(0)
        .u64(1n << 40n),
    );
    await assertRefused(
      withKeyValues({ key: "general.bytes", raw: numbers }),
      /length of metadata array 'general\.bytes' is 1099511627776/,
    );
    const fewBytes = rawValue((writer) => writer.u32(9).u32(12).u64(1_000_000));
    await assertRefused(
      withKeyValues({ key: "general.doubles", raw: fewBytes }),
      /metadata array 'general\.doubles' needs 8000000 bytes/,
    );
    const strings = rawValue((writer) => writer.u32(9).u32(8).u64(10_000_000));
    await assertRefused(
      withKeyValues({ key: "general.strings", raw: strings }),
      /claims 10000000 strings but the file ends \d+ bytes later/,
    );
  });

  test("unknown value types and nested arrays", async () => {
    await assertRefused(
      withKeyValues({ key: "general.odd", raw: rawValue((writer) => writer.u32(13)) }),
      /unknown value type 13/,
    );
    await assertRefused(
      withKeyValues({ key: "general.odd", raw: rawValue((writer) => writer.u32(9).u32(77).u64(1)) }),
      /unknown element type 77/,
    );
    await assertRefused(
      withKeyValues({ key: "general.nested", raw: rawValue((writer) => writer.u32(9).u32(9).u64(1)) }),
      /array of arrays/,
    );
  });

  test("empty and duplicate keys, invalid UTF-8 keys", async () => {
    await assertRefused(withKeyValues({ key: "", type: "uint8", value: 1 }), /metadata key \d+ is empty/);
    await assertRefused(
      withKeyValues({ key: "general.name", type: "string", value: "again" }),
      /'general\.name' appears twice/,
    );
    const badUtf8 = Buffer.from(
      validGguf({ keyValueCountOverride: 1n, tensorCountOverride: 0n }).bytes.subarray(0, 24),
    );
    const key = Buffer.from([2, 0, 0, 0, 0, 0, 0, 0, 0xc3, 0x28, 4, 0, 0, 0, 1, 0, 0, 0]);
    await assertRefused(Buffer.concat([badUtf8, key]), /not valid UTF-8/);
  });

  test("absurd tensor and metadata counts", async () => {
    await assertRefused(
      validGguf({ tensorCountOverride: 1n << 40n }).bytes,
      /tensor count is 1099511627776, more than the limit of 1000000/,
    );
    await assertRefused(
      validGguf({ keyValueCountOverride: 100_001n }).bytes,
      /metadata entry count is 100001/,
    );
    // Counts within the limits but beyond what the file holds.
    await assertRefused(validGguf({ tensorCountOverride: 50_000n }).bytes, /empty name|truncated or crafted/);
  });

  test("a tensor offset past the end of the file (CVE-2026-7482)", async () => {
    const bytes = withTensors(
      [
        { name: "token_embd.weight", dims: [8, 4] },
        { name: "blk.0.attn_q.weight", dims: [32, 2], type: GGML.Q8_0, offset: 1n << 40n },
      ],
      256,
    );
    await assertRefused(
      bytes,
      /tensor 'blk\.0\.attn_q\.weight' starts at byte \d+ but the file has \d+ bytes: the file is truncated or crafted/,
    );
  });

  test("a tensor whose data runs past the end of the file", async () => {
    const { bytes } = validGguf();
    await assertRefused(
      bytes.subarray(0, bytes.length - 8),
      /tensor 'output_norm\.weight' ends at byte \d+ but the file has \d+ bytes: the file is truncated or crafted/,
    );
    // A shape far larger than the data present.
    await assertRefused(
      withTensors([{ name: "big.weight", dims: [1024, 1024] }], 64),
      /tensor 'big\.weight' ends at byte/,
    );
  });

  test("overlapping tensors", async () => {
    const bytes = withTensors([
      { name: "first.weight", dims: [16], offset: 0 },
      { name: "second.weight", dims: [16], offset: 32 },
    ]);
    await assertRefused(bytes, /tensors 'first\.weight' and 'second\.weight' overlap/);
  });

  test("an unaligned tensor offset", async () => {
    const bytes = withTensors([
      { name: "first.weight", dims: [8] },
      { name: "second.weight", dims: [8], offset: 40 },
    ]);
    await assertRefused(
      bytes,
      /tensor 'second\.weight' data offset 40 is not a multiple of the alignment 32/,
    );
  });

  test("unknown and removed ggml types", async () => {
    for (const type of [4, 5, 31, 36, 37, 38, 40, 99, 0xffffffff]) {
      await assertRefused(
        withTensors([{ name: "odd.weight", dims: [256], type }]),
        new RegExp(`unknown ggml type ${type}`),
      );
    }
  });

  test("rows that are not a whole number of blocks", async () => {
    await assertRefused(
      withTensors([{ name: "q.weight", dims: [33, 2], type: GGML.Q8_0 }], 1024),
      /rows have 33 elements, not a multiple of the Q8_0 block size 32/,
    );
  });

  test("a zero-sized dimension", async () => {
    await assertRefused(withTensors([{ name: "empty.weight", dims: [8, 0] }], 64), /zero-sized dimension 1/);
  });

  test("zero or five dimensions", async () => {
    await assertRefused(
      withTensors([{ name: "five.weight", dims: [1, 1, 1, 1, 1] }]),
      /has 5 dimensions; 1 to 4 are allowed/,
    );
    await assertRefused(
      withTensors([{ name: "zero.weight", dims: [], dimensionCountOverride: 0 }]),
      /has 0 dimensions/,
    );
  });

  test("an element count that overflows", async () => {
    await assertRefused(
      withTensors([{ name: "vast.weight", dims: [1n << 32n, 1n << 32n] }], 64),
      /tensor 'vast\.weight' has more elements than ggml can count/,
    );
    await assertRefused(
      withTensors([{ name: "wide.weight", dims: [1n << 63n] }], 64),
      /dimension 0 is 9223372036854775808, too large/,
    );
  });

  test("duplicate and oversized tensor names", async () => {
    await assertRefused(
      withTensors([
        { name: "same.weight", dims: [8] },
        { name: "same.weight", dims: [8] },
      ]),
      /tensor 'same\.weight' appears twice/,
    );
    await assertRefused(
      withTensors([{ name: "x".repeat(64), dims: [8] }]),
      /length of the name of tensor 0 is 64, more than the limit of 63/,
    );
    await assertRefused(withTensors([{ name: "", dims: [8] }]), /tensor 0 has an empty name/);
  });

  test("a bad general.alignment", async () => {
    for (const value of [0, 3, 48]) {
      await assertRefused(
        withKeyValues({ key: "general.alignment", type: "uint32", value }),
        /general\.alignment/,
      );
    }
    await assertRefused(
      withKeyValues({ key: "general.alignment", type: "uint32", value: 48 }),
      /48 is not a power of two/,
    );
    await assertRefused(
      withKeyValues({ key: "general.alignment", type: "string", value: "32" }),
      /must be a uint32, not a string/,
    );
    // llama.cpp insists on the type, so a float that happens to be 32 is refused too.
    await assertRefused(
      withKeyValues({ key: "general.alignment", type: "float32", value: 32 }),
      /must be a uint32, not a float32/,
    );
  });

  test("a header larger than maxMetadataBytes", async () => {
    await assertRefused(validGguf().bytes, /past its 200-byte limit/, { maxMetadataBytes: 200 });
  });
});

test(
  "seeded fuzz: 2,000 mutated files are accepted or refused with InvalidModelFileError",
  { timeout: 120_000 },
  async () => {
    const original = validGguf().bytes;
    const random = seededRandom(0x5105_2026);
    const path = join(directory, "fuzz.gguf");
    let accepted = 0;
    for (let iteration = 0; iteration < 2000; iteration++) {
      const mutated = Buffer.from(original);
      const mutations = 1 + Math.floor(random() * 4);
      for (let count = 0; count < mutations; count++) {
        const position = Math.floor(random() * mutated.length);
        const choice = random();
        // Mix random bytes with the values that most often break parsers: 0, 0xff and small counts.
        mutated[position] =
          choice < 0.5 ? Math.floor(random() * 256) : choice < 0.7 ? 0xff : choice < 0.85 ? 0 : 1;
      }
      const candidate = random() < 0.1 ? mutated.subarray(0, Math.floor(random() * mutated.length)) : mutated;
      await writeFile(path, candidate);
      try {
        await inspectGgufFile(path);
        accepted++;
      } catch (error) {
        assert.ok(
          error instanceof InvalidModelFileError,
          `iteration ${iteration}: unexpected ${String(error)}`,
        );
      }
    }
    // Mutations of tensor data bytes keep the file valid, so some must pass.
    assert.ok(accepted > 0);
  },
);
