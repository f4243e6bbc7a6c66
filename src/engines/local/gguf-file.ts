// Our own check of an untrusted GGUF file, run before llama.cpp ever opens it. A crafted GGUF whose
// tensor offsets point past the end of the file made Ollama servers hand out process memory
// (CVE-2026-7482), so every length, count, type and offset in the header is bounded and checked
// against the real file size here. The header is read in small chunks through a file handle: a
// multi-gigabyte model is never read into memory, and the tensor data itself is never read at all.
// Format reference: ggml's docs/gguf.md and the checks of gguf_init_from_reader in ggml/src/gguf.cpp.

import { open } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { basename } from "node:path";

import { QiusuoError } from "../../core/errors.js";

export class InvalidModelFileError extends QiusuoError {
  override readonly name = "InvalidModelFileError";
  /** The file's base name: messages never carry the full path, which may reveal a user's home. */
  readonly fileName: string;
  readonly reason: string;

  constructor(fileName: string, reason: string) {
    super("internal", "invalid_model_file", `${fileName} is not a usable GGUF model: ${reason}`);
    this.fileName = fileName;
    this.reason = reason;
  }
}

/** A GGUF metadata value. 64-bit integers are numbers when they fit exactly, bigints otherwise. */
export type GgufScalar = number | bigint | boolean | string;

/** Long arrays (token lists, merges) are kept as their type and length only, to save memory. */
export interface GgufArraySummary {
  readonly kind: "array-summary";
  readonly elementType: GgufValueTypeName;
  readonly length: number;
}

export type GgufValue = GgufScalar | GgufScalar[] | GgufArraySummary;

export type GgufValueTypeName =
  | "uint8"
  | "int8"
  | "uint16"
  | "int16"
  | "uint32"
  | "int32"
  | "float32"
  | "bool"
  | "string"
  | "array"
  | "uint64"
  | "int64"
  | "float64";

export interface GgufFileSummary {
  /** The file's base name. */
  fileName: string;
  fileSize: number;
  version: 2 | 3;
  tensorCount: number;
  metadataCount: number;
  metadata: Map<string, GgufValue>;
  /** Alignment of tensor data in bytes (`general.alignment`, default 32). */
  alignment: number;
  /** Byte offset in the file where the tensor data section starts. */
  dataOffset: number;
  architecture?: string;
  name?: string;
  /** The training context length, from `<architecture>.context_length`. */
  contextLength?: number;
  /** The raw `general.file_type` (llama.cpp's `llama_ftype`), when present. */
  fileType?: number;
  /** A quantization label such as "Q4_K_M", "Q8_0" or "F16". */
  quantization: string;
  /** The total number of tensor elements, i.e. weights. */
  parameterCount: number;
  /** How many elements are stored in each ggml type, e.g. { Q4_K: 1.2e9, F32: 3.1e5 }. */
  elementsByType: Record<string, number>;
  chatTemplate?: string;
  /**
   * Whether the model has a classification head (a `cls` or `cls.output` tensor), which is how
   * llama.cpp and node-llama-cpp tell a reranker.
   */
  reranker: boolean;
}

export interface InspectGgufOptions {
  /** The most bytes the header (metadata and tensor infos) may take. Default 256 MiB. */
  maxMetadataBytes?: number;
  /** The name used in error messages instead of the file's base name (e.g. for a `.partial` file). */
  displayName?: string;
}

const GGUF_MAGIC = "GGUF";
const DEFAULT_ALIGNMENT = 32;
const DEFAULT_MAX_METADATA_BYTES = 256 * 1024 * 1024;
const MAX_TENSORS = 1_000_000;
const MAX_METADATA_ENTRIES = 100_000;
/** The spec caps keys at 2^16 - 1 bytes. */
const MAX_KEY_BYTES = 65_535;
/** Chat templates run to tens of KiB; nothing legitimate comes near this. */
const MAX_STRING_BYTES = 64 * 1024 * 1024;
/** The largest vocabularies have about 262k entries. */
const MAX_ARRAY_LENGTH = 16 * 1024 * 1024;
/** ggml's GGML_MAX_NAME is 64 including the terminating NUL. */
const MAX_TENSOR_NAME_BYTES = 63;
const MAX_DIMENSIONS = 4;
/** Arrays up to this length are kept whole in the summary; longer ones are summarized. */
const MAX_KEPT_ARRAY_LENGTH = 64;
const READ_CHUNK_BYTES = 1024 * 1024;
const INT64_LIMIT = 1n << 63n;

