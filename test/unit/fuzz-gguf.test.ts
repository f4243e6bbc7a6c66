/**
 * Property-based fuzzing of the GGUF header reader (`inspectGgufFile`), which checks untrusted
 * model files before llama.cpp opens them. The property, for any bytes: the reader returns a
 * summary that agrees with the file (tensor data inside it, counts within their limits, sizes that
 * add up) or rejects with an InvalidModelFileError that does not carry the file's directory, and
 * nothing else; within TIME_BOUND_MS; and it never asks for a buffer larger than the file or its
 * 1 MiB read chunk, whatever lengths and counts the bytes claim.
 *
 * Inputs: a valid file with random mutations (bit flips, truncation, inserted and deleted bytes,
 * u32/u64 fields overwritten with extreme values: huge counts and lengths, wrong value types),
 * files built from random metadata and tensor specs (wrong types, absurd dimensions, unaligned,
 * overlapping and out-of-file offsets, lying counts), and random bytes after a valid preamble.
 *
 * The standing run is a few thousand cases. To run more by hand:
 *   QIUSUO_FUZZ_RUNS=20000 node --import tsx --test test/unit/fuzz-gguf.test.ts
 * sets the runs of every property; QIUSUO_FUZZ_SEED replays the seed a failure printed.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { InvalidModelFileError, inspectGgufFile } from "../../src/engines/local/gguf-file.js";
import type { GgufFileSummary } from "../../src/engines/local/gguf-file.js";
import { GGML, VALID_TENSORS, buildGguf, rawValue, tensorByteSize, validGguf } from "./gguf-bytes.js";
import type { KeyValueSpec, TensorSpec, ValueTypeName } from "./gguf-bytes.js";

const TIME_BOUND_MS = 2000;
const READ_CHUNK_BYTES = 1024 * 1024;
const RUNS_OVERRIDE = process.env.QIUSUO_FUZZ_RUNS ? Number(process.env.QIUSUO_FUZZ_RUNS) : undefined;
const SEED = process.env.QIUSUO_FUZZ_SEED ? Number(process.env.QIUSUO_FUZZ_SEED) : undefined;

/** fast-check's options for a property run `standing` times unless QIUSUO_FUZZ_RUNS says otherwise. */
const runs = (standing: number) => ({
  numRuns: RUNS_OVERRIDE ?? standing,
  ...(SEED === undefined ? {} : { seed: SEED }),
});

let directory: string;
let path: string;

before(async () => {
  directory = await mkdtemp(join(tmpdir(), "qiusuo-fuzz-gguf-"));
  path = join(directory, "model.gguf");
});
after(() => rm(directory, { recursive: true, force: true }));

/** The largest buffer asked of Buffer.alloc/allocUnsafe while `run` runs. */
async function largestAllocation<T>(run: () => Promise<T>): Promise<{ result: T; largest: number }> {
  const { alloc, allocUnsafe } = Buffer;
  let largest = 0;
  const track = (size: number) => (largest = Math.max(largest, size));
  Buffer.alloc = ((
    size: number,
    ...rest: Parameters<typeof alloc> extends [number, ...infer R] ? R : never
  ) => {
    track(size);
    return alloc(size, ...rest);
  }) as typeof Buffer.alloc;
  Buffer.allocUnsafe = ((size: number) => {
    track(size);
    return allocUnsafe(size);
  }) as typeof Buffer.allocUnsafe;
  try {
    return { result: await run(), largest };
  } finally {
    Buffer.alloc = alloc;
    Buffer.allocUnsafe = allocUnsafe;
  }
}

type Outcome = "read" | "refused";

/** Writes `bytes` as a model file, inspects it and checks the property. */
async function check(bytes: Uint8Array): Promise<Outcome> {
  await writeFile(path, bytes);
  const started = performance.now();
  let outcome: Outcome;
  let largest: number;
  try {
    const run = await largestAllocation(() => inspectGgufFile(path));
    largest = run.largest;
    checkSummary(run.result, bytes.length);
    outcome = "read";
  } catch (error) {
    if (error instanceof assert.AssertionError) throw error;
    assert.ok(error instanceof InvalidModelFileError, `not an InvalidModelFileError: ${String(error)}`);
    assert.equal(error.code, "invalid_model_file");
    assert.ok(!error.message.includes(directory), "the message must not carry the directory");
    assert.ok(error.message.length < 2000, error.message.slice(0, 200));
    largest = 0;
    outcome = "refused";
  }
  const elapsed = performance.now() - started;
  assert.ok(elapsed < TIME_BOUND_MS, `took ${Math.round(elapsed)} ms`);
  assert.ok(largest <= Math.max(bytes.length, READ_CHUNK_BYTES), `allocated ${largest} bytes`);
  return outcome;
}

