// Builds GGUF files byte by byte for the checker's tests, with knobs to break every field the
// checker guards: magic, version, counts, string and array lengths, value types, tensor shapes,
// types and offsets. Unlike test/fixtures/gguf-writer.ts (which writes models llama.cpp can run),
// nothing here is validated: a test can write any lie a crafted file could tell.

import { createHash } from "node:crypto";

export const VALUE_TYPES = {
  uint8: 0,
  int8: 1,
  uint16: 2,
  int16: 3,
  uint32: 4,
  int32: 5,
  float32: 6,
  bool: 7,
  string: 8,
  array: 9,
  uint64: 10,
  int64: 11,
  float64: 12,
} as const;

export type ValueTypeName = Exclude<keyof typeof VALUE_TYPES, "array">;
export type Scalar = number | bigint | boolean | string;

export const GGML = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8, Q4_K: 12, Q6_K: 14 } as const;

/** Elements per block and bytes per block for the types these tests lay out. */
const LAYOUT_SIZES: ReadonlyMap<number, readonly [number, number]> = new Map([
  [GGML.F32, [1, 4]],
  [GGML.F16, [1, 2]],
  [GGML.Q4_0, [32, 18]],
  [GGML.Q8_0, [32, 34]],
  [GGML.Q4_K, [256, 144]],
  [GGML.Q6_K, [256, 210]],
]);

export type KeyValueSpec =
  | { key: string; type: ValueTypeName; value: Scalar }
  | { key: string; type: "array"; elementType: ValueTypeName; values: readonly Scalar[] }
  /** The bytes after the key (value type and value), written as given. */
  | { key: string; raw: Uint8Array };

export interface TensorSpec {
  name: string;
  dims: readonly (number | bigint)[];
  /** ggml type id; default F32. */
  type?: number;
  /** Offset relative to the data section; default: the next aligned spot after the previous tensor. */
  offset?: number | bigint;
  /** Written instead of `dims.length`. */
  dimensionCountOverride?: number;
}

export interface GgufBuildOptions {
  magic?: string;
  version?: number;
  keyValues?: readonly KeyValueSpec[];
  tensors?: readonly TensorSpec[];
  /** The alignment used to lay out tensor data; it does not write `general.alignment`. Default 32. */
  alignment?: number;
  tensorCountOverride?: bigint;
  keyValueCountOverride?: bigint;
  /** The length of the data section; default: just enough for every tensor, padded to the alignment. */
  dataBytes?: number;
}

export class ByteWriter {
  private readonly chunks: Buffer[] = [];
  length = 0;