const VALUE_TYPE_NAMES: readonly GgufValueTypeName[] = [
  "uint8",
  "int8",
  "uint16",
  "int16",
  "uint32",
  "int32",
  "float32",
  "bool",
  "string",
  "array",
  "uint64",
  "int64",
  "float64",
];
const VALUE_TYPE_UINT32 = 4;
const VALUE_TYPE_STRING = 8;
const VALUE_TYPE_ARRAY = 9;
/** Byte size of each fixed-size value type; strings and arrays have none. */
// prettier-ignore
const VALUE_TYPE_SIZES: readonly (number | undefined)[] = [1, 1, 2, 2, 4, 4, 4, 1, undefined, undefined, 8, 8, 8];

interface GgmlType {
  readonly name: string;
  /** Elements per block. */
  readonly blockSize: number;
  /** Bytes per block. */
  readonly blockBytes: number;
}

/**
 * ggml tensor types by id, from ggml.h's `enum ggml_type` and the block structs of ggml-common.h.
 * Removed ids (4, 5: Q4_2/Q4_3; 31-33: Q4_0_4_4..; 36-38: IQ4_NL_4_4..) are deliberately absent.
 */
export const GGML_TYPES: ReadonlyMap<number, GgmlType> = new Map([
  [0, { name: "F32", blockSize: 1, blockBytes: 4 }],
  [1, { name: "F16", blockSize: 1, blockBytes: 2 }],
  [2, { name: "Q4_0", blockSize: 32, blockBytes: 18 }],
  [3, { name: "Q4_1", blockSize: 32, blockBytes: 20 }],
  [6, { name: "Q5_0", blockSize: 32, blockBytes: 22 }],
  [7, { name: "Q5_1", blockSize: 32, blockBytes: 24 }],
  [8, { name: "Q8_0", blockSize: 32, blockBytes: 34 }],
  [9, { name: "Q8_1", blockSize: 32, blockBytes: 36 }],
  [10, { name: "Q2_K", blockSize: 256, blockBytes: 84 }],
  [11, { name: "Q3_K", blockSize: 256, blockBytes: 110 }],
  [12, { name: "Q4_K", blockSize: 256, blockBytes: 144 }],
  [13, { name: "Q5_K", blockSize: 256, blockBytes: 176 }],
  [14, { name: "Q6_K", blockSize: 256, blockBytes: 210 }],
  [15, { name: "Q8_K", blockSize: 256, blockBytes: 292 }],
  [16, { name: "IQ2_XXS", blockSize: 256, blockBytes: 66 }],
  [17, { name: "IQ2_XS", blockSize: 256, blockBytes: 74 }],
  [18, { name: "IQ3_XXS", blockSize: 256, blockBytes: 98 }],
  [19, { name: "IQ1_S", blockSize: 256, blockBytes: 50 }],
  [20, { name: "IQ4_NL", blockSize: 32, blockBytes: 18 }],
  [21, { name: "IQ3_S", blockSize: 256, blockBytes: 110 }],
  [22, { name: "IQ2_S", blockSize: 256, blockBytes: 82 }],
  [23, { name: "IQ4_XS", blockSize: 256, blockBytes: 136 }],
  [24, { name: "I8", blockSize: 1, blockBytes: 1 }],
  [25, { name: "I16", blockSize: 1, blockBytes: 2 }],
  [26, { name: "I32", blockSize: 1, blockBytes: 4 }],
  [27, { name: "I64", blockSize: 1, blockBytes: 8 }],
  [28, { name: "F64", blockSize: 1, blockBytes: 8 }],
  [29, { name: "IQ1_M", blockSize: 256, blockBytes: 56 }],
  [30, { name: "BF16", blockSize: 1, blockBytes: 2 }],
  [34, { name: "TQ1_0", blockSize: 256, blockBytes: 54 }],
  [35, { name: "TQ2_0", blockSize: 256, blockBytes: 66 }],
  [39, { name: "MXFP4", blockSize: 32, blockBytes: 17 }],
]);