function checkSummary(summary: GgufFileSummary, fileSize: number): void {
  assert.equal(summary.fileSize, fileSize);
  assert.ok(summary.version === 2 || summary.version === 3);
  assert.ok(summary.dataOffset >= 24 && summary.dataOffset <= fileSize, `data offset ${summary.dataOffset}`);
  assert.ok(summary.alignment > 0 && (summary.alignment & (summary.alignment - 1)) === 0);
  assert.equal(summary.metadata.size, summary.metadataCount);
  assert.ok(Number.isSafeInteger(summary.tensorCount) && summary.tensorCount >= 0);
  const elements = Object.values(summary.elementsByType).reduce((sum, count) => sum + count, 0);
  assert.ok(Math.abs(elements - summary.parameterCount) <= Math.max(1, summary.parameterCount * 1e-9));
  assert.equal(typeof summary.quantization, "string");
}

// ---- Bytes --------------------------------------------------------------------------------------

const VALID = validGguf().bytes;
const HEADER_END = validGguf().dataOffset;

const extremeU64 = fc.constantFrom(
  0n,
  1n,
  2n,
  31n,
  64n,
  65n,
  255n,
  0x7fffffffn,
  0xffffffffn,
  0x100000000n,
  0x4000000n,
  1n << 53n,
  (1n << 63n) - 1n,
  1n << 63n,
  (1n << 64n) - 1n,
);
const extremeU32 = fc.constantFrom(0, 1, 2, 3, 4, 7, 8, 9, 10, 12, 13, 31, 39, 255, 0x7fffffff, 0xffffffff);

type Mutation = (bytes: Buffer) => Buffer;

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc
    .array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 8 })
    .map((flips) => (bytes: Buffer) => {
      const copy = Buffer.from(bytes);
      for (const [at, bit] of flips) copy[at % copy.length]! ^= 1 << bit;
      return copy;
    }),
  fc.nat().map((cut) => (bytes: Buffer) => bytes.subarray(0, cut % (bytes.length + 1))),
  fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 16 })).map(([at, extra]) => (bytes: Buffer) => {
    const where = at % (bytes.length + 1);
    return Buffer.concat([bytes.subarray(0, where), extra, bytes.subarray(where)]);
  }),
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 16 })).map(([at, length]) => (bytes: Buffer) => {
    const where = at % bytes.length;
    return Buffer.concat([bytes.subarray(0, where), bytes.subarray(where + length)]);
  }),
  // a u64 or u32 field in the header (counts, lengths, dims, offsets, value types) made extreme
  fc.tuple(fc.nat(), extremeU64).map(([at, value]) => (bytes: Buffer) => {
    const copy = Buffer.from(bytes);
    const where = at % Math.max(1, Math.min(HEADER_END, copy.length) - 8);
    if (where + 8 <= copy.length) copy.writeBigUInt64LE(value, where);
    return copy;
  }),
  fc.tuple(fc.nat(), extremeU32).map(([at, value]) => (bytes: Buffer) => {
    const copy = Buffer.from(bytes);
    const where = at % Math.max(1, Math.min(HEADER_END, copy.length) - 4);
    if (where + 4 <= copy.length) copy.writeUInt32LE(value, where);
    return copy;
  }),
);

const SCALAR_TYPES: ValueTypeName[] = [
  "uint8",
  "int8",
  "uint16",
  "int16",
  "uint32",
  "int32",
  "float32",
  "bool",
  "string",
  "uint64",
  "int64",
  "float64",
];

const scalarFor = (type: ValueTypeName): fc.Arbitrary<number | bigint | boolean | string> => {
  switch (type) {
    case "string":
      return fc.string({ maxLength: 20 });
    case "bool":
      return fc.boolean();
    case "uint64":
    case "int64":
      return fc
        .bigInt({ min: -(1n << 62n), max: 1n << 62n })
        .map((v) => (type === "uint64" ? (v < 0n ? -v : v) : v));
    case "float32":
    case "float64":
      return fc.double({ noNaN: false });
    case "uint8":
      return fc.integer({ min: 0, max: 255 });
    case "int8":
      return fc.integer({ min: -128, max: 127 });
    case "uint16":
      return fc.integer({ min: 0, max: 65535 });
    case "int16":
      return fc.integer({ min: -32768, max: 32767 });
    case "uint32":
      return fc.integer({ min: 0, max: 0xffffffff });
    case "int32":
      return fc.integer({ min: -0x80000000, max: 0x7fffffff });
  }
};

const key = fc.oneof(
  fc.constantFrom(
    "general.architecture",
    "general.name",
    "general.alignment",
    "general.file_type",
    "llama.context_length",
    "tokenizer.chat_template",
    "tokenizer.ggml.tokens",
    "",
  ),
  fc.string({ maxLength: 12 }),
);