  bytes(data: Uint8Array): this {
    this.chunks.push(Buffer.from(data));
    this.length += data.length;
    return this;
  }
  u8(value: number): this {
    return this.bytes(Buffer.from([value & 0xff]));
  }
  u32(value: number): this {
    const buffer = Buffer.alloc(4);
    buffer.writeUInt32LE(value >>> 0);
    return this.bytes(buffer);
  }
  u64(value: number | bigint): this {
    const buffer = Buffer.alloc(8);
    buffer.writeBigUInt64LE(BigInt.asUintN(64, BigInt(value)));
    return this.bytes(buffer);
  }
  /** A GGUF string: u64 byte length, then UTF-8 bytes. */
  string(value: string): this {
    const encoded = Buffer.from(value, "utf8");
    return this.u64(encoded.length).bytes(encoded);
  }
  scalar(type: ValueTypeName, value: Scalar): this {
    const buffer = Buffer.alloc(8);
    switch (type) {
      case "uint8":
      case "int8":
      case "bool":
        return this.u8(Number(value));
      case "uint16":
        buffer.writeUInt16LE(Number(value));
        return this.bytes(buffer.subarray(0, 2));
      case "int16":
        buffer.writeInt16LE(Number(value));
        return this.bytes(buffer.subarray(0, 2));
      case "uint32":
        return this.u32(Number(value));
      case "int32":
        buffer.writeInt32LE(Number(value));
        return this.bytes(buffer.subarray(0, 4));
      case "float32":
        buffer.writeFloatLE(Number(value));
        return this.bytes(buffer.subarray(0, 4));
      case "uint64":
        return this.u64(BigInt(value as number | bigint));
      case "int64":
        buffer.writeBigInt64LE(BigInt(value as number | bigint));
        return this.bytes(buffer);
      case "float64":
        buffer.writeDoubleLE(Number(value));
        return this.bytes(buffer);
      case "string":
        return this.string(String(value));
    }
  }
  toBuffer(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** The byte size ggml gives a tensor of these dims and type (unknown types get 32 bytes). */
export function tensorByteSize(tensor: TensorSpec): bigint {
  const elements = tensor.dims.reduce<bigint>((product, size) => product * BigInt(size), 1n);
  const sizes = LAYOUT_SIZES.get(tensor.type ?? GGML.F32);
  if (sizes === undefined) return 32n;
  return (elements / BigInt(sizes[0])) * BigInt(sizes[1]);
}

function alignUp(value: bigint, alignment: bigint): bigint {
  return ((value + alignment - 1n) / alignment) * alignment;
}

export interface BuiltGguf {
  bytes: Buffer;
  /** Where the data section starts. */
  dataOffset: number;
  /** Where each tensor's bytes start, relative to the data section. */
  tensorOffsets: bigint[];
}

export function buildGguf(options: GgufBuildOptions = {}): BuiltGguf {
  const alignment = BigInt(options.alignment ?? 32);
  const keyValues = options.keyValues ?? [];
  const tensors = options.tensors ?? [];
  const writer = new ByteWriter();

  writer.bytes(Buffer.from(options.magic ?? "GGUF", "latin1"));
  writer.u32(options.version ?? 3);
  writer.u64(options.tensorCountOverride ?? BigInt(tensors.length));
  writer.u64(options.keyValueCountOverride ?? BigInt(keyValues.length));

  for (const entry of keyValues) {
    writer.string(entry.key);
    if ("raw" in entry) {
      writer.bytes(entry.raw);
    } else if (entry.type === "array") {
      writer.u32(VALUE_TYPES.array).u32(VALUE_TYPES[entry.elementType]).u64(entry.values.length);
      for (const value of entry.values) writer.scalar(entry.elementType, value);
    } else {
      writer.u32(VALUE_TYPES[entry.type]).scalar(entry.type, entry.value);
    }
  }

  const tensorOffsets: bigint[] = [];
  let nextOffset = 0n;
  let dataEnd = 0n;
  for (const tensor of tensors) {
    const offset = tensor.offset === undefined ? nextOffset : BigInt(tensor.offset);
    const size = tensorByteSize(tensor);
    tensorOffsets.push(offset);
    nextOffset = alignUp(offset + size, alignment);
    if (offset + size > dataEnd) dataEnd = offset + size;

    writer.string(tensor.name);
    writer.u32(tensor.dimensionCountOverride ?? tensor.dims.length);
    for (const size of tensor.dims) writer.u64(size);
    writer.u32(tensor.type ?? GGML.F32);
    writer.u64(offset);
  }

  const dataOffset = tensors.length === 0 ? writer.length : Number(alignUp(BigInt(writer.length), alignment));
  writer.bytes(Buffer.alloc(dataOffset - writer.length));
  const dataBytes = options.dataBytes ?? Number(alignUp(dataEnd, alignment));
  const data = Buffer.alloc(dataBytes);
  for (let index = 0; index < data.length; index++) data[index] = (index * 31 + 7) & 0xff;
  writer.bytes(data);

  return { bytes: writer.toBuffer(), dataOffset, tensorOffsets };
}

/** Raw bytes of a value (type id, then the value) for `{ key, raw }` entries. */
export function rawValue(build: (writer: ByteWriter) => void): Uint8Array {
  const writer = new ByteWriter();
  build(writer);
  return writer.toBuffer();
}

export const VALID_KEY_VALUES: readonly KeyValueSpec[] = [
  { key: "general.architecture", type: "string", value: "qwen2" },
  { key: "general.name", type: "string", value: "Tiny Test Model" },
  { key: "general.file_type", type: "uint32", value: 15 },
  { key: "qwen2.context_length", type: "uint32", value: 4096 },
  { key: "qwen2.embedding_length", type: "uint64", value: 64n },
  { key: "qwen2.rope.freq_base", type: "float32", value: 1_000_000 },
  { key: "qwen2.attention.layer_norm_rms_epsilon", type: "float64", value: 1e-6 },
  { key: "general.flag", type: "bool", value: true },
  { key: "general.small", type: "int8", value: -3 },
  { key: "general.medium", type: "int16", value: -300 },
  { key: "general.unsigned_small", type: "uint16", value: 60_000 },
  { key: "general.signed", type: "int32", value: -70_000 },
  { key: "general.big_signed", type: "int64", value: -5n },
  { key: "general.tiny", type: "uint8", value: 200 },
  {
    key: "tokenizer.ggml.tokens",
    type: "array",
    elementType: "string",
    values: Array.from({ length: 100 }, (_, index) => `tok${index}`),
  },
  { key: "tokenizer.ggml.token_type", type: "array", elementType: "int32", values: [1, 2, 3] },
  { key: "tokenizer.ggml.scores", type: "array", elementType: "float32", values: Array(80).fill(0.5) },
  {
    key: "tokenizer.chat_template",
    type: "string",
    value: "{% for m in messages %}{{ m.content }}{% endfor %}",
  },
];

export const VALID_TENSORS: readonly TensorSpec[] = [
  { name: "token_embd.weight", dims: [8, 4], type: GGML.F32 },
  { name: "blk.0.attn_q.weight", dims: [32, 2], type: GGML.Q8_0 },
  { name: "output_norm.weight", dims: [8], type: GGML.F32 },
];

/** The file every test starts from and breaks one thing in. */
export function validGguf(overrides: GgufBuildOptions = {}): BuiltGguf {
  return buildGguf({ keyValues: VALID_KEY_VALUES, tensors: VALID_TENSORS, ...overrides });
}

/** A minimal model: a name, an architecture and one small F32 tensor, as a download test serves. */
export function tinyModelGguf(tensorElements = 64): Buffer {
  return buildGguf({
    keyValues: [
      { key: "general.architecture", type: "string", value: "llama" },
      { key: "general.name", type: "string", value: "tiny" },
      { key: "llama.context_length", type: "uint32", value: 256 },
    ],
    tensors: [{ name: "token_embd.weight", dims: [tensorElements], type: GGML.F32 }],
  }).bytes;
}

export function sha256Hex(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** A small seeded PRNG (mulberry32), so a failing fuzz case can be replayed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = state;
    mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };
}