/** llama.cpp's `enum llama_ftype`, the value of `general.file_type`, as the names users know. */
const LLAMA_FILE_TYPE_NAMES: ReadonlyMap<number, string> = new Map([
  [0, "F32"],
  [1, "F16"],
  [2, "Q4_0"],
  [3, "Q4_1"],
  [4, "Q4_1_SOME_F16"],
  [7, "Q8_0"],
  [8, "Q5_0"],
  [9, "Q5_1"],
  [10, "Q2_K"],
  [11, "Q3_K_S"],
  [12, "Q3_K_M"],
  [13, "Q3_K_L"],
  [14, "Q4_K_S"],
  [15, "Q4_K_M"],
  [16, "Q5_K_S"],
  [17, "Q5_K_M"],
  [18, "Q6_K"],
  [19, "IQ2_XXS"],
  [20, "IQ2_XS"],
  [21, "Q2_K_S"],
  [22, "IQ3_XS"],
  [23, "IQ3_XXS"],
  [24, "IQ1_S"],
  [25, "IQ4_NL"],
  [26, "IQ3_S"],
  [27, "IQ3_M"],
  [28, "IQ2_S"],
  [29, "IQ2_M"],
  [30, "IQ4_XS"],
  [31, "IQ1_M"],
  [32, "BF16"],
  [36, "TQ1_0"],
  [37, "TQ2_0"],
  [38, "MXFP4_MOE"],
]);
/** llama.cpp ORs this bit into the file type when it guessed it rather than read it. */
const LLAMA_FILE_TYPE_GUESSED = 1024;

/** A checked failure; turned into an InvalidModelFileError with the file's name at the top. */
class HeaderProblem extends Error {}

function fail(reason: string): never {
  throw new HeaderProblem(reason);
}

interface Utf8Decoder {
  decode(input: Uint8Array): string;
}

const strictUtf8: Utf8Decoder = new TextDecoder("utf-8", { fatal: true });
const lenientUtf8: Utf8Decoder = new TextDecoder("utf-8");

/**
 * Sequential reads over a file handle through a chunk buffer. Every read first checks that the
 * bytes exist in the file and lie inside the header limit, so a bogus length can neither make us
 * allocate a huge buffer nor spin on reads past the end.
 */
class HeaderReader {
  position = 0;
  private buffer: Buffer = Buffer.alloc(0);
  private bufferStart = 0;

  constructor(
    private readonly handle: FileHandle,
    readonly fileSize: number,
    private readonly headerLimit: number,
  ) {}

  private check(length: number, what: string): void {
    const end = this.position + length;
    if (end > this.fileSize) {
      fail(
        `the file ends at byte ${this.fileSize} but ${what} needs ${length} bytes at byte ${this.position}: ` +
          "the file is truncated or crafted",
      );
    }
    if (end > this.headerLimit) {
      fail(
        `${what} would take the header past its ${this.headerLimit}-byte limit: the file is crafted or corrupt`,
      );
    }
  }

  private async fill(length: number, what: string): Promise<void> {
    this.check(length, what);
    const offset = this.position - this.bufferStart;
    if (offset >= 0 && offset + length <= this.buffer.length) return;
    const size = Math.min(Math.max(length, READ_CHUNK_BYTES), this.fileSize - this.position);
    const buffer = Buffer.allocUnsafe(size);
    let filled = 0;
    while (filled < size) {
      const { bytesRead } = await this.handle.read(buffer, filled, size - filled, this.position + filled);
      if (bytesRead === 0)
        fail(`the file got shorter while it was being read (at byte ${this.position + filled})`);
      filled += bytesRead;
    }
    this.buffer = buffer;
    this.bufferStart = this.position;
  }

