// The fixture GGUF writer: half-precision conversion, Q8_0 blocks, and a file node-llama-cpp's own
// GGUF parser reads back with the same metadata, tensor layout and alignment.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { readGgufFileInfo } from "node-llama-cpp";
import {
  float16BitsToFloat32,
  float32ToFloat16Bits,
  quantizeQ8_0,
  writeGguf,
} from "../fixtures/gguf-writer.js";

const scratch = mkdtempSync(join(tmpdir(), "qiusuo-gguf-writer-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

test("float32ToFloat16Bits rounds to nearest even and handles the edges", () => {
  assert.equal(float32ToFloat16Bits(1), 0x3c00);
  assert.equal(float32ToFloat16Bits(-2), 0xc000);
  assert.equal(float32ToFloat16Bits(65504), 0x7bff);
  assert.equal(float32ToFloat16Bits(1e6), 0x7c00);
  assert.equal(float32ToFloat16Bits(2 ** -24), 0x0001); // smallest subnormal
  assert.equal(float32ToFloat16Bits(2 ** -26), 0x0000);
  assert.equal(float32ToFloat16Bits(1 + 2 ** -11), 0x3c00); // halfway: ties to even
  assert.equal(float32ToFloat16Bits(1 + 3 * 2 ** -11), 0x3c02);
  assert.ok(Number.isNaN(float16BitsToFloat32(float32ToFloat16Bits(NaN))));
  for (const value of [0.1, -3.14159, 1e-4, 1234.5]) {
    assert.ok(
      Math.abs(float16BitsToFloat32(float32ToFloat16Bits(value)) - value) <= Math.abs(value) * 2 ** -11,
    );
  }
});

test("quantizeQ8_0 writes an f16 scale of max|x|/127 and int8 values rounded away from zero", () => {
  const values = new Float32Array(32);
  values.set([127, 2.5, -2.5, 0.5, -0.5, 1.49, -127]);
  const out = Buffer.alloc(34);
  assert.equal(quantizeQ8_0(values, out), 34);
  assert.equal(out.readUInt16LE(0), float32ToFloat16Bits(1));
  assert.deepEqual([...new Int8Array(out.buffer, out.byteOffset + 2, 8)], [127, 3, -3, 1, -1, 1, -127, 0]);
  quantizeQ8_0(new Float32Array(32), out); // an all-zero block has scale 0
  assert.equal(out.readUInt16LE(0), 0);
});

test("writeGguf output reads back through node-llama-cpp's parser", async () => {
  const path = join(scratch, "layout.gguf");
  const result = writeGguf(path, {
    alignment: 64,
    metadata: {
      "general.architecture": "llama",
      "test.count": 7,
      "test.epsilon": 0.5,
      "test.flag": true,
      "test.names": ["a", "b"],
      "test.ids": { type: "array", itemType: "int32", value: [1, -2, 3] },
      "test.big": { type: "uint64", value: 5n },
    },
    tensors: [
      { name: "a", dims: [3], type: "F32", data: new Float32Array([1, 2, 3]) },
      { name: "b", dims: [32, 2], type: "Q8_0", data: () => [new Float32Array(32), new Float32Array(32)] },
      { name: "c", dims: [5], type: "F16", data: () => new Float32Array(5) },
    ],
  });
  assert.equal(result.parameters, 3 + 64 + 5);
  const info = await readGgufFileInfo(path, { readTensorInfo: true });
  assert.equal(info.version, 3);
  const metadata = info.metadata as unknown as Record<string, Record<string, unknown>>;
  assert.equal(metadata.general!.alignment, 64);
  assert.deepEqual(metadata.test, {
    count: 7,
    epsilon: 0.5,
    flag: true,
    names: ["a", "b"],
    ids: [1, -2, 3],
    big: 5n,
  });
  const tensors = info.tensorInfo!.map(({ name, dimensions, ggmlType, offset }) => ({
    name,
    dims: dimensions.map(Number),
    ggmlType,
    offset: Number(offset),
  }));
  assert.deepEqual(tensors, [
    { name: "a", dims: [3], ggmlType: 0, offset: 0 },
    { name: "b", dims: [32, 2], ggmlType: 8, offset: 64 },
    { name: "c", dims: [5], ggmlType: 1, offset: 192 }, // "b" is two 34-byte blocks, padded to 128
  ]);
  assert.equal(info.infoEndOffset! % 64, 0);
  assert.equal(result.bytes, info.infoEndOffset! + 256);
});

test("writeGguf rejects shapes llama.cpp cannot load", () => {
  const path = join(scratch, "bad.gguf");
  const q8 = (dims: number[]) =>
    writeGguf(path, {
      metadata: {},
      tensors: [{ name: "x", dims, type: "Q8_0", data: new Float32Array(48) }],
    });
  assert.throws(() => q8([48]), /ne0 divisible by 32/);
  const short = () =>
    writeGguf(path, {
      metadata: {},
      tensors: [{ name: "x", dims: [4], type: "F32", data: new Float32Array(3) }],
    });
  assert.throws(short, /expected 4 values, got 3/);
});