const keyValue: fc.Arbitrary<KeyValueSpec> = fc.oneof(
  fc
    .constantFrom(...SCALAR_TYPES)
    .chain((type) => fc.record({ key, type: fc.constant(type), value: scalarFor(type) })),
  fc.constantFrom(...SCALAR_TYPES).chain((elementType) =>
    fc.record({
      key,
      type: fc.constant("array" as const),
      elementType: fc.constant(elementType),
      values: fc.array(scalarFor(elementType), { maxLength: 80 }),
    }),
  ),
  // raw bytes after the key: unknown types, arrays of arrays, lying lengths
  fc
    .tuple(key, extremeU32, extremeU32, extremeU64, fc.uint8Array({ maxLength: 24 }))
    .map(([name, type, elementType, length, tail]) => ({
      key: name,
      raw: rawValue((w) => w.u32(type).u32(elementType).u64(length).bytes(tail)),
    })),
  fc.constantFrom(0, 1, 5, 7, 32, 1 << 20, 3).map((value) => ({
    key: "general.alignment",
    type: "uint32" as const,
    value,
  })),
);

const dimension = fc.oneof(
  fc.constantFrom(1, 2, 8, 32, 64, 256, 0),
  fc.integer({ min: 1, max: 512 }),
  extremeU64,
);
const tensor: fc.Arbitrary<TensorSpec> = fc.record(
  {
    name: fc.oneof(
      fc.constantFrom("token_embd.weight", "output.weight", "", "x".repeat(64)),
      fc.string({ maxLength: 10 }),
    ),
    dims: fc.array(dimension, { minLength: 1, maxLength: 4 }),
    type: fc.oneof(
      fc.constantFrom(GGML.F32, GGML.F16, GGML.Q8_0, GGML.Q4_K, GGML.Q6_K),
      fc.integer({ min: 0, max: 50 }),
    ),
    offset: fc.oneof(fc.constantFrom(0, 32, 31, 64), extremeU64),
    dimensionCountOverride: fc.integer({ min: 0, max: 6 }),
  },
  { requiredKeys: ["name", "dims"] },
);

/** An optional field: absent most of the time, so that most built files are nearly valid. */
const rarely = <T>(value: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> =>
  fc.oneof({ weight: 5, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: value });

const builtFile = fc
  .record({
    magic: rarely(fc.constantFrom("FUGG", "GGU\0", "gguf")),
    version: rarely(fc.constantFrom(2, 1, 4, 0x03000000)),
    keyValues: fc.uniqueArray(keyValue, { maxLength: 8, selector: (entry) => entry.key }),
    tensors: fc.uniqueArray(
      fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...VALID_TENSORS) }, { weight: 1, arbitrary: tensor }),
      { maxLength: 4, selector: (spec) => spec.name },
    ),
    alignment: fc.constantFrom(32, 32, 64, 1),
    tensorCountOverride: rarely(extremeU64),
    keyValueCountOverride: rarely(extremeU64),
    dataBytes: rarely(fc.nat(4096)),
  })
  .map((options) => {
    const defined = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
    // Enough data for every tensor, laid out as the writer lays it out, unless that is absurd.
    const alignment = BigInt(options.alignment);
    let next = 0n;
    let end = 0n;
    for (const spec of options.tensors) {
      const start = spec.offset === undefined ? next : BigInt(spec.offset);
      const tensorEnd = start + tensorByteSize(spec);
      next = ((tensorEnd + alignment - 1n) / alignment) * alignment;
      if (tensorEnd > end) end = tensorEnd;
    }
    defined.dataBytes ??= end < 1_000_000n ? Number(next > end ? next : end) : 4096;
    try {
      return buildGguf(defined).bytes;
    } catch {
      return buildGguf({ keyValues: options.keyValues, dataBytes: 0 }).bytes; // a spec the writer cannot lay out
    }
  });

// ---- Properties ---------------------------------------------------------------------------------

describe("fuzzing the GGUF reader", () => {
  it("reads a valid file with random mutations, or refuses it with InvalidModelFileError", async () => {
    const outcomes = { read: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 3 }), async (mutations) => {
        const bytes = mutations.reduce((current, mutate) => mutate(current), VALID);
        outcomes[await check(bytes)] += 1;
      }),
      runs(2500),
    );
    if (RUNS_OVERRIDE === undefined)
      assert.ok(outcomes.read > 50 && outcomes.refused > 500, JSON.stringify(outcomes));
  });

  it("reads or refuses files built from random metadata and tensor specs", async () => {
    const outcomes = { read: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(builtFile, fc.option(mutation), async (bytes, mutate) => {
        outcomes[await check(mutate ? mutate(bytes) : bytes)] += 1;
      }),
      runs(2000),
    );
    if (RUNS_OVERRIDE === undefined) assert.ok(outcomes.read > 20, JSON.stringify(outcomes));
  });

  it("refuses random bytes after a valid preamble", async () => {
    const preamble = Buffer.from(VALID.subarray(0, 8));
    await fc.assert(
      fc.asyncProperty(
        fc.tuple(extremeU64, extremeU64),
        fc.uint8Array({ maxLength: 512 }),
        async ([tensors, entries], rest) => {
          const counts = Buffer.alloc(16);
          counts.writeBigUInt64LE(tensors % 4n, 0);
          counts.writeBigUInt64LE(entries, 8);
          await check(Buffer.concat([preamble, counts, rest]));
        },
      ),
      runs(1000),
    );
  });

  it("starts its mutations from a file that is read", async () => {
    assert.equal(await check(VALID), "read");
  });
});