  private take(length: number): Buffer {
    const offset = this.position - this.bufferStart;
    this.position += length;
    return this.buffer.subarray(offset, offset + length);
  }

  async bytes(length: number, what: string): Promise<Buffer> {
    await this.fill(length, what);
    return this.take(length);
  }

  async skip(length: number, what: string): Promise<void> {
    this.check(length, what);
    this.position += length;
  }

  async u32(what: string): Promise<number> {
    await this.fill(4, what);
    return this.take(4).readUInt32LE(0);
  }

  async u64(what: string): Promise<bigint> {
    await this.fill(8, what);
    return this.take(8).readBigUInt64LE(0);
  }

  /** A u64 length or count, checked against `limit` before it is trusted as a number. */
  async count(limit: number, what: string): Promise<number> {
    const value = await this.u64(what);
    if (value > BigInt(limit)) fail(`${what} is ${value}, more than the limit of ${limit}`);
    return Number(value);
  }

  /** A length-prefixed string; `maxBytes` bounds it before a single byte of it is read. */
  async string(maxBytes: number, what: string, decoder: Utf8Decoder = lenientUtf8): Promise<string> {
    const length = await this.count(maxBytes, `the length of ${what}`);
    const raw = await this.bytes(length, what);
    try {
      return decoder.decode(raw);
    } catch {
      fail(`${what} is not valid UTF-8`);
    }
  }

  /**
   * Skips `count` consecutive strings (a vocabulary can hold 250k of them). Lengths already in the
   * buffer are read without awaiting, which makes this several times faster than one read each.
   */
  async skipStrings(count: number, key: string): Promise<void> {
    for (let index = 0; index < count; index++) {
      const offset = this.position - this.bufferStart;
      let length: number;
      if (offset >= 0 && offset + 8 <= this.buffer.length) {
        const value = this.buffer.readBigUInt64LE(offset);
        if (value > BigInt(MAX_STRING_BYTES)) {
          fail(
            `the length of string ${index} of '${key}' is ${value}, more than the limit of ${MAX_STRING_BYTES}`,
          );
        }
        length = Number(value);
        this.position += 8;
      } else {
        length = await this.count(MAX_STRING_BYTES, `the length of string ${index} of '${key}'`);
      }
      this.check(length, `string ${index} of '${key}'`);
      this.position += length;
    }
  }
}

/**
 * Checks that the file at `path` is a well-formed GGUF whose every tensor lies inside the file, and
 * returns what qiusuo needs to know about the model. Throws InvalidModelFileError for any problem.
 */
export async function inspectGgufFile(
  path: string,
  options: InspectGgufOptions = {},
): Promise<GgufFileSummary> {
  const fileName = options.displayName ?? basename(path);
  let handle: FileHandle;
  try {
    handle = await open(path, "r");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === "ENOENT"
        ? "the file does not exist"
        : `the file cannot be opened (${code ?? "unknown error"})`;
    throw new InvalidModelFileError(fileName, reason);
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new InvalidModelFileError(fileName, "it is not a regular file");
    return await readHeader(
      handle,
      fileName,
      stats.size,
      options.maxMetadataBytes ?? DEFAULT_MAX_METADATA_BYTES,
    );
  } catch (error) {
    if (error instanceof HeaderProblem) throw new InvalidModelFileError(fileName, error.message);
    throw error;
  } finally {
    await handle.close();
  }
}

interface TensorRecord {
  name: string;
  offset: bigint;
  byteSize: bigint;
}

async function readHeader(
  handle: FileHandle,
  fileName: string,
  fileSize: number,
  maxMetadataBytes: number,
): Promise<GgufFileSummary> {
  const reader = new HeaderReader(handle, fileSize, maxMetadataBytes);

  const magic = await reader.bytes(4, "the GGUF magic");
  if (magic.toString("latin1") !== GGUF_MAGIC) {
    const shown = [...magic]
      .map((byte) => (byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : "?"))
      .join("");
    fail(`it starts with '${shown}' instead of 'GGUF'`);
  }
  const version = await reader.u32("the GGUF version");
  if (version !== 2 && version !== 3) {
    if (version === 1) fail("it is GGUF version 1, which llama.cpp no longer reads; convert it again");
    if ((version & 0xffff) === 0) fail(`its version ${version} looks byte-swapped: it is a big-endian GGUF`);
    fail(`it is GGUF version ${version}; versions 2 and 3 are supported`);
  }
  const tensorCount = await reader.count(MAX_TENSORS, "the tensor count");
  const metadataCount = await reader.count(MAX_METADATA_ENTRIES, "the metadata entry count");

  const metadata = new Map<string, GgufValue>();
  for (let index = 0; index < metadataCount; index++) {
    const key = await reader.string(MAX_KEY_BYTES, `metadata key ${index}`, strictUtf8);
    if (key.length === 0) fail(`metadata key ${index} is empty`);
    if (metadata.has(key)) fail(`metadata key '${key}' appears twice`);
    const type = await reader.u32(`the type of metadata '${key}'`);
    if (key === "general.alignment" && type !== VALUE_TYPE_UINT32) {
      fail(`general.alignment must be a uint32, not a ${VALUE_TYPE_NAMES[type] ?? `type ${type}`}`);
    }
    metadata.set(key, await readValue(reader, type, key));
  }

  const alignment = readAlignment(metadata);

  const tensors: TensorRecord[] = [];
  const names = new Set<string>();
  const elementsByType = new Map<string, bigint>();
  let parameterCount = 0n;
  for (let index = 0; index < tensorCount; index++) {
    const name = await reader.string(MAX_TENSOR_NAME_BYTES, `the name of tensor ${index}`, strictUtf8);
    if (name.length === 0) fail(`tensor ${index} has an empty name`);
    if (names.has(name)) fail(`tensor '${name}' appears twice`);
    names.add(name);

    const dimensionCount = await reader.u32(`the dimension count of tensor '${name}'`);
    if (dimensionCount < 1 || dimensionCount > MAX_DIMENSIONS) {
      fail(`tensor '${name}' has ${dimensionCount} dimensions; 1 to ${MAX_DIMENSIONS} are allowed`);
    }
    const dimensions: bigint[] = [];
    let elements = 1n;
    for (let axis = 0; axis < dimensionCount; axis++) {
      const size = await reader.u64(`dimension ${axis} of tensor '${name}'`);
      if (size === 0n) fail(`tensor '${name}' has a zero-sized dimension ${axis}`);
      if (size >= INT64_LIMIT) fail(`tensor '${name}' dimension ${axis} is ${size}, too large for ggml`);
      dimensions.push(size);
      elements *= size;
      if (elements >= INT64_LIMIT)
        fail(`tensor '${name}' has more elements than ggml can count (shape ${dimensions})`);
    }

    const typeId = await reader.u32(`the type of tensor '${name}'`);
    const type = GGML_TYPES.get(typeId);
    if (type === undefined) fail(`tensor '${name}' has unknown ggml type ${typeId}`);
    const rowLength = dimensions[0] ?? 1n;
    if (rowLength % BigInt(type.blockSize) !== 0n) {
      fail(
        `tensor '${name}' rows have ${rowLength} elements, not a multiple of the ${type.name} block size ${type.blockSize}`,
      );
    }
    const byteSize = (elements / BigInt(type.blockSize)) * BigInt(type.blockBytes);

    const offset = await reader.u64(`the data offset of tensor '${name}'`);
    if (offset % BigInt(alignment) !== 0n) {
      fail(`tensor '${name}' data offset ${offset} is not a multiple of the alignment ${alignment}`);
    }
    tensors.push({ name, offset, byteSize });
    parameterCount += elements;
    elementsByType.set(type.name, (elementsByType.get(type.name) ?? 0n) + elements);
  }

  // The data section starts at the first aligned byte after the tensor infos (gguf.cpp seeks there).
  const headerEnd = BigInt(reader.position);
  const dataOffset = tensorCount === 0 ? headerEnd : alignUp(headerEnd, BigInt(alignment));
  checkTensorPlacement(tensors, dataOffset, BigInt(fileSize));

  return summarize({
    fileName,
    fileSize,
    version: version as 2 | 3,
    tensorCount,
    metadataCount,
    metadata,
    alignment,
    dataOffset: Number(dataOffset),
    parameterCount,
    elementsByType,
    reranker: names.has("cls.weight") || names.has("cls.output.weight"),
  });
}

async function readValue(reader: HeaderReader, type: number, key: string): Promise<GgufValue> {
  if (type === VALUE_TYPE_ARRAY) {
    const elementType = await reader.u32(`the element type of metadata '${key}'`);
    if (elementType === VALUE_TYPE_ARRAY)
      fail(`metadata '${key}' is an array of arrays, which GGUF readers reject`);
    if (VALUE_TYPE_NAMES[elementType] === undefined)
      fail(`metadata '${key}' has unknown element type ${elementType}`);
    const length = await reader.count(MAX_ARRAY_LENGTH, `the length of metadata array '${key}'`);
    const elementSize = VALUE_TYPE_SIZES[elementType];
    if (length > MAX_KEPT_ARRAY_LENGTH) {
      if (elementSize !== undefined) {
        await reader.skip(length * elementSize, `metadata array '${key}'`);
      } else {
        // Strings: each carries at least its 8-byte length, so check the minimum before walking.
        const remaining = reader.fileSize - reader.position;
        if (length * 8 > remaining) {
          fail(
            `metadata array '${key}' claims ${length} strings but the file ends ${remaining} bytes later: ` +
              "the file is truncated or crafted",
          );
        }
        await reader.skipStrings(length, key);
      }
      return { kind: "array-summary", elementType: VALUE_TYPE_NAMES[elementType] ?? "uint8", length };
    }
    const values: GgufScalar[] = [];
    for (let index = 0; index < length; index++)
      values.push(await readScalar(reader, elementType, `${key}[${index}]`));
    return values;
  }
  if (VALUE_TYPE_NAMES[type] === undefined) fail(`metadata '${key}' has unknown value type ${type}`);
  return readScalar(reader, type, key);
}

async function readScalar(reader: HeaderReader, type: number, key: string): Promise<GgufScalar> {
  const what = `metadata '${key}'`;
  if (type === VALUE_TYPE_STRING) return reader.string(MAX_STRING_BYTES, what);
  const size = VALUE_TYPE_SIZES[type];
  if (size === undefined) fail(`${what} has unknown value type ${type}`);
  const raw = await reader.bytes(size, what);
  switch (type) {
    case 0:
      return raw.readUInt8(0);
    case 1:
      return raw.readInt8(0);
    case 2:
      return raw.readUInt16LE(0);
    case 3:
      return raw.readInt16LE(0);
    case 4:
      return raw.readUInt32LE(0);
    case 5:
      return raw.readInt32LE(0);
    case 6:
      return raw.readFloatLE(0);
    case 7:
      return raw.readUInt8(0) !== 0;
    case 10:
      return exactNumber(raw.readBigUInt64LE(0));
    case 11:
      return exactNumber(raw.readBigInt64LE(0));
    default:
      return raw.readDoubleLE(0);
  }
}

function exactNumber(value: bigint): number | bigint {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER)
    ? Number(value)
    : value;
}

function readAlignment(metadata: Map<string, GgufValue>): number {
  const value = metadata.get("general.alignment");
  if (value === undefined) return DEFAULT_ALIGNMENT;
  // Its type was checked to be uint32 as it was read, so only the value is left to check.
  if (typeof value !== "number" || value === 0)
    fail(`general.alignment must be a positive uint32, not ${describe(value)}`);
  if ((value & (value - 1)) !== 0) fail(`general.alignment ${value} is not a power of two`);
  return value;
}

function checkTensorPlacement(tensors: TensorRecord[], dataOffset: bigint, fileSize: bigint): void {
  for (const tensor of tensors) {
    const start = dataOffset + tensor.offset;
    const end = start + tensor.byteSize;
    if (start >= fileSize) {
      fail(
        `tensor '${tensor.name}' starts at byte ${start} but the file has ${fileSize} bytes: ` +
          "the file is truncated or crafted",
      );
    }
    if (end > fileSize) {
      fail(
        `tensor '${tensor.name}' ends at byte ${end} but the file has ${fileSize} bytes: ` +
          "the file is truncated or crafted",
      );
    }
  }
  const byOffset = [...tensors].sort((left, right) =>
    left.offset < right.offset ? -1 : left.offset > right.offset ? 1 : 0,
  );
  for (let index = 1; index < byOffset.length; index++) {
    const previous = byOffset[index - 1];
    const current = byOffset[index];
    if (
      previous !== undefined &&
      current !== undefined &&
      previous.offset + previous.byteSize > current.offset
    ) {
      fail(
        `tensors '${previous.name}' and '${current.name}' overlap in the file: the file is crafted or corrupt`,
      );
    }
  }
}

function alignUp(value: bigint, alignment: bigint): bigint {
  return ((value + alignment - 1n) / alignment) * alignment;
}

function describe(value: GgufValue): string {
  // Arrays, and the summaries kept in place of long arrays, both know their length.
  if (typeof value === "object") return `an array of ${value.length}`;
  return typeof value === "string" ? `the string '${value.slice(0, 40)}'` : String(value);
}

interface HeaderFacts extends Pick<
  GgufFileSummary,
  | "fileName"
  | "fileSize"
  | "version"
  | "tensorCount"
  | "metadataCount"
  | "metadata"
  | "alignment"
  | "dataOffset"
  | "reranker"
> {
  parameterCount: bigint;
  elementsByType: Map<string, bigint>;
}

function summarize(facts: HeaderFacts): GgufFileSummary {
  const { metadata } = facts;
  const architecture = stringValue(metadata.get("general.architecture"));
  const name = stringValue(metadata.get("general.name"));
  const contextLength =
    architecture === undefined ? undefined : positiveInteger(metadata.get(`${architecture}.context_length`));
  const fileTypeValue = metadata.get("general.file_type");
  const fileType =
    typeof fileTypeValue === "number" && Number.isInteger(fileTypeValue) ? fileTypeValue : undefined;
  const chatTemplate = stringValue(metadata.get("tokenizer.chat_template"));

  const elementsByType: Record<string, number> = {};
  let dominantType: string | undefined;
  let dominantElements = -1n;
  for (const [typeName, elements] of facts.elementsByType) {
    elementsByType[typeName] = Number(elements);
    if (elements > dominantElements) {
      dominantType = typeName;
      dominantElements = elements;
    }
  }
  // general.file_type names the recipe (Q4_K_M mixes Q4_K and Q6_K); without it, the type that holds
  // the most weights is the honest answer (counting tensors would crown the many small F32 norms).
  const namedFileType =
    fileType === undefined ? undefined : LLAMA_FILE_TYPE_NAMES.get(fileType & ~LLAMA_FILE_TYPE_GUESSED);
  const quantization = namedFileType ?? dominantType ?? "unknown";

  const summary: GgufFileSummary = {
    fileName: facts.fileName,
    fileSize: facts.fileSize,
    version: facts.version,
    tensorCount: facts.tensorCount,
    metadataCount: facts.metadataCount,
    metadata,
    alignment: facts.alignment,
    dataOffset: facts.dataOffset,
    quantization,
    parameterCount: Number(facts.parameterCount),
    elementsByType,
    reranker: facts.reranker,
  };
  if (architecture !== undefined) summary.architecture = architecture;
  if (name !== undefined) summary.name = name;
  if (contextLength !== undefined) summary.contextLength = contextLength;
  if (fileType !== undefined) summary.fileType = fileType;
  if (chatTemplate !== undefined) summary.chatTemplate = chatTemplate;
  return summary;
}

function stringValue(value: GgufValue | undefined): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function positiveInteger(value: GgufValue | undefined): number | undefined {
  return typeof value === "number" && Number.isSafeInteger(value) && value > 0 ? value : undefined;
}

/** The ggml type name for a type id, or undefined for ids no GGUF may use. */
export function ggmlTypeName(typeId: number): string | undefined {
  return GGML_TYPES.get(typeId)?.name;
}
